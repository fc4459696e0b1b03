//! The tenant's users on each day its findings were recomputed: all, licensed and active.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::tenant_daily;
use crate::{Conn, DbError, with_conn};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = tenant_daily, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(treat_none_as_default_value = false)]
pub struct TenantDayRow {
    pub tenant_id: String,
    pub day: NaiveDate,
    /// The snapshot the day's figures come from.
    pub run_id: String,
    pub users: i64,
    pub licensed_users: i64,
    /// Users who signed in within the tenant's inactivity threshold; `None` when sign-in is not measured.
    pub active_users: Option<i64>,
    pub computed_at: NaiveDateTime,
}

impl TenantDayRow {
    /// Replaces the tenant's row of `row.day`.
    pub fn replace(conn: &mut Conn<'_>, row: &TenantDayRow) -> Result<(), DbError> {
        with_conn!(&mut *conn, |c| diesel::delete(
            tenant_daily::table
                .filter(tenant_daily::tenant_id.eq(&row.tenant_id))
                .filter(tenant_daily::day.eq(row.day))
        )
        .execute(c))?;
        with_conn!(conn, |c| diesel::insert_into(tenant_daily::table).values(row).execute(c))?;
        Ok(())
    }

    /// The rows of `[from, to]`, in day order.
    pub fn range(
        conn: &mut Conn<'_>,
        tenant_id: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<TenantDayRow>, DbError> {
        Ok(with_conn!(conn, |c| tenant_daily::table
            .filter(tenant_daily::tenant_id.eq(tenant_id))
            .filter(tenant_daily::day.between(from, to))
            .order(tenant_daily::day)
            .select(TenantDayRow::as_select())
            .load(c))?)
    }

    /// The last day in `[from, to]` with aggregates.
    pub fn last_day(
        conn: &mut Conn<'_>,
        tenant_id: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Option<NaiveDate>, DbError> {
        Ok(with_conn!(conn, |c| tenant_daily::table
            .filter(tenant_daily::tenant_id.eq(tenant_id))
            .filter(tenant_daily::day.between(from, to))
            .select(diesel::dsl::max(tenant_daily::day))
            .first(c))?)
    }

    /// The latest row counting the users of snapshot `run_id` (written when that snapshot's findings were
    /// computed); `None` until then.
    pub fn latest_of_run(conn: &mut Conn<'_>, tenant_id: &str, run_id: &str) -> Result<Option<TenantDayRow>, DbError> {
        Ok(with_conn!(conn, |c| tenant_daily::table
            .filter(tenant_daily::tenant_id.eq(tenant_id))
            .filter(tenant_daily::run_id.eq(run_id))
            .order(tenant_daily::day.desc())
            .select(TenantDayRow::as_select())
            .first(c)
            .optional())?)
    }
}
