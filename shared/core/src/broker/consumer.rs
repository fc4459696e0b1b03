//! The consume loop every service uses: decode, handle, then settle.
//!
//! * The handler returns only after its work is committed; then the delivery is acked.
//! * A body that is not an envelope is dead-lettered at once (`reason="undecodable"`), never skipped silently.
//! * [`HandlerError::Reject`]: the message can never succeed (a payload that breaks its contract): dead-lettered
//!   at once (`reason="rejected"`).
//! * [`HandlerError::Transient`]: requeued after a short backoff, and dead-lettered on the attempt that reaches
//!   the delivery limit (`reason="delivery_limit"`).
//!
//! Up to `prefetch` deliveries are handled concurrently. On shutdown the loop stops taking deliveries, lets the
//! ones in flight finish within the grace period, then closes the channel (unsettled ones go back to the queue).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{Broker, BrokerError, Delivery};
use crate::messages::{Envelope, MessageError};
use crate::metrics::BrokerMetrics;

/// What a handler reports when it could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Might succeed later (database or Graph unavailable): retry up to the delivery limit.
    #[error("transient failure: {0:#}")]
    Transient(anyhow::Error),
    /// Will never succeed: dead-letter now.
    #[error("message rejected: {0:#}")]
    Reject(anyhow::Error),
}

impl From<MessageError> for HandlerError {
    fn from(error: MessageError) -> Self {
        match error {
            MessageError::Encode(_) => Self::Transient(error.into()),
            _ => Self::Reject(error.into()),
        }
    }
}

/// Handles one decoded envelope. Return only after the work is durable.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    async fn handle(&self, envelope: Envelope) -> Result<(), HandlerError>;
}

#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    pub queue: String,
    pub prefetch: u16,
    pub delivery_limit: u32,
    /// How long in-flight deliveries may take to finish after shutdown was requested.
    pub grace: Duration,
    /// First retry delay for transient failures (doubles per attempt, capped at 5 s).
    pub retry_base: Duration,
}

impl ConsumerOptions {
    pub fn new(queue: impl Into<String>, settings: &crate::config::AmqpConfig, grace: Duration) -> Self {
        Self {
            queue: queue.into(),
            prefetch: settings.prefetch,
            delivery_limit: settings.delivery_limit,
            grace,
            retry_base: Duration::from_millis(100),
        }
    }
}

/// Consumes `options.queue` until `shutdown` is cancelled (or the broker is closed).
pub async fn run_consumer(
    broker: Broker,
    options: ConsumerOptions,
    handler: Arc<dyn Handler>,
    shutdown: CancellationToken,
) -> Result<(), BrokerError> {
    let mut subscription = tokio::select! {
        subscription = broker.subscribe(&options.queue, options.prefetch) => subscription?,
        () = shutdown.cancelled() => return Ok(()),
    };
    tracing::info!(queue = %options.queue, prefetch = options.prefetch, "consumer started");
    let metrics = broker.metrics().clone();
    let limit = usize::from(options.prefetch.max(1));
    let mut in_flight = FuturesUnordered::new();
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
            delivery = subscription.next(), if in_flight.len() < limit => match delivery {
                Some(delivery) => in_flight.push(process(delivery, handler.clone(), metrics.clone(), options.clone(), shutdown.clone())),
                None => break,
            },
        }
    }
    subscription.cancel().await;
    let pending = in_flight.len();
    if pending > 0 {
        tracing::info!(queue = %options.queue, pending, "draining in-flight deliveries");
    }
    crate::shutdown::drain("consumer", options.grace, async { while in_flight.next().await.is_some() {} }).await;
    subscription.close().await;
    tracing::info!(queue = %options.queue, "consumer stopped");
    Ok(())
}

async fn process(
    delivery: Delivery,
    handler: Arc<dyn Handler>,
    metrics: BrokerMetrics,
    options: ConsumerOptions,
    shutdown: CancellationToken,
) {
    // A CONSUMER span (OpenTelemetry messaging conventions), child of the producer's span in the headers.
    let span = tracing::info_span!(
        "consume",
        otel.name = %format!("process {}", delivery.routing_key),
        otel.kind = "consumer",
        "messaging.system" = "rabbitmq",
        "messaging.operation.type" = "process",
        "messaging.destination.name" = %options.queue,
        "messaging.message.id" = delivery.message_id.as_deref().unwrap_or(""),
        queue = %options.queue,
        kind = %delivery.routing_key,
        message_id = delivery.message_id.as_deref().unwrap_or(""),
        delivery_count = delivery.delivery_count,
    );
    crate::telemetry::set_parent_from(&span, &delivery.headers);
    let started = Instant::now();
    let queue = options.queue.clone();
    let held = metrics.unacked.hold(&queue);
    async move {
        let _held = held;
        let outcome = settle(delivery, handler.as_ref(), &metrics, &options, &shutdown).await;
        metrics.handled.with_label_values(&[queue.as_str(), outcome]).inc();
        metrics.handle_seconds.with_label_values(&[queue.as_str()]).observe(started.elapsed().as_secs_f64());
    }
    .instrument(span)
    .await;
}

async fn settle(
    delivery: Delivery,
    handler: &dyn Handler,
    metrics: &BrokerMetrics,
    options: &ConsumerOptions,
    shutdown: &CancellationToken,
) -> &'static str {
    let envelope = match Envelope::from_slice(&delivery.body) {
        Ok(envelope) => envelope,
        Err(error) => {
            tracing::warn!(%error, "undecodable message, dead-lettering");
            return dead_letter(delivery, metrics, &options.queue, "undecodable").await;
        }
    };
    let attempt = delivery.delivery_count + 1;
    match handler.handle(envelope).await {
        Ok(()) => match delivery.ack().await {
            Ok(()) => "acked",
            Err(error) => {
                // The work is committed; the broker will redeliver and the idempotent handler will no-op.
                tracing::warn!(%error, "ack failed after commit");
                "ack_failed"
            }
        },
        Err(HandlerError::Reject(error)) => {
            tracing::warn!(error = %format!("{error:#}"), "message rejected, dead-lettering");
            dead_letter(delivery, metrics, &options.queue, "rejected").await
        }
        Err(HandlerError::Transient(error)) if attempt >= options.delivery_limit => {
            tracing::error!(error = %format!("{error:#}"), attempt, "delivery limit reached, dead-lettering");
            dead_letter(delivery, metrics, &options.queue, "delivery_limit").await
        }
        Err(HandlerError::Transient(error)) => {
            let wait = super::backoff(attempt, options.retry_base, Duration::from_secs(5));
            tracing::warn!(error = %format!("{error:#}"), attempt, retry_in_ms = wait.as_millis() as u64, "handler failed, will retry");
            tokio::select! {
                () = tokio::time::sleep(wait) => {},
                () = shutdown.cancelled() => {},
            }
            match delivery.requeue().await {
                Ok(()) => "retried",
                Err(error) => {
                    tracing::warn!(%error, "requeue failed; the broker returns the message when the channel closes");
                    "retried"
                }
            }
        }
    }
}

async fn dead_letter(delivery: Delivery, metrics: &BrokerMetrics, queue: &str, reason: &str) -> &'static str {
    match delivery.dead_letter().await {
        Ok(()) => {
            metrics.dead_lettered.with_label_values(&[queue, reason]).inc();
            "dead_lettered"
        }
        Err(error) => {
            tracing::warn!(%error, reason, "dead-lettering failed; the message will be redelivered");
            "dead_letter_failed"
        }
    }
}
