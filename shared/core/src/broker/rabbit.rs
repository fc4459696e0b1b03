//! RabbitMQ through lapin.
//!
//! Two connections, as RabbitMQ recommends: one for publishing (a confirm-mode channel shared by every
//! publisher; lapin multiplexes concurrent publishes and their confirmations) and one for consumers (a channel
//! per subscription). Each connection is re-established with jittered backoff when it breaks, and the topology is
//! declared again on every (re)connect, so a broker restart costs a pause, not a crash.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions,
    BasicQosOptions, BasicRejectOptions, ConfirmSelectOptions, ExchangeDeclareOptions, ExchangeDeleteOptions,
    QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Acker, BrokerError, DELIVERY_COUNT_HEADER, Delivery, OutboundMessage, backoff};
use crate::config::AmqpConfig;
use crate::metrics::BrokerMetrics;
use crate::topology::{ExchangeKind, Topology};

const PERSISTENT: u8 = 2;
/// Longest a close (of a channel or connection) may wait for the broker's answer.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct RabbitBroker {
    inner: Arc<Inner>,
}

struct Inner {
    url: SecretString,
    topology: Topology,
    settings: AmqpConfig,
    metrics: BrokerMetrics,
    publisher: Managed,
    consumer: Managed,
    closed: CancellationToken,
}

/// One managed connection and its first channel.
struct Managed {
    role: &'static str,
    confirms: bool,
    live: Mutex<Option<Live>>,
    generation: AtomicU64,
    /// Why the last connection attempt failed (wrong credentials, refused, unreachable); cleared on success.
    last_error: std::sync::Mutex<Option<String>>,
}

#[derive(Clone)]
struct Live {
    connection: Arc<Connection>,
    channel: Channel,
    generation: u64,
}

impl Live {
    fn usable(&self) -> bool {
        self.connection.status().connected() && self.channel.status().connected()
    }
}

impl RabbitBroker {
    pub(super) async fn connect(
        url: SecretString,
        topology: Topology,
        settings: AmqpConfig,
        metrics: BrokerMetrics,
    ) -> Result<Self, BrokerError> {
        let broker = Self {
            inner: Arc::new(Inner {
                url,
                topology,
                metrics,
                publisher: Managed::new("publisher", true),
                consumer: Managed::new("consumer", false),
                closed: CancellationToken::new(),
                settings,
            }),
        };
        // Connect in the background: a service opens its HTTP port (health, readiness with the broker's own error)
        // at once, and its publishes and subscriptions wait for the connection within their own deadlines.
        let warm = broker.clone();
        tokio::spawn(async move {
            if let Err(error) = warm.inner.publisher.get(&warm.inner, None).await
                && !matches!(error, BrokerError::Closed)
            {
                tracing::error!(%error, "broker connection failed for good");
            }
        });
        Ok(broker)
    }

    pub(super) fn topology(&self) -> &Topology {
        &self.inner.topology
    }

    pub(super) fn metrics(&self) -> &BrokerMetrics {
        &self.inner.metrics
    }

    fn publish_timeout(&self) -> Duration {
        Duration::from_secs(self.inner.settings.publish_timeout_secs)
    }

    pub(super) async fn publish(&self, exchange: &str, message: &OutboundMessage) -> Result<(), BrokerError> {
        self.publish_within(exchange, message, self.publish_timeout()).await
    }

    pub(super) async fn publish_within(
        &self,
        exchange: &str,
        message: &OutboundMessage,
        timeout: Duration,
    ) -> Result<(), BrokerError> {
        let deadline = Instant::now() + timeout;
        let mut attempt = 0;
        loop {
            if self.inner.closed.is_cancelled() {
                return Err(BrokerError::Closed);
            }
            let last_error = match self.try_publish(exchange, message, deadline).await {
                Ok(()) => return Ok(()),
                Err(PublishFailure::Fatal(error)) => return Err(error),
                Err(PublishFailure::Retry(error)) => error,
            };
            attempt += 1;
            let wait = backoff(attempt, Duration::from_millis(50), self.max_backoff());
            if Instant::now() + wait >= deadline {
                return Err(BrokerError::PublishTimeout { exchange: exchange.to_string(), timeout, last_error });
            }
            tracing::debug!(exchange, attempt, error = %last_error, "publish will be retried");
            tokio::time::sleep(wait).await;
        }
    }

