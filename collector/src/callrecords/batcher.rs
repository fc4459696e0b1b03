//! Group commit for webhook notifications.
//!
//! Every notification must be in a broker-confirmed job before Graph gets its 202, and RabbitMQ's cost is per
//! message (a quorum queue writes and replicates each one). So notifications are not published one by one: they
//! queue here, and a few publishers each take everything waiting (up to `webhook_batch_max`), publish one job per
//! tenant, and answer every waiting request once the broker confirmed. At low load a notification is published
//! alone at once (no timer, no added latency); under a storm the jobs grow and the message rate stays low.
//!
//! Each notification brings its request's trace context (with when it arrived, as baggage): a job continues the
//! trace of its first notification and links to the others, so a trace runs from the webhook to the stored record.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry::trace::TraceContextExt;
use sua_core::broker::{Broker, OutboundMessage};
use sua_core::group_commit::GroupCommit;
use sua_core::messages::{CallRecordFetchJobV1, CallToFetch, Envelope};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// One notified call, the tenant it belongs to and the trace of the request that brought it.
type Notified = (String, CallToFetch, Context);

/// Publishes running at once; while they wait for confirms, the next notifications gather.
const PUBLISHERS: usize = 2;

pub struct JobBatcher {
    group: GroupCommit<Notified, Result<(), String>>,
}

impl JobBatcher {
    /// Starts the batcher on `runtime`; each job must be confirmed within `timeout`.
    pub fn spawn(runtime: &tokio::runtime::Handle, broker: Broker, max: usize, timeout: Duration) -> Self {
        let group = GroupCommit::spawn(runtime, PUBLISHERS, max, move |batch| publish(broker.clone(), batch, timeout));
        Self { group }
    }

    /// Returns once `calls` are in broker-confirmed fetch jobs, or why they are not.
    pub async fn submit(&self, tenant: &str, calls: Vec<CallToFetch>) -> Result<(), String> {
        let context = sua_core::telemetry::with_notified_at(sua_core::clock::now());
        let waits = calls.into_iter().map(|call| self.group.submit((tenant.to_string(), call, context.clone())));
        for outcome in futures::future::join_all(waits).await {
            outcome.map_err(|_| "the job publisher stopped".to_string())??;
        }
        Ok(())
    }
}

/// One job per tenant; a call notified twice in the batch is fetched once (`updated` wins: it asks for the
/// version check). Answers each notification with its job's outcome, in order.
async fn publish(broker: Broker, batch: Vec<Notified>, timeout: Duration) -> Vec<Result<(), String>> {
    let mut by_tenant: HashMap<&str, (Vec<CallToFetch>, Vec<&Context>)> = HashMap::new();
    for (tenant, call, context) in &batch {
        let (calls, contexts) = by_tenant.entry(tenant.as_str()).or_default();
        contexts.push(context);
        match calls.iter_mut().find(|c| c.id == call.id) {
            Some(seen) if call.change_type == "updated" => seen.change_type = "updated".into(),
            Some(_) => {}
            None => calls.push(call.clone()),
        }
    }
    let publishes = by_tenant.into_iter().map(|(tenant, (calls, contexts))| {
        let broker = broker.clone();
        async move {
            let count = calls.len();
            let outcome = match Envelope::new(tenant, None, &CallRecordFetchJobV1 { calls })
                .and_then(|envelope| OutboundMessage::from_envelope(&envelope))
            {
                Ok(mut message) => {
                    traced(&mut message, &contexts);
                    let exchange = broker.topology().jobs_exchange();
                    broker.publish_within(&exchange, &message, timeout).await.map_err(|e| e.to_string())
                }
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
        .map(|(tenant, _, _)| outcomes.get(tenant).cloned().unwrap_or_else(|| Err("not published".into())))
        .collect()
}

/// The job continues the first notification's trace; the others are linked from a span of their own batch.
fn traced(message: &mut OutboundMessage, contexts: &[&Context]) {
    let Some(first) = contexts.first() else { return };
    let span = tracing::info_span!("batch notifications", notifications = contexts.len());
    let _ = span.set_parent((*first).clone());
    for other in contexts.iter().skip(1).take(32) {
        let linked = other.span().span_context().clone();
        if linked.is_valid() {
            span.add_link(linked);
        }
    }
    // The span's context keeps the parent's baggage (when the notification arrived).
    sua_core::telemetry::inject_from(&span, &mut message.headers);
}
