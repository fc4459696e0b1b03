//! Fetches call records with all their sessions and publishes each as `callrecord.v1`.
//!
//! `GET callRecords/{id}?$expand=sessions($expand=segments)`, then every `sessions@odata.nextLink` page (60
//! sessions each); the pages' sessions are appended to `sessions` and the link removed. Then
//! `GET callRecords/{id}/participants_v2` (130 per page) into `participants_v2`. So the published record is the
//! record as Graph holds it, relationships included. A record notified twice is fetched once where possible (a `created`
//! notification for a record already fetched is skipped); an `updated` one is fetched and published only when its
//! `version` is newer than the one collected.
//!
//! A job names several records (the notifications that arrived together, or a LIST page); they are fetched
//! concurrently, at most `callrecords.fetch_concurrency` per replica. If any of them fails, the job is retried
//! as a whole: the records already published are then skipped by the check above, so only the failed ones are
//! fetched again, and a job that keeps failing lands in the dead-letter queue with the ids it still holds.

use std::sync::Arc;

use prometheus::{IntCounterVec, Registry};
use serde::Deserialize;
use serde_json::Value;
use sua_core::broker::{Broker, HandlerError};
use sua_core::messages::{CallRecordFetchJobV1, CallRecordV1, CallToFetch, Envelope};
use sua_db::Pool;
use sua_db::models::CallRecordFetchRow;

use crate::graph::{Api, GraphClient, GraphError};

#[derive(Clone)]
pub struct Fetcher {
    pool: Pool,
    broker: Broker,
    graph: GraphClient,
    outcomes: IntCounterVec,
    deferred: prometheus::IntCounter,
    concurrency: Arc<tokio::sync::Semaphore>,
}

/// How long a job for a tenant whose call-records budget is spent waits before it gives its place back.
const DEFER_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// What a fetch job came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    Published { version: i64 },
    AlreadyCollected,
}

impl Fetcher {
    pub fn new(pool: Pool, broker: Broker, graph: GraphClient, registry: &Registry, concurrency: usize) -> Self {
        let outcomes = sua_core::metrics::counter_vec(
            registry,
            "sua_callrecord_fetches_total",
            "Call record fetches by outcome.",
            &["outcome"],
        );
        let deferred = sua_core::metrics::counter_vec(
            registry,
            "sua_callrecord_fetch_jobs_deferred_total",
            "Fetch jobs queued again behind other tenants' because their tenant's call-records budget was spent.",
            &[],
        )
        .with_label_values(&[] as &[&str]);
        let concurrency = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
        Self { pool, broker, graph, outcomes, deferred, concurrency }
    }

    /// Gives the job's place back when its tenant's call-records budget is spent in this replica: jobs are queued
    /// in the order notifications came, and a tenant's fetches that wait for tokens would otherwise hold every
    /// delivery slot of the replica while the jobs of other tenants wait behind them. After `DEFER_AFTER` (so
    /// that a queue holding only that tenant's jobs does not spin), if the budget is still spent, the job is
    /// queued again at the back, confirmed before this delivery is acknowledged; `true` then.
    pub async fn defer_while_spent(&self, envelope: &Envelope) -> Result<bool, HandlerError> {
        let tenant = envelope.tenant_id.as_str();
        if !self.graph.limits().call_records_spent(tenant) {
            return Ok(false);
        }
        tokio::time::sleep(DEFER_AFTER).await;
        if !self.graph.limits().call_records_spent(tenant) {
            return Ok(false);
        }
        self.broker.publish_job(envelope).await.map_err(HandlerError::from)?;
        self.deferred.inc();
        tracing::debug!(tenant, "call-records budget spent: fetch job queued again behind other tenants'");
        Ok(true)
    }

    /// Fetches every call of a job; fails (as a whole) when any call failed, rejecting when one was refused.
    pub async fn fetch_all(&self, tenant: &str, job: &CallRecordFetchJobV1) -> Result<Vec<Fetched>, HandlerError> {
        let (lookup_tenant, ids) = (tenant.to_string(), job.calls.iter().map(|c| c.id.clone()).collect::<Vec<_>>());
        let known: std::collections::HashMap<String, i64> = self
            .pool
            .run(move |conn| CallRecordFetchRow::versions(conn, &lookup_tenant, &ids))
            .await
            .map_err(HandlerError::from)?;
        // All at once; the semaphore in `fetch_one` bounds what reaches Graph.
        let fetches: Vec<_> =
            job.calls.iter().map(|call| self.fetch_one(tenant, call, known.get(&call.id).copied())).collect();
        let results = futures::future::join_all(fetches).await;
        let (mut fetched, mut transient, mut rejected, mut unavailable) = (Vec::new(), None, None, None);
        let mut failed = 0;
        for result in results {
            match result {
                Ok(outcome) => fetched.push(outcome),
                Err(HandlerError::Reject(error)) => {
                    failed += 1;
                    rejected.get_or_insert(error);
                }
                Err(HandlerError::Transient(error)) => {
                    failed += 1;
                    transient.get_or_insert(error);
                }
                Err(HandlerError::Unavailable(error)) => {
                    failed += 1;
                    unavailable.get_or_insert(error);
                }
            }
        }
        // The job fails as its worst call: refused, else retried up to the limit, else waited out.
        let context = format!("{failed} of {} call records failed", job.calls.len());
        match (rejected, transient, unavailable) {
            (Some(error), _, _) => Err(HandlerError::Reject(error.context(context))),
            (None, Some(error), _) => Err(HandlerError::Transient(error.context(context))),
            (None, None, Some(error)) => Err(HandlerError::Unavailable(error.context(context))),
            (None, None, None) => Ok(fetched),
        }
    }

