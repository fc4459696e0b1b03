//! What every service binary does before its own work: read configuration, start telemetry, and either apply
//! migrations (`migrate`) or connect its dependencies and serve until SIGTERM (`serve`, the default).

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
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

/// What a service needs to serve: readiness checks exactly that, and nothing else is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Serves from the database alone (portal-api): a broker outage must not take it out of rotation.
    Database,
    /// Publishes or consumes messages too (collector, analytics).
    DatabaseAndBroker,
}

impl Dependencies {
    /// Builds the pool and the broker handle without waiting for either: both connect in the background, so the
    /// service's HTTP port (health and readiness with each dependency's own error) opens at once.
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        Self::connect_for(config, Needs::DatabaseAndBroker).await
    }

    /// As [`Dependencies::connect`]; a service that needs only the database gets an in-process broker nothing
    /// publishes to, and never connects to RabbitMQ.
    pub async fn connect_for(config: &Config, needs: Needs) -> anyhow::Result<Self> {
        let registry = Registry::new();
        let pool = Pool::new(&config.database_url, &config.db)?;
        pool.register_metrics(&registry);
        let url = match needs {
            Needs::Database => secrecy::SecretString::from("memory://"),
            Needs::DatabaseAndBroker => config.amqp_url.clone(),
        };
        let broker = Broker::connect(&url, &config.amqp, BrokerMetrics::new(&registry)).await?;
        Ok(Self { pool, broker, registry })
    }

    /// `/healthz`, `/readyz` (database and broker) and `/metrics` for a service that publishes or consumes.
    pub fn ops(&self, service: &'static str) -> Ops {
        self.database_ops(service).with_check(Arc::new(self.broker.clone()))
    }

    /// `/healthz`, `/readyz` (the database) and `/metrics` for a service that serves from the database alone.
    pub fn database_ops(&self, service: &'static str) -> Ops {
        Ops::new(service, self.registry.clone()).with_check(Arc::new(self.pool.clone()))
    }
}

/// A service binary's whole `main`: parses [`ServiceArgs`] under the binary's name, runs [`main`], and turns its
/// result into the exit code (the error, with its causes, on stderr).
pub async fn run_binary<F, Fut>(binary: &'static str, service: &'static str, needs: Needs, serve: F) -> ExitCode
where
    F: FnOnce(Config, Dependencies, CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: ServiceArgs,
    }
    let command = <Cli as clap::CommandFactory>::command()
        .name(binary)
        .about(format!("sua {service} service"))
        .version(env!("CARGO_PKG_VERSION"));
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    match main(service, needs, cli.args, serve).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{binary}: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a service binary: `migrate`, or `serve` through `serve(config, dependencies, shutdown)`.
pub async fn main<F, Fut>(service: &'static str, needs: Needs, args: ServiceArgs, serve: F) -> anyhow::Result<()>
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
            let dependencies = Dependencies::connect_for(&config, needs).await?;
            let grace = std::time::Duration::from_secs(config.shutdown_grace_secs);
            let result = serve(config, dependencies.clone(), shutdown).await;
            if tokio::time::timeout(grace, dependencies.broker.close()).await.is_err() {
                tracing::warn!(service, "the broker connection did not close in time; exiting anyway");
            }
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
