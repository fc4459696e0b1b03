//! Backfill and reconcile: LIST call records by `startDateTime` over a window (Graph keeps 30 days) and queue a
//! fetch job for each id not collected yet. Runs after first consent (the last `backfill_days`), after any gap in
//! the subscription, and on demand (`sua backfill`). Listing is slow by design (Graph allows 40 LIST requests per
//! 20 s), so a backfill runs in the background, records its progress and heartbeat, and is resumed by the
//! scheduler if its worker stops.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use sua_core::broker::{Broker, HandlerError};
use sua_core::messages::{CallRecordBackfillJobV1, CallRecordFetchJobV1, CallToFetch, Envelope};
use sua_core::shutdown::CancellationToken;
use sua_db::Pool;
use sua_db::models::{BackfillRow, CallRecordFetchRow};
use tokio_util::task::TaskTracker;

use sua_domain::graph::directory::Page;

use crate::graph::{Api, GraphClient, GraphError};

#[derive(Clone)]
pub struct Backfills {
    pool: Pool,
    broker: Broker,
    graph: GraphClient,
    tasks: TaskTracker,
    stop: CancellationToken,
}

/// Graph keeps call records this many days; LIST returns nothing older.
pub const RETENTION_DAYS: i64 = 30;
/// Call records per fetch job queued by a backfill (a failing record makes its job retry; smaller jobs retry less).
const BACKFILL_JOB_CALLS: usize = 50;

impl Backfills {
    pub fn new(pool: Pool, broker: Broker, graph: GraphClient) -> Self {
        Self { pool, broker, graph, tasks: TaskTracker::new(), stop: CancellationToken::new() }
    }

    /// Records a backfill of `[from, to)` (clamped to what Graph keeps) and queues its job; returns its id.
    pub async fn start(
        &self,
        tenant: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        reason: &str,
    ) -> anyhow::Result<String> {
        let id = self.create(tenant, from, to, reason).await?;
        self.broker
            .publish_job(&Envelope::new(tenant, None, &CallRecordBackfillJobV1 { backfill_id: id.clone() })?)
            .await?;
        tracing::info!(tenant, backfill = %id, reason, %from, %to, "backfill queued");
        Ok(id)
    }

    /// Records a backfill without queueing it (`sua backfill` runs it itself).
    pub async fn create(
        &self,
        tenant: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        reason: &str,
    ) -> anyhow::Result<String> {
        let earliest = sua_core::clock::now() - chrono::Duration::days(RETENTION_DAYS);
        let now = sua_db::now();
        let row = BackfillRow {
            id: uuid::Uuid::new_v4().to_string(),
            tenant_id: tenant.to_string(),
            window_from: from.max(earliest).naive_utc(),
            window_to: to.naive_utc(),
            reason: reason.to_string(),
            status: sua_db::states::BackfillStatus::Queued,
            listed: 0,
            queued: 0,
            created_at: now,
            heartbeat_at: now,
            finished_at: None,
            error: None,
        };
        let id = row.id.clone();
        self.pool.run(move |conn| BackfillRow::insert(conn, &row)).await?;
        Ok(id)
    }

    /// Claims and runs a backfill here and now, reporting progress after each page.
    pub async fn run_here(&self, backfill_id: &str, progress: impl Fn(i32, i32) + Sync) -> anyhow::Result<()> {
        let id = backfill_id.to_string();
        let backfill = self
            .pool
            .run(move |conn| {
                let now = sua_db::now();
                let claimed = BackfillRow::claim(conn, &id, now, now - chrono::Duration::minutes(5))?;
                Ok::<_, sua_db::DbError>(if claimed { BackfillRow::find(conn, &id)? } else { None })
            })
            .await?
            .ok_or_else(|| anyhow::anyhow!("backfill {backfill_id} is already running elsewhere"))?;
        let result = self.list_reporting(&backfill, &progress).await;
        let error = result.as_ref().err().map(|e| format!("{e:#}"));
        let (id, at) = (backfill.id.clone(), sua_db::now());
        self.pool.run(move |conn| BackfillRow::finish(conn, &id, error.as_deref(), at)).await?;
        result
    }

