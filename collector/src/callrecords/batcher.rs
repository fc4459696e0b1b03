//! Group commit for webhook notifications.
//!
//! Every notification must be in a broker-confirmed job before Graph gets its 202, and RabbitMQ's cost is per
//! message (a quorum queue writes and replicates each one). So notifications are not published one by one: they
//! queue here, and a few publishers each take everything waiting (up to `webhook_batch_max`), publish one job per
//! tenant, and answer every waiting request once the broker confirmed. At low load a notification is published
//! alone at once (no timer, no added latency); under a storm the jobs grow and the message rate stays low.

use std::collections::HashMap;
use std::time::Duration;

use sua_core::broker::Broker;
use sua_core::group_commit::GroupCommit;
use sua_core::messages::{CallRecordFetchJobV1, CallToFetch, Envelope};

/// Publishes running at once; while they wait for confirms, the next notifications gather.
const PUBLISHERS: usize = 2;

pub struct JobBatcher {
    group: GroupCommit<(String, CallToFetch), Result<(), String>>,
}

impl JobBatcher {
    /// Starts the batcher on `runtime`; each job must be confirmed within `timeout`.
    pub fn spawn(runtime: &tokio::runtime::Handle, broker: Broker, max: usize, timeout: Duration) -> Self {
        let group = GroupCommit::spawn(runtime, PUBLISHERS, max, move |batch| publish(broker.clone(), batch, timeout));
        Self { group }
    }

    /// Returns once `calls` are in broker-confirmed fetch jobs, or why they are not.
    pub async fn submit(&self, tenant: &str, calls: Vec<CallToFetch>) -> Result<(), String> {
        let waits = calls.into_iter().map(|call| self.group.submit((tenant.to_string(), call)));
        for outcome in futures::future::join_all(waits).await {
            outcome.map_err(|_| "the job publisher stopped".to_string())??;
        }
        Ok(())
    }
}

/// One job per tenant; a call notified twice in the batch is fetched once (`updated` wins: it asks for the
/// version check). Answers each notification with its job's outcome, in order.
async fn publish(broker: Broker, batch: Vec<(String, CallToFetch)>, timeout: Duration) -> Vec<Result<(), String>> {
    let mut by_tenant: HashMap<&str, Vec<CallToFetch>> = HashMap::new();
    for (tenant, call) in &batch {
        let calls = by_tenant.entry(tenant.as_str()).or_default();
        match calls.iter_mut().find(|c| c.id == call.id) {
            Some(seen) if call.change_type == "updated" => seen.change_type = "updated".into(),
            Some(_) => {}
            None => calls.push(call.clone()),
        }
    }
    let publishes = by_tenant.into_iter().map(|(tenant, calls)| {
        let broker = broker.clone();
        async move {
            let count = calls.len();
            let outcome = match Envelope::new(tenant, None, &CallRecordFetchJobV1 { calls }) {
                Ok(envelope) => broker.publish_job_within(&envelope, timeout).await.map_err(|e| e.to_string()),
                Err(error) => Err(error.to_string()),
            };
            if let Err(error) = &outcome {
                tracing::error!(tenant, %error, calls = count, "fetch job publish failed");
            }
            (tenant.to_string(), outcome)
        }
    });
    let outcomes: HashMap<String, Result<(), String>> =
        futures::future::join_all(publishes).await.into_iter().collect();
    batch
        .iter()
        .map(|(tenant, _)| outcomes.get(tenant).cloned().unwrap_or_else(|| Err("not published".into())))
        .collect()
}
