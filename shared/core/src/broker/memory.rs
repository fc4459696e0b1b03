//! The in-process broker of the embedded all-in-one mode, with RabbitMQ's consumer-visible semantics: topic and
//! fanout routing, per-consumer prefetch, manual ack, redelivery with `x-delivery-count`, dead-lettering at the
//! delivery limit or on reject, and unsettled deliveries returned when their consumer goes away.
//!
//! Messages live in memory: they survive a simulated broker restart ([`MemoryBroker::restart`]) but not the
//! process, which is what an embedded demo needs and no more.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::{Acker, BrokerError, DEATH_REASON_HEADER, DELIVERY_COUNT_HEADER, Delivery, OutboundMessage};
use crate::config::AmqpConfig;
use crate::metrics::BrokerMetrics;
use crate::topology::{ExchangeKind, Topology, topic_matches};

#[derive(Clone)]
pub struct MemoryBroker {
    inner: Arc<Inner>,
}

struct Inner {
    topology: Topology,
    settings: AmqpConfig,
    metrics: BrokerMetrics,
    exchanges: HashMap<String, ExchangeKind>,
    /// `(exchange, pattern, queue)`
    bindings: Vec<(String, String, Arc<Queue>)>,
    queues: HashMap<String, Arc<Queue>>,
    /// Bumped by a simulated restart: deliveries of an older epoch can no longer be settled.
    epoch: AtomicU64,
    closed: AtomicBool,
    closed_notify: Notify,
}

struct Queue {
    name: String,
    dead_letters: bool,
    state: Mutex<QueueState>,
    notify: Notify,
}

#[derive(Default)]
struct QueueState {
    ready: VecDeque<Message>,
    unacked: HashMap<u64, Message>,
    next_tag: u64,
}

#[derive(Clone)]
struct Message {
    message_id: String,
    exchange: String,
    routing_key: String,
    body: Bytes,
    headers: BTreeMap<String, String>,
    delivery_count: u32,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        // A panic while holding this lock leaves plain data behind; keep serving it.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn push(&self, message: Message) {
        self.lock().ready.push_back(message);
        self.notify.notify_waiters();
    }
}

impl MemoryBroker {
    pub fn new(topology: Topology, settings: AmqpConfig, metrics: BrokerMetrics) -> Self {
        let exchanges = topology.exchanges().into_iter().map(|e| (e.name, e.kind)).collect();
        let mut queues = HashMap::new();
        let mut bindings = Vec::new();
        for spec in topology.queues() {
            let queue = Arc::new(Queue {
                name: spec.name.clone(),
                dead_letters: spec.dead_letters,
                state: Mutex::new(QueueState::default()),
                notify: Notify::new(),
            });
            for (exchange, pattern) in spec.bindings {
                bindings.push((exchange, pattern, queue.clone()));
            }
            queues.insert(spec.name, queue);
        }
        metrics.reconnects.with_label_values(&["memory"]).inc();
        Self {
            inner: Arc::new(Inner {
                topology,
                settings,
                metrics,
                exchanges,
                bindings,
                queues,
                epoch: AtomicU64::new(0),
                closed: AtomicBool::new(false),
                closed_notify: Notify::new(),
            }),
        }
    }

    pub(super) fn topology(&self) -> &Topology {
        &self.inner.topology
    }

    pub(super) fn metrics(&self) -> &BrokerMetrics {
        &self.inner.metrics
    }

    fn ensure_open(&self) -> Result<(), BrokerError> {
        if self.inner.closed.load(Ordering::SeqCst) { Err(BrokerError::Closed) } else { Ok(()) }
    }

    pub(super) fn publish(&self, exchange: &str, message: &OutboundMessage) -> Result<(), BrokerError> {
        self.ensure_open()?;
        let routed = self.route(
            exchange,
            &Message {
                message_id: message.message_id.clone(),
                exchange: exchange.to_string(),
                routing_key: message.routing_key.clone(),
                body: message.body.clone(),
                headers: message.headers.clone(),
                delivery_count: 0,
            },
        )?;
        if routed == 0 {
            return Err(BrokerError::Unroutable {
                exchange: exchange.to_string(),
                routing_key: message.routing_key.clone(),
            });
        }
        Ok(())
    }

