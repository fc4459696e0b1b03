//! The daily licence sync of one tenant: subscribedSkus, every users page (with `signInActivity` when the
//! tenant has Entra ID P1 and the permission), and the Teams user activity report, each published as raw
//! records as soon as it arrives, then a `sync.completed` message with what was published.
//!
//! A run is claimed in `collector.sync_runs` (one per tenant and day; a second start is a no-op) and keeps a
//! heartbeat while it works. A run that fails part-way is marked failed with the reason and never completed; the
//! scheduler's next tick retries it with a new run id, so analytics never mixes parts of two attempts.

mod report;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use futures::StreamExt;
use prometheus::{HistogramVec, IntCounterVec, IntGauge, Registry};
use serde_json::Value;
use sua_core::Config;
use sua_core::broker::{Broker, HandlerError};
use sua_core::messages::{
    Envelope, LicenceSkusV1, LicenceUsersV1, PartStatus, PartSummary, PermissionState, SyncCompletedV1, SyncParts,
    TeamsActivityReportV1,
};
use sua_core::shutdown::CancellationToken;
use sua_db::Pool;
use sua_db::models::{StartOutcome, SyncRunRow, TenantRow};
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use uuid::Uuid;

pub use report::{Chunker, is_pseudonym};

use crate::graph::{Api, GraphClient, GraphError};

pub const KIND: &str = sua_domain::tenants::LICENCE_SYNC;

/// User properties the sync selects (sign-in activity is added when available).
pub const USER_FIELDS: &str = "id,displayName,userPrincipalName,mail,department,jobTitle,officeLocation,city,country,\
usageLocation,accountEnabled,userType,createdDateTime,assignedLicenses,assignedPlans";

