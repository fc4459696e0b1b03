//! The consume loop every service uses: decode, handle, then settle.
//!
//! * The handler returns only after its work is committed; then the delivery is acked.
//! * A body that is not an envelope is dead-lettered at once (`reason="undecodable"`), never skipped silently.
//! * [`HandlerError::Reject`]: the message can never succeed (a payload that breaks its contract): dead-lettered
//!   at once (`reason="rejected"`).
//! * [`HandlerError::Transient`]: requeued after a short backoff, and dead-lettered on the attempt that reaches
//!   the delivery limit (`reason="delivery_limit"`).
//! * [`HandlerError::Unavailable`]: a dependency (database, broker, Graph) is down; that says nothing about the
//!   message, so it must not use up the delivery limit. The delivery is held (not requeued: a requeue counts as a
//!   delivery on quorum queues) and handled again in place with a capped backoff for as long as the outage lasts.
//!   Held deliveries fill the prefetch window, so a consumer whose dependency is down stops taking new work.
//!   One held longer than `unavailable_hold` goes back to the end of its queue as a fresh copy, before RabbitMQ's
//!   consumer timeout would close the channel. On shutdown a held delivery is let go unsettled: it returns to
//!   the queue when the channel closes.
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
    /// A dependency (database, broker, Graph) is unavailable: retry in place for as long as that lasts, without
    /// using up the delivery limit.
    #[error("dependency unavailable: {0:#}")]
    Unavailable(anyhow::Error),
    /// Might succeed later, but the failure may be the message's own: retry up to the delivery limit.
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

