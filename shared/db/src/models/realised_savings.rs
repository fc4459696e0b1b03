//! Savings realised: money that stopped because licences were removed or seat counts lowered.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::upsert::excluded;

use crate::schema::realised_savings;
use crate::{Conn, DbError, with_conn};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = realised_savings, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct RealisedSavingRow {
    pub tenant_id: String,
    /// The day of the snapshot that showed the change.
    pub day: NaiveDate,
    pub sku_id: String,
    /// The finding kind the saving settles (`unassigned_seats` for seats given up).
    pub kind: String,
    pub sku_part_number: String,
    pub units: i64,
    pub currency: String,
    /// Per month.
    pub amount_minor: i64,
    /// What changed, e.g. "licence removed from 1 user; seats 10 → 9".
    pub description: String,
    pub recorded_at: NaiveDateTime,
}

impl RealisedSavingRow {
    /// Records savings; a row whose key exists (a second change the same day) adds its units and money.
    pub fn record(conn: &mut Conn<'_>, rows: &[RealisedSavingRow]) -> Result<(), DbError> {
        use realised_savings::dsl as r;
        for row in rows {
            with_conn!(&mut *conn, |c| diesel::insert_into(r::realised_savings)
                .values(row)
                .on_conflict((r::tenant_id, r::day, r::sku_id, r::kind))
                .do_update()
                .set((
                    r::units.eq(r::units + excluded(r::units)),
                    r::amount_minor.eq(r::amount_minor + excluded(r::amount_minor)),
                    r::description.eq(r::description.concat("; ").concat(excluded(r::description))),
                    r::recorded_at.eq(excluded(r::recorded_at)),
                ))
                .execute(c))?;
        }
        Ok(())
    }

    /// The savings realised in `[from, to]`, by day, SKU part number and kind.
    pub fn range(
        conn: &mut Conn<'_>,
        tenant_id: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<RealisedSavingRow>, DbError> {
        Ok(with_conn!(conn, |c| realised_savings::table
            .filter(realised_savings::tenant_id.eq(tenant_id))
            .filter(realised_savings::day.between(from, to))
            .order((realised_savings::day, realised_savings::sku_part_number, realised_savings::kind))
            .select(RealisedSavingRow::as_select())
            .load(c))?)
    }

    /// Monthly amounts realised per currency: `(since, every day)`, e.g. this month and all time.
    pub fn totals(
        conn: &mut Conn<'_>,
        tenant_id: Option<&str>,
        since: NaiveDate,
    ) -> Result<Vec<(String, i64, i64)>, DbError> {
        let rows: Vec<(String, NaiveDate, i64)> = with_conn!(conn, |c| {
            let mut q = realised_savings::table.into_boxed();
            if let Some(t) = tenant_id {
                q = q.filter(realised_savings::tenant_id.eq(t.to_string()));
            }
            q.select((realised_savings::currency, realised_savings::day, realised_savings::amount_minor)).load(c)
        })?;
        let mut out: std::collections::BTreeMap<String, (i64, i64)> = Default::default();
        for (currency, day, amount) in rows {
            let e = out.entry(currency).or_default();
            if day >= since {
                e.0 += amount;
            }
            e.1 += amount;
        }
        Ok(out.into_iter().map(|(c, (a, b))| (c, a, b)).collect())
    }
}
