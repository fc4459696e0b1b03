//! Dead letters for operators: list what waits in the dead-letter queue, and replay messages to the exchange
//! they were first published to (after the cause was fixed), as `sua dead-letters list|replay` does.
//!
//! Listing takes messages off the queue unacknowledged and lets them go again, so it changes nothing but their
//! order; replaying publishes a copy (same id, body and trace headers, confirmed) and only then removes the dead
//! letter, so a crash in between replays a message twice, never loses one.

use serde::Serialize;

use super::{Broker, BrokerError, Delivery, OutboundMessage};
use crate::messages::Envelope;

/// One dead letter, as an operator sees it.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub message_id: String,
    /// The routing key: the message kind (`callrecord.v1`, `job.callrecord.fetch.v1`, …).
    pub kind: String,
    /// The customer tenant, when the body is an envelope.
    pub tenant_id: Option<String>,
    /// The queue it was dead-lettered from.
    pub queue: Option<String>,
    /// Where it was first published, and so where a replay sends it.
    pub exchange: Option<String>,
    /// RabbitMQ's reason (`rejected`, `delivery_limit`, …).
    pub reason: Option<String>,
    pub bytes: usize,
}

impl DeadLetter {
    fn of(delivery: &Delivery) -> Self {
        let envelope = Envelope::from_slice(&delivery.body).ok();
        let header = |name: &str| delivery.headers.get(name).filter(|v| !v.is_empty()).cloned();
        Self {
            message_id: delivery.message_id.clone().unwrap_or_default(),
            kind: delivery.routing_key.clone(),
            tenant_id: envelope.map(|e| e.tenant_id),
            queue: header("x-first-death-queue"),
            exchange: header("x-first-death-exchange"),
            reason: header(super::DEATH_REASON_HEADER),
            bytes: delivery.body.len(),
        }
    }
}

/// What a replay did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Replayed {
    pub replayed: Vec<DeadLetter>,
    /// Selected, but with no exchange to go back to (left in the dead-letter queue).
    pub unroutable: Vec<DeadLetter>,
}

/// Messages taken off a queue, unsettled; [`Taken::release`] returns whatever was not settled.
struct Taken {
    deliveries: Vec<Delivery>,
    channel: Option<lapin::Channel>,
}

impl Taken {
    async fn release(self) {
        drop(self.deliveries);
        if let Some(channel) = self.channel {
            super::rabbit::RabbitBroker::release(channel).await;
        }
    }
}

impl Broker {
    async fn take(&self, queue: &str, max: usize) -> Result<Taken, BrokerError> {
        match self {
            Self::Rabbit(broker) => {
                let (channel, deliveries) = broker.take(queue, max).await?;
                Ok(Taken { deliveries, channel: Some(channel) })
            }
            Self::Memory(broker) => Ok(Taken { deliveries: broker.take(queue, max)?, channel: None }),
        }
    }

    /// Up to `max` dead letters, oldest first; they stay in the dead-letter queue.
    pub async fn dead_letters(&self, max: usize) -> Result<Vec<DeadLetter>, BrokerError> {
        let taken = self.take(&self.topology().dead_letter_queue(), max).await?;
        let letters = taken.deliveries.iter().map(DeadLetter::of).collect();
        taken.release().await;
        Ok(letters)
    }

    /// Replays the dead letters `select` picks (among the first `max`) to the exchange they came from; the rest
    /// stay.
    pub async fn replay_dead_letters(
        &self,
        max: usize,
        select: impl Fn(&DeadLetter) -> bool,
    ) -> Result<Replayed, BrokerError> {
        let mut taken = self.take(&self.topology().dead_letter_queue(), max).await?;
        let mut report = Replayed::default();
        let mut kept = Vec::new();
        let mut failure = None;
        for delivery in std::mem::take(&mut taken.deliveries) {
            let letter = DeadLetter::of(&delivery);
            if failure.is_some() || !select(&letter) {
                kept.push(delivery);
                continue;
            }
            let Some(exchange) = letter.exchange.clone() else {
                report.unroutable.push(letter);
                kept.push(delivery);
                continue;
            };
            let headers = delivery
                .headers
                .iter()
                .filter(|(k, _)| !k.starts_with("x-"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let copy = OutboundMessage {
                message_id: letter.message_id.clone(),
                routing_key: delivery.routing_key.clone(),
                body: delivery.body.clone(),
                headers,
            };
            if let Err(error) = self.publish(&exchange, &copy).await {
                failure = Some(error);
                kept.push(delivery);
                continue;
            }
            // Published: a failed ack leaves a dead letter that was replayed (a second replay is idempotent).
            if let Err(error) = delivery.ack().await {
                tracing::warn!(%error, message_id = %letter.message_id, "replayed, but the dead letter stayed");
            }
            report.replayed.push(letter);
        }
        taken.deliveries = kept;
        taken.release().await;
        match failure {
            Some(error) => Err(error),
            None => Ok(report),
        }
    }
}
