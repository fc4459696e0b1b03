//! Rollups per tenant, day (and user), recomputed from the normalised rows when marked.
//!
//! Writers append a mark in the transaction that changes the data; [`recompute`] deletes the marks it can see
//! and rebuilds the day's rollups in one transaction. A change committed later brings its own mark, so nothing
//! is missed, and replays or redeliveries only cause an identical recompute.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{Date, Text};

use super::sql_for;
use crate::schema::{
    call_usage_daily, call_usage_department_daily, call_usage_tenant_daily, findings_marks, pstn_department_daily,
    pstn_usage_daily, pstn_usage_tenant_daily, rollup_marks,
};
use crate::{Conn, DbError, with_conn};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = call_usage_daily, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct UserDayUsage {
    pub tenant_id: String,
    pub day: NaiveDate,
    pub user_id: String,
    pub calls: i64,
    pub group_calls: i64,
    pub peer_calls: i64,
    pub seconds: i64,
    pub video_calls: i64,
    pub pstn_calls: i64,
    pub streams: i64,
    pub poor_streams: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = call_usage_tenant_daily, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct TenantDayUsage {
    pub tenant_id: String,
    pub day: NaiveDate,
    pub calls: i64,
    pub group_calls: i64,
    pub peer_calls: i64,
    pub seconds: i64,
    pub video_calls: i64,
    pub pstn_calls: i64,
    pub streams: i64,
    pub poor_streams: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = pstn_usage_daily, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct PstnDayUsage {
    pub tenant_id: String,
    pub day: NaiveDate,
    pub user_id: String,
    pub source: String,
    pub currency: String,
    pub calls: i64,
    pub seconds: i64,
    pub charge_minor: i64,
}

/// PSTN and Direct Routing use of a tenant on a day, per source and currency (`pstn_usage_daily` over users).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = pstn_usage_tenant_daily, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct PstnTenantDayUsage {
    pub tenant_id: String,
    pub day: NaiveDate,
    pub source: String,
    pub currency: String,
    pub calls: i64,
    pub seconds: i64,
    pub charge_minor: i64,
}

/// PSTN and Direct Routing use of a tenant on a day per department of the snapshot `run_id`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = pstn_department_daily, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct PstnDepartmentDayUsage {
    pub tenant_id: String,
    pub day: NaiveDate,
    /// `''` for calls without a user, users without a department or not in the snapshot.
    pub department: String,
    pub source: String,
    pub currency: String,
    /// `''` when the tenant had no current snapshot when the day was counted.
    pub run_id: String,
    pub calls: i64,
    pub seconds: i64,
    pub charge_minor: i64,
}

/// Call use of a tenant on a day per department of the snapshot `run_id`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = call_usage_department_daily, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct DepartmentDayUsage {
    pub tenant_id: String,
    pub day: NaiveDate,
    pub department: String,
    pub run_id: String,
    pub calls: i64,
    pub group_calls: i64,
    pub peer_calls: i64,
    pub seconds: i64,
    pub video_calls: i64,
    pub pstn_calls: i64,
    pub streams: i64,
    pub poor_streams: i64,
}

const TENANT_DAY: &str = "INSERT INTO call_usage_tenant_daily \
    (tenant_id, day, calls, group_calls, peer_calls, seconds, video_calls, pstn_calls, streams, poor_streams) \
    SELECT tenant_id, day, COUNT(*), \
        SUM(CASE WHEN call_type = 'groupCall' THEN 1 ELSE 0 END), \
        SUM(CASE WHEN call_type = 'groupCall' THEN 0 ELSE 1 END), \
        SUM(duration_seconds), \
        SUM(CASE WHEN modalities LIKE '%video%' THEN 1 ELSE 0 END), \
        SUM(CASE WHEN pstn THEN 1 ELSE 0 END), \
        SUM(streams), SUM(poor_streams) \
    FROM call_records WHERE tenant_id = $1 AND day = $2 GROUP BY tenant_id, day";

