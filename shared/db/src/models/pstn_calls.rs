use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::pstn_calls;
use crate::{Conn, DbError, with_conn};

/// A `getPstnCalls` or `getDirectRoutingCalls` row. Rows never change once Graph lists them.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = pstn_calls, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(treat_none_as_default_value = false)]
pub struct PstnCallRow {
    pub tenant_id: String,
    /// `pstn` or `direct_routing`.
    pub source: String,
    pub id: String,
    pub user_id: Option<String>,
    pub user_principal_name: Option<String>,
    pub call_type: String,
    pub start_at: NaiveDateTime,
    pub end_at: Option<NaiveDateTime>,
    pub day: NaiveDate,
    pub duration_seconds: i64,
    /// In minor units of `currency`.
    pub charge_minor: Option<i64>,
    pub currency: Option<String>,
    pub destination: Option<String>,
    pub raw: String,
}

impl PstnCallRow {
    /// Stores the rows not stored yet, marks their days for a rollup recompute and the tenant for a findings
    /// recompute; returns how many were new.
    pub fn store(conn: &mut Conn<'_>, tenant_id: &str, rows: &[PstnCallRow]) -> Result<usize, DbError> {
        let inserted = crate::insert_new!(conn, pstn_calls::table, rows, 14);
        if inserted > 0 {
            let mut days: Vec<NaiveDate> = rows.iter().map(|r| r.day).collect();
            days.sort_unstable();
            days.dedup();
            for day in days {
                super::call_records::mark_rollup(conn, tenant_id, day)?;
            }
            super::findings::mark(conn, tenant_id)?;
        }
        Ok(inserted)
    }

    pub fn for_tenant(conn: &mut Conn<'_>, tenant_id: &str) -> Result<Vec<PstnCallRow>, DbError> {
        Ok(with_conn!(conn, |c| pstn_calls::table
            .filter(pstn_calls::tenant_id.eq(tenant_id))
            .order((pstn_calls::source, pstn_calls::id))
            .select(PstnCallRow::as_select())
            .load(c))?)
    }

    /// The start of each user's last PSTN or Direct Routing call.
    pub fn last_per_user(conn: &mut Conn<'_>, tenant_id: &str) -> Result<Vec<(String, NaiveDateTime)>, DbError> {
        let rows: Vec<(Option<String>, Option<NaiveDateTime>)> = with_conn!(conn, |c| pstn_calls::table
            .filter(pstn_calls::tenant_id.eq(tenant_id))
            .filter(pstn_calls::user_id.is_not_null())
            .group_by(pstn_calls::user_id)
            .select((pstn_calls::user_id, diesel::dsl::max(pstn_calls::start_at)))
            .load(c))?;
        Ok(rows.into_iter().filter_map(|(user, at)| Some((user?, at?))).collect())
    }
}
