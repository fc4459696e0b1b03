//! Limiters shared by every replica through the database: a sliding window and a token bucket.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::{rate_limit_buckets, rate_limit_grants, rate_limit_keys};
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

/// Takes up to `want` tokens from the bucket `key` (holding at most `capacity`, refilled at `per_second`):
/// returns how many were granted (at least one), or, when not even one is there, when `want` of them (at most
/// `capacity`) will be. Run it inside a transaction
/// (the bucket row is locked on PostgreSQL). Constant work per call, unlike the sliding window, so it suits large
/// budgets; taking several at once lets a replica serve its waiting requests with one round trip instead of one
/// each. Over any span of `t` seconds it grants at most `capacity + t × per_second`: to keep a budget of `n` per
/// `t` seconds, choose the two so that sum stays within `n`.
pub fn try_take_tokens(
    conn: &mut Conn<'_>,
    key: &str,
    capacity: u32,
    per_second: f64,
    now: NaiveDateTime,
    want: u32,
) -> Result<Result<u32, NaiveDateTime>, DbError> {
    let capacity = f64::from(capacity.max(1));
    let per_second = per_second.max(f64::MIN_POSITIVE);
    with_conn!(&mut *conn, |c| diesel::insert_into(rate_limit_buckets::table)
        .values((
            rate_limit_buckets::key.eq(key),
            rate_limit_buckets::tokens.eq(capacity),
            rate_limit_buckets::updated_at.eq(now)
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    let (tokens, updated_at): (f64, NaiveDateTime) = match conn {
        Conn::Pg(c) => rate_limit_buckets::table
            .find(key)
            .select((rate_limit_buckets::tokens, rate_limit_buckets::updated_at))
            .for_update()
            .first(*c)?,
        Conn::Sqlite(c) => rate_limit_buckets::table
            .find(key)
            .select((rate_limit_buckets::tokens, rate_limit_buckets::updated_at))
            .first(*c)?,
    };
    let elapsed = (now - updated_at).num_milliseconds().max(0) as f64 / 1000.0;
    let available = (tokens + elapsed * per_second).min(capacity);
    let (left, outcome) = if available >= 1.0 {
        let granted = available.floor().min(f64::from(want.max(1)));
        (available - granted, Ok(granted as u32))
    } else {
        // Waiting for all the tokens wanted (not just one) lets the caller take them in one round trip when it
        // wakes, instead of one round trip per token while the bucket is empty.
        let needed = f64::from(want.max(1)).min(capacity);
        let wait_ms = ((needed - available) / per_second * 1000.0).ceil() as i64;
        (available, Err(now + Duration::milliseconds(wait_ms.max(1))))
    };
    with_conn!(conn, |c| diesel::update(rate_limit_buckets::table.find(key))
        .set((rate_limit_buckets::tokens.eq(left), rate_limit_buckets::updated_at.eq(now.max(updated_at))))
        .execute(c))?;
    Ok(outcome)
}