const USER_DAY: &str = "INSERT INTO call_usage_daily \
    (tenant_id, day, user_id, calls, group_calls, peer_calls, seconds, video_calls, pstn_calls, streams, poor_streams) \
    SELECT tenant_id, day, user_id, COUNT(*), SUM(group_call), SUM(1 - group_call), SUM(seconds), SUM(video), \
        SUM(pstn), SUM(streams), SUM(poor_streams) \
    FROM call_user_facts WHERE tenant_id = $1 AND day = $2 GROUP BY tenant_id, day, user_id";

const PSTN_DAY: &str = "INSERT INTO pstn_usage_daily \
    (tenant_id, day, user_id, source, currency, calls, seconds, charge_minor) \
    SELECT tenant_id, day, COALESCE(user_id, ''), source, COALESCE(currency, ''), COUNT(*), SUM(duration_seconds), \
        COALESCE(SUM(charge_minor), 0) \
    FROM pstn_calls WHERE tenant_id = $1 AND day = $2 \
    GROUP BY tenant_id, day, COALESCE(user_id, ''), source, COALESCE(currency, '')";

const PSTN_TENANT_DAY: &str = "INSERT INTO pstn_usage_tenant_daily \
    (tenant_id, day, source, currency, calls, seconds, charge_minor) \
    SELECT tenant_id, day, source, currency, SUM(calls), SUM(seconds), SUM(charge_minor) \
    FROM pstn_usage_daily WHERE tenant_id = $1 AND day = $2 GROUP BY tenant_id, day, source, currency";

const PSTN_DEPARTMENT_DAY: &str = "INSERT INTO pstn_department_daily \
    (tenant_id, day, department, source, currency, run_id, calls, seconds, charge_minor) \
    SELECT d.tenant_id, d.day, COALESCE(u.department, ''), d.source, d.currency, COALESCE(MAX(s.run_id), ''), \
        SUM(d.calls), SUM(d.seconds), SUM(d.charge_minor) \
    FROM pstn_usage_daily d \
    LEFT JOIN snapshots s ON s.tenant_id = d.tenant_id AND s.state = 'current' \
    LEFT JOIN users u ON u.run_id = s.run_id AND u.id = d.user_id \
    WHERE d.tenant_id = $1 AND d.day = $2 \
    GROUP BY d.tenant_id, d.day, COALESCE(u.department, ''), d.source, d.currency";

const USAGE_DEPARTMENT_DAY: &str = "INSERT INTO call_usage_department_daily \
    (tenant_id, day, department, run_id, calls, group_calls, peer_calls, seconds, video_calls, pstn_calls, streams, \
     poor_streams) \
    SELECT d.tenant_id, d.day, COALESCE(u.department, ''), COALESCE(MAX(s.run_id), ''), SUM(d.calls), \
        SUM(d.group_calls), SUM(d.peer_calls), SUM(d.seconds), SUM(d.video_calls), SUM(d.pstn_calls), SUM(d.streams), \
        SUM(d.poor_streams) \
    FROM call_usage_daily d \
    LEFT JOIN snapshots s ON s.tenant_id = d.tenant_id AND s.state = 'current' \
    LEFT JOIN users u ON u.run_id = s.run_id AND u.id = d.user_id \
    WHERE d.tenant_id = $1 AND d.day = $2 \
    GROUP BY d.tenant_id, d.day, COALESCE(u.department, '')";

/// Rebuilds the tenant's call and PSTN use per department on `day` from its per-user rollups, with the
/// departments of its current snapshot; call inside a transaction.
pub fn rebuild_departments(conn: &mut Conn<'_>, tenant_id: &str, day: NaiveDate) -> Result<(), DbError> {
    lock_day(conn, tenant_id, day)?;
    with_conn!(&mut *conn, |c| diesel::delete(
        pstn_department_daily::table
            .filter(pstn_department_daily::tenant_id.eq(tenant_id))
            .filter(pstn_department_daily::day.eq(day))
    )
    .execute(c))?;
    with_conn!(&mut *conn, |c| diesel::delete(
        call_usage_department_daily::table
            .filter(call_usage_department_daily::tenant_id.eq(tenant_id))
            .filter(call_usage_department_daily::day.eq(day))
    )
    .execute(c))?;
    run_for_day(conn, PSTN_DEPARTMENT_DAY, tenant_id, day)?;
    run_for_day(conn, USAGE_DEPARTMENT_DAY, tenant_id, day)?;
    Ok(())
}

