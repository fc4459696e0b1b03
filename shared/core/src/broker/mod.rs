//! The message broker: one interface, two implementations.
//!
//! * [`rabbit`]: RabbitMQ through lapin. Quorum queues with a delivery limit and a dead-letter exchange,
//!   persistent messages, publisher confirms (a publish returns only once the broker confirmed it; any number may
//!   be in flight at once), manual acks, prefetch, and reconnect with backoff when the broker goes away.
//! * [`memory`]: in-process, for the embedded all-in-one mode, with the same semantics (ack, redelivery with a
//!   delivery count, dead-lettering at the limit, unacked messages returned when a consumer goes away).
//!
//! The same contract tests run against both (see the `tests` crate). [`consumer::run_consumer`] is the one way
//! services consume: it acks only after the handler's work is committed and dead-letters poison with a metric.

pub mod consumer;
pub mod dead_letters;
pub mod memory;
pub mod rabbit;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use secrecy::{ExposeSecret, SecretString};
use tracing::Instrument;

use crate::config::{AmqpConfig, BrokerKind};
use crate::messages::{Envelope, MessageError};
use crate::metrics::BrokerMetrics;
use crate::topology::Topology;

pub use consumer::{ConsumerOptions, Handler, HandlerError, run_consumer};

/// Header carrying how many times a message was delivered before (RabbitMQ quorum queues set it).
pub const DELIVERY_COUNT_HEADER: &str = "x-delivery-count";
/// Header set on dead letters by the in-process broker (RabbitMQ records the same in `x-death`).
pub const DEATH_REASON_HEADER: &str = "x-first-death-reason";

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    #[error("publish to {exchange} was not confirmed within {timeout:?}: {last_error}")]
    PublishTimeout { exchange: String, timeout: Duration, last_error: String },
    #[error("message to {exchange} with routing key {routing_key} matched no queue")]
    Unroutable { exchange: String, routing_key: String },
    #[error("the broker refused the topology: {0}")]
    Topology(String),
    #[error("acknowledgement failed (the channel was closed; the message will be redelivered): {0}")]
    Ack(String),
    #[error("the broker connection was closed by sua")]
    Closed,
    #[error(transparent)]
    Message(#[from] MessageError),
}

/// A message to publish.
#[derive(Debug, Clone)]
pub struct OutboundMessage {
    /// Unique per message (the envelope id); consumers use it to recognise redeliveries.
    pub message_id: String,
    pub routing_key: String,
    pub body: Bytes,
    /// String headers, e.g. W3C `traceparent`.
    pub headers: BTreeMap<String, String>,
}

impl OutboundMessage {
    /// An envelope as a message: routed by kind, with the current trace context in its headers.
    pub fn from_envelope(envelope: &Envelope) -> Result<Self, MessageError> {
        let mut headers = BTreeMap::new();
        crate::telemetry::inject(&mut headers);
        Ok(Self {
            message_id: envelope.id.to_string(),
            routing_key: envelope.kind.as_str().to_string(),
            body: Bytes::from(envelope.to_vec()?),
            headers,
        })
    }
}

/// A received message. Settle it with exactly one of [`ack`](Self::ack), [`requeue`](Self::requeue) or
/// [`dead_letter`](Self::dead_letter); one dropped unsettled goes back to its queue, as when a consumer dies.
#[derive(Debug)]
pub struct Delivery {
    pub message_id: Option<String>,
    pub exchange: String,
    pub routing_key: String,
    pub body: Bytes,
    pub headers: BTreeMap<String, String>,
    /// Whether this message was delivered before.
    pub redelivered: bool,
    /// How many earlier deliveries this message had (0 on the first).
    pub delivery_count: u32,
    acker: Acker,
}

#[derive(Debug)]
enum Acker {
    Rabbit(lapin::Acker),
    Memory(memory::MemoryAcker),
}

impl Delivery {
    /// The work is done and committed: remove the message.
    pub async fn ack(self) -> Result<(), BrokerError> {
        match self.acker {
            Acker::Rabbit(acker) => rabbit::ack(&acker).await,
            Acker::Memory(acker) => acker.ack(),
        }
    }

    /// Put the message back for another attempt (counts towards the delivery limit).
    pub async fn requeue(self) -> Result<(), BrokerError> {
        match self.acker {
            Acker::Rabbit(acker) => rabbit::requeue(&acker).await,
            Acker::Memory(acker) => acker.requeue(),
        }
    }

    /// Send the message to the dead-letter queue now.
    pub async fn dead_letter(self) -> Result<(), BrokerError> {
        match self.acker {
            Acker::Rabbit(acker) => rabbit::dead_letter(&acker).await,
            Acker::Memory(acker) => acker.dead_letter(),
        }
    }
}

/// The broker handle services share; cheap to clone.
#[derive(Clone)]
pub enum Broker {
    Rabbit(rabbit::RabbitBroker),
    Memory(memory::MemoryBroker),
}