    /// The record with every session page merged in, and its `participants_v2` (every page) added.
    pub async fn get_record(&self, tenant: &str, call_id: &str) -> Result<Value, GraphError> {
        if !crate::graph::is_guid(call_id) {
            return Err(GraphError::InvalidId(call_id.chars().take(64).collect()));
        }
        let url =
            self.graph.url_with(&["communications", "callRecords", call_id], "?$expand=sessions($expand=segments)")?;
        let mut record = self.graph.get_json(tenant, Api::CallRecords, &url).await?;
        let next = record
            .as_object_mut()
            .and_then(|r| r.remove("sessions@odata.nextLink"))
            .and_then(|v| v.as_str().map(String::from));
        let first = record.get_mut("sessions").map(Value::take).and_then(|v| match v {
            Value::Array(sessions) => Some(sessions),
            _ => None,
        });
        record["sessions"] = Value::Array(self.rest_of_pages(tenant, first.unwrap_or_default(), next).await?);
        // GET with $expand=sessions does not carry participants_v2 (only organizer_v2 is expanded by default), and
        // since the deprecated endpoint identities stopped, a phone party is named only there (graph-api.md §6.2).
        let url = self.graph.url_with(&["communications", "callRecords", call_id, "participants_v2"], "")?;
        let page = self.graph.get_json(tenant, Api::CallRecords, &url).await?;
        let next = page["@odata.nextLink"].as_str().map(String::from);
        let first = page["value"].as_array().cloned().unwrap_or_default();
        record["participants_v2"] = Value::Array(self.rest_of_pages(tenant, first, next).await?);
        Ok(record)
    }

    /// `items` followed by the `value` of every page from `next` on.
    async fn rest_of_pages(
        &self,
        tenant: &str,
        mut items: Vec<Value>,
        mut next: Option<String>,
    ) -> Result<Vec<Value>, GraphError> {
        while let Some(url) = next {
            let page = self.graph.get_json(tenant, Api::CallRecords, &url).await?;
            items.extend(page["value"].as_array().cloned().unwrap_or_default());
            next = page["@odata.nextLink"].as_str().map(String::from);
        }
        Ok(items)
    }

    /// `known`: the version already collected, if any.
    async fn fetch_one(&self, tenant: &str, call: &CallToFetch, known: Option<i64>) -> Result<Fetched, HandlerError> {
        if known.is_some() && call.change_type != "updated" {
            self.outcomes.with_label_values(&["already_collected"]).inc();
            return Ok(Fetched::AlreadyCollected);
        }
        // A fetch slot only while the tenant's budget has tokens: a tenant waiting on its budget leaves the slots to
        // other tenants' fetches (checked again once a slot is had, as the budget may have run out meanwhile).
        let limits = self.graph.limits();
        let _permit = loop {
            limits.call_records_ready(tenant).await;
            let permit = self.concurrency.acquire().await.map_err(|e| HandlerError::Transient(e.into()))?;
            if !limits.call_records_spent(tenant) {
                break permit;
            }
        };
        let record = match self.get_record(tenant, &call.id).await {
            Ok(record) => record,
            // Just after a notification a record can still be propagating; older than 30 days it is gone.
            Err(error @ GraphError::NotFound { .. }) => {
                self.outcomes.with_label_values(&["not_found"]).inc();
                return Err(HandlerError::Transient(error.into()));
            }
            Err(error @ (GraphError::Forbidden { .. } | GraphError::Token { consent_missing: true, .. })) => {
                self.outcomes.with_label_values(&["forbidden"]).inc();
                return Err(HandlerError::from(error));
            }
            Err(error @ GraphError::InvalidId(_)) => {
                self.outcomes.with_label_values(&["invalid_id"]).inc();
                return Err(HandlerError::from(error));
            }
            Err(error) => {
                self.outcomes.with_label_values(&["failed"]).inc();
                return Err(HandlerError::from(error));
            }
        };
        let header = RecordHeader::deserialize(&record).unwrap_or_default();
        let version = header.version.unwrap_or(1);
        if known.is_some_and(|k| k >= version) {
            self.outcomes.with_label_values(&["already_collected"]).inc();
            return Ok(Fetched::AlreadyCollected);
        }
        let start_at = header.start_date_time.map(|t| t.0);
        let envelope = Envelope::new(tenant, None, &CallRecordV1(record))?;
        self.broker.publish_raw(&envelope).await.map_err(HandlerError::from)?;
        let row = CallRecordFetchRow {
            tenant_id: tenant.to_string(),
            id: call.id.clone(),
            version,
            start_at,
            fetched_at: sua_db::now(),
        };
        self.pool.run(move |conn| CallRecordFetchRow::record(conn, &row)).await.map_err(HandlerError::from)?;
        self.outcomes.with_label_values(&["published"]).inc();
        Ok(Fetched::Published { version })
    }
}

/// What the collector reads of a record it publishes as Graph sent it: its version and start.
#[derive(Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecordHeader {
    version: Option<i64>,
    #[serde(default, deserialize_with = "sua_domain::graph::instant_or_none")]
    start_date_time: Option<sua_domain::graph::Instant>,
}
