//! `sua`: the one command a new user runs. `sua demo` runs the embedded all-in-one product; the other
//! subcommands run one service each (as the Kubernetes Deployments do) or operate on the database.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use secrecy::SecretString;
use sua_core::Config;
use sua_db::service::{Dependencies, ServiceArgs};

#[derive(Parser)]
#[command(name = "sua", version, about = "Microsoft Teams call usage and Microsoft 365 licence analytics")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run everything in one process: collector, analytics and portal-api on SQLite and an in-process queue.
    Demo {
        /// Where the demo keeps its SQLite database.
        #[arg(long, default_value = "./sua-demo")]
        data_dir: PathBuf,
        /// portal-api listens here; the collector on the next port, analytics on the one after.
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Optional TOML configuration file.
        #[arg(long, env = "SUA_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Apply pending database migrations to SUA_DATABASE_URL and exit.
    Migrate {
        #[arg(long, env = "SUA_CONFIG")]
        config: Option<PathBuf>,
    },
    /// The collector service (admin consent, Graph webhooks, collection jobs).
    Collector(ServiceArgs),
    /// The analytics service (normalisation, rollups, findings).
    Analytics(ServiceArgs),
    /// The portal REST API.
    #[command(name = "portal-api")]
    PortalApi(ServiceArgs),
    /// Run the Microsoft Graph and Entra ID simulator (for tests, benchmarks and demos).
    #[command(name = "graph-sim")]
    GraphSim(GraphSimArgs),
}

#[derive(clap::Args)]
struct GraphSimArgs {
    /// Graph over plain HTTP listens here.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: std::net::SocketAddr,
    /// Entra ID (and Graph) over HTTPS listens here.
    #[arg(long, default_value = "127.0.0.1:8091")]
    tls_listen: std::net::SocketAddr,
    /// Seed of the tenant generator: the same seed gives the same tenants.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Users per tenant.
    #[arg(long, default_value_t = 200)]
    users: u32,
    /// Days of call history.
    #[arg(long, default_value_t = 14)]
    days: u32,
    /// Number of tenants.
    #[arg(long, default_value_t = 1)]
    tenants: u32,
    /// Call slots per user per weekday.
    #[arg(long, default_value_t = 0.5)]
    calls_per_user: f64,
    /// Tenants without Entra ID P1 (by position, 0-based; repeatable).
    #[arg(long = "no-p1")]
    no_p1: Vec<u32>,
    /// Show real user names in usage reports (Microsoft conceals them by default).
    #[arg(long)]
    reveal_names: bool,
    /// Every tenant has already granted every permission.
    #[arg(long)]
    consent_all: bool,
    /// Where to write the generated CA certificate.
    #[arg(long, default_value = "./graph-sim-ca.pem")]
    ca_file: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo { data_dir, port, config } => demo(data_dir, port, config).await,
        Command::Migrate { config } => migrate(config).await,
        Command::Collector(args) => {
            sua_db::service::main(sua_collector::SERVICE, args, |config, deps, shutdown| async move {
                sua_collector::build(&config, deps).await?.run_until_stopped(shutdown).await
            })
            .await
        }
        Command::Analytics(args) => {
            sua_db::service::main(sua_analytics::SERVICE, args, |config, deps, shutdown| async move {
                sua_analytics::build(&config, deps).await?.run_until_stopped(shutdown).await
            })
            .await
        }
        Command::PortalApi(args) => {
            sua_db::service::main(sua_portal_api::SERVICE, args, |config, deps, shutdown| async move {
                sua_portal_api::build(&config, deps).await?.run_until_stopped(shutdown).await
            })
            .await
        }
        Command::GraphSim(args) => graph_sim(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sua: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(config: Option<PathBuf>) -> anyhow::Result<()> {
    let config = Config::load(config.as_deref())?;
    let _telemetry = sua_core::telemetry::init("sua-migrate", &config.log, config.otel_endpoint.as_deref())?;
    sua_db::service::migrate_command(&config).await
}

async fn graph_sim(args: GraphSimArgs) -> anyhow::Result<()> {
    use sua_graph_sim::{GraphSim, SimConfig, TenantSpec};
    anyhow::ensure!((1..=200).contains(&args.tenants), "--tenants must be between 1 and 200");
    let tenants = (0..args.tenants)
        .map(|i| TenantSpec {
            users: args.users,
            entra_p1: !args.no_p1.contains(&i),
            concealed_names: !args.reveal_names,
        })
        .collect();
    let config = SimConfig {
        seed: args.seed,
        tenants,
        days: args.days,
        calls_per_user: args.calls_per_user,
        consent_all: args.consent_all,
        ca_file: Some(args.ca_file.clone()),
        ..SimConfig::default()
    };
    let client_id = config.client_id.clone();
    let client_secret = config.client_secret.clone();
    let sim = GraphSim::start_on(config, args.listen, args.tls_listen).await?;
    println!("graph-sim is running (Ctrl-C to stop)");
    println!("  graph url     {}", sim.graph_url);
    println!("  login url     {}", sim.login_url);
    println!("  ca file       {}", sim.ca_file.display());
    println!("  client id     {client_id}");
    println!("  client secret {client_secret}");
    for tenant in &sim.sim.tenants {
        println!(
            "  tenant        {}  {} ({} users{})",
            tenant.id,
            tenant.display_name,
            tenant.spec.users,
            if tenant.spec.entra_p1 { "" } else { ", no Entra ID P1" }
        );
    }
    tokio::signal::ctrl_c().await?;
    sim.stop().await;
    Ok(())
}

/// The embedded all-in-one mode: SQLite in `data_dir`, the in-process broker, and all three services.
async fn demo(data_dir: PathBuf, port: u16, config: Option<PathBuf>) -> anyhow::Result<()> {
    let mut config = Config::load(config.as_deref())?;
    let _telemetry = sua_core::telemetry::init("sua-demo", &config.log, config.otel_endpoint.as_deref())?;
    std::fs::create_dir_all(&data_dir)?;
    config.database_url = SecretString::from(format!("sqlite://{}", data_dir.join("sua.db").display()));
    config.amqp_url = SecretString::from("memory://");
    // The embedded mode owns its private SQLite file, so it migrates it itself; the services never do.
    sua_db::service::migrate_command(&config).await?;
    let deps = Dependencies::connect(&config).await?;
    let shutdown = sua_core::shutdown::on_signals();

    let at = |offset: u16| Some(SocketAddr::from((Ipv4Addr::LOCALHOST, port + offset)));
    let portal = sua_portal_api::build(&Config { listen: at(0), ..config.clone() }, deps.clone()).await?;
    let collector = sua_collector::build(&Config { listen: at(1), ..config.clone() }, deps.clone()).await?;
    let analytics = sua_analytics::build(&Config { listen: at(2), ..config.clone() }, deps.clone()).await?;
    println!("sua demo is running (Ctrl-C to stop)");
    println!("  portal-api  http://127.0.0.1:{}/healthz", portal.port());
    println!("  collector   http://127.0.0.1:{}/healthz", collector.port());
    println!("  analytics   http://127.0.0.1:{}/metrics", analytics.port());
    println!("  data        {}", data_dir.display());
    let (a, b, c) = tokio::join!(
        portal.run_until_stopped(shutdown.clone()),
        collector.run_until_stopped(shutdown.clone()),
        analytics.run_until_stopped(shutdown.clone()),
    );
    deps.broker.close().await;
    a.and(b).and(c)
}