impl Broker {
    /// Connects to the broker the URL names (`amqp://`, `amqps://` or `memory://`) and declares the topology.
    /// For RabbitMQ this waits, with backoff, up to `publish_timeout_secs` for the broker to answer.
    pub async fn connect(
        url: &SecretString,
        settings: &AmqpConfig,
        metrics: BrokerMetrics,
    ) -> Result<Self, BrokerError> {
        let topology = Topology::new(settings.prefix.clone());
        match BrokerKind::of(url.expose_secret()) {
            Some(BrokerKind::RabbitMq) => {
                Ok(Self::Rabbit(rabbit::RabbitBroker::connect(url.clone(), topology, settings.clone(), metrics).await?))
            }
            Some(BrokerKind::InProcess) => {
                Ok(Self::Memory(memory::MemoryBroker::new(topology, settings.clone(), metrics)))
            }
            None => Err(BrokerError::Unavailable("unsupported broker URL scheme".into())),
        }
    }

    pub fn topology(&self) -> &Topology {
        match self {
            Self::Rabbit(broker) => broker.topology(),
            Self::Memory(broker) => broker.topology(),
        }
    }

    pub fn metrics(&self) -> &BrokerMetrics {
        match self {
            Self::Rabbit(broker) => broker.metrics(),
            Self::Memory(broker) => broker.metrics(),
        }
    }

    /// Publishes and waits for the broker's confirmation. Safe to call from many tasks at once.
    ///
    /// Each publish is a PRODUCER span (OpenTelemetry messaging conventions), child of the trace context the
    /// message already carries (set where the message was made, see [`OutboundMessage::from_envelope`]) or else
    /// of the current span; the message leaves with the producer span's context in its headers, so the consumer's
    /// span is its child.
    pub async fn publish(&self, exchange: &str, message: &OutboundMessage) -> Result<(), BrokerError> {
        self.publish_inner(exchange, message, None).await
    }

    /// As [`Broker::publish`], failing with [`BrokerError::PublishTimeout`] when the broker has not confirmed
    /// within `timeout` (in place of `amqp.publish_timeout_secs`): for callers that must answer quickly.
    pub async fn publish_within(
        &self,
        exchange: &str,
        message: &OutboundMessage,
        timeout: Duration,
    ) -> Result<(), BrokerError> {
        self.publish_inner(exchange, message, Some(timeout)).await
    }

    async fn publish_inner(
        &self,
        exchange: &str,
        message: &OutboundMessage,
        timeout: Option<Duration>,
    ) -> Result<(), BrokerError> {
        let span = tracing::info_span!(
            "publish",
            otel.name = %format!("publish {}", message.routing_key),
            otel.kind = "producer",
            otel.status_code = tracing::field::Empty,
            "messaging.system" = "rabbitmq",
            "messaging.operation.type" = "send",
            "messaging.destination.name" = exchange,
            "messaging.rabbitmq.destination.routing_key" = %message.routing_key,
            "messaging.message.id" = %message.message_id,
        );
        if message.headers.contains_key(crate::telemetry::TRACEPARENT) {
            crate::telemetry::set_parent_from(&span, &message.headers);
        }
        let mut traced = message.clone();
        crate::telemetry::inject_from(&span, &mut traced.headers);
        let result = async {
            match (self, timeout) {
                (Self::Rabbit(broker), None) => broker.publish(exchange, &traced).await,
                (Self::Rabbit(broker), Some(timeout)) => broker.publish_within(exchange, &traced, timeout).await,
                (Self::Memory(broker), _) => broker.publish(exchange, &traced),
            }
        }
        .instrument(span.clone())
        .await;
        match &result {
            Ok(()) => self.metrics().published.with_label_values(&[exchange]).inc(),
            Err(error) => {
                span.record("otel.status_code", "ERROR");
                tracing::warn!(parent: &span, %error, "publish failed");
                self.metrics().publish_errors.with_label_values(&[exchange]).inc();
            }
        }
        result
    }

    /// Publishes a raw record to the raw exchange.
    pub async fn publish_raw(&self, envelope: &Envelope) -> Result<(), BrokerError> {
        self.publish(&self.topology().raw_exchange(), &OutboundMessage::from_envelope(envelope)?).await
    }

    /// Publishes a collector job to the jobs exchange.
    pub async fn publish_job(&self, envelope: &Envelope) -> Result<(), BrokerError> {
        self.publish(&self.topology().jobs_exchange(), &OutboundMessage::from_envelope(envelope)?).await
    }

    /// Publishes a collector job, failing when the broker has not confirmed it within `timeout`.
    pub async fn publish_job_within(&self, envelope: &Envelope, timeout: Duration) -> Result<(), BrokerError> {
        self.publish_within(&self.topology().jobs_exchange(), &OutboundMessage::from_envelope(envelope)?, timeout).await
    }