    async fn try_publish(
        &self,
        exchange: &str,
        message: &OutboundMessage,
        deadline: Instant,
    ) -> Result<(), PublishFailure> {
        let live = self.inner.publisher.get(&self.inner, Some(deadline)).await.map_err(|e| match e {
            BrokerError::Closed | BrokerError::Topology(_) => PublishFailure::Fatal(e),
            other => PublishFailure::Retry(other.to_string()),
        })?;
        let properties = BasicProperties::default()
            .with_delivery_mode(PERSISTENT)
            .with_content_type(ShortString::from("application/json"))
            .with_message_id(ShortString::from(message.message_id.as_str()))
            .with_timestamp(u64::try_from(chrono::Utc::now().timestamp()).unwrap_or_default())
            .with_headers(to_field_table(&message.headers));
        let options = BasicPublishOptions { mandatory: true, ..Default::default() };
        let confirm = match live
            .channel
            .basic_publish(
                ShortString::from(exchange),
                ShortString::from(message.routing_key.as_str()),
                options,
                &message.body,
                properties,
            )
            .await
        {
            Ok(confirm) => confirm,
            Err(error) => {
                self.inner.publisher.invalidate(live.generation).await;
                return Err(PublishFailure::Retry(error.to_string()));
            }
        };
        let confirmation = match tokio::time::timeout_at(deadline, confirm).await {
            Ok(Ok(confirmation)) => confirmation,
            Ok(Err(error)) => {
                self.inner.publisher.invalidate(live.generation).await;
                return Err(PublishFailure::Retry(error.to_string()));
            }
            Err(_) => {
                return Err(PublishFailure::Retry("no confirmation before the deadline".into()));
            }
        };
        if confirmation.is_nack() {
            return Err(PublishFailure::Retry("the broker nacked the message".into()));
        }
        if confirmation.take_message().is_some() {
            return Err(PublishFailure::Fatal(BrokerError::Unroutable {
                exchange: exchange.to_string(),
                routing_key: message.routing_key.clone(),
            }));
        }
        Ok(())
    }

    fn max_backoff(&self) -> Duration {
        Duration::from_millis(self.inner.settings.reconnect_max_backoff_ms.max(50))
    }

    pub(super) async fn subscribe(&self, queue: &str, prefetch: u16) -> Result<RabbitSubscription, BrokerError> {
        let mut subscription = RabbitSubscription {
            broker: self.clone(),
            queue: queue.to_string(),
            prefetch,
            current: None,
            cancelled: false,
        };
        // Fail fast on a queue that does not exist; later reconnects retry quietly.
        subscription.open().await?;
        Ok(subscription)
    }

