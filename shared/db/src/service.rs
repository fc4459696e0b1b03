//! What every service binary does before its own work: read configuration, start telemetry, and either apply
//! migrations (`migrate`) or connect its dependencies and serve until SIGTERM (`serve`, the default).

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use prometheus::Registry;
use sua_core::Config;
use sua_core::broker::Broker;
use sua_core::metrics::BrokerMetrics;
use sua_core::ops::Ops;
use sua_core::shutdown::CancellationToken;

use crate::Pool;

/// Flags every service binary takes.
#[derive(Debug, clap::Args)]
pub struct ServiceArgs {
    /// Optional TOML configuration file (environment variables still override it).
    #[arg(long, env = "SUA_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<ServiceCommand>,
}

#[derive(Debug, Clone, Copy, clap::Subcommand)]
pub enum ServiceCommand {
    /// Serve until SIGTERM or SIGINT (the default).
    Serve,
    /// Apply pending database migrations and exit (a Kubernetes Job runs this before rollout).
    Migrate,
}

/// The connections a service works with.
#[derive(Clone)]
pub struct Dependencies {
    pub pool: Pool,
    pub broker: Broker,
    pub registry: Registry,
}

impl Dependencies {
    /// Builds the pool (without connecting) and connects the broker (waiting for it within the publish timeout).
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        let registry = Registry::new();
        let pool = Pool::new(&config.database_url, &config.db)?;
        let broker = Broker::connect(&config.amqp_url, &config.amqp, BrokerMetrics::new(&registry)).await?;
        Ok(Self { pool, broker, registry })
    }

    /// `/healthz`, `/readyz` (database and broker) and `/metrics` for `service`.
    pub fn ops(&self, service: &'static str) -> Ops {
        Ops::new(service, self.registry.clone())
            .with_check(Arc::new(self.pool.clone()))
            .with_check(Arc::new(self.broker.clone()))
    }
}

/// Runs a service binary: `migrate`, or `serve` through `serve(config, dependencies, shutdown)`.
pub async fn main<F, Fut>(service: &'static str, args: ServiceArgs, serve: F) -> anyhow::Result<()>
where
    F: FnOnce(Config, Dependencies, CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let config = Config::load(args.config.as_deref())?;
    let _telemetry = sua_core::telemetry::init(service, &config.log, config.otel_endpoint.as_deref())?;
    match args.command.unwrap_or(ServiceCommand::Serve) {
        ServiceCommand::Migrate => migrate_command(&config).await,
        ServiceCommand::Serve => {
            tracing::info!(service, config = %config.redacted(), "starting");
            let shutdown = sua_core::shutdown::on_signals();
            let dependencies = Dependencies::connect(&config).await?;
            let result = serve(config, dependencies.clone(), shutdown).await;
            dependencies.broker.close().await;
            result
        }
    }
}

/// Applies migrations and reports what was applied.
pub async fn migrate_command(config: &Config) -> anyhow::Result<()> {
    let url = config.database_url.clone();
    let report = tokio::task::spawn_blocking(move || crate::migrate(&url)).await??;
    if report.applied.is_empty() {
        tracing::info!("database schema is up to date");
    } else {
        tracing::info!(applied = ?report.applied, "migrations applied");
    }
    Ok(())
}
