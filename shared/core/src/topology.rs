//! Queue topology: every exchange, queue and binding name lives here, so producers and consumers agree.
//!
//! ```text
//!  collector ──publish(kind)──▶ sua.raw  (topic) ──#──▶ sua.analytics        (quorum) ──▶ analytics
//!  collector ──publish(job)───▶ sua.jobs (topic) ──#──▶ sua.collector.jobs   (quorum) ──▶ collector workers
//!  any queue ──delivery limit / poison──▶ sua.dlx (fanout) ──▶ sua.dead (quorum, inspected by operators)
//! ```
//!
//! In tests every name carries a unique prefix, so parallel tests share one broker without seeing each other.

/// Raw Graph records, routed by kind (`callrecord.v1`, `licence.users.v1`, …).
pub const RAW_EXCHANGE: &str = "sua.raw";
/// Collector jobs (fetch a call record, run a sync, backfill), routed by job kind.
pub const JOBS_EXCHANGE: &str = "sua.jobs";
/// Where rejected and over-delivered messages go.
pub const DEAD_LETTER_EXCHANGE: &str = "sua.dlx";
/// analytics consumes every raw record from here.
pub const ANALYTICS_QUEUE: &str = "sua.analytics";
/// collector workers consume jobs from here.
pub const COLLECTOR_JOBS_QUEUE: &str = "sua.collector.jobs";
/// Dead letters wait here for an operator.
pub const DEAD_LETTER_QUEUE: &str = "sua.dead";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeKind {
    Topic,
    Fanout,
}

#[derive(Debug, Clone)]
pub struct ExchangeSpec {
    pub name: String,
    pub kind: ExchangeKind,
}

#[derive(Debug, Clone)]
pub struct QueueSpec {
    pub name: String,
    /// `(exchange, binding pattern)` pairs.
    pub bindings: Vec<(String, String)>,
    /// Whether rejected or over-delivered messages go to the dead-letter exchange (false for the DLQ itself).
    pub dead_letters: bool,
}

/// The names in use, with an optional prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topology {
    prefix: String,
}

impl Topology {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self { prefix: prefix.into() }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn name(&self, base: &str) -> String {
        format!("{}{}", self.prefix, base)
    }

    pub fn raw_exchange(&self) -> String {
        self.name(RAW_EXCHANGE)
    }

    pub fn jobs_exchange(&self) -> String {
        self.name(JOBS_EXCHANGE)
    }

    pub fn dead_letter_exchange(&self) -> String {
        self.name(DEAD_LETTER_EXCHANGE)
    }

    pub fn analytics_queue(&self) -> String {
        self.name(ANALYTICS_QUEUE)
    }

    pub fn collector_jobs_queue(&self) -> String {
        self.name(COLLECTOR_JOBS_QUEUE)
    }

    pub fn dead_letter_queue(&self) -> String {
        self.name(DEAD_LETTER_QUEUE)
    }

    pub fn exchanges(&self) -> Vec<ExchangeSpec> {
        vec![
            ExchangeSpec { name: self.raw_exchange(), kind: ExchangeKind::Topic },
            ExchangeSpec { name: self.jobs_exchange(), kind: ExchangeKind::Topic },
            ExchangeSpec { name: self.dead_letter_exchange(), kind: ExchangeKind::Fanout },
        ]
    }

    pub fn queues(&self) -> Vec<QueueSpec> {
        vec![
            QueueSpec {
                name: self.analytics_queue(),
                bindings: vec![(self.raw_exchange(), "#".into())],
                dead_letters: true,
            },
            QueueSpec {
                name: self.collector_jobs_queue(),
                bindings: vec![(self.jobs_exchange(), "#".into())],
                dead_letters: true,
            },
            QueueSpec {
                name: self.dead_letter_queue(),
                bindings: vec![(self.dead_letter_exchange(), "#".into())],
                dead_letters: false,
            },
        ]
    }
}

/// AMQP topic matching: words split on `.`, `*` matches exactly one word, `#` zero or more.
pub fn topic_matches(pattern: &str, routing_key: &str) -> bool {
    fn matches(pattern: &[&str], key: &[&str]) -> bool {
        match (pattern.first(), key.first()) {
            (None, None) => true,
            (Some(&"#"), _) => matches(&pattern[1..], key) || (!key.is_empty() && matches(pattern, &key[1..])),
            (Some(&"*"), Some(_)) => matches(&pattern[1..], &key[1..]),
            (Some(p), Some(k)) if p == k => matches(&pattern[1..], &key[1..]),
            _ => false,
        }
    }
    let pattern: Vec<&str> = pattern.split('.').collect();
    let key: Vec<&str> = if routing_key.is_empty() { Vec::new() } else { routing_key.split('.').collect() };
    matches(&pattern, &key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_patterns_follow_amqp_rules() {
        assert!(topic_matches("#", "callrecord.v1"));
        assert!(topic_matches("#", ""));
        assert!(topic_matches("licence.#", "licence.users.v1"));
        assert!(topic_matches("licence.#", "licence"));
        assert!(topic_matches("licence.*.v1", "licence.skus.v1"));
        assert!(!topic_matches("licence.*", "licence.skus.v1"));
        assert!(!topic_matches("licence.*.v1", "callrecord.v1"));
        assert!(topic_matches("*.v1", "callrecord.v1"));
        assert!(topic_matches("#.v1", "report.teams_activity.v1"));
        assert!(!topic_matches("#.v2", "report.teams_activity.v1"));
    }

    #[test]
    fn a_prefix_renames_everything() {
        let topology = Topology::new("t123.");
        assert!(topology.exchanges().iter().all(|e| e.name.starts_with("t123.")));
        for queue in topology.queues() {
            assert!(queue.name.starts_with("t123."));
            assert!(queue.bindings.iter().all(|(exchange, _)| exchange.starts_with("t123.")));
        }
    }
}