    pub(super) async fn ready_count(&self, queue: &str) -> Result<u32, BrokerError> {
        let deadline = Instant::now() + self.publish_timeout();
        let live = self.inner.consumer.get(&self.inner, Some(deadline)).await?;
        let channel = live.connection.create_channel().await.map_err(unavailable)?;
        let options = QueueDeclareOptions { passive: true, ..Default::default() };
        let declared = channel.queue_declare(ShortString::from(queue), options, FieldTable::default()).await;
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, channel.close(200, ShortString::from("done"))).await;
        Ok(declared.map_err(|e| BrokerError::Topology(e.to_string()))?.message_count())
    }

    /// Takes up to `max` messages off `queue` on a channel of their own (`basic.get`, unacknowledged): settle
    /// each, and close the channel to return the rest.
    pub(super) async fn take(&self, queue: &str, max: usize) -> Result<(Channel, Vec<Delivery>), BrokerError> {
        let deadline = Instant::now() + self.publish_timeout();
        let live = self.inner.consumer.get(&self.inner, Some(deadline)).await?;
        let channel = live.connection.create_channel().await.map_err(unavailable)?;
        let mut taken = Vec::new();
        while taken.len() < max {
            let got = channel
                .basic_get(ShortString::from(queue), BasicGetOptions { no_ack: false })
                .await
                .map_err(|e| topology_error(queue, e))?;
            let Some(message) = got else { break };
            taken.push(into_delivery(message.delivery));
        }
        Ok((channel, taken))
    }

    pub(super) async fn release(channel: Channel) {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, channel.close(200, ShortString::from("done"))).await;
    }

    pub(super) async fn check(&self) -> Result<(), BrokerError> {
        let deadline = Instant::now() + Duration::from_secs(2);
        match self.inner.publisher.get(&self.inner, Some(deadline)).await {
            Ok(_) => Ok(()),
            Err(error) => match self.inner.publisher.last_error() {
                Some(cause) => Err(BrokerError::Unavailable(cause)),
                None => Err(error),
            },
        }
    }

    /// Closes both connections. A connection that lived through a broker restart may never see its close-ok:
    /// each step is bounded, so a stopping service never hangs here.
    pub(super) async fn close(&self) {
        self.inner.closed.cancel();
        for managed in [&self.inner.publisher, &self.inner.consumer] {
            let Ok(mut guard) = tokio::time::timeout(CLOSE_TIMEOUT, managed.live.lock()).await else {
                tracing::warn!(role = managed.role, "broker connection still busy at close; leaving it");
                continue;
            };
            if let Some(live) = guard.take() {
                tracing::debug!(role = managed.role, "closing the broker connection");
                if tokio::time::timeout(
                    CLOSE_TIMEOUT,
                    live.connection.close(200, ShortString::from("sua shutting down")),
                )
                .await
                .is_err()
                {
                    tracing::warn!(role = managed.role, "the broker did not confirm the close; leaving it");
                }
            }
        }
    }

    pub(super) async fn delete_topology(&self) -> Result<(), BrokerError> {
        let deadline = Instant::now() + self.publish_timeout();
        let live = self.inner.consumer.get(&self.inner, Some(deadline)).await?;
        let channel = live.connection.create_channel().await.map_err(unavailable)?;
        for queue in self.inner.topology.queues() {
            let _ = channel.queue_delete(ShortString::from(queue.name), QueueDeleteOptions::default()).await;
        }
        for exchange in self.inner.topology.exchanges() {
            let _ = channel.exchange_delete(ShortString::from(exchange.name), ExchangeDeleteOptions::default()).await;
        }
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, channel.close(200, ShortString::from("done"))).await;
        Ok(())
    }
}

enum PublishFailure {
    Retry(String),
    Fatal(BrokerError),
}

fn unavailable(error: lapin::Error) -> BrokerError {
    BrokerError::Unavailable(error.to_string())
}

impl Managed {
    fn new(role: &'static str, confirms: bool) -> Self {
        Self {
            role,
            confirms,
            live: Mutex::new(None),
            generation: AtomicU64::new(0),
            last_error: std::sync::Mutex::new(None),
        }
    }

    fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn set_last_error(&self, error: Option<String>) {
        *self.last_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = error;
    }