    fn route(&self, exchange: &str, message: &Message) -> Result<usize, BrokerError> {
        let kind = self
            .inner
            .exchanges
            .get(exchange)
            .ok_or_else(|| BrokerError::Topology(format!("no exchange named {exchange}")))?;
        let mut routed = 0;
        for (bound, pattern, queue) in &self.inner.bindings {
            let matches = bound == exchange
                && match kind {
                    ExchangeKind::Fanout => true,
                    ExchangeKind::Topic => topic_matches(pattern, &message.routing_key),
                };
            if matches {
                queue.push(message.clone());
                routed += 1;
            }
        }
        Ok(routed)
    }

    fn queue(&self, name: &str) -> Result<Arc<Queue>, BrokerError> {
        self.inner.queues.get(name).cloned().ok_or_else(|| BrokerError::Topology(format!("no queue named {name}")))
    }

    pub(super) fn subscribe(&self, queue: &str, prefetch: u16) -> Result<MemorySubscription, BrokerError> {
        self.ensure_open()?;
        Ok(MemorySubscription {
            broker: self.clone(),
            queue: self.queue(queue)?,
            permits: Arc::new(Semaphore::new(usize::from(prefetch.max(1)))),
            cancelled: false,
        })
    }

    /// Takes up to `max` ready messages off `queue`, unsettled (each returns to the queue if dropped so).
    pub(super) fn take(&self, queue: &str, max: usize) -> Result<Vec<Delivery>, BrokerError> {
        self.ensure_open()?;
        let queue = self.queue(queue)?;
        let permits = Arc::new(Semaphore::new(max.max(1)));
        let mut taken = Vec::new();
        while taken.len() < max {
            let Ok(permit) = permits.clone().try_acquire_owned() else { break };
            let Ok(delivery) = self.pop(&queue, permit) else { break };
            taken.push(delivery);
        }
        Ok(taken)
    }

    /// The next ready message of `queue` as an unsettled delivery holding `permit`; the permit back when the
    /// queue is empty.
    fn pop(&self, queue: &Arc<Queue>, permit: OwnedSemaphorePermit) -> Result<Delivery, OwnedSemaphorePermit> {
        let (tag, message) = {
            let mut state = queue.lock();
            let Some(message) = state.ready.pop_front() else { return Err(permit) };
            state.next_tag += 1;
            let tag = state.next_tag;
            state.unacked.insert(tag, message.clone());
            (tag, message)
        };
        let mut headers = message.headers;
        if message.delivery_count > 0 {
            headers.insert(DELIVERY_COUNT_HEADER.into(), message.delivery_count.to_string());
        }
        Ok(Delivery {
            message_id: Some(message.message_id),
            exchange: message.exchange,
            routing_key: message.routing_key,
            body: message.body,
            headers,
            redelivered: message.delivery_count > 0,
            delivery_count: message.delivery_count,
            acker: Acker::Memory(MemoryAcker {
                state: Some(AckerState {
                    broker: self.clone(),
                    queue: queue.clone(),
                    tag,
                    epoch: self.inner.epoch.load(Ordering::SeqCst),
                    _permit: permit,
                }),
            }),
        })
    }

    pub(super) fn ready_count(&self, queue: &str) -> Result<u32, BrokerError> {
        let queue = self.queue(queue)?;
        let count = queue.lock().ready.len();
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    pub(super) fn check(&self) -> Result<(), BrokerError> {
        self.ensure_open()
    }

    pub(super) fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.closed_notify.notify_waiters();
        for queue in self.inner.queues.values() {
            queue.notify.notify_waiters();
        }
    }

    /// Simulates a broker restart: every unsettled delivery returns to its queue (counted as a delivery, as
    /// RabbitMQ does when a channel closes) and can no longer be settled by its old holder.
    pub fn restart(&self) {
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        for queue in self.inner.queues.values() {
            let mut state = queue.lock();
            let mut returned: Vec<(u64, Message)> = state.unacked.drain().collect();
            returned.sort_by_key(|(tag, _)| *tag);
            for (_, mut message) in returned.into_iter().rev() {
                message.delivery_count += 1;
                state.ready.push_front(message);
            }
            drop(state);
            queue.notify.notify_waiters();
        }
    }

