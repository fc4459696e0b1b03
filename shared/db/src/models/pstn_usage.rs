//! PSTN and Direct Routing use as the portal reads it: the `pstn_usage_daily` rollup summed over a date range by
//! day, user or department, one row per group, source and currency (money is never summed across currencies).

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Nullable, Text};

use super::sql_for;
use crate::{Conn, DbError, with_conn};

/// One group's calls of one source, with their charges in one currency (`''`: calls without a charge, e.g.
/// Direct Routing, which the customer's own carrier bills).
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct PstnGroupRow {
    /// The day (`YYYY-MM-DD`), user id (`''` for calls without a user) or department (`''` for none).
    #[diesel(sql_type = Text)]
    pub key: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub user_principal_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub display_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub department: Option<String>,
    /// `pstn` (Calling Plan) or `direct_routing`.
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = Text)]
    pub currency: String,
    #[diesel(sql_type = BigInt)]
    pub calls: i64,
    #[diesel(sql_type = BigInt)]
    pub seconds: i64,
    #[diesel(sql_type = BigInt)]
    pub charge_minor: i64,
}

const SUMS: &str = "d.source, d.currency, CAST(SUM(d.calls) AS BIGINT) AS calls, \
    CAST(SUM(d.seconds) AS BIGINT) AS seconds, CAST(SUM(d.charge_minor) AS BIGINT) AS charge_minor";

/// Per day in `[from, to]` (days without calls are absent), in day order, from the per-tenant daily rollup.
pub fn by_day(
    conn: &mut Conn<'_>,
    tenant_id: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<PstnGroupRow>, DbError> {
    let sql = sql_for(
        conn,
        &format!(
            "SELECT CAST(d.day AS TEXT) AS key, CAST(NULL AS TEXT) AS user_principal_name, \
             CAST(NULL AS TEXT) AS display_name, CAST(NULL AS TEXT) AS department, {SUMS} \
             FROM pstn_usage_tenant_daily d WHERE d.tenant_id = $1 AND d.day >= $2 AND d.day <= $3 \
             GROUP BY d.day, d.source, d.currency ORDER BY d.day, d.source, d.currency"
        ),
    );
    Ok(with_conn!(conn, |c| diesel::sql_query(&sql)
        .bind::<Text, _>(tenant_id)
        .bind::<Date, _>(from)
        .bind::<Date, _>(to)
        .load(c))?)
}

/// Per user in `[from, to]`, in user id order: the first `limit` users after `after_user` (from the first when
/// `None`); names and departments from the snapshot `run_id`.
pub fn by_user(
    conn: &mut Conn<'_>,
    tenant_id: &str,
    run_id: &str,
    from: NaiveDate,
    to: NaiveDate,
    after_user: Option<&str>,
    limit: i64,
) -> Result<Vec<PstnGroupRow>, DbError> {
    // '' (calls without a user) sorts first: the first page includes it, later pages start after their cursor.
    let after = if after_user.is_some() { ">" } else { ">=" };
    let sql = sql_for(
        conn,
        &format!(
            "SELECT d.user_id AS key, MAX(u.user_principal_name) AS user_principal_name, \
             MAX(u.display_name) AS display_name, MAX(u.department) AS department, {SUMS} \
             FROM pstn_usage_daily d LEFT JOIN users u ON u.run_id = $4 AND u.id = d.user_id \
             WHERE d.tenant_id = $1 AND d.day >= $2 AND d.day <= $3 AND d.user_id IN ( \
                 SELECT DISTINCT p.user_id FROM pstn_usage_daily p \
                 WHERE p.tenant_id = $1 AND p.day >= $2 AND p.day <= $3 AND p.user_id {after} $5 \
                 ORDER BY p.user_id LIMIT $6) \
             GROUP BY d.user_id, d.source, d.currency ORDER BY d.user_id, d.source, d.currency"
        ),
    );
    Ok(with_conn!(conn, |c| diesel::sql_query(&sql)
        .bind::<Text, _>(tenant_id)
        .bind::<Date, _>(from)
        .bind::<Date, _>(to)
        .bind::<Text, _>(run_id)
        .bind::<Text, _>(after_user.unwrap_or(""))
        .bind::<BigInt, _>(limit)
        .load(c))?)
}

/// Per department of the snapshot `run_id` (`''` for users without one, not in it, or calls without a user),
/// in department order.
pub fn by_department(
    conn: &mut Conn<'_>,
    tenant_id: &str,
    run_id: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<PstnGroupRow>, DbError> {
    let sql = sql_for(
        conn,
        &format!(
            "SELECT COALESCE(u.department, '') AS key, CAST(NULL AS TEXT) AS user_principal_name, \
             CAST(NULL AS TEXT) AS display_name, COALESCE(u.department, '') AS department, {SUMS} \
             FROM (SELECT user_id, source, currency, SUM(calls) AS calls, SUM(seconds) AS seconds, \
                   SUM(charge_minor) AS charge_minor FROM pstn_usage_daily \
                   WHERE tenant_id = $1 AND day >= $2 AND day <= $3 GROUP BY user_id, source, currency) d \
             LEFT JOIN users u ON u.run_id = $4 AND u.id = d.user_id \
             GROUP BY COALESCE(u.department, ''), d.source, d.currency \
             ORDER BY COALESCE(u.department, ''), d.source, d.currency"
        ),
    );
    Ok(with_conn!(conn, |c| diesel::sql_query(&sql)
        .bind::<Text, _>(tenant_id)
        .bind::<Date, _>(from)
        .bind::<Date, _>(to)
        .bind::<Text, _>(run_id)
        .load(c))?)
}

/// Per department in `[from, to]`, each day's use charged to the departments of the snapshot it was counted with
/// (the `pstn_department_daily` rollup: a month goes to its latest snapshot), in department order.
pub fn by_charged_department(
    conn: &mut Conn<'_>,
    tenant_id: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<PstnGroupRow>, DbError> {
    let sql = sql_for(
        conn,
        &format!(
            "SELECT d.department AS key, CAST(NULL AS TEXT) AS user_principal_name, \
             CAST(NULL AS TEXT) AS display_name, d.department AS department, {SUMS} \
             FROM pstn_department_daily d WHERE d.tenant_id = $1 AND d.day >= $2 AND d.day <= $3 \
             GROUP BY d.department, d.source, d.currency ORDER BY d.department, d.source, d.currency"
        ),
    );
    Ok(with_conn!(conn, |c| diesel::sql_query(&sql)
        .bind::<Text, _>(tenant_id)
        .bind::<Date, _>(from)
        .bind::<Date, _>(to)
        .load(c))?)
}
