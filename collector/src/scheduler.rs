//! The collector's clock: it queues the daily licence sync and PSTN log collection for each consented tenant
//! whose run of the day is due (never run today, failed, or stale), checks every tenant's call-record
//! subscription every `callrecords.check_interval_secs`, and resumes backfills whose worker stopped. Several
//! replicas may tick at once: run claims in the database make duplicate jobs no-ops. In Kubernetes a CronJob
//! running `sua sync` can replace the daily part (`SUA_SYNC__SCHEDULER=false`).

use std::time::Duration;
use tracing::Instrument;

use sua_core::Config;
use sua_core::broker::Broker;
use sua_core::messages::{Envelope, LicenceSyncJobV1, PstnSyncJobV1, SubscriptionEnsureJobV1};
use sua_core::shutdown::CancellationToken;
use sua_db::Pool;
use sua_db::models::{SyncRunRow, TenantRow};
use sua_db::states::RunStatus;

use crate::callrecords::Backfills;

/// The scheduler's periods.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub interval: Duration,
    pub subscription_check: Duration,
    pub stale_after: chrono::Duration,
}

impl Schedule {
    pub fn from_config(config: &Config) -> Self {
        Self {
            interval: Duration::from_secs(config.sync.check_interval_secs.max(1)),
            subscription_check: Duration::from_secs(config.callrecords.check_interval_secs.max(1)),
            stale_after: chrono::Duration::seconds(i64::try_from(config.sync.stale_after_secs).unwrap_or(600)),
        }
    }
}

/// The daily collections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Daily {
    Licence,
    Pstn,
}

impl Daily {
    fn kind(self) -> &'static str {
        match self {
            Daily::Licence => crate::sync::KIND,
            Daily::Pstn => crate::pstn::KIND,
        }
    }

    fn job(self, tenant: &str, reason: &str) -> anyhow::Result<Envelope> {
        let day = sua_core::clock::today();
        Ok(match self {
            Daily::Licence => Envelope::new(tenant, None, &LicenceSyncJobV1 { day, reason: reason.to_string() })?,
            Daily::Pstn => Envelope::new(tenant, None, &PstnSyncJobV1 { day, reason: reason.to_string() })?,
        })
    }
}

/// What [`queue_daily`] decided for one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Queued,
    /// Today's run completed (at that time); `force` runs it again.
    AlreadyCompleted(chrono::NaiveDateTime),
    /// A worker runs it now (its heartbeat is fresh).
    Running(chrono::NaiveDateTime),
}

/// Queues today's `daily` collection for each tenant (all consented ones when `only` is empty) whose run is due,
/// or for every one of them when `force` (a completed run of today is then run again). Returns each tenant with
/// what was decided.
pub async fn queue_daily(
    pool: &Pool,
    broker: &Broker,
    daily: Daily,
    only: &[String],
    force: bool,
    stale_after: chrono::Duration,
    reason: &str,
) -> anyhow::Result<Vec<(String, Decision)>> {
    let tenants = pool.run(TenantRow::consented).await?;
    let today = sua_core::clock::today();
    let mut decided = Vec::new();
    for tenant in tenants.into_iter().filter(|t| only.is_empty() || only.contains(&t.id)) {
        let id = tenant.id.clone();
        let latest = pool.run(move |conn| SyncRunRow::latest(conn, &id, daily.kind())).await?;
        let today_run = latest.filter(|run| run.day >= today);
        let decision = match &today_run {
            Some(run) if run.status == RunStatus::Completed && !force => {
                Decision::AlreadyCompleted(run.finished_at.unwrap_or(run.heartbeat_at))
            }
            Some(run) if run.status == RunStatus::Running && run.heartbeat_at >= sua_db::now() - stale_after => {
                Decision::Running(run.started_at)
            }
            _ => Decision::Queued,
        };
        if decision == Decision::Queued {
            if force {
                let (id, kind) = (tenant.id.clone(), daily.kind());
                pool.run(move |conn| SyncRunRow::request_rerun(conn, &id, kind, today)).await?;
            }
            broker.publish_job(&daily.job(&tenant.id, reason)?).await?;
        }
        decided.push((tenant.id, decision));
    }
    Ok(decided)
}

/// Queues the licence sync (kept for callers that only want that one).
pub async fn queue_syncs(
    pool: &Pool,
    broker: &Broker,
    only: &[String],
    force: bool,
    stale_after: chrono::Duration,
    reason: &str,
) -> anyhow::Result<Vec<(String, Decision)>> {
    queue_daily(pool, broker, Daily::Licence, only, force, stale_after, reason).await
}

/// Queues a subscription check for every consented tenant.
pub async fn queue_subscription_checks(pool: &Pool, broker: &Broker, reason: &str) -> anyhow::Result<usize> {
    let tenants = pool.run(TenantRow::consented).await?;
    for tenant in &tenants {
        let job = SubscriptionEnsureJobV1 { reason: reason.to_string(), renew: false };
        broker.publish_job(&Envelope::new(&tenant.id, None, &job)?).await?;
    }
    Ok(tenants.len())
}

pub async fn run(
    pool: Pool,
    broker: Broker,
    backfills: Backfills,
    schedule: Schedule,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let mut last_subscription_check: Option<tokio::time::Instant> = None;
    loop {
        // A tick may wait long on a database or broker that is down: stopping does not wait for it (every job it
        // queues is idempotent, so an interrupted tick is simply done again by the next one).
        tokio::select! {
            // Each tick is the root of a trace: the jobs it queues, and the work they cause, are its children.
            () = tick(&pool, &broker, &backfills, &schedule, &mut last_subscription_check)
                .instrument(tracing::info_span!("scheduler tick")) => {}
            () = stop.cancelled() => return Ok(()),
        }
        tokio::select! {
            () = tokio::time::sleep(schedule.interval) => {}
            () = stop.cancelled() => return Ok(()),
        }
    }
}

async fn tick(
    pool: &Pool,
    broker: &Broker,
    backfills: &Backfills,
    schedule: &Schedule,
    last_subscription_check: &mut Option<tokio::time::Instant>,
) {
    for daily in [Daily::Licence, Daily::Pstn] {
        match queue_daily(pool, broker, daily, &[], false, schedule.stale_after, "schedule").await {
            Ok(decided) => {
                let queued = decided.iter().filter(|(_, d)| *d == Decision::Queued).count();
                if queued > 0 {
                    tracing::info!(tenants = queued, ?daily, "daily collection queued")
                }
            }
            Err(error) => tracing::warn!(error = %format!("{error:#}"), ?daily, "scheduler tick failed"),
        }
    }
    if last_subscription_check.is_none_or(|at| at.elapsed() >= schedule.subscription_check) {
        match queue_subscription_checks(pool, broker, "check").await {
            Ok(_) => *last_subscription_check = Some(tokio::time::Instant::now()),
            Err(error) => tracing::warn!(error = %format!("{error:#}"), "subscription checks not queued"),
        }
    }
    match backfills.resume_orphans().await {
        Ok(0) => {}
        Ok(resumed) => tracing::info!(resumed, "stalled backfills queued again"),
        Err(error) => tracing::warn!(error = %format!("{error:#}"), "stalled backfills not resumed"),
    }
}
