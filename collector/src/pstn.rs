//! PSTN and Direct Routing call logs (`getPstnCalls`, `getDirectRoutingCalls`), collected once a day per tenant
//! from where the last collection stopped (the last 30 days the first time), in windows of at most 90 days (the
//! API's limit), 1,000 rows per page, each page published as `pstn.calls.v1`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use futures::StreamExt;
use sua_core::broker::{Broker, HandlerError};
use sua_core::messages::{Envelope, PermissionState, PstnCallsV1, PstnSource};
use sua_db::Pool;
use sua_db::models::{StartOutcome, SyncRunRow, TenantRow, collection_cursors};

use crate::graph::{Api, GraphClient, GraphError};

pub const KIND: &str = "pstn";
/// How far back the first collection reaches.
const FIRST_WINDOW_DAYS: i64 = 30;
/// Longest window one request may ask for.
const MAX_WINDOW_DAYS: i64 = 89;

#[derive(Clone)]
pub struct PstnCollector {
    pool: Pool,
    broker: Broker,
    graph: GraphClient,
    claims: prometheus::IntCounterVec,
}

impl PstnCollector {
    pub fn new(pool: Pool, broker: Broker, graph: GraphClient, claims: prometheus::IntCounterVec) -> Self {
        Self { pool, broker, graph, claims }
    }

    /// Collects the tenant's logs once for `day`; a no-op when that day's collection ran or runs elsewhere.
    pub async fn run(&self, tenant_id: &str, day: NaiveDate) -> Result<(), HandlerError> {
        let lookup = tenant_id.to_string();
        let tenant = self.pool.run(move |conn| TenantRow::find(conn, &lookup)).await.map_err(HandlerError::from)?;
        let Some(tenant) = tenant.filter(|t| t.consent_state == sua_db::states::ConsentState::Granted) else {
            return Err(HandlerError::Reject(anyhow::anyhow!("tenant {tenant_id} has not consented")));
        };
        let permissions: BTreeMap<String, PermissionState> =
            serde_json::from_str(&tenant.permissions).unwrap_or_default();
        if permissions.get("CallRecords.Read.All") != Some(&PermissionState::Granted) {
            tracing::info!(tenant = tenant_id, "PSTN logs not collected: CallRecords.Read.All is not granted");
            return Ok(());
        }
        let (claim_tenant, run_id) = (tenant_id.to_string(), uuid::Uuid::new_v4().to_string());
        let outcome = self
            .pool
            .transaction(move |conn| {
                let now = sua_db::now();
                SyncRunRow::start(conn, &claim_tenant, KIND, day, &run_id, now, now - chrono::Duration::minutes(30))
            })
            .await
            .map_err(HandlerError::from)?;
        self.claims.with_label_values(&[KIND, outcome.label()]).inc();
        let StartOutcome::Started(run) = outcome else { return Ok(()) };
        let result = self.collect(tenant_id, uuid::Uuid::parse_str(&run.id).ok()).await;
        let (id, now) = (run.id.clone(), sua_db::now());
        match result {
            Ok(counts) => {
                let counts = serde_json::to_string(&counts).unwrap_or_default();
                self.pool
                    .run(move |conn| SyncRunRow::complete(conn, &id, &counts, now))
                    .await
                    .map_err(HandlerError::from)?;
                Ok(())
            }
            Err(error) => {
                let reason = error.to_string();
                self.pool
                    .run(move |conn| SyncRunRow::fail(conn, &id, &reason, now))
                    .await
                    .map_err(HandlerError::from)?;
                tracing::warn!(tenant = tenant_id, %error, "PSTN log collection failed; tomorrow's run (or a retry) continues from the cursor");
                Ok(())
            }
        }
    }

    async fn collect(&self, tenant: &str, run: Option<uuid::Uuid>) -> Result<BTreeMap<&'static str, u64>, GraphError> {
        let mut counts = BTreeMap::new();
        // Call logs appear with some delay; collect up to an hour ago.
        let until = sua_core::clock::now() - Duration::hours(1);
        for (source, function, slug) in [
            (PstnSource::Pstn, "getPstnCalls", "pstn"),
            (PstnSource::DirectRouting, "getDirectRoutingCalls", "direct_routing"),
        ] {
            let (lookup_tenant, lookup_slug) = (tenant.to_string(), slug);
            let cursor = self
                .pool
                .run(move |conn| collection_cursors::get(conn, &lookup_tenant, lookup_slug))
                .await
                .map_err(|e| GraphError::Limiter(e.to_string()))?;
            let mut from: DateTime<Utc> = cursor.map_or(until - Duration::days(FIRST_WINDOW_DAYS), |c| c.and_utc());
            let mut rows = 0u64;
            while from < until {
                let to = (from + Duration::days(MAX_WINDOW_DAYS)).min(until);
                let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                let url = self.graph.url(&format!(
                    "/communications/callRecords/{function}(fromDateTime={},toDateTime={})",
                    stamp(from),
                    stamp(to)
                ));
                let mut pages = std::pin::pin!(self.graph.pages(tenant, Api::Pstn, url));
                let mut page_no = 0u32;
                while let Some(page) = pages.next().await {
                    let body = page?;
                    page_no += 1;
                    rows += body["value"].as_array().map_or(0, Vec::len) as u64;
                    let payload = PstnCallsV1 { source, from, to, page: page_no, body };
                    let envelope =
                        Envelope::new(tenant, run, &payload).map_err(|e| GraphError::Unexpected(e.to_string()))?;
                    self.broker
                        .publish_raw(&envelope)
                        .await
                        .map_err(|e| GraphError::Unexpected(format!("publish: {e}")))?;
                }
                let (cursor_tenant, at) = (tenant.to_string(), to.naive_utc());
                self.pool
                    .run(move |conn| collection_cursors::set(conn, &cursor_tenant, slug, at))
                    .await
                    .map_err(|e| GraphError::Limiter(e.to_string()))?;
                from = to;
            }
            counts.insert(slug, rows);
        }
        Ok(counts)
    }
}
