//! Group commit for webhook notifications.
//!
//! Every notification must be in a broker-confirmed job before Graph gets its 202, and RabbitMQ's cost is per
//! message (a quorum queue writes and replicates each one). So notifications are not published one by one: they
//! queue here, and a few publishers each take everything waiting (up to `webhook_batch_max`), publish one job per
//! tenant, and answer every waiting request once the broker confirmed. At low load a notification is published
//! alone at once (no timer, no added latency); under a storm the jobs grow and the message rate stays low.

use std::collections::HashMap;
use std::sync::Arc;

use sua_core::broker::Broker;
use sua_core::messages::{CallRecordFetchJobV1, CallToFetch, Envelope};
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Publishes running at once; while they wait for confirms, the next notifications gather.
const PUBLISHERS: usize = 2;

struct Pending {
    tenant: String,
    call: CallToFetch,
    done: oneshot::Sender<Result<(), String>>,
}

pub struct JobBatcher {
    tx: mpsc::UnboundedSender<Pending>,
}

impl JobBatcher {
    /// Starts the batcher on `runtime`.
    pub fn spawn(runtime: &tokio::runtime::Handle, broker: Broker, max: usize) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        runtime.spawn(run(broker, rx, max.max(1)));
        Self { tx }
    }

    /// Returns once `calls` are in broker-confirmed fetch jobs, or why they are not.
    pub async fn submit(&self, tenant: &str, calls: Vec<CallToFetch>) -> Result<(), String> {
        let stopped = || "the job publisher stopped".to_string();
        let mut waits = Vec::with_capacity(calls.len());
        for call in calls {
            let (done, wait) = oneshot::channel();
            self.tx.send(Pending { tenant: tenant.to_string(), call, done }).map_err(|_| stopped())?;
            waits.push(wait);
        }
        for wait in waits {
            wait.await.map_err(|_| stopped())??;
        }
        Ok(())
    }
}

async fn run(broker: Broker, mut rx: mpsc::UnboundedReceiver<Pending>, max: usize) {
    let publishers = Arc::new(Semaphore::new(PUBLISHERS));
    loop {
        let Ok(permit) = publishers.clone().acquire_owned().await else { return };
        let Some(first) = rx.recv().await else { return };
        let mut batch = vec![first];
        while batch.len() < max {
            match rx.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(_) => break,
            }
        }
        let broker = broker.clone();
        tokio::spawn(async move {
            publish(&broker, batch).await;
            drop(permit);
        });
    }
}

/// One job per tenant; a call notified twice in the batch is fetched once (`updated` wins: it asks for the
/// version check).
async fn publish(broker: &Broker, batch: Vec<Pending>) {
    let mut by_tenant: HashMap<String, Vec<Pending>> = HashMap::new();
    for pending in batch {
        by_tenant.entry(pending.tenant.clone()).or_default().push(pending);
    }
    let publishes = by_tenant.into_iter().map(|(tenant, pendings)| async move {
        let mut calls: Vec<CallToFetch> = Vec::with_capacity(pendings.len());
        let mut index: HashMap<&str, usize> = HashMap::new();
        for pending in &pendings {
            match index.get(pending.call.id.as_str()) {
                Some(&at) if pending.call.change_type == "updated" => calls[at].change_type = "updated".into(),
                Some(_) => {}
                None => {
                    index.insert(&pending.call.id, calls.len());
                    calls.push(pending.call.clone());
                }
            }
        }
        let outcome = match Envelope::new(tenant.as_str(), None, &CallRecordFetchJobV1 { calls }) {
            Ok(envelope) => broker.publish_job(&envelope).await.map_err(|e| e.to_string()),
            Err(error) => Err(error.to_string()),
        };
        if let Err(error) = &outcome {
            tracing::error!(tenant, %error, notifications = pendings.len(), "fetch job publish failed");
        }
        for pending in pendings {
            let _ = pending.done.send(outcome.clone());
        }
    });
    futures::future::join_all(publishes).await;
}