    /// Returns an unsettled message to its queue, or dead-letters it once it exceeded the delivery limit.
    fn settle_return(&self, queue: &Queue, mut message: Message) {
        message.delivery_count += 1;
        if queue.dead_letters && message.delivery_count > self.inner.settings.delivery_limit {
            self.dead_letter_message(queue, message, "delivery_limit");
        } else {
            queue.push(message);
        }
    }

    fn dead_letter_message(&self, queue: &Queue, mut message: Message, reason: &str) {
        if !queue.dead_letters {
            return;
        }
        message.headers.insert(DEATH_REASON_HEADER.into(), reason.into());
        message.headers.insert("x-first-death-queue".into(), queue.name.clone());
        message.headers.insert("x-first-death-exchange".into(), message.exchange.clone());
        message.delivery_count = 0;
        let dlx = self.inner.topology.dead_letter_exchange();
        if let Err(error) = self.route(&dlx, &message) {
            tracing::error!(%error, queue = %queue.name, "dead letter could not be routed");
        }
    }
}

/// Settles one in-process delivery; returns the message to its queue when dropped unsettled.
#[derive(Debug)]
pub struct MemoryAcker {
    state: Option<AckerState>,
}

struct AckerState {
    broker: MemoryBroker,
    queue: Arc<Queue>,
    tag: u64,
    epoch: u64,
    _permit: OwnedSemaphorePermit,
}

impl std::fmt::Debug for AckerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckerState").field("queue", &self.queue.name).field("tag", &self.tag).finish()
    }
}

enum Settle {
    Ack,
    Requeue,
    DeadLetter,
}

impl MemoryAcker {
    pub(super) fn ack(mut self) -> Result<(), BrokerError> {
        self.settle(Settle::Ack)
    }

    pub(super) fn requeue(mut self) -> Result<(), BrokerError> {
        self.settle(Settle::Requeue)
    }

    pub(super) fn dead_letter(mut self) -> Result<(), BrokerError> {
        self.settle(Settle::DeadLetter)
    }

    fn settle(&mut self, how: Settle) -> Result<(), BrokerError> {
        let Some(state) = self.state.take() else {
            return Ok(());
        };
        if state.broker.inner.epoch.load(Ordering::SeqCst) != state.epoch {
            return Err(BrokerError::Ack("the broker restarted since this delivery".into()));
        }
        let message = state.queue.lock().unacked.remove(&state.tag);
        let Some(message) = message else {
            return Err(BrokerError::Ack("delivery was already returned to the queue".into()));
        };
        match how {
            Settle::Ack => {}
            Settle::Requeue => state.broker.settle_return(&state.queue, message),
            Settle::DeadLetter => state.broker.dead_letter_message(&state.queue, message, "rejected"),
        }
        Ok(())
    }
}

impl Drop for MemoryAcker {
    fn drop(&mut self) {
        if self.state.is_some() {
            let _ = self.settle(Settle::Requeue);
        }
    }
}

pub struct MemorySubscription {
    broker: MemoryBroker,
    queue: Arc<Queue>,
    permits: Arc<Semaphore>,
    cancelled: bool,
}

impl MemorySubscription {
    pub(super) async fn next(&mut self) -> Option<Delivery> {
        if self.cancelled || self.broker.inner.closed.load(Ordering::SeqCst) {
            return None;
        }
        // Prefetch: no more unsettled deliveries than permits.
        let mut permit = tokio::select! {
            permit = self.permits.clone().acquire_owned() => permit.ok()?,
            () = self.broker.inner.closed_notify.notified() => return None,
        };
        loop {
            if self.cancelled || self.broker.inner.closed.load(Ordering::SeqCst) {
                return None;
            }
            let notified = self.queue.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // Without a ready message the permit is kept for the next round.
            match self.broker.pop(&self.queue, permit) {
                Ok(delivery) => return Some(delivery),
                Err(kept) => permit = kept,
            }
            notified.await;
        }
    }

    pub(super) fn cancel(&mut self) {
        self.cancelled = true;
    }

    pub(super) fn close(self) {}
}