impl From<BrokerError> for HandlerError {
    /// A broker that cannot be reached or does not confirm is an outage; a message it cannot route or encode is
    /// the message's fault.
    fn from(error: BrokerError) -> Self {
        match error {
            BrokerError::Unavailable(_)
            | BrokerError::PublishTimeout { .. }
            | BrokerError::Ack(_)
            | BrokerError::Closed => Self::Unavailable(error.into()),
            BrokerError::Message(error) => error.into(),
            BrokerError::Unroutable { .. } | BrokerError::Topology(_) => Self::Transient(error.into()),
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
    /// Cap of the backoff between in-place attempts while a dependency is unavailable.
    pub unavailable_retry_max: Duration,
    /// Longest one delivery is held while a dependency is unavailable before it is re-queued as a fresh copy.
    pub unavailable_hold: Duration,
}

impl ConsumerOptions {
    pub fn new(queue: impl Into<String>, settings: &crate::config::AmqpConfig, grace: Duration) -> Self {
        Self {
            queue: queue.into(),
            prefetch: settings.prefetch,
            delivery_limit: settings.delivery_limit,
            grace,
            retry_base: Duration::from_millis(100),
            unavailable_retry_max: Duration::from_millis(settings.unavailable_retry_max_ms.max(1)),
            unavailable_hold: Duration::from_secs(settings.unavailable_hold_secs.max(1)),
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
                Some(delivery) => in_flight.push(process(delivery, broker.clone(), handler.clone(), metrics.clone(), options.clone(), shutdown.clone())),
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
    broker: Broker,
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
        let outcome = settle(delivery, &broker, handler.as_ref(), &metrics, &options, &shutdown).await;
        metrics.handled.with_label_values(&[queue.as_str(), outcome]).inc();
        metrics.handle_seconds.with_label_values(&[queue.as_str()]).observe(started.elapsed().as_secs_f64());
    }
    .instrument(span)
    .await;
}

async fn settle(
    delivery: Delivery,
    broker: &Broker,
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
    let result = match handle_while_available(&delivery, envelope, handler, metrics, options, shutdown).await {
        Held::Done(result) => result,
        Held::Released => return "released",
        Held::TooLong => return requeue_fresh(delivery, broker, options).await,
    };
    match result {
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
        Err(HandlerError::Transient(error) | HandlerError::Unavailable(error)) if attempt >= options.delivery_limit => {
            tracing::error!(error = %format!("{error:#}"), attempt, "delivery limit reached, dead-lettering");
            dead_letter(delivery, metrics, &options.queue, "delivery_limit").await
        }
        // `Unavailable` never gets here (the delivery was held above); it is matched for exhaustiveness.
        Err(HandlerError::Transient(error) | HandlerError::Unavailable(error)) => {
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

/// How holding a delivery through an outage ended.
enum Held {
    /// The handler gave an answer other than "unavailable".
    Done(Result<(), HandlerError>),
    /// Shutdown: the delivery is let go unsettled and returns to the queue when the channel closes.
    Released,
    /// Held for `unavailable_hold`: put it back at the end of the queue.
    TooLong,
}

/// Handles the envelope, and again in place with a capped backoff for as long as the handler reports an
/// unavailable dependency.
async fn handle_while_available(
    delivery: &Delivery,
    envelope: Envelope,
    handler: &dyn Handler,
    metrics: &BrokerMetrics,
    options: &ConsumerOptions,
    shutdown: &CancellationToken,
) -> Held {
    let held_since = Instant::now();
    let mut tries: u32 = 0;
    let mut first = Some(envelope);
    loop {
        // Later attempts decode the body again rather than keep a copy of every envelope.
        let envelope = match first.take() {
            Some(envelope) => envelope,
            None => match Envelope::from_slice(&delivery.body) {
                Ok(envelope) => envelope,
                Err(error) => return Held::Done(Err(error.into())),
            },
        };
        let error = match handler.handle(envelope).await {
            Err(HandlerError::Unavailable(error)) => error,
            other => {
                if tries > 0 {
                    tracing::info!(
                        tries,
                        held_ms = held_since.elapsed().as_millis() as u64,
                        "dependency back, delivery handled"
                    );
                }
                return Held::Done(other);
            }
        };
        tries += 1;
        metrics.unavailable_retries.with_label_values(&[options.queue.as_str()]).inc();
        if shutdown.is_cancelled() {
            tracing::info!(error = %format!("{error:#}"), "dependency unavailable at shutdown, releasing the delivery");
            return Held::Released;
        }
        if held_since.elapsed() >= options.unavailable_hold {
            return Held::TooLong;
        }
        let wait = super::backoff(tries, options.retry_base, options.unavailable_retry_max);
        // One line when the outage starts, then one per doubling of the attempts: an outage must not flood the log.
        if tries.is_power_of_two() {
            tracing::warn!(
                error = %format!("{error:#}"),
                tries,
                delivery_count = delivery.delivery_count,
                retry_in_ms = wait.as_millis() as u64,
                "dependency unavailable, holding the delivery"
            );
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {},
            () = shutdown.cancelled() => return Held::Released,
        }
    }
}

/// Puts a long-held delivery back at the end of its queue as a fresh copy (same id, body and headers), then
/// acks the original: re-queueing it would count as a delivery. If the copy cannot be published the original is
/// let go unsettled and returns when the channel closes.
async fn requeue_fresh(delivery: Delivery, broker: &Broker, options: &ConsumerOptions) -> &'static str {
    let mut headers = delivery.headers.clone();
    headers.remove(super::DELIVERY_COUNT_HEADER);
    let copy = super::OutboundMessage {
        message_id: delivery.message_id.clone().unwrap_or_default(),
        routing_key: delivery.routing_key.clone(),
        body: delivery.body.clone(),
        headers,
    };
    let exchange = if delivery.exchange.is_empty() { options.queue.clone() } else { delivery.exchange.clone() };
    match broker.publish(&exchange, &copy).await {
        Ok(()) => {
            if let Err(error) = delivery.ack().await {
                tracing::warn!(%error, "ack of a re-queued delivery failed; it will be handled twice (idempotently)");
            }
            tracing::warn!(held_secs = options.unavailable_hold.as_secs(), "delivery held too long, re-queued");
            "requeued_fresh"
        }
        Err(error) => {
            tracing::warn!(%error, "re-queueing a long-held delivery failed; releasing it");
            "released"
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