#[derive(Debug, thiserror::Error)]
enum SyncError {
    #[error("{part}: {source}")]
    Graph { part: &'static str, source: GraphError },
    #[error("publishing {part} failed: {message}")]
    Publish { part: &'static str, message: String },
    #[error("stopped: the collector is shutting down")]
    Cancelled,
}

/// Runs licence syncs, a bounded number at a time.
#[derive(Clone)]
pub struct SyncRunner {
    pool: Pool,
    broker: Broker,
    graph: GraphClient,
    slots: Arc<Semaphore>,
    tasks: TaskTracker,
    stop: CancellationToken,
    stale_after: chrono::Duration,
    report_period: String,
    report_chunk_rows: usize,
    runs: IntCounterVec,
    claims: IntCounterVec,
    seconds: HistogramVec,
    last_success: IntGauge,
}

/// Sync jobs by kind (`licence`, `pstn`) and what claiming their day's run decided.
pub fn claims_counter(registry: &Registry) -> IntCounterVec {
    sua_core::metrics::counter_vec(
        registry,
        "sua_sync_claims_total",
        "Sync jobs by kind and claim outcome (started, already_completed, already_running).",
        &["kind", "outcome"],
    )
}

impl SyncRunner {
    pub fn new(
        config: &Config,
        pool: Pool,
        broker: Broker,
        graph: GraphClient,
        registry: &Registry,
        claims: IntCounterVec,
    ) -> Self {
        let runner = Self {
            pool,
            broker,
            graph,
            slots: Arc::new(Semaphore::new(config.sync.concurrency.max(1))),
            tasks: TaskTracker::new(),
            stop: CancellationToken::new(),
            stale_after: chrono::Duration::seconds(i64::try_from(config.sync.stale_after_secs).unwrap_or(600)),
            report_period: config.graph.report_period.clone(),
            report_chunk_rows: config.graph.report_chunk_rows as usize,
            runs: sua_core::metrics::counter_vec(
                registry,
                "sua_sync_runs_total",
                "Licence sync runs by outcome.",
                &["outcome"],
            ),
            claims,
            seconds: sua_core::metrics::histogram_vec(
                registry,
                "sua_sync_duration_seconds",
                "Duration of licence sync runs, by outcome (completed, failed).",
                &["outcome"],
                vec![1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0],
            ),
            last_success: sua_core::metrics::int_gauge_vec(
                registry,
                "sua_sync_last_success_timestamp_seconds",
                "When this replica last completed a licence sync (Unix time; 0 before the first).",
                &[],
            )
            .with_label_values(&[] as &[&str]),
        };
        for outcome in ["completed", "failed"] {
            runner.seconds.with_label_values(&[outcome]);
        }
        runner
    }

    /// Claims the run of `(tenant, day)` and starts it in the background; a no-op when it already runs or ran.
    /// Waits for a free slot first, so a busy replica leaves jobs on the queue for others.
    pub async fn start(&self, tenant_id: &str, day: NaiveDate) -> Result<StartOutcome, HandlerError> {
        let permit = tokio::select! {
            permit = self.slots.clone().acquire_owned() => permit.map_err(|e| HandlerError::Transient(e.into()))?,
            () = self.stop.cancelled() => return Err(HandlerError::Unavailable(anyhow::anyhow!("shutting down"))),
        };
        let lookup = tenant_id.to_string();
        let tenant = self.pool.run(move |conn| TenantRow::find(conn, &lookup)).await.map_err(HandlerError::from)?;
        let Some(tenant) = tenant.filter(|t| t.consent_state == sua_db::states::ConsentState::Granted) else {
            tracing::warn!(tenant = tenant_id, "sync requested for a tenant without consent, ignored");
            return Err(HandlerError::Reject(anyhow::anyhow!("tenant {tenant_id} has not consented")));
        };
        let run_id = Uuid::new_v4().to_string();
        let (claim_tenant, stale) = (tenant.id.clone(), self.stale_after);
        let outcome = self
            .pool
            .transaction(move |conn| {
                let now = sua_db::now();
                SyncRunRow::start(conn, &claim_tenant, KIND, day, &run_id, now, now - stale)
            })
            .await
            .map_err(HandlerError::from)?;
        self.claims.with_label_values(&[KIND, outcome.label()]).inc();
        if let StartOutcome::Started(run) = &outcome {
            let runner = self.clone();
            let run = run.clone();
            // The run continues the trace of the job that started it.
            self.tasks.spawn(
                async move {
                    runner.execute(run, tenant).await;
                    drop(permit);
                }
                .in_current_span(),
            );
        }
        Ok(outcome)
    }

    /// Stops starting syncs, asks running ones to stop at their next page, and waits up to `grace`.
    pub async fn shutdown(&self, grace: Duration) {
        self.stop.cancel();
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait()).await.is_err() {
            tracing::warn!(
                "licence syncs still running at shutdown; their heartbeat lapses and another replica takes over"
            );
        }
    }

    /// Waits until every started sync has finished (tests, `sua sync --wait`).
    pub async fn idle(&self) {
        while !self.tasks.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn execute(&self, run: SyncRunRow, tenant: TenantRow) {
        let started = std::time::Instant::now();
        let heartbeat = self.heartbeat(run.id.clone());
        let result = self.sync(&run, &tenant).await;
        heartbeat.cancel();
        let now = sua_db::now();
        let run_id = run.id.clone();
        let recorded = match &result {
            Ok(completed) => {
                let counts = serde_json::to_string(completed).unwrap_or_default();
                self.pool.run(move |conn| SyncRunRow::complete(conn, &run_id, &counts, now)).await
            }
            Err(error) => {
                let reason = error.to_string();
                self.pool.run(move |conn| SyncRunRow::fail(conn, &run_id, &reason, now)).await
            }
        };
        if let Err(error) = recorded {
            tracing::error!(run = %run.id, %error, "could not record the sync outcome; the run goes stale and is retried");
        }
        let outcome = if result.is_ok() { "completed" } else { "failed" };
        self.seconds.with_label_values(&[outcome]).observe(started.elapsed().as_secs_f64());
        match result {
            Ok(completed) => {
                self.last_success.set(sua_core::clock::now().timestamp());
                self.runs.with_label_values(&["completed"]).inc();
                tracing::info!(tenant = %tenant.id, run = %run.id, users = completed.parts.users.records,
                    skus = completed.parts.skus.records, report_rows = completed.parts.teams_activity.records,
                    seconds = started.elapsed().as_secs_f64(), "licence sync completed");
            }
            Err(error) => {
                self.runs.with_label_values(&["failed"]).inc();
                tracing::warn!(tenant = %tenant.id, run = %run.id, %error, "licence sync failed; the next tick retries it");
            }
        }
    }

    fn heartbeat(&self, run_id: String) -> CancellationToken {
        let token = CancellationToken::new();
        let stop = token.clone();
        let pool = self.pool.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(30)) => {}
                }
                let id = run_id.clone();
                if let Err(error) = pool.run(move |conn| SyncRunRow::heartbeat(conn, &id, sua_db::now())).await {
                    tracing::warn!(run = %run_id, %error, "sync heartbeat failed");
                }
            }
        });
        token
    }

    async fn publish<P: sua_core::messages::Payload>(
        &self,
        tenant: &str,
        run: Uuid,
        part: &'static str,
        payload: &P,
    ) -> Result<(), SyncError> {
        if self.stop.is_cancelled() {
            return Err(SyncError::Cancelled);
        }
        let envelope = Envelope::new(tenant, Some(run), payload)
            .map_err(|e| SyncError::Publish { part, message: e.to_string() })?;
        self.broker.publish_raw(&envelope).await.map_err(|e| SyncError::Publish { part, message: e.to_string() })
    }

    async fn sync(&self, run: &SyncRunRow, tenant: &TenantRow) -> Result<SyncCompletedV1, SyncError> {
        let run_id = Uuid::parse_str(&run.id).unwrap_or_else(|_| Uuid::new_v4());
        let permissions: BTreeMap<String, PermissionState> =
            serde_json::from_str(&tenant.permissions).unwrap_or_default();
        let granted = |p: &str| permissions.get(p) == Some(&PermissionState::Granted);
        let prerequisites: Value = serde_json::from_str(&tenant.prerequisites).unwrap_or_default();
        let skipped =
            |reason: String| PartSummary { status: PartStatus::Skipped, messages: 0, records: 0, reason: Some(reason) };

        let skus = if granted("Organization.Read.All") {
            let body = self
                .graph
                .get_json(&tenant.id, Api::Directory, &self.graph.url("/subscribedSkus"))
                .await
                .map_err(|source| SyncError::Graph { part: "subscribedSkus", source })?;
            let count = body["value"].as_array().map_or(0, Vec::len) as u64;
            self.publish(&tenant.id, run_id, "subscribedSkus", &LicenceSkusV1 { body }).await?;
            PartSummary { status: PartStatus::Published, messages: 1, records: count, reason: None }
        } else {
            skipped("Organization.Read.All is not granted".into())
        };

        let sign_in_activity;
        let users = if granted("User.Read.All") {
            // AuditLog.Read.All may be `unknown` (it cannot be proven without Entra ID P1): try unless missing.
            let audit = permissions.get("AuditLog.Read.All").copied().unwrap_or(PermissionState::Unknown);
            let without_p1 = prerequisites["entra_id_p1"] == Value::Bool(false);
            let wanted = audit != PermissionState::Missing && !without_p1;
            let mut outcome = self.users(&tenant.id, run_id, wanted).await;
            // A 403 on the first page with signInActivity: no Entra ID P1 (or the permission is gone). Nothing was
            // published yet, so collect the users without sign-in data instead.
            let mut refused_permission = false;
            if wanted
                && let Err(SyncError::Graph { part: "users", source }) = &outcome
                && (source.is_missing_premium_licence() || source.is_forbidden())
            {
                tracing::info!(tenant = %tenant.id, error = %source, "sign-in activity unavailable, syncing users without it");
                refused_permission = !source.is_missing_premium_licence();
                outcome = self.users(&tenant.id, run_id, false).await;
            }
            let (pages, count, with_sign_in) = outcome?;
            sign_in_activity = with_sign_in;
            if audit == PermissionState::Unknown && (with_sign_in || refused_permission) {
                // The consent probe could not tell; Graph's answer to the first page did.
                let proven = if with_sign_in { PermissionState::Granted } else { PermissionState::Missing };
                self.record_permission(&tenant.id, &permissions, "AuditLog.Read.All", proven).await;
            }
            let reason = (!with_sign_in).then(|| {
                if audit == PermissionState::Missing {
                    "sign-in activity not collected: AuditLog.Read.All is not granted".to_string()
                } else if without_p1 {
                    "sign-in activity not collected: the tenant has no Microsoft Entra ID P1 licence".to_string()
                } else {
                    "sign-in activity not collected: Graph refused it (AuditLog.Read.All or Microsoft Entra ID P1 \
                     missing)"
                        .to_string()
                }
            });
            PartSummary { status: PartStatus::Published, messages: pages, records: count, reason }
        } else {
            sign_in_activity = false;
            skipped("User.Read.All is not granted".into())
        };

        let mut concealed_names = None;
        let teams_activity = if granted("Reports.Read.All") {
            let (chunks, rows, concealed) = self.report(&tenant.id, run_id).await?;
            concealed_names = concealed;
            PartSummary {
                status: PartStatus::Published,
                messages: chunks,
                records: rows,
                reason: (concealed == Some(true)).then(|| {
                    "user names are concealed in Microsoft 365 reports; turn off Settings → Org settings → Services → \
                     Reports → \"Display concealed user, group, and site names in all reports\" in the Microsoft 365 \
                     admin center"
                        .to_string()
                }),
            }
        } else {
            skipped("Reports.Read.All is not granted".into())
        };

        let completed = SyncCompletedV1 {
            day: run.day,
            parts: SyncParts { skus, users, teams_activity },
            sign_in_activity,
            concealed_names,
        };
        self.publish(&tenant.id, run_id, "sync.completed", &completed).await?;
        Ok(completed)
    }

    /// Stores what a sync proved about one permission (best effort: the next probe or sync tries again).
    async fn record_permission(
        &self,
        tenant: &str,
        known: &BTreeMap<String, PermissionState>,
        permission: &str,
        state: PermissionState,
    ) {
        let mut permissions = known.clone();
        permissions.insert(permission.to_string(), state);
        let (id, json, now) =
            (tenant.to_string(), serde_json::to_string(&permissions).unwrap_or_default(), sua_db::now());
        if let Err(error) = self.pool.run(move |conn| TenantRow::set_permissions(conn, &id, &json, now)).await {
            tracing::warn!(tenant, permission, %error, "could not record the permission's state");
        }
    }

    /// Pages every user and publishes each page as it arrives; returns `(pages, users, with sign-in data)`.
    /// Publishing page n (waiting for the broker's confirmation) overlaps with fetching page n + 1.
    async fn users(&self, tenant: &str, run: Uuid, sign_in: bool) -> Result<(u32, u64, bool), SyncError> {
        let (select, top, api) = if sign_in {
            (format!("{USER_FIELDS},signInActivity"), 500, Api::SignInActivity)
        } else {
            (USER_FIELDS.to_string(), 999, Api::Directory)
        };
        let first = self.graph.url(&format!("/users?$select={select}&$top={top}"));
        let mut pages = std::pin::pin!(self.graph.pages(tenant, api, first));
        let (mut page_no, mut users) = (0u32, 0u64);
        let mut in_flight: Option<tokio::task::JoinHandle<Result<(), SyncError>>> = None;
        while let Some(page) = pages.next().await {
            let body = page.map_err(|source| SyncError::Graph {
                part: if page_no == 0 { "users" } else { "users (later page)" },
                source,
            })?;
            if let Some(previous) = in_flight.take() {
                previous.await.map_err(|e| SyncError::Publish { part: "users", message: e.to_string() })??;
            }
            page_no += 1;
            users += body["value"].as_array().map_or(0, Vec::len) as u64;
            let payload = LicenceUsersV1 { page: page_no, sign_in_activity: sign_in, body };
            let (runner, tenant) = (self.clone(), tenant.to_string());
            in_flight = Some(tokio::spawn(
                async move { runner.publish(&tenant, run, "users", &payload).await }.in_current_span(),
            ));
        }
        if let Some(last) = in_flight {
            last.await.map_err(|e| SyncError::Publish { part: "users", message: e.to_string() })??;
        }
        Ok((page_no, users, sign_in))
    }

    /// Downloads the activity report and publishes it in chunks; returns `(chunks, rows, concealed names)`.
    /// The `csv` crate reads the download as it streams in, on a blocking thread; chunks come back through a small
    /// channel, so a large report never sits in memory whole.
    async fn report(&self, tenant: &str, run: Uuid) -> Result<(u32, u64, Option<bool>), SyncError> {
        let graph_error = |source| SyncError::Graph { part: "Teams activity report", source };
        let url = self.graph.url(&format!("/reports/getTeamsUserActivityUserDetail(period='{}')", self.report_period));
        let location = self.graph.redirect_location(tenant, Api::Reports, &url).await.map_err(graph_error)?;
        let response = self.graph.download(&location).await.map_err(graph_error)?;
        let body = tokio_util::io::StreamReader::new(response.bytes_stream().map(|r| r.map_err(std::io::Error::other)));
        let per_chunk = self.report_chunk_rows;
        let (chunks_tx, mut chunks_rx) = tokio::sync::mpsc::channel::<report::Chunk>(2);
        let reading = tokio::task::spawn_blocking(move || -> Result<Chunker, String> {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(tokio_util::io::SyncIoBridge::new(body));
            let mut chunker = Chunker::new(per_chunk);
            for record in reader.byte_records() {
                let record = record.map_err(|e| format!("report download broke off: {e}"))?;
                if let Some(chunk) = chunker.push(record)
                    && chunks_tx.blocking_send(chunk).is_err()
                {
                    return Err("stopped while publishing".into());
                }
            }
            if let Some(chunk) = chunker.finish()
                && chunks_tx.blocking_send(chunk).is_err()
            {
                return Err("stopped while publishing".into());
            }
            Ok(chunker)
        });
        let (mut chunks, mut rows) = (0u32, 0u64);
        while let Some(chunk) = chunks_rx.recv().await {
            chunks += 1;
            rows += u64::from(chunk.rows);
            let payload = TeamsActivityReportV1 {
                period: self.report_period.clone(),
                page: chunks,
                rows: chunk.rows,
                csv: chunk.csv,
            };
            self.publish(tenant, run, "Teams activity report", &payload).await?;
        }
        let chunker = reading
            .await
            .map_err(|e| e.to_string())
            .and_then(|read| read)
            .map_err(|message| graph_error(GraphError::Transport { attempts: 1, message }))?;
        if !chunker.has_header() {
            return Err(graph_error(GraphError::Unexpected("the report download was empty".into())));
        }
        Ok((chunks, rows, chunker.concealed()))
    }
}
