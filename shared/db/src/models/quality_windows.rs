//! Call quality's worst users over the last 7, 30 and 90 days, kept by analytics (`call_quality_windows` and
//! `call_quality_worst`): the ranking sums every user-day with poor streams of the range, 120,000 rows for a
//! 100,000-user tenant over 30 days, too much to do on each request. The portal reads a window's ranked rows when
//! the range asked for is one of them and ends on the window's last day; any other range is summed on request.
//!
//! A window is recomputed when the tenant's data version has moved on since it was computed, at most once per
//! `debounce` (while calls stream in, every rollup pass moves the version), and when the day changes.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Integer, Text, Timestamp};

use super::sql_for;
use crate::views::UsageGroup;
use crate::{Conn, DbError, with_conn};

/// The windows kept, in days ending today: the portal's ranges.
pub const WINDOWS: [i64; 3] = [7, 30, 90];
/// Users kept per window: the most a quality answer lists.
pub const KEPT: i64 = 100;

#[derive(QueryableByName)]
struct TenantKey {
    #[diesel(sql_type = Text)]
    tenant_id: String,
}

#[derive(QueryableByName)]
struct WindowMeta {
    #[diesel(sql_type = Timestamp)]
    computed_at: NaiveDateTime,
}

/// Tenants whose windows are missing, end before `today`, or were computed from an older data version before
/// `settled_before` (the debounce); at most `limit`.
pub fn pending(
    conn: &mut Conn<'_>,
    today: NaiveDate,
    settled_before: NaiveDateTime,
    limit: i64,
) -> Result<Vec<String>, DbError> {
    let sql = sql_for(
        conn,
        "SELECT v.tenant_id FROM data_versions v \
         LEFT JOIN call_quality_windows w ON w.tenant_id = v.tenant_id AND w.days = 90 \
         WHERE w.tenant_id IS NULL OR w.to_day <> $1 OR (w.version < v.version AND w.computed_at <= $2) \
         ORDER BY v.tenant_id LIMIT $3",
    );
    let rows: Vec<TenantKey> = with_conn!(conn, |c| diesel::sql_query(&sql)
        .bind::<Date, _>(today)
        .bind::<Timestamp, _>(settled_before)
        .bind::<BigInt, _>(limit)
        .load(c))?;
    Ok(rows.into_iter().map(|r| r.tenant_id).collect())
}

/// Recomputes the tenant's windows ending `today`; inside a transaction. The tenant's data version row and then the
/// window rows are written first, so a second replica doing the same tenant waits for this one instead of clashing
/// on the ranked rows.
pub fn recompute(conn: &mut Conn<'_>, tenant_id: &str, today: NaiveDate) -> Result<(), DbError> {
    // The portal caches answers per data version: moving it on retires answers holding the old rankings.
    super::DataVersion::bump(conn, tenant_id)?;
    let version = super::DataVersion::of(conn, tenant_id)?;
    let now = crate::now();
    let upsert = sql_for(
        conn,
        "INSERT INTO call_quality_windows (tenant_id, days, to_day, version, computed_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (tenant_id, days) DO UPDATE SET to_day = $3, version = $4, computed_at = $5",
    );
    let clear = sql_for(conn, "DELETE FROM call_quality_worst WHERE tenant_id = $1 AND days = $2");
    let rank = sql_for(
        conn,
        &format!(
            "INSERT INTO call_quality_worst (tenant_id, days, rank, user_id, calls, group_calls, peer_calls, seconds, \
             video_calls, pstn_calls, streams, poor_streams) \
             SELECT $1, $4, ROW_NUMBER() OVER (ORDER BY r.poor_streams DESC, r.key), r.key, r.calls, r.group_calls, \
             r.peer_calls, r.seconds, r.video_calls, r.pstn_calls, r.streams, r.poor_streams FROM ({}) r",
            crate::views::calls::worst_users_ranking()
        ),
    );
    for days in WINDOWS {
        let from = today - chrono::Duration::days(days - 1);
        let days = days as i32;
        with_conn!(&mut *conn, |c| diesel::sql_query(&upsert)
            .bind::<Text, _>(tenant_id)
            .bind::<Integer, _>(days)
            .bind::<Date, _>(today)
            .bind::<BigInt, _>(version)
            .bind::<Timestamp, _>(now)
            .execute(c))?;
        with_conn!(&mut *conn, |c| diesel::sql_query(&clear)
            .bind::<Text, _>(tenant_id)
            .bind::<Integer, _>(days)
            .execute(c))?;
        with_conn!(&mut *conn, |c| diesel::sql_query(&rank)
            .bind::<Text, _>(tenant_id)
            .bind::<Date, _>(from)
            .bind::<Date, _>(today)
            .bind::<Integer, _>(days)
            .bind::<BigInt, _>(KEPT)
            .execute(c))?;
    }
    Ok(())
}

/// The `limit` users with the most poor streams in `[from, to]`, most first, with names and departments from the
/// snapshot `run_id`, and when they were ranked; `None` when `[from, to]` is not a kept window ending on its last
/// day (or `limit` exceeds what a window keeps).
pub fn worst_users(
    conn: &mut Conn<'_>,
    tenant_id: &str,
    run_id: &str,
    from: NaiveDate,
    to: NaiveDate,
    limit: i64,
) -> Result<Option<(NaiveDateTime, Vec<UsageGroup>)>, DbError> {
    let days = (to - from).num_days() + 1;
    if !WINDOWS.contains(&days) || limit > KEPT {
        return Ok(None);
    }
    let days = days as i32;
    let meta = sql_for(
        conn,
        "SELECT computed_at FROM call_quality_windows WHERE tenant_id = $1 AND days = $2 AND to_day = $3",
    );
    let window: Option<WindowMeta> = with_conn!(&mut *conn, |c| diesel::sql_query(&meta)
        .bind::<Text, _>(tenant_id)
        .bind::<Integer, _>(days)
        .bind::<Date, _>(to)
        .get_result(c)
        .optional())?;
    let Some(window) = window else { return Ok(None) };
    let sql = sql_for(
        conn,
        "SELECT w.user_id AS key, u.user_principal_name, u.display_name, u.department, w.calls, w.group_calls, \
         w.peer_calls, w.seconds, w.video_calls, w.pstn_calls, w.streams, w.poor_streams \
         FROM call_quality_worst w LEFT JOIN users u ON u.run_id = $3 AND u.id = w.user_id \
         WHERE w.tenant_id = $1 AND w.days = $2 ORDER BY w.rank LIMIT $4",
    );
    let users = with_conn!(conn, |c| diesel::sql_query(&sql)
        .bind::<Text, _>(tenant_id)
        .bind::<Integer, _>(days)
        .bind::<Text, _>(run_id)
        .bind::<BigInt, _>(limit)
        .load(c))?;
    Ok(Some((window.computed_at, users)))
}
