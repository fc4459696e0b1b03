//! Deleting normalised call data past its retention, a bounded batch at a time.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date};

use super::sql_for;
use crate::{Conn, DbError, with_conn};

/// The child tables of `call_records`, keyed by `(tenant_id, call_id)`.
const CALL_CHILDREN: &[&str] =
    &["call_streams", "call_segments", "call_sessions", "call_participants", "call_user_facts"];

/// Deletes up to `batch` call records of days before `before` with their sessions, segments, streams, participants
/// and per-user facts, and up to `batch` PSTN calls of those days; returns how many call records and PSTN calls
/// went. Call it inside a transaction (the children and their record go together).
pub fn delete_batch(conn: &mut Conn<'_>, before: NaiveDate, batch: i64) -> Result<(usize, usize), DbError> {
    // The same ordered batch is chosen by each statement of the transaction, so no child is left without its
    // record.
    let calls = "SELECT tenant_id, id FROM call_records WHERE day < $1 ORDER BY day, tenant_id, id LIMIT $2";
    for child in CALL_CHILDREN {
        let sql = sql_for(conn, &format!("DELETE FROM {child} WHERE (tenant_id, call_id) IN ({calls})"));
        with_conn!(&mut *conn, |c| diesel::sql_query(&sql)
            .bind::<Date, _>(before)
            .bind::<BigInt, _>(batch)
            .execute(c))?;
    }
    let sql = sql_for(conn, &format!("DELETE FROM call_records WHERE (tenant_id, id) IN ({calls})"));
    let records = with_conn!(&mut *conn, |c| diesel::sql_query(&sql)
        .bind::<Date, _>(before)
        .bind::<BigInt, _>(batch)
        .execute(c))?;
    let sql = sql_for(
        conn,
        "DELETE FROM pstn_calls WHERE (tenant_id, source, id) IN \
         (SELECT tenant_id, source, id FROM pstn_calls WHERE day < $1 ORDER BY day, tenant_id, source, id LIMIT $2)",
    );
    let pstn = with_conn!(&mut *conn, |c| diesel::sql_query(&sql)
        .bind::<Date, _>(before)
        .bind::<BigInt, _>(batch)
        .execute(c))?;
    Ok((records, pstn))
}
