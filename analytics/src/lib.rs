//! analytics: consumes raw records from the broker, normalises them into PostgreSQL (idempotently, acking only
//! after commit), and computes rollups and licence findings.

pub mod findings;
pub mod handlers;
pub mod history;
pub mod normalise;
pub use sua_domain::prices;
pub mod recompute;
pub mod retention;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer};
use sua_core::Config;
use sua_core::broker::{ConsumerOptions, run_consumer};
use sua_core::service::Running;
use sua_db::service::Dependencies;

pub const SERVICE: &str = "analytics";
pub const DEFAULT_PORT: u16 = 8082;

/// Binds analytics' HTTP server (operational endpoints) and starts its consumer.
pub async fn build(config: &Config, deps: Dependencies) -> anyhow::Result<Running> {
    let listener =
        sua_core::service::bind(config.listen.unwrap_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, DEFAULT_PORT))))?;
    let port = listener.local_addr()?.port();
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let ops = deps.ops(SERVICE);
    let telemetry = sua_core::requests::RequestTelemetry::new(SERVICE, &deps.registry);
    let server = HttpServer::new(move || App::new().wrap(telemetry.clone()).configure(ops.clone().configure()))
        .disable_signals()
        .shutdown_timeout(grace.as_secs())
        .listen(listener)?
        .run();
    let mut running = Running::new(SERVICE, server, port, grace);
    let handler = Arc::new(handlers::RawRecordHandler::new(
        deps.pool.clone(),
        &deps.registry,
        config.analytics.writers,
        config.analytics.write_batch_max,
    ));
    let mut options = ConsumerOptions::new(deps.broker.topology().analytics_queue(), &config.amqp, grace);
    options.prefetch = config.analytics.prefetch;
    let stop = running.stop_token();
    let broker = deps.broker.clone();
    running.spawn("consumer", async move { Ok(run_consumer(broker, options, handler, stop).await?) });
    let watched = vec![deps.broker.topology().analytics_queue()];
    running.spawn(
        "queue depth",
        sua_core::broker::watch_queues(deps.broker.clone(), watched, Duration::from_secs(30), running.stop_token()),
    );
    if config.analytics.recompute {
        let metrics = recompute::Metrics::new(&deps.registry);
        let interval = Duration::from_millis(config.analytics.recompute_interval_ms.max(10));
        let (pool, stop) = (deps.pool.clone(), running.stop_token());
        let rank_every = chrono::Duration::seconds(i64::try_from(config.analytics.quality_rank_interval_secs)?);
        running.spawn("recompute", recompute::run(pool, interval, rank_every, metrics, stop));
        let (pool, stop) = (deps.pool.clone(), running.stop_token());
        running.spawn("retention", retention::run(pool, config.analytics.retention_days, stop));
    }
    Ok(running)
}
