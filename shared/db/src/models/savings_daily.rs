//! What the findings showed per kind, effect and currency, per tenant and day.

use chrono::NaiveDate;
use diesel::prelude::*;

use crate::schema::savings_daily;
use crate::{Conn, DbError, with_conn};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = savings_daily, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct SavingsDayRow {
    pub tenant_id: String,
    pub day: NaiveDate,
    pub kind: String,
    /// `saving` or `cost`.
    pub effect: String,
    /// `''` for findings on SKUs without a known price.
    pub currency: String,
    pub findings: i64,
    pub units: i64,
    /// Per month.
    pub amount_minor: i64,
}

impl SavingsDayRow {
    /// Replaces the tenant's rows of `day`.
    pub fn replace(
        conn: &mut Conn<'_>,
        tenant_id: &str,
        day: NaiveDate,
        rows: &[SavingsDayRow],
    ) -> Result<(), DbError> {
        with_conn!(&mut *conn, |c| diesel::delete(
            savings_daily::table.filter(savings_daily::tenant_id.eq(tenant_id)).filter(savings_daily::day.eq(day))
        )
        .execute(c))?;
        crate::insert_new!(conn, savings_daily::table, rows, 8);
        Ok(())
    }

    /// The rows of `[from, to]`, by day, kind, effect and currency.
    pub fn range(
        conn: &mut Conn<'_>,
        tenant_id: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<SavingsDayRow>, DbError> {
        Ok(with_conn!(conn, |c| savings_daily::table
            .filter(savings_daily::tenant_id.eq(tenant_id))
            .filter(savings_daily::day.between(from, to))
            .order((savings_daily::day, savings_daily::kind, savings_daily::effect, savings_daily::currency))
            .select(SavingsDayRow::as_select())
            .load(c))?)
    }
}
