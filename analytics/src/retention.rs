//! Retention of normalised call data: call records with their child rows, and PSTN calls, older than
//! `analytics.retention_days`, are deleted; the daily rollups and aggregates the portal reads are kept.
//!
//! Deletion goes in bounded batches, each its own short transaction, rather than one `DELETE` of everything past
//! the cutoff: it works the same on both back ends (SQLite has no partitions, and its one writer must not be held
//! for long), each batch locks a bounded number of rows for a bounded time (call records keep arriving while it
//! runs), and a pass interrupted by a shutdown loses at most one batch of work. Past a few years of data for many
//! tenants, where deleting row by row costs vacuum and WAL in proportion to the rows, the path on PostgreSQL is
//! to partition the call tables by month of `day` and drop whole partitions instead.

use std::time::Duration;

use sua_db::models::retention;
use sua_db::{DbError, Pool};
use tokio_util::sync::CancellationToken;

/// Call records (and as many PSTN calls) deleted per transaction.
pub const BATCH: i64 = 1_000;
/// How often a retention pass runs.
pub const INTERVAL: Duration = Duration::from_secs(3_600);

/// Deletes everything past the retention, batch by batch, until nothing is left or `stop`; returns the call
/// records and PSTN calls deleted.
pub async fn pass(pool: &Pool, retention_days: i64, stop: &CancellationToken) -> Result<(usize, usize), DbError> {
    let before = sua_core::clock::today() - chrono::Duration::days(retention_days);
    let mut total = (0, 0);
    while !stop.is_cancelled() {
        let (records, pstn) = pool.transaction(move |tx| retention::delete_batch(tx, before, BATCH)).await?;
        total.0 += records;
        total.1 += pstn;
        if records < BATCH as usize && pstn < BATCH as usize {
            break;
        }
    }
    Ok(total)
}

/// Runs a pass at start and then every [`INTERVAL`] until `stop`.
pub async fn run(pool: Pool, retention_days: i64, stop: CancellationToken) -> anyhow::Result<()> {
    loop {
        match pass(&pool, retention_days, &stop).await {
            Ok((0, 0)) => {}
            Ok((records, pstn)) => tracing::info!(call_records = records, pstn_calls = pstn, "old call data deleted"),
            Err(error) => tracing::warn!(%error, "retention pass failed; will retry"),
        }
        tokio::select! {
            () = tokio::time::sleep(INTERVAL) => {}
            () = stop.cancelled() => return Ok(()),
        }
    }
}
