//! A tenant's calls summed per day, user or department, and the users with the most poor streams.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Nullable, Text};

use crate::models::sql_for;
use crate::{Conn, DbError, with_conn};

/// Call counts summed over a group (a day, a user or a department).
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct UsageGroup {
    /// The day (`YYYY-MM-DD`), user id or department (`''` for none).
    #[diesel(sql_type = Text)]
    pub key: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub user_principal_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub display_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub department: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub calls: i64,
    #[diesel(sql_type = BigInt)]
    pub group_calls: i64,
    #[diesel(sql_type = BigInt)]
    pub peer_calls: i64,
    #[diesel(sql_type = BigInt)]
    pub seconds: i64,
    #[diesel(sql_type = BigInt)]
    pub video_calls: i64,
    #[diesel(sql_type = BigInt)]
    pub pstn_calls: i64,
    #[diesel(sql_type = BigInt)]
    pub streams: i64,
    #[diesel(sql_type = BigInt)]
    pub poor_streams: i64,
}

const SUMS: &str = "CAST(SUM(d.calls) AS BIGINT) AS calls, CAST(SUM(d.group_calls) AS BIGINT) AS group_calls, \
    CAST(SUM(d.peer_calls) AS BIGINT) AS peer_calls, CAST(SUM(d.seconds) AS BIGINT) AS seconds, \
    CAST(SUM(d.video_calls) AS BIGINT) AS video_calls, CAST(SUM(d.pstn_calls) AS BIGINT) AS pstn_calls, \
    CAST(SUM(d.streams) AS BIGINT) AS streams, CAST(SUM(d.poor_streams) AS BIGINT) AS poor_streams";

/// A tenant's calls per day in `[from, to]` (days without calls are absent).
pub fn usage_by_day(
    conn: &mut Conn<'_>,
    tenant_id: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<UsageGroup>, DbError> {
    let sql = sql_for(
        conn,
        &format!(
            "SELECT CAST(d.day AS TEXT) AS key, CAST(NULL AS TEXT) AS user_principal_name, \
             CAST(NULL AS TEXT) AS display_name, CAST(NULL AS TEXT) AS department, {SUMS} \
             FROM call_usage_tenant_daily d WHERE d.tenant_id = $1 AND d.day >= $2 AND d.day <= $3 \
             GROUP BY d.day ORDER BY d.day"
        ),
    );
    Ok(with_conn!(conn, |c| diesel::sql_query(&sql)
        .bind::<Text, _>(tenant_id)
        .bind::<Date, _>(from)
        .bind::<Date, _>(to)
        .load(c))?)
}

/// A tenant's calls per user in `[from, to]`, by user id, after `after_user` (a page of `limit`); names and
/// departments from the snapshot `run_id`.
pub fn usage_by_user(
    conn: &mut Conn<'_>,
    tenant_id: &str,
    run_id: &str,
    from: NaiveDate,
    to: NaiveDate,
    after_user: &str,
    limit: i64,
) -> Result<Vec<UsageGroup>, DbError> {
    let sql = sql_for(
        conn,
        &format!(
            "SELECT d.user_id AS key, MAX(u.user_principal_name) AS user_principal_name, \
             MAX(u.display_name) AS display_name, MAX(u.department) AS department, {SUMS} \
             FROM call_usage_daily d LEFT JOIN users u ON u.run_id = $4 AND u.id = d.user_id \
             WHERE d.tenant_id = $1 AND d.day >= $2 AND d.day <= $3 AND d.user_id > $5 \
             GROUP BY d.user_id ORDER BY d.user_id LIMIT $6"
        ),
    );
    Ok(with_conn!(conn, |c| diesel::sql_query(&sql)
        .bind::<Text, _>(tenant_id)
        .bind::<Date, _>(from)
        .bind::<Date, _>(to)
        .bind::<Text, _>(run_id)
        .bind::<Text, _>(after_user)
        .bind::<BigInt, _>(limit)
        .load(c))?)
}

/// A tenant's calls per department in `[from, to]`, each day attributed to the departments of the snapshot it was
/// counted with (`''` for users without one or not in it; the `call_usage_department_daily` rollup: a month goes
/// to its latest snapshot). A call with two users of one department counts once for each, as it does per user.
pub fn usage_by_department(
    conn: &mut Conn<'_>,
    tenant_id: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<UsageGroup>, DbError> {
    let sql = sql_for(
        conn,
        &format!(
            "SELECT d.department AS key, CAST(NULL AS TEXT) AS user_principal_name, \
             CAST(NULL AS TEXT) AS display_name, d.department AS department, {SUMS} \
             FROM call_usage_department_daily d WHERE d.tenant_id = $1 AND d.day >= $2 AND d.day <= $3 \
             GROUP BY d.department ORDER BY 1"
        ),
    );
    Ok(with_conn!(conn, |c| diesel::sql_query(&sql)
        .bind::<Text, _>(tenant_id)
        .bind::<Date, _>(from)
        .bind::<Date, _>(to)
        .load(c))?)
}

/// Tenant `$1`'s users with the most poor streams in `[$2, $3]`, most first, at most `$5` (`$4` is the caller's):
/// the one ranking of the answer summed on request and of the windows analytics keeps, so that both order alike.
pub(crate) fn worst_users_ranking() -> String {
    format!(
        "SELECT d.user_id AS key, {SUMS} FROM call_usage_daily d \
         WHERE d.tenant_id = $1 AND d.day >= $2 AND d.day <= $3 AND d.poor_streams > 0 \
         GROUP BY d.user_id ORDER BY SUM(d.poor_streams) DESC, d.user_id LIMIT $5"
    )
}

/// Users with the most poor streams in `[from, to]`.
pub fn worst_quality_users(
    conn: &mut Conn<'_>,
    tenant_id: &str,
    run_id: &str,
    from: NaiveDate,
    to: NaiveDate,
    limit: i64,
) -> Result<Vec<UsageGroup>, DbError> {
    let sql = sql_for(
        conn,
        &format!(
            "SELECT d.key, u.user_principal_name, u.display_name, u.department, d.calls, d.group_calls, d.peer_calls, \
             d.seconds, d.video_calls, d.pstn_calls, d.streams, d.poor_streams \
             FROM ({}) d LEFT JOIN users u ON u.run_id = $4 AND u.id = d.key \
             ORDER BY d.poor_streams DESC, d.key",
            worst_users_ranking()
        ),
    );
    Ok(with_conn!(conn, |c| diesel::sql_query(&sql)
        .bind::<Text, _>(tenant_id)
        .bind::<Date, _>(from)
        .bind::<Date, _>(to)
        .bind::<Text, _>(run_id)
        .bind::<BigInt, _>(limit)
        .load(c))?)
}