    /// Claims the backfill and runs it in the background (a no-op when another worker has it).
    pub async fn run(&self, backfill_id: &str) -> Result<(), HandlerError> {
        let id = backfill_id.to_string();
        let claimed = self
            .pool
            .run(move |conn| {
                let now = sua_db::now();
                let claimed = BackfillRow::claim(conn, &id, now, now - chrono::Duration::minutes(5))?;
                Ok::<_, sua_db::DbError>(if claimed { BackfillRow::find(conn, &id)? } else { None })
            })
            .await
            .map_err(HandlerError::from)?;
        let Some(backfill) = claimed else { return Ok(()) };
        let this = self.clone();
        self.tasks.spawn(tracing::Instrument::in_current_span(async move {
            let result = this.list(&backfill).await;
            let error = result.err().map(|e| format!("{e:#}"));
            let (id, at) = (backfill.id.clone(), sua_db::now());
            if let Some(error) = &error {
                tracing::warn!(tenant = %backfill.tenant_id, backfill = %backfill.id, error, "backfill failed");
            }
            if let Err(db) = this.pool.run(move |conn| BackfillRow::finish(conn, &id, error.as_deref(), at)).await {
                tracing::error!(%db, "could not record the backfill outcome");
            }
        }));
        Ok(())
    }

    async fn list(&self, backfill: &BackfillRow) -> anyhow::Result<()> {
        self.list_reporting(backfill, &|_, _| {}).await
    }

    async fn list_reporting(&self, backfill: &BackfillRow, progress: &(dyn Fn(i32, i32) + Sync)) -> anyhow::Result<()> {
        let tenant = backfill.tenant_id.as_str();
        let stamp = |t: chrono::NaiveDateTime| t.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let filter = format!(
            "startDateTime ge {} and startDateTime lt {}",
            stamp(backfill.window_from),
            stamp(backfill.window_to)
        );
        let url = self.graph.url(&format!(
            "/communications/callRecords?$filter={}",
            url::form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>()
        ));
        let mut pages = std::pin::pin!(self.graph.pages(tenant, Api::CallRecordsList, url));
        let (mut listed, mut queued) = (0i32, 0i32);
        while let Some(page) = pages.next().await {
            if self.stop.is_cancelled() {
                anyhow::bail!("stopped: the collector is shutting down");
            }
            let page: Page<Listed> = serde_json::from_value(page?)
                .map_err(|e| GraphError::Malformed { attempts: 1, message: format!("a call record list page: {e}") })?;
            let ids: Vec<String> = page.value.into_iter().map(|r| r.id).collect();
            listed += i32::try_from(ids.len()).unwrap_or(0);
            let (lookup_tenant, lookup_ids) = (tenant.to_string(), ids.clone());
            let known = self.pool.run(move |conn| CallRecordFetchRow::known(conn, &lookup_tenant, &lookup_ids)).await?;
            let missing: Vec<CallToFetch> = ids
                .into_iter()
                .filter(|id| !known.contains(id))
                .map(|id| CallToFetch { id, change_type: "backfill".into() })
                .collect();
            queued += i32::try_from(missing.len()).unwrap_or(0);
            let jobs = missing
                .chunks(BACKFILL_JOB_CALLS)
                .map(|calls| Envelope::new(tenant, None, &CallRecordFetchJobV1 { calls: calls.to_vec() }))
                .collect::<Result<Vec<_>, _>>()?;
            for result in futures::future::join_all(jobs.iter().map(|job| self.broker.publish_job(job))).await {
                result?;
            }
            let (id, at) = (backfill.id.clone(), sua_db::now());
            self.pool.run(move |conn| BackfillRow::progress(conn, &id, listed, queued, at)).await?;
            progress(listed, queued);
        }
        tracing::info!(tenant, backfill = %backfill.id, listed, queued, "backfill listed its window");
        Ok(())
    }

    pub async fn shutdown(&self, grace: Duration) {
        self.stop.cancel();
        self.tasks.close();
        let _ = tokio::time::timeout(grace, self.tasks.wait()).await;
    }

    /// Queues again backfills whose worker stopped (their heartbeat is old).
    pub async fn resume_orphans(&self) -> anyhow::Result<usize> {
        let orphans =
            self.pool.run(|conn| BackfillRow::orphaned(conn, sua_db::now() - chrono::Duration::minutes(5))).await?;
        for backfill in &orphans {
            let job = Envelope::new(
                &backfill.tenant_id,
                None,
                &CallRecordBackfillJobV1 { backfill_id: backfill.id.clone() },
            )?;
            self.broker.publish_job(&job).await?;
        }
        Ok(orphans.len())
    }
}

/// What a backfill reads of a listed call record: its id (the fetch job gets the whole record).
#[derive(serde::Deserialize)]
struct Listed {
    id: String,
}
