//! The daily licence sync scheduler: every `sync.check_interval_secs` it queues a sync job for each consented
//! tenant whose run of the day is due (never run today, failed, or stale). Several replicas may tick at once; the
//! run claim in the database makes duplicate jobs no-ops. In Kubernetes a CronJob running `sua sync` can replace
//! it (`SUA_SYNC__SCHEDULER=false`).

use std::time::Duration;

use chrono::Utc;
use sua_core::broker::Broker;
use sua_core::messages::{Envelope, LicenceSyncJobV1};
use sua_core::shutdown::CancellationToken;
use sua_db::Pool;
use sua_db::models::{SyncRunRow, TenantRow, sync_runs};

/// Queues a licence sync of today for each tenant (all consented ones when `only` is empty) whose run is due,
/// or for every one of them when `force`. Returns the tenants queued.
pub async fn queue_syncs(
    pool: &Pool,
    broker: &Broker,
    only: &[String],
    force: bool,
    stale_after: chrono::Duration,
    reason: &str,
) -> anyhow::Result<Vec<String>> {
    let tenants = pool.run(TenantRow::consented).await?;
    let today = Utc::now().date_naive();
    let mut queued = Vec::new();
    for tenant in tenants.into_iter().filter(|t| only.is_empty() || only.contains(&t.id)) {
        let id = tenant.id.clone();
        let latest = pool.run(move |conn| SyncRunRow::latest(conn, &id, crate::sync::KIND)).await?;
        let due = force
            || match &latest {
                None => true,
                Some(run) if run.day < today => true,
                Some(run) if run.status == sync_runs::FAILED => true,
                Some(run) if run.status == sync_runs::RUNNING => run.heartbeat_at < sua_db::now() - stale_after,
                Some(_) => false,
            };
        if due {
            let envelope =
                Envelope::new(&tenant.id, None, &LicenceSyncJobV1 { day: today, reason: reason.to_string() })?;
            broker.publish_job(&envelope).await?;
            queued.push(tenant.id);
        }
    }
    Ok(queued)
}

pub async fn run(
    pool: Pool,
    broker: Broker,
    interval: Duration,
    stale_after: chrono::Duration,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    loop {
        match queue_syncs(&pool, &broker, &[], false, stale_after, "schedule").await {
            Ok(queued) if !queued.is_empty() => tracing::info!(tenants = queued.len(), "licence syncs queued"),
            Ok(_) => {}
            Err(error) => tracing::warn!(error = %format!("{error:#}"), "scheduler tick failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = stop.cancelled() => return Ok(()),
        }
    }
}
