//! Prometheus metrics. Each service owns one [`prometheus::Registry`] (never the global one, so tests in one
//! process do not share counters) and serves it at `/metrics`.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// Registers a metric. Each metric is made once per registry and its handle shared: a registry cannot hand back
/// the handle registered first, so a second one would count into nothing.
fn register<M: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: M) -> M {
    match registry.register(Box::new(metric.clone())) {
        Ok(()) => metric,
        Err(error) => {
            tracing::error!(%error, "metric registration failed");
            metric
        }
    }
}

/// A labelled counter. Names and labels are literals of this workspace; an invalid one is a programming error
/// caught by the first test that builds the metrics.
#[expect(clippy::expect_used, reason = "metric definitions are compile-time literals, exercised by every test")]
pub fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(registry, IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter definition"))
}

/// A labelled histogram; see [`counter_vec`].
#[expect(clippy::expect_used, reason = "metric definitions are compile-time literals, exercised by every test")]
pub fn histogram_vec(registry: &Registry, name: &str, help: &str, labels: &[&str], buckets: Vec<f64>) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(buckets);
    register(registry, HistogramVec::new(opts, labels).expect("valid histogram definition"))
}

/// Counters for everything that goes through the broker.
#[derive(Clone)]
pub struct BrokerMetrics {
    pub published: IntCounterVec,
    pub publish_errors: IntCounterVec,
    pub reconnects: IntCounterVec,
    pub handled: IntCounterVec,
    pub dead_lettered: IntCounterVec,
    pub unavailable_retries: IntCounterVec,
    pub handle_seconds: HistogramVec,
}

impl BrokerMetrics {
    pub fn new(registry: &Registry) -> Self {
        Self {
            published: counter_vec(
                registry,
                "sua_broker_published_total",
                "Messages confirmed by the broker.",
                &["exchange"],
            ),
            publish_errors: counter_vec(
                registry,
                "sua_broker_publish_errors_total",
                "Publishes that failed after retries.",
                &["exchange"],
            ),
            reconnects: counter_vec(
                registry,
                "sua_broker_reconnects_total",
                "Broker connections (re)established.",
                &["role"],
            ),
            handled: counter_vec(
                registry,
                "sua_messages_handled_total",
                "Deliveries handled, by outcome (acked, retried, dead_lettered, released).",
                &["queue", "outcome"],
            ),
            dead_lettered: counter_vec(
                registry,
                "sua_messages_dead_lettered_total",
                "Messages sent to the dead-letter queue, by reason (undecodable, rejected, delivery_limit).",
                &["queue", "reason"],
            ),
            unavailable_retries: counter_vec(
                registry,
                "sua_messages_unavailable_retries_total",
                "Handler attempts that found a dependency (database, broker, Graph) unavailable; the delivery was \
                 held and retried in place, without using up its delivery limit.",
                &["queue"],
            ),
            handle_seconds: histogram_vec(
                registry,
                "sua_message_handle_seconds",
                "Time to handle one delivery, commit included.",
                &["queue"],
                vec![0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
            ),
        }
    }
}

/// Renders a registry in the Prometheus text format.
pub fn render(registry: &Registry) -> String {
    use prometheus::Encoder;
    let mut buffer = Vec::new();
    if let Err(error) = prometheus::TextEncoder::new().encode(&registry.gather(), &mut buffer) {
        tracing::error!(%error, "metrics encoding failed");
    }
    String::from_utf8(buffer).unwrap_or_default()
}