/// A new snapshot is current: the days whose use goes to its departments, i.e. every day from `since` (the first
/// of the month) and any day counted while the tenant had no snapshot, rebuilt in day order; call inside a
/// transaction. Returns how many days.
pub fn reassign_departments(conn: &mut Conn<'_>, tenant_id: &str, since: NaiveDate) -> Result<usize, DbError> {
    let mut days = std::collections::BTreeSet::new();
    days.extend(with_conn!(&mut *conn, |c| call_usage_tenant_daily::table
        .filter(call_usage_tenant_daily::tenant_id.eq(tenant_id))
        .filter(call_usage_tenant_daily::day.ge(since))
        .select(call_usage_tenant_daily::day)
        .load::<NaiveDate>(c))?);
    days.extend(with_conn!(&mut *conn, |c| pstn_usage_tenant_daily::table
        .filter(pstn_usage_tenant_daily::tenant_id.eq(tenant_id))
        .filter(pstn_usage_tenant_daily::day.ge(since))
        .select(pstn_usage_tenant_daily::day)
        .load::<NaiveDate>(c))?);
    days.extend(with_conn!(&mut *conn, |c| call_usage_department_daily::table
        .filter(call_usage_department_daily::tenant_id.eq(tenant_id))
        .filter(call_usage_department_daily::run_id.eq(""))
        .select(call_usage_department_daily::day)
        .load::<NaiveDate>(c))?);
    days.extend(with_conn!(&mut *conn, |c| pstn_department_daily::table
        .filter(pstn_department_daily::tenant_id.eq(tenant_id))
        .filter(pstn_department_daily::run_id.eq(""))
        .select(pstn_department_daily::day)
        .load::<NaiveDate>(c))?);
    for day in &days {
        rebuild_departments(conn, tenant_id, *day)?;
    }
    Ok(days.len())
}

/// Concurrent rebuilds of one tenant's day (two analytics replicas) queue on a PostgreSQL advisory lock held to the
/// end of the transaction (taken again by the same transaction, it does not wait).
fn lock_day(conn: &mut Conn<'_>, tenant_id: &str, day: NaiveDate) -> Result<(), DbError> {
    if let Conn::Pg(c) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1 || '/' || CAST($2 AS TEXT)))")
            .bind::<Text, _>(tenant_id)
            .bind::<Date, _>(day)
            .execute(&mut **c)?;
    }
    Ok(())
}

fn run_for_day(conn: &mut Conn<'_>, sql: &str, tenant_id: &str, day: NaiveDate) -> Result<usize, DbError> {
    let sql = sql_for(conn, sql);
    Ok(with_conn!(conn, |c| diesel::sql_query(&sql).bind::<Text, _>(tenant_id).bind::<Date, _>(day).execute(c))?)
}

/// Up to `limit` marked `(tenant, day)` keys, oldest mark first.
pub fn pending(conn: &mut Conn<'_>, limit: i64) -> Result<Vec<(String, NaiveDate)>, DbError> {
    let rows: Vec<(String, NaiveDate, Option<i64>)> = with_conn!(conn, |c| rollup_marks::table
        .group_by((rollup_marks::tenant_id, rollup_marks::day))
        .select((rollup_marks::tenant_id, rollup_marks::day, diesel::dsl::min(rollup_marks::seq)))
        .order(diesel::dsl::min(rollup_marks::seq))
        .limit(limit)
        .load(c))?;
    Ok(rows.into_iter().map(|(t, d, _)| (t, d)).collect())
}

