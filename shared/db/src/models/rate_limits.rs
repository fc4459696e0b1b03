//! A sliding-window limiter shared by every replica through the database.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::{rate_limit_grants, rate_limit_keys};
use crate::{Conn, DbError, with_conn};

/// Takes one grant of `key` if fewer than `limit` were taken in the `window` before `now`; otherwise returns
/// when the oldest grant in the window leaves it. Run it inside a transaction: on PostgreSQL the key row is
/// locked (`FOR UPDATE`) so concurrent replicas count one after another; SQLite serialises writers anyway.
pub fn try_acquire(
    conn: &mut Conn<'_>,
    key: &str,
    limit: u32,
    window: Duration,
    now: NaiveDateTime,
) -> Result<Result<(), NaiveDateTime>, DbError> {
    with_conn!(&mut *conn, |c| diesel::insert_into(rate_limit_keys::table)
        .values(rate_limit_keys::key.eq(key))
        .on_conflict_do_nothing()
        .execute(c))?;
    if let Conn::Pg(c) = conn {
        rate_limit_keys::table.find(key).select(rate_limit_keys::key).for_update().first::<String>(*c)?;
    }
    let since = now - window;
    with_conn!(&mut *conn, |c| diesel::delete(
        rate_limit_grants::table.filter(rate_limit_grants::key.eq(key)).filter(rate_limit_grants::granted_at.le(since))
    )
    .execute(c))?;
    let recent: Vec<NaiveDateTime> = with_conn!(&mut *conn, |c| rate_limit_grants::table
        .filter(rate_limit_grants::key.eq(key))
        .filter(rate_limit_grants::granted_at.gt(since))
        .order(rate_limit_grants::granted_at.asc())
        .select(rate_limit_grants::granted_at)
        .load(c))?;
    if recent.len() < limit as usize {
        with_conn!(&mut *conn, |c| diesel::insert_into(rate_limit_grants::table)
            .values((rate_limit_grants::key.eq(key), rate_limit_grants::granted_at.eq(now)))
            .execute(c))?;
        return Ok(Ok(()));
    }
    Ok(Err(recent[recent.len() - limit as usize] + window))
}