    /// The live connection, (re)connecting with backoff until `deadline` (or forever when `None`). Another caller
    /// may be reconnecting already: waiting for it also ends at `deadline`.
    async fn get(&self, inner: &Inner, deadline: Option<Instant>) -> Result<Live, BrokerError> {
        let mut guard = match deadline {
            None => self.live.lock().await,
            Some(deadline) => tokio::time::timeout_at(deadline, self.live.lock()).await.map_err(|_| {
                BrokerError::Unavailable(self.last_error().unwrap_or_else(|| "still connecting".to_string()))
            })?,
        };
        if let Some(live) = guard.as_ref().filter(|live| live.usable()) {
            return Ok(live.clone());
        }
        if let Some(stale) = guard.take() {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, stale.connection.close(200, ShortString::from("reconnecting")))
                .await;
        }
        let mut attempt = 0u32;
        loop {
            if inner.closed.is_cancelled() {
                return Err(BrokerError::Closed);
            }
            let connected = tokio::select! {
                result = self.connect_once(inner) => result,
                () = inner.closed.cancelled() => return Err(BrokerError::Closed),
            };
            match connected {
                Ok(live) => {
                    self.set_last_error(None);
                    inner.metrics.reconnects.with_label_values(&[self.role]).inc();
                    if attempt > 0 {
                        tracing::info!(role = self.role, attempt, "broker connection re-established");
                    }
                    *guard = Some(live.clone());
                    return Ok(live);
                }
                Err(error @ BrokerError::Topology(_)) => {
                    self.set_last_error(Some(error.to_string()));
                    return Err(error);
                }
                Err(error) => {
                    self.set_last_error(Some(error.to_string()));
                    attempt += 1;
                    let wait = backoff(
                        attempt,
                        Duration::from_millis(100),
                        Duration::from_millis(inner.settings.reconnect_max_backoff_ms.max(100)),
                    );
                    if let Some(deadline) = deadline
                        && Instant::now() + wait >= deadline
                    {
                        return Err(error);
                    }
                    tracing::warn!(role = self.role, attempt, %error, retry_in_ms = wait.as_millis() as u64, "broker unreachable");
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {},
                        () = inner.closed.cancelled() => return Err(BrokerError::Closed),
                    }
                }
            }
        }
    }

    async fn connect_once(&self, inner: &Inner) -> Result<Live, BrokerError> {
        let name = format!("sua-{}-{}", self.role, std::process::id());
        let properties = ConnectionProperties::default().with_connection_name(LongString::from(name));
        let connection =
            tokio::time::timeout(Duration::from_secs(10), Connection::connect(inner.url.expose_secret(), properties))
                .await
                .map_err(|_| BrokerError::Unavailable("connection attempt timed out".into()))?
                .map_err(unavailable)?;
        let channel = connection.create_channel().await.map_err(unavailable)?;
        if self.confirms {
            channel.confirm_select(ConfirmSelectOptions::default()).await.map_err(unavailable)?;
        }
        declare(&channel, &inner.topology, &inner.settings).await?;
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Live { connection: Arc::new(connection), channel, generation })
    }

    /// Drops the live connection if it is still the one that failed.
    async fn invalidate(&self, generation: u64) {
        let mut guard = self.live.lock().await;
        if guard.as_ref().is_some_and(|live| live.generation == generation)
            && let Some(live) = guard.take()
        {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, live.connection.close(200, ShortString::from("reconnecting")))
                .await;
        }
    }
}