/// Rebuilds the rollups of `(tenant, day)` and bumps the tenant's data version; call inside a transaction. Concurrent recomputes of the same key
/// (two analytics replicas) queue on a PostgreSQL advisory lock. Returns how many marks it cleared.
pub fn recompute(conn: &mut Conn<'_>, tenant_id: &str, day: NaiveDate) -> Result<usize, DbError> {
    lock_day(conn, tenant_id, day)?;
    let cleared = with_conn!(&mut *conn, |c| diesel::delete(
        rollup_marks::table.filter(rollup_marks::tenant_id.eq(tenant_id)).filter(rollup_marks::day.eq(day))
    )
    .execute(c))?;
    with_conn!(&mut *conn, |c| diesel::delete(
        call_usage_tenant_daily::table
            .filter(call_usage_tenant_daily::tenant_id.eq(tenant_id))
            .filter(call_usage_tenant_daily::day.eq(day))
    )
    .execute(c))?;
    with_conn!(&mut *conn, |c| diesel::delete(
        call_usage_daily::table.filter(call_usage_daily::tenant_id.eq(tenant_id)).filter(call_usage_daily::day.eq(day))
    )
    .execute(c))?;
    with_conn!(&mut *conn, |c| diesel::delete(
        pstn_usage_daily::table.filter(pstn_usage_daily::tenant_id.eq(tenant_id)).filter(pstn_usage_daily::day.eq(day))
    )
    .execute(c))?;
    run_for_day(conn, TENANT_DAY, tenant_id, day)?;
    run_for_day(conn, USER_DAY, tenant_id, day)?;
    with_conn!(&mut *conn, |c| diesel::delete(
        pstn_usage_tenant_daily::table
            .filter(pstn_usage_tenant_daily::tenant_id.eq(tenant_id))
            .filter(pstn_usage_tenant_daily::day.eq(day))
    )
    .execute(c))?;
    run_for_day(conn, PSTN_DAY, tenant_id, day)?;
    run_for_day(conn, PSTN_TENANT_DAY, tenant_id, day)?;
    rebuild_departments(conn, tenant_id, day)?;
    super::DataVersion::bump(conn, tenant_id)?;
    Ok(cleared)
}

/// Marks waiting (rollups, findings): what the recompute worker has still to do.
pub fn backlog(conn: &mut Conn<'_>) -> Result<(i64, i64), DbError> {
    let rollups = with_conn!(&mut *conn, |c| rollup_marks::table.count().get_result(c))?;
    let findings = with_conn!(&mut *conn, |c| findings_marks::table.count().get_result(c))?;
    Ok((rollups, findings))
}

pub fn tenant_days(conn: &mut Conn<'_>, tenant_id: &str) -> Result<Vec<TenantDayUsage>, DbError> {
    Ok(with_conn!(conn, |c| call_usage_tenant_daily::table
        .filter(call_usage_tenant_daily::tenant_id.eq(tenant_id))
        .order(call_usage_tenant_daily::day)
        .select(TenantDayUsage::as_select())
        .load(c))?)
}

pub fn user_days(conn: &mut Conn<'_>, tenant_id: &str) -> Result<Vec<UserDayUsage>, DbError> {
    Ok(with_conn!(conn, |c| call_usage_daily::table
        .filter(call_usage_daily::tenant_id.eq(tenant_id))
        .order((call_usage_daily::day, call_usage_daily::user_id))
        .select(UserDayUsage::as_select())
        .load(c))?)
}

pub fn pstn_days(conn: &mut Conn<'_>, tenant_id: &str) -> Result<Vec<PstnDayUsage>, DbError> {
    Ok(with_conn!(conn, |c| pstn_usage_daily::table
        .filter(pstn_usage_daily::tenant_id.eq(tenant_id))
        .order((pstn_usage_daily::day, pstn_usage_daily::user_id, pstn_usage_daily::source))
        .select(PstnDayUsage::as_select())
        .load(c))?)
}
