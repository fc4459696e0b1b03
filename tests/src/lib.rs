//! Test harness for sua's end-to-end suite: a fresh database per test (see `sua_db::testing`), a fresh broker
//! namespace per test (a unique name prefix on RabbitMQ, or a new in-process broker), polling with deadlines,
//! and helpers to run the real service binaries.

pub mod binaries;
pub mod clock;
pub mod expected;
pub mod graph;
pub mod otlp;
pub mod portal;
pub mod proxy;
pub mod smtp;
pub mod sql;
pub mod stack;

use std::future::Future;
use std::time::Duration;

use prometheus::Registry;
use secrecy::SecretString;
use sua_core::broker::Broker;
use sua_core::config::AmqpConfig;
use sua_core::metrics::BrokerMetrics;

pub use sua_db::testing::TestDatabase;

/// Which broker a test runs against; contract tests run once per variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerUnderTest {
    RabbitMq,
    InProcess,
}

/// The RabbitMQ URL tests use (`TEST_SUA_AMQP_URL`, default the local broker).
pub fn rabbitmq_url() -> String {
    std::env::var("TEST_SUA_AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_string())
}

/// A broker namespace of its own: on RabbitMQ every name carries a unique prefix and unused queues expire.
pub struct TestBroker {
    pub broker: Broker,
    pub settings: AmqpConfig,
    pub url: SecretString,
    pub registry: Registry,
}

impl TestBroker {
    pub async fn new(kind: BrokerUnderTest) -> Self {
        Self::with_settings(kind, |_| {}).await
    }

    /// Like [`TestBroker::new`], after `adjust` tuned the settings (delivery limit, timeouts, …).
    pub async fn with_settings(kind: BrokerUnderTest, adjust: impl FnOnce(&mut AmqpConfig)) -> Self {
        let mut settings = AmqpConfig {
            prefix: format!("t{}.", &uuid::Uuid::new_v4().simple().to_string()[..12]),
            queue_expires_ms: Some(10 * 60 * 1000),
            publish_timeout_secs: 20,
            reconnect_max_backoff_ms: 500,
            ..AmqpConfig::default()
        };
        adjust(&mut settings);
        let url = SecretString::from(match kind {
            BrokerUnderTest::RabbitMq => rabbitmq_url(),
            BrokerUnderTest::InProcess => "memory://".to_string(),
        });
        let registry = Registry::new();
        let broker = match Broker::connect(&url, &settings, BrokerMetrics::new(&registry)).await {
            Ok(broker) => broker,
            Err(error) => {
                panic!("test broker unavailable ({error}); start RabbitMQ (scripts/services)")
            }
        };
        // The broker connects in the background: make sure it did before the test relies on it.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        while let Err(error) = broker.check().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "test broker unavailable ({error}); start RabbitMQ (scripts/services)"
            );
        }
        Self { broker, settings, url, registry }
    }

    /// Current value of a counter in this broker's registry (0 when never incremented).
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        counter_value(&self.registry, name, labels)
    }

    /// Deletes this test's queues and exchanges.
    pub async fn cleanup(self) {
        let _ = self.broker.delete_topology().await;
        self.broker.close().await;
    }
}

/// Reads a counter (or the sum over a counter vector's matching children) from a registry.
pub fn counter_value(registry: &Registry, name: &str, labels: &[(&str, &str)]) -> u64 {
    let mut total = 0.0;
    for family in registry.gather() {
        if family.name() != name {
            continue;
        }
        for metric in family.get_metric() {
            let matches =
                labels.iter().all(|(k, v)| metric.get_label().iter().any(|l| l.name() == *k && l.value() == *v));
            if matches {
                total += metric.get_counter().get_value();
            }
        }
    }
    total as u64
}

/// Polls `condition` every 20 ms until it holds, failing the test with `what` after `timeout`.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition().await {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `observe` every 100 ms until it reports `Ok`, failing the test with `what` and the last `Err` it
/// reported (what was still missing) after `timeout`.
pub async fn settles<F, Fut>(what: &str, timeout: Duration, mut observe: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let missing = match observe().await {
            Ok(()) => return,
            Err(missing) => missing,
        };
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}; still: {missing}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Awaits `future`, failing the test with `what` after `timeout`.
pub async fn within<T>(what: &str, timeout: Duration, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(timeout, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {timeout:?}: {what}"),
    }
}

/// Installs telemetry once per test process so spans carry trace ids.
pub fn init_telemetry() {
    let log = sua_core::config::LogConfig { filter: "warn".into(), ..Default::default() };
    if let Ok(guard) = sua_core::telemetry::init("sua-tests", &log, None) {
        // Keep the tracer provider alive for the whole test process.
        std::mem::forget(guard);
    }
}

/// The first place two JSON values differ (`None` when equal), for readable assertion messages.
pub fn json_difference(expected: &serde_json::Value, actual: &serde_json::Value) -> Option<String> {
    fn walk(path: &str, a: &serde_json::Value, b: &serde_json::Value) -> Option<String> {
        use serde_json::Value;
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                for key in x.keys().chain(y.keys()) {
                    match (x.get(key), y.get(key)) {
                        (Some(p), Some(q)) => {
                            if let Some(d) = walk(&format!("{path}.{key}"), p, q) {
                                return Some(d);
                            }
                        }
                        (p, q) => return Some(format!("{path}.{key}: expected {p:?}, got {q:?}")),
                    }
                }
                None
            }
            (Value::Array(x), Value::Array(y)) => {
                if x.len() != y.len() {
                    return Some(format!("{path}: expected {} elements, got {}", x.len(), y.len()));
                }
                x.iter().zip(y).enumerate().find_map(|(i, (p, q))| walk(&format!("{path}[{i}]"), p, q))
            }
            _ if a == b => None,
            _ => Some(format!("{path}: expected {a}, got {b}")),
        }
    }
    walk("$", expected, actual)
}