/// Declares exchanges, quorum queues and bindings. Idempotent; a queue that exists with other arguments is a
/// configuration error reported as [`BrokerError::Topology`].
async fn declare(channel: &Channel, topology: &Topology, settings: &AmqpConfig) -> Result<(), BrokerError> {
    let transient = settings.queue_expires_ms.is_some();
    for exchange in topology.exchanges() {
        let kind = match exchange.kind {
            ExchangeKind::Topic => lapin::ExchangeKind::Topic,
            ExchangeKind::Fanout => lapin::ExchangeKind::Fanout,
        };
        let options = ExchangeDeclareOptions { durable: true, auto_delete: transient, ..Default::default() };
        channel
            .exchange_declare(ShortString::from(exchange.name.as_str()), kind, options, FieldTable::default())
            .await
            .map_err(|e| topology_error(&exchange.name, e))?;
    }
    for queue in topology.queues() {
        let mut arguments = FieldTable::default();
        arguments.insert(ShortString::from("x-queue-type"), AMQPValue::LongString(LongString::from("quorum")));
        if queue.dead_letters {
            let dlx = topology.dead_letter_exchange();
            arguments.insert(ShortString::from("x-dead-letter-exchange"), AMQPValue::LongString(LongString::from(dlx)));
            // At-least-once dead-lettering: a dead letter is not dropped before the DLQ confirmed it.
            arguments.insert(
                ShortString::from("x-dead-letter-strategy"),
                AMQPValue::LongString(LongString::from("at-least-once")),
            );
            arguments
                .insert(ShortString::from("x-overflow"), AMQPValue::LongString(LongString::from("reject-publish")));
            // A backstop: consumers dead-letter at the limit themselves; this catches messages whose handling
            // kills the consumer process again and again.
            arguments.insert(
                ShortString::from("x-delivery-limit"),
                AMQPValue::LongInt(i32::try_from(settings.delivery_limit).unwrap_or(i32::MAX)),
            );
        }
        if let Some(expires) = settings.queue_expires_ms {
            arguments
                .insert(ShortString::from("x-expires"), AMQPValue::LongInt(i32::try_from(expires).unwrap_or(i32::MAX)));
        }
        channel
            .queue_declare(ShortString::from(queue.name.as_str()), QueueDeclareOptions::durable(), arguments)
            .await
            .map_err(|e| topology_error(&queue.name, e))?;
        for (exchange, pattern) in &queue.bindings {
            channel
                .queue_bind(
                    ShortString::from(queue.name.as_str()),
                    ShortString::from(exchange.as_str()),
                    ShortString::from(pattern.as_str()),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|e| topology_error(&queue.name, e))?;
        }
    }
    Ok(())
}

fn topology_error(name: &str, error: lapin::Error) -> BrokerError {
    let text = error.to_string();
    if text.contains("PRECONDITION_FAILED") || text.contains("precondition") {
        BrokerError::Topology(format!("{name}: {text}"))
    } else {
        BrokerError::Unavailable(format!("{name}: {text}"))
    }
}

fn to_field_table(headers: &BTreeMap<String, String>) -> FieldTable {
    let mut table = FieldTable::default();
    for (key, value) in headers {
        table.insert(ShortString::from(key.as_str()), AMQPValue::LongString(LongString::from(value.as_str())));
    }
    table
}

