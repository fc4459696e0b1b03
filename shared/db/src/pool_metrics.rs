//! Connection pool metrics: connections in use, idle and allowed (read from the pool when scraped), and how long
//! callers waited for a connection (every checkout, from r2d2's events).

use std::collections::HashMap;
use std::sync::OnceLock;

use diesel::r2d2::HandleEvent;
use diesel::r2d2::event::{CheckoutEvent, TimeoutEvent};
use prometheus::core::{Collector, Desc};
use prometheus::proto::{Gauge, Metric, MetricFamily, MetricType};
use prometheus::{Histogram, HistogramOpts, IntCounter, Registry};

use crate::Pool;

struct Waits {
    seconds: Histogram,
    timeouts: IntCounter,
}

/// Process-wide: every pool of the process counts its waits here.
#[expect(clippy::expect_used, reason = "metric definitions are compile-time literals, exercised by every test")]
fn waits() -> &'static Waits {
    static WAITS: OnceLock<Waits> = OnceLock::new();
    WAITS.get_or_init(|| Waits {
        seconds: Histogram::with_opts(
            HistogramOpts::new("sua_db_pool_wait_seconds", "Time a caller waited to check a database connection out.")
                .buckets(vec![0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0]),
        )
        .expect("valid histogram definition"),
        timeouts: IntCounter::new(
            "sua_db_pool_timeouts_total",
            "Checkouts that gave up waiting for a database connection.",
        )
        .expect("valid counter definition"),
    })
}

#[derive(Debug)]
pub(crate) struct Events;

impl HandleEvent for Events {
    fn handle_checkout(&self, event: CheckoutEvent) {
        waits().seconds.observe(event.duration().as_secs_f64());
    }

    fn handle_timeout(&self, event: TimeoutEvent) {
        waits().seconds.observe(event.timeout().as_secs_f64());
        waits().timeouts.inc();
    }
}

const GAUGES: [(&str, &str); 3] = [
    ("sua_db_pool_connections_in_use", "Database connections checked out of the pool."),
    ("sua_db_pool_connections_idle", "Open database connections waiting in the pool."),
    ("sua_db_pool_connections_max", "Most database connections the pool opens."),
];

struct PoolGauges {
    pool: Pool,
    descs: Vec<Desc>,
}

impl Collector for PoolGauges {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let (open, idle, max) = self.pool.state();
        let values = [open.saturating_sub(idle), idle, max];
        GAUGES
            .iter()
            .zip(values)
            .map(|((name, help), value)| {
                let mut gauge = Gauge::default();
                gauge.set_value(f64::from(value));
                let mut metric = Metric::default();
                metric.set_gauge(gauge);
                let mut family = MetricFamily::default();
                family.set_name((*name).to_string());
                family.set_help((*help).to_string());
                family.set_field_type(MetricType::GAUGE);
                family.mut_metric().push(metric);
                family
            })
            .collect()
    }
}

pub(crate) fn register(pool: Pool, registry: &Registry) {
    let descs = GAUGES
        .iter()
        .filter_map(|(name, help)| Desc::new((*name).into(), (*help).into(), Vec::new(), HashMap::new()).ok())
        .collect();
    if let Err(error) = registry.register(Box::new(PoolGauges { pool, descs })) {
        tracing::debug!(%error, "pool metrics already registered");
    }
    sua_core::metrics::register_shared(registry, &waits().seconds);
    sua_core::metrics::register_shared(registry, &waits().timeouts);
}
