//! Fetches one call record with all its sessions and publishes it as `callrecord.v1`.
//!
//! `GET callRecords/{id}?$expand=sessions($expand=segments)`, then every `sessions@odata.nextLink` page (60
//! sessions each); the pages' sessions are appended to `sessions` and the link removed, so the published record
//! is the record as Graph holds it. A record notified twice is fetched once where possible (a `created`
//! notification for a record already fetched is skipped); an `updated` one is fetched and published only when its
//! `version` is newer than the one collected.

use prometheus::{IntCounterVec, Registry};
use serde_json::Value;
use sua_core::broker::{Broker, HandlerError};
use sua_core::messages::{CallRecordFetchJobV1, CallRecordV1, Envelope};
use sua_db::Pool;
use sua_db::models::CallRecordFetchRow;

use crate::graph::{Api, GraphClient, GraphError};

#[derive(Clone)]
pub struct Fetcher {
    pool: Pool,
    broker: Broker,
    graph: GraphClient,
    outcomes: IntCounterVec,
}

/// What a fetch job came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    Published { version: i64 },
    AlreadyCollected,
}

impl Fetcher {
    pub fn new(pool: Pool, broker: Broker, graph: GraphClient, registry: &Registry) -> Self {
        let outcomes = sua_core::metrics::counter_vec(
            registry,
            "sua_callrecord_fetches_total",
            "Call record fetch jobs by outcome.",
            &["outcome"],
        );
        Self { pool, broker, graph, outcomes }
    }

    /// The record with every session page merged in.
    pub async fn get_record(&self, tenant: &str, call_id: &str) -> Result<Value, GraphError> {
        let url = self.graph.url(&format!("/communications/callRecords/{call_id}?$expand=sessions($expand=segments)"));
        let mut record = self.graph.get_json(tenant, Api::CallRecords, &url).await?;
        let mut next = record
            .as_object_mut()
            .and_then(|r| r.remove("sessions@odata.nextLink"))
            .and_then(|v| v.as_str().map(String::from));
        while let Some(url) = next {
            let page = self.graph.get_json(tenant, Api::CallRecords, &url).await?;
            let more = page["value"].as_array().cloned().unwrap_or_default();
            match record.get_mut("sessions").and_then(Value::as_array_mut) {
                Some(sessions) => sessions.extend(more),
                None => record["sessions"] = Value::Array(more),
            }
            next = page["@odata.nextLink"].as_str().map(String::from);
        }
        Ok(record)
    }

    pub async fn fetch(&self, tenant: &str, job: &CallRecordFetchJobV1) -> Result<Fetched, HandlerError> {
        let (lookup_tenant, lookup_id) = (tenant.to_string(), job.call_id.clone());
        let known = self
            .pool
            .run(move |conn| CallRecordFetchRow::find(conn, &lookup_tenant, &lookup_id))
            .await
            .map_err(|e| HandlerError::Transient(e.into()))?;
        if known.is_some() && job.change_type != "updated" {
            self.outcomes.with_label_values(&["already_collected"]).inc();
            return Ok(Fetched::AlreadyCollected);
        }
        let record = match self.get_record(tenant, &job.call_id).await {
            Ok(record) => record,
            // Just after a notification a record can still be propagating; older than 30 days it is gone.
            Err(error @ GraphError::NotFound { .. }) => {
                self.outcomes.with_label_values(&["not_found"]).inc();
                return Err(HandlerError::Transient(error.into()));
            }
            Err(error @ (GraphError::Forbidden { .. } | GraphError::Token { consent_missing: true, .. })) => {
                self.outcomes.with_label_values(&["forbidden"]).inc();
                return Err(HandlerError::Reject(error.into()));
            }
            Err(error) => {
                self.outcomes.with_label_values(&["failed"]).inc();
                return Err(HandlerError::Transient(error.into()));
            }
        };
        let version = record["version"].as_i64().unwrap_or(1);
        if known.as_ref().is_some_and(|k| k.version >= version) {
            self.outcomes.with_label_values(&["already_collected"]).inc();
            return Ok(Fetched::AlreadyCollected);
        }
        let start_at = record["startDateTime"]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.naive_utc());
        let envelope = Envelope::new(tenant, None, &CallRecordV1(record))?;
        self.broker.publish_raw(&envelope).await.map_err(|e| HandlerError::Transient(e.into()))?;
        let row = CallRecordFetchRow {
            tenant_id: tenant.to_string(),
            id: job.call_id.clone(),
            version,
            start_at,
            fetched_at: sua_db::now(),
        };
        self.pool
            .run(move |conn| CallRecordFetchRow::record(conn, &row))
            .await
            .map_err(|e| HandlerError::Transient(e.into()))?;
        self.outcomes.with_label_values(&["published"]).inc();
        Ok(Fetched::Published { version })
    }
}