fn header_string(value: &AMQPValue) -> Option<String> {
    match value {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        AMQPValue::ShortShortInt(n) => Some(n.to_string()),
        AMQPValue::ShortShortUInt(n) => Some(n.to_string()),
        AMQPValue::ShortInt(n) => Some(n.to_string()),
        AMQPValue::ShortUInt(n) => Some(n.to_string()),
        AMQPValue::LongInt(n) => Some(n.to_string()),
        AMQPValue::LongUInt(n) => Some(n.to_string()),
        AMQPValue::LongLongInt(n) => Some(n.to_string()),
        AMQPValue::Timestamp(n) => Some(n.to_string()),
        AMQPValue::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn into_delivery(delivery: lapin::message::Delivery) -> Delivery {
    let headers: BTreeMap<String, String> = delivery
        .properties
        .headers()
        .as_ref()
        .map(|table| {
            table.inner().iter().filter_map(|(k, v)| header_string(v).map(|v| (k.as_str().to_string(), v))).collect()
        })
        .unwrap_or_default();
    let delivery_count = headers.get(DELIVERY_COUNT_HEADER).and_then(|v| v.parse().ok()).unwrap_or(0);
    Delivery {
        message_id: delivery.properties.message_id().as_ref().map(|id| id.as_str().to_string()),
        exchange: delivery.exchange.as_str().to_string(),
        routing_key: delivery.routing_key.as_str().to_string(),
        body: Bytes::from(delivery.data),
        redelivered: delivery.redelivered || delivery_count > 0,
        delivery_count,
        headers,
        acker: Acker::Rabbit(delivery.acker),
    }
}

/// lapin answers `Ok(false)` when the acker's channel is gone (the broker will redeliver): that is a failure.
fn settled(result: lapin::Result<bool>) -> Result<(), BrokerError> {
    match result {
        Ok(true) => Ok(()),
        Ok(false) => Err(BrokerError::Ack("the delivery's channel is closed".into())),
        Err(error) => Err(BrokerError::Ack(error.to_string())),
    }
}

pub(super) async fn ack(acker: &lapin::Acker) -> Result<(), BrokerError> {
    settled(acker.ack(BasicAckOptions::default()).await)
}

pub(super) async fn requeue(acker: &lapin::Acker) -> Result<(), BrokerError> {
    settled(acker.nack(BasicNackOptions { requeue: true, multiple: false }).await)
}

pub(super) async fn dead_letter(acker: &lapin::Acker) -> Result<(), BrokerError> {
    settled(acker.reject(BasicRejectOptions { requeue: false }).await)
}

/// A consumer on its own channel; re-opened after the connection comes back.
pub struct RabbitSubscription {
    broker: RabbitBroker,
    queue: String,
    prefetch: u16,
    current: Option<(Channel, lapin::Consumer, u64)>,
    cancelled: bool,
}

impl RabbitSubscription {
    async fn open(&mut self) -> Result<(), BrokerError> {
        let inner = &self.broker.inner;
        let live = inner.consumer.get(inner, None).await?;
        let channel = match live.connection.create_channel().await {
            Ok(channel) => channel,
            Err(error) => {
                inner.consumer.invalidate(live.generation).await;
                return Err(unavailable(error));
            }
        };
        channel.basic_qos(self.prefetch, BasicQosOptions::default()).await.map_err(unavailable)?;
        let consumer = channel
            .basic_consume(
                ShortString::from(self.queue.as_str()),
                ShortString::from(""),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| topology_error(&self.queue, e))?;
        self.current = Some((channel, consumer, live.generation));
        Ok(())
    }

    pub(super) async fn next(&mut self) -> Option<Delivery> {
        let mut attempt = 0u32;
        loop {
            if self.cancelled || self.broker.inner.closed.is_cancelled() {
                return None;
            }
            if self.current.is_none() {
                if let Err(error) = self.open().await {
                    if matches!(error, BrokerError::Closed) {
                        return None;
                    }
                    attempt += 1;
                    let wait = backoff(attempt, Duration::from_millis(100), self.broker.max_backoff());
                    tracing::warn!(queue = %self.queue, %error, "consumer could not subscribe, retrying");
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {},
                        () = self.broker.inner.closed.cancelled() => return None,
                    }
                    continue;
                }
                if attempt > 0 {
                    tracing::info!(queue = %self.queue, "consumer subscribed again");
                }
                attempt = 0;
            }
            let Some((_, consumer, generation)) = self.current.as_mut() else {
                continue;
            };
            let generation = *generation;
            match consumer.next().await {
                Some(Ok(delivery)) => return Some(into_delivery(delivery)),
                // A broken connection is noticed (and replaced) by `Managed::get` when the consumer reopens;
                // a channel-level failure only costs this subscription its channel.
                Some(Err(error)) => {
                    tracing::warn!(queue = %self.queue, generation, %error, "consumer lost its channel, resubscribing");
                    self.current = None;
                }
                None => {
                    if self.cancelled {
                        return None;
                    }
                    tracing::warn!(queue = %self.queue, generation, "consumer was cancelled by the broker, resubscribing");
                    self.current = None;
                }
            }
        }
    }

    pub(super) async fn cancel(&mut self) {
        self.cancelled = true;
        if let Some((channel, consumer, _)) = &self.current {
            let _ = channel.basic_cancel(consumer.tag(), BasicCancelOptions::default()).await;
        }
    }

    pub(super) async fn close(mut self) {
        self.cancelled = true;
        if let Some((channel, _, _)) = self.current.take() {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, channel.close(200, ShortString::from("consumer closed"))).await;
        }
    }
}