    /// Starts consuming a queue with at most `prefetch` unacknowledged deliveries.
    pub async fn subscribe(&self, queue: &str, prefetch: u16) -> Result<Subscription, BrokerError> {
        match self {
            Self::Rabbit(broker) => Ok(Subscription::Rabbit(Box::new(broker.subscribe(queue, prefetch).await?))),
            Self::Memory(broker) => Ok(Subscription::Memory(broker.subscribe(queue, prefetch)?)),
        }
    }

    /// Messages ready in a queue (not counting unacknowledged ones).
    pub async fn ready_count(&self, queue: &str) -> Result<u32, BrokerError> {
        match self {
            Self::Rabbit(broker) => broker.ready_count(queue).await,
            Self::Memory(broker) => broker.ready_count(queue),
        }
    }

    /// Readiness: is the broker reachable right now?
    pub async fn check(&self) -> Result<(), BrokerError> {
        match self {
            Self::Rabbit(broker) => broker.check().await,
            Self::Memory(broker) => broker.check(),
        }
    }

    /// Closes connections; later calls fail with [`BrokerError::Closed`].
    pub async fn close(&self) {
        match self {
            Self::Rabbit(broker) => broker.close().await,
            Self::Memory(broker) => broker.close(),
        }
    }

    /// Deletes this topology's queues and exchanges (tests clean up their prefixed names with it).
    pub async fn delete_topology(&self) -> Result<(), BrokerError> {
        match self {
            Self::Rabbit(broker) => broker.delete_topology().await,
            Self::Memory(_) => Ok(()),
        }
    }
}

/// A stream of deliveries from one queue. It survives broker restarts: after a reconnect it consumes again.
pub enum Subscription {
    Rabbit(Box<rabbit::RabbitSubscription>),
    Memory(memory::MemorySubscription),
}

impl Subscription {
    /// The next delivery; `None` once the subscription was cancelled or the broker closed.
    pub async fn next(&mut self) -> Option<Delivery> {
        match self {
            Self::Rabbit(subscription) => subscription.next().await,
            Self::Memory(subscription) => subscription.next().await,
        }
    }

    /// Stops new deliveries; deliveries already received can still be settled until [`close`](Self::close).
    pub async fn cancel(&mut self) {
        match self {
            Self::Rabbit(subscription) => subscription.cancel().await,
            Self::Memory(subscription) => subscription.cancel(),
        }
    }

    /// Closes the subscription; unsettled deliveries go back to the queue.
    pub async fn close(self) {
        match self {
            Self::Rabbit(subscription) => (*subscription).close().await,
            Self::Memory(subscription) => subscription.close(),
        }
    }
}

#[async_trait::async_trait]
impl crate::ops::ReadinessCheck for Broker {
    fn name(&self) -> &'static str {
        "broker"
    }

    async fn check(&self) -> Result<(), String> {
        Broker::check(self).await.map_err(|e| e.to_string())
    }
}

/// Samples how many messages are ready in each of `queues` every `every` (`sua_queue_messages_ready`) until
/// `stop` is cancelled. A passive declare per queue on RabbitMQ, the queue's count in-process.
///
/// The queues' per-queue series start at 0 here (unacknowledged deliveries, dead letters by reason), so they exist
/// before their first event: an alert on `increase()` then sees the first dead letter too.
pub async fn watch_queues(
    broker: Broker,
    queues: Vec<String>,
    every: Duration,
    stop: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    let metrics = broker.metrics().clone();
    for queue in &queues {
        metrics.unacked.watch(queue);
        for reason in ["undecodable", "rejected", "delivery_limit"] {
            metrics.dead_lettered.with_label_values(&[queue.as_str(), reason]);
        }
    }
    loop {
        let mut sampled = true;
        for queue in &queues {
            // A broker that does not answer must not hold up shutdown.
            let ready = tokio::select! {
                ready = broker.ready_count(queue) => ready,
                () = stop.cancelled() => return Ok(()),
            };
            match ready {
                Ok(ready) => metrics.queue_ready.with_label_values(&[queue.as_str()]).set(i64::from(ready)),
                Err(error) => {
                    sampled = false;
                    tracing::debug!(queue = %queue, %error, "queue depth not sampled");
                }
            }
        }
        // Until the broker answers (it connects in the background), try again soon.
        let wait = if sampled { every } else { every.min(Duration::from_secs(1)) };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop.cancelled() => return Ok(()),
        }
    }
}

/// Exponential backoff with full jitter: a random wait in `[base, min(cap, base·2^attempt)]`.
pub fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    use rand::Rng;
    let ceiling = base.saturating_mul(2u32.saturating_pow(attempt.min(16))).min(cap).max(base);
    let millis = rand::rng().random_range(base.as_millis()..=ceiling.as_millis());
    Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX))
}
