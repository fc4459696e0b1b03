//! Prometheus metrics. Each service owns one [`prometheus::Registry`] (never the global one, so tests in one
//! process do not share counters) and serves it at `/metrics`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

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

/// Registers a process-wide metric (one labelled by `service`, which services sharing a process — the demo, the
/// in-process test stack — count into together). Registering it into the same registry again is a no-op.
pub fn register_shared<M: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: &M) {
    match registry.register(Box::new(metric.clone())) {
        Ok(()) | Err(prometheus::Error::AlreadyReg) => {}
        Err(error) => tracing::error!(%error, "metric registration failed"),
    }
}

/// A labelled counter. Names and labels are literals of this workspace; an invalid one is a programming error
/// caught by the first test that builds the metrics.
#[expect(clippy::expect_used, reason = "metric definitions are compile-time literals, exercised by every test")]
pub fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(registry, IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter definition"))
}

/// A labelled counter of fractional amounts (seconds); see [`counter_vec`].
#[expect(clippy::expect_used, reason = "metric definitions are compile-time literals, exercised by every test")]
pub fn float_counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> prometheus::CounterVec {
    register(registry, prometheus::CounterVec::new(Opts::new(name, help), labels).expect("valid counter definition"))
}

/// A labelled gauge; see [`counter_vec`].
#[expect(clippy::expect_used, reason = "metric definitions are compile-time literals, exercised by every test")]
pub fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    register(registry, GaugeVec::new(Opts::new(name, help), labels).expect("valid gauge definition"))
}

/// A labelled integer gauge; see [`counter_vec`].
#[expect(clippy::expect_used, reason = "metric definitions are compile-time literals, exercised by every test")]
pub fn int_gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register(registry, IntGaugeVec::new(Opts::new(name, help), labels).expect("valid gauge definition"))
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
    /// Messages ready in each queue this service watches (see [`crate::broker::watch_queues`]).
    pub queue_ready: IntGaugeVec,
    /// Deliveries this process holds unacknowledged, and since when.
    pub unacked: Unacked,
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
            queue_ready: int_gauge_vec(
                registry,
                "sua_queue_messages_ready",
                "Messages ready for delivery in a queue (not counting unacknowledged ones), sampled periodically.",
                &["queue"],
            ),
            unacked: register(registry, Unacked::new()),
        }
    }
}

/// Deliveries held unacknowledged by this process, per queue: how many, and the age of the oldest (a handler
/// stuck on one message shows here long before the queue grows). Computed when scraped.
#[derive(Clone)]
pub struct Unacked {
    held: Arc<Mutex<HashMap<String, HashMap<u64, Instant>>>>,
    next: Arc<AtomicU64>,
    descs: Vec<Desc>,
}

/// Marks one delivery held; dropping it marks the delivery settled.
pub struct Held {
    unacked: Unacked,
    queue: String,
    id: u64,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = self.unacked.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(queue) = held.get_mut(&self.queue) {
            queue.remove(&self.id);
        }
    }
}

const UNACKED_AGE: &str = "sua_queue_oldest_unacked_age_seconds";
const UNACKED_COUNT: &str = "sua_queue_messages_unacked";

impl Unacked {
    #[expect(clippy::expect_used, reason = "metric definitions are compile-time literals, exercised by every test")]
    fn new() -> Self {
        let desc = |name: &str, help: &str| {
            Desc::new(name.into(), help.into(), vec!["queue".into()], HashMap::new()).expect("valid descriptor")
        };
        Self {
            held: Arc::default(),
            next: Arc::default(),
            descs: vec![
                desc(
                    UNACKED_AGE,
                    "Age of the oldest delivery this process holds unacknowledged, per queue (0 when none).",
                ),
                desc(UNACKED_COUNT, "Deliveries this process holds unacknowledged, per queue."),
            ],
        }
    }

    /// Reports `queue` (as 0) even before its first delivery.
    pub fn watch(&self, queue: &str) {
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        held.entry(queue.to_string()).or_default();
    }

    /// Marks a delivery from `queue` as held until the returned guard is dropped.
    pub fn hold(&self, queue: &str) -> Held {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        held.entry(queue.to_string()).or_default().insert(id, Instant::now());
        Held { unacked: self.clone(), queue: queue.to_string(), id }
    }
}

impl Collector for Unacked {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut ages = Vec::new();
        let mut counts = Vec::new();
        for (queue, deliveries) in held.iter() {
            let oldest = deliveries.values().min().map_or(0.0, |at| at.elapsed().as_secs_f64());
            ages.push((queue.clone(), oldest));
            counts.push((queue.clone(), deliveries.len() as f64));
        }
        drop(held);
        vec![
            gauge_family(
                UNACKED_AGE,
                "Age of the oldest delivery this process holds unacknowledged, per queue (0 when none).",
                &ages,
            ),
            gauge_family(UNACKED_COUNT, "Deliveries this process holds unacknowledged, per queue.", &counts),
        ]
    }
}

/// A gauge family with one `queue`-labelled sample per entry.
fn gauge_family(name: &str, help: &str, samples: &[(String, f64)]) -> MetricFamily {
    use prometheus::proto::{Gauge, LabelPair, Metric, MetricType};
    let mut family = MetricFamily::default();
    family.set_name(name.to_string());
    family.set_help(help.to_string());
    family.set_field_type(MetricType::GAUGE);
    for (queue, value) in samples {
        let mut label = LabelPair::default();
        label.set_name("queue".to_string());
        label.set_value(queue.clone());
        let mut gauge = Gauge::default();
        gauge.set_value(*value);
        let mut metric = Metric::default();
        metric.set_label(vec![label]);
        metric.set_gauge(gauge);
        family.mut_metric().push(metric);
    }
    family
}

/// Metrics every service exports whatever it does: build information and the process's CPU, memory and file
/// descriptors (Linux). Registered once per registry.
#[expect(clippy::expect_used, reason = "metric definitions are compile-time literals, exercised by every test")]
pub fn register_process(registry: &Registry, service: &'static str) {
    static INFO: std::sync::OnceLock<IntGaugeVec> = std::sync::OnceLock::new();
    let info = INFO.get_or_init(|| {
        let opts = Opts::new("sua_build_info", "Always 1: the service and the version of sua it runs.");
        IntGaugeVec::new(opts, &["service", "version"]).expect("valid gauge definition")
    });
    register_shared(registry, info);
    info.with_label_values(&[service, env!("CARGO_PKG_VERSION")]).set(1);
    #[cfg(target_os = "linux")]
    if let Err(error) = registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self())) {
        tracing::debug!(%error, "process metrics already registered");
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
