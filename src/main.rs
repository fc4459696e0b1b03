//! `sua`: the one command a new user runs. `sua demo` runs the embedded all-in-one product; the other
//! subcommands run one service each (as the Kubernetes Deployments do) or operate on the database.

mod config_keys;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use secrecy::SecretString;
use sua_core::Config;
use sua_db::service::{Dependencies, Needs, ServiceArgs};

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
        /// Simulated customer tenants (the first is the one the printed admin token is for).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=5))]
        customers: u32,
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
    /// Create a consent invitation for a customer and print its link (e-mailed too when SMTP is configured).
    Invite {
        /// The customer's name, as the operator knows it.
        #[arg(long)]
        customer: String,
        /// The customer admin who will grant consent.
        #[arg(long)]
        email: String,
        #[arg(long, env = "SUA_CONFIG")]
        config: Option<PathBuf>,
    },
    /// List customer tenants: consent, missing permissions, prerequisites, last sync and its outcome.
    Tenants {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[arg(long, env = "SUA_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Queue today's licence sync for every consented tenant whose sync is due (what the daily CronJob runs).
    Sync {
        /// Only these tenants (repeatable).
        #[arg(long = "tenant")]
        tenants: Vec<String>,
        /// Run again even when today's sync already completed.
        #[arg(long)]
        force: bool,
        #[arg(long, env = "SUA_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Backfill a tenant's call records of the last N days (at most 30): list them and queue a fetch for each
    /// record not collected yet; collector workers fetch them. Shows progress until they are fetched.
    Backfill {
        #[arg(long)]
        tenant: String,
        #[arg(long, default_value_t = 30)]
        days: i64,
        /// Stop waiting for the fetches after this many seconds.
        #[arg(long, default_value_t = 900)]
        wait_secs: u64,
        #[arg(long, env = "SUA_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Messages dead-lettered because they failed on their own merits: list them, or replay them to where they
    /// were first published once the cause is fixed.
    #[command(name = "dead-letters", subcommand)]
    DeadLetters(DeadLetterCommand),
    /// Run the Microsoft Graph and Entra ID simulator (for tests, benchmarks and demos).
    #[command(name = "graph-sim")]
    GraphSim(GraphSimArgs),
    /// List every environment variable sua reads, with its setting (deployment manifests are checked against it).
    #[command(name = "config-keys")]
    ConfigKeys,
}

#[derive(Subcommand)]
enum DeadLetterCommand {
    /// List dead letters, oldest first (they stay in the dead-letter queue).
    List {
        /// At most this many.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[arg(long, env = "SUA_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Publish dead letters again to the exchange they were first published to, then remove them.
    Replay {
        /// Only the message with this id (repeatable).
        #[arg(long = "id")]
        ids: Vec<String>,
        /// Only this tenant's messages.
        #[arg(long)]
        tenant: Option<String>,
        /// Every dead letter (required when neither --id nor --tenant is given).
        #[arg(long)]
        all: bool,
        /// Look at most at this many.
        #[arg(long, default_value_t = 10_000)]
        limit: usize,
        #[arg(long, env = "SUA_CONFIG")]
        config: Option<PathBuf>,
    },
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
    /// Enforce Microsoft's documented request budgets (429 with Retry-After), e.g. 10 signInActivity requests a
    /// minute per app across all tenants.
    #[arg(long)]
    throttles: bool,
    /// Where to write the generated CA certificate.
    #[arg(long, default_value = "./graph-sim-ca.pem")]
    ca_file: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo { data_dir, port, config, customers } => demo(data_dir, port, config, customers).await,
        Command::Migrate { config } => migrate(config).await,
        Command::Collector(args) => {
            sua_db::service::main(
                sua_collector::SERVICE,
                Needs::DatabaseAndBroker,
                args,
                |config, deps, shutdown| async move {
                    sua_collector::build(&config, deps).await?.run_until_stopped(shutdown).await
                },
            )
            .await
        }
        Command::Analytics(args) => {
            sua_db::service::main(
                sua_analytics::SERVICE,
                Needs::DatabaseAndBroker,
                args,
                |config, deps, shutdown| async move {
                    sua_analytics::build(&config, deps).await?.run_until_stopped(shutdown).await
                },
            )
            .await
        }
        Command::PortalApi(args) => {
            sua_db::service::main(sua_portal_api::SERVICE, Needs::Database, args, |config, deps, shutdown| async move {
                sua_portal_api::build(&config, deps).await?.run_until_stopped(shutdown).await
            })
            .await
        }
        Command::GraphSim(args) => graph_sim(args).await,
        Command::DeadLetters(command) => dead_letters(command).await,
        Command::ConfigKeys => {
            config_keys();
            Ok(())
        }
        Command::Invite { customer, email, config } => invite(config, &customer, &email).await,
        Command::Tenants { json, config } => tenants(config, json).await,
        Command::Sync { tenants, force, config } => sync(config, tenants, force).await,
        Command::Backfill { tenant, days, wait_secs, config } => backfill(config, &tenant, days, wait_secs).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sua: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// One line per variable: the name, then the setting it sets (or where else it is read).
fn config_keys() {
    for key in config_keys::settings() {
        println!("{}\t{}", key.env, key.key);
    }
    for env in config_keys::command_line_env(&Cli::command()) {
        println!("{env}\t(command line)");
    }
    println!("{}\t(OpenTelemetry)", config_keys::OTEL_ENDPOINT_ENV);
}

async fn migrate(config: Option<PathBuf>) -> anyhow::Result<()> {
    let config = Config::load(config.as_deref())?;
    let _telemetry = sua_core::telemetry::init("sua-migrate", &config.log, config.otel_endpoint.as_deref())?;
    sua_db::service::migrate_command(&config).await
}

async fn load(config: Option<PathBuf>, name: &str) -> anyhow::Result<(Config, sua_core::telemetry::TelemetryGuard)> {
    let config = Config::load(config.as_deref())?;
    let telemetry = sua_core::telemetry::init(name, &config.log, config.otel_endpoint.as_deref())?;
    Ok((config, telemetry))
}

async fn invite(config: Option<PathBuf>, customer: &str, email: &str) -> anyhow::Result<()> {
    let (config, _telemetry) = load(config, "sua-invite").await?;
    let deps = Dependencies::connect(&config).await?;
    let collector = sua_collector::Collector::new(&config, &deps)?;
    let invitation = collector.onboarding.invite(customer, email, "cli").await?;
    println!("invitation {} for {} <{}>", invitation.id, invitation.customer_name, invitation.admin_email);
    println!("valid until {}", invitation.expires_at.format("%Y-%m-%d %H:%M UTC"));
    match (invitation.emailed, &invitation.email_error) {
        (true, _) => println!("e-mailed to {}", invitation.admin_email),
        (false, Some(error)) => println!("e-mail failed: {error}"),
        (false, None) => println!("not e-mailed (no SMTP configured); send this link:"),
    }
    println!("{}", invitation.consent_url);
    deps.broker.close().await;
    Ok(())
}

async fn tenants(config: Option<PathBuf>, json: bool) -> anyhow::Result<()> {
    let (config, _telemetry) = load(config, "sua-tenants").await?;
    let pool = sua_db::Pool::new(&config.database_url, &config.db)?;
    let list = sua_domain::tenants::list(&pool).await?;
    let dead = dead_letters_by_tenant(&config).await;
    let dead_for = |tenant: &str| match &dead {
        Ok(counts) => serde_json::json!(counts.get(tenant).copied().unwrap_or(0)),
        Err(_) => serde_json::Value::Null,
    };
    if json {
        let mut rows = Vec::new();
        for t in &list {
            let mut row = serde_json::to_value(t)?;
            if let Some(object) = row.as_object_mut() {
                object.insert("dead_letters".into(), dead_for(&t.tenant_id));
            }
            rows.push(row);
        }
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<38} {:<28} {:<9} {:<8} {:<44} LAST SYNC",
        "TENANT", "NAME", "CONSENT", "ENTRA P1", "MISSING PERMISSIONS"
    );
    for t in &list {
        let p1 = match t.entra_id_p1 {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "?",
        };
        let missing = if t.missing_permissions.is_empty() { "-".to_string() } else { t.missing_permissions.join(",") };
        let dead_letters = match dead_for(&t.tenant_id) {
            serde_json::Value::Number(n) if n.as_u64() != Some(0) => format!(", {n} dead letter(s)"),
            _ => String::new(),
        };
        let feed = format!(
            "feed {}{}{dead_letters}",
            t.feed_state,
            t.feed_error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default()
        );
        let sync = match &t.last_sync {
            Some(run) => format!(
                "{} {} (attempt {}){}",
                run.day,
                run.status,
                run.attempt,
                run.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
            ),
            None => "never".into(),
        };
        let name: String = t.display_name.chars().take(27).collect();
        println!(
            "{:<38} {:<28} {:<9} {:<8} {:<44} {}; {}",
            t.tenant_id, name, t.consent_state, p1, missing, sync, feed
        );
    }
    if list.is_empty() {
        println!("(no tenants yet: create an invitation with `sua invite`)");
    }
    match &dead {
        Ok(counts) if counts.values().sum::<usize>() > 0 => {
            println!("{} dead letter(s): see `sua dead-letters list`", counts.values().sum::<usize>());
        }
        Ok(_) => {}
        Err(error) => println!("(dead letters not counted: {error})"),
    }
    Ok(())
}

/// The broker alone (the dead-letter commands need no database).
async fn broker(config: &Config) -> anyhow::Result<sua_core::broker::Broker> {
    let metrics = sua_core::metrics::BrokerMetrics::new(&prometheus::Registry::new());
    Ok(sua_core::broker::Broker::connect(&config.amqp_url, &config.amqp, metrics).await?)
}

/// Dead letters per tenant, or why they could not be counted.
async fn dead_letters_by_tenant(config: &Config) -> Result<std::collections::BTreeMap<String, usize>, String> {
    let broker = broker(config).await.map_err(|e| format!("{e:#}"))?;
    let letters = broker.dead_letters(100_000).await.map_err(|e| e.to_string());
    broker.close().await;
    let mut counts = std::collections::BTreeMap::new();
    for letter in letters? {
        *counts.entry(letter.tenant_id.unwrap_or_default()).or_insert(0) += 1;
    }
    Ok(counts)
}

async fn dead_letters(command: DeadLetterCommand) -> anyhow::Result<()> {
    match command {
        DeadLetterCommand::List { limit, json, config } => {
            let (config, _telemetry) = load(config, "sua-dead-letters").await?;
            let broker = broker(&config).await?;
            let letters = broker.dead_letters(limit).await;
            broker.close().await;
            let letters = letters?;
            if json {
                println!("{}", serde_json::to_string_pretty(&letters)?);
                return Ok(());
            }
            println!(
                "{:<38} {:<26} {:<38} {:<22} {:<10} BYTES",
                "MESSAGE ID", "KIND", "TENANT", "FROM QUEUE", "REASON"
            );
            for l in &letters {
                let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
                println!(
                    "{:<38} {:<26} {:<38} {:<22} {:<10} {}",
                    l.message_id,
                    l.kind,
                    or_dash(&l.tenant_id),
                    or_dash(&l.queue),
                    or_dash(&l.reason),
                    l.bytes
                );
            }
            println!(
                "{} dead letter(s){}",
                letters.len(),
                if letters.len() == limit { " (--limit reached)" } else { "" }
            );
            Ok(())
        }
        DeadLetterCommand::Replay { ids, tenant, all, limit, config } => {
            anyhow::ensure!(
                all || !ids.is_empty() || tenant.is_some(),
                "say which dead letters to replay: --id, --tenant or --all"
            );
            let (config, _telemetry) = load(config, "sua-dead-letters").await?;
            let broker = broker(&config).await?;
            let report = broker
                .replay_dead_letters(limit, |letter| {
                    (ids.is_empty() || ids.contains(&letter.message_id))
                        && tenant.as_ref().is_none_or(|t| letter.tenant_id.as_ref() == Some(t))
                })
                .await;
            broker.close().await;
            let report = report?;
            for letter in &report.replayed {
                println!(
                    "replayed {} ({}) to {}",
                    letter.message_id,
                    letter.kind,
                    letter.exchange.as_deref().unwrap_or("")
                );
            }
            for letter in &report.unroutable {
                println!("kept {} ({}): it names no exchange to return to", letter.message_id, letter.kind);
            }
            for id in ids.iter().filter(|id| !report.replayed.iter().any(|l| &l.message_id == *id)) {
                println!("{id}: not replayed (not in the first {limit} dead letters?)");
            }
            println!("{} dead letter(s) replayed", report.replayed.len());
            Ok(())
        }
    }
}

async fn sync(config: Option<PathBuf>, only: Vec<String>, force: bool) -> anyhow::Result<()> {
    let (config, _telemetry) = load(config, "sua-sync").await?;
    let deps = Dependencies::connect(&config).await?;
    let stale = chrono::Duration::seconds(i64::try_from(config.sync.stale_after_secs).unwrap_or(600));
    use sua_collector::scheduler::Decision;
    let decided =
        sua_collector::scheduler::queue_syncs(&deps.pool, &deps.broker, &only, force, stale, "manual").await?;
    let queued = decided.iter().filter(|(_, d)| *d == Decision::Queued).count();
    println!("licence sync queued for {queued} of {} tenant(s)", decided.len());
    for (tenant, decision) in &decided {
        match decision {
            Decision::Queued => println!("  {tenant}  queued"),
            Decision::AlreadyCompleted(at) => {
                println!("  {tenant}  already ran today (completed {} UTC; --force runs it again)", at.format("%H:%M"))
            }
            Decision::Running(since) => println!("  {tenant}  running now (since {} UTC)", since.format("%H:%M")),
        }
    }
    for missing in only.iter().filter(|id| !decided.iter().any(|(t, _)| t == *id)) {
        println!("  {missing}  not a consented tenant (see sua tenants)");
    }
    if decided.is_empty() && only.is_empty() {
        println!("  no tenant has consented yet (sua invite makes a consent link)");
    }
    deps.broker.close().await;
    Ok(())
}

async fn backfill(config: Option<PathBuf>, tenant: &str, days: i64, wait_secs: u64) -> anyhow::Result<()> {
    use std::io::Write;
    anyhow::ensure!((1..=30).contains(&days), "--days must be between 1 and 30 (Graph keeps call records 30 days)");
    let (config, _telemetry) = load(config, "sua-backfill").await?;
    let deps = Dependencies::connect(&config).await?;
    let collector = sua_collector::Collector::new(&config, &deps)?;
    let now = sua_core::clock::now();
    let id = collector.backfills.create(tenant, now - chrono::Duration::days(days), now, "manual").await?;
    println!("backfill {id}: listing call records of the last {days} days");
    let started = sua_db::now();
    collector
        .backfills
        .run_here(&id, |listed, queued| {
            print!("\r  listed {listed:>8}   to fetch {queued:>8}");
            let _ = std::io::stdout().flush();
        })
        .await?;
    let row = deps.pool.run(move |conn| sua_db::models::BackfillRow::find(conn, &id)).await?;
    let queued = i64::from(row.map_or(0, |r| r.queued));
    println!();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(wait_secs);
    loop {
        let lookup = tenant.to_string();
        let fetched =
            deps.pool.run(move |conn| sua_db::models::CallRecordFetchRow::count_since(conn, &lookup, started)).await?;
        let done = fetched.min(queued);
        let width = 30usize;
        let filled = if queued == 0 { width } else { (done as usize * width) / queued as usize };
        print!("\r  fetched [{}{}] {done}/{queued}", "#".repeat(filled), " ".repeat(width - filled));
        let _ = std::io::stdout().flush();
        if done >= queued {
            println!("\nbackfill complete");
            break;
        }
        if std::time::Instant::now() >= deadline {
            println!("\nstill fetching after {wait_secs}s; collector workers continue (is a collector running?)");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    deps.broker.close().await;
    Ok(())
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
        throttles: args.throttles,
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

/// The demo's portal app (token audience) and the managed-service provider's own tenant.
const DEMO_AUDIENCE: &str = "api://sua-demo-portal";
const DEMO_OPERATOR_TENANT: &str = "0d0d0d0d-0000-4000-8000-00000000000d";

/// The embedded all-in-one mode: SQLite in `data_dir`, the in-process broker, all three services, and the Graph
/// simulator with demo customers that consent on first start; prints the portal's URLs and sign-in tokens.
async fn demo(data_dir: PathBuf, port: u16, config: Option<PathBuf>, customers: u32) -> anyhow::Result<()> {
    let mut config = Config::load(config.as_deref())?;
    let _telemetry = sua_core::telemetry::init("sua-demo", &config.log, config.otel_endpoint.as_deref())?;
    std::fs::create_dir_all(&data_dir)?;
    config.database_url = SecretString::from(format!("sqlite://{}", data_dir.join("sua.db").display()));
    config.amqp_url = SecretString::from("memory://");
    // The embedded mode owns its private SQLite file, so it migrates it itself; the services never do.
    sua_db::service::migrate_command(&config).await?;
    let at = |offset: u16| SocketAddr::from((Ipv4Addr::LOCALHOST, port + offset));
    let sim = demo_graph(&mut config, &data_dir, at(10), at(11), customers).await?;
    config.public_url = format!("http://127.0.0.1:{}", port + 1).parse()?;

    let deps = Dependencies::connect(&config).await?;
    let shutdown = sua_core::shutdown::on_signals();
    let portal = sua_portal_api::build(&Config { listen: Some(at(0)), ..config.clone() }, deps.clone()).await?;
    let collector = sua_collector::Collector::new(&config, &deps)?;
    let running =
        sua_collector::build_with(&Config { listen: Some(at(1)), ..config.clone() }, deps.clone(), collector.clone())
            .await?;
    let analytics = sua_analytics::build(&Config { listen: Some(at(2)), ..config.clone() }, deps.clone()).await?;
    let ports = DemoPorts { portal: portal.port(), collector: running.port(), analytics: analytics.port() };
    let services = tokio::spawn(async move {
        let (a, b, c) = tokio::join!(
            portal.run_until_stopped(shutdown.clone()),
            running.run_until_stopped(shutdown.clone()),
            analytics.run_until_stopped(shutdown.clone()),
        );
        a.and(b).and(c)
    });
    let first_start = sua_domain::tenants::list(&deps.pool).await?.is_empty();
    if first_start {
        // A new demo has run for a week already: sua and the simulator go back DEMO_HISTORY_DAYS days, the
        // customers consent then, and the days pass one by one with their licence syncs, so the history has days
        // and the admins' licence changes show as realised savings.
        let back = -chrono::Duration::days(DEMO_HISTORY_DAYS);
        sua_core::clock::advance(back);
        sim.sim.advance_clock(back);
    } else {
        // A restarted simulator remembers nothing: the admins' licence changes are made again.
        for tenant in &sim.sim.tenants {
            for day in 1..=DEMO_HISTORY_DAYS {
                demo_licence_changes(tenant, day);
            }
        }
    }
    consent_demo_customers(&config, &deps, &collector, &sim).await?;
    if first_start {
        demo_history(&config, &deps, &collector, &sim).await?;
    }
    print_demo_banner(&config, &sim, &ports, &data_dir)?;
    let result = services.await?;
    deps.broker.close().await;
    sim.stop().await;
    result
}

/// Microsoft Graph and Entra ID are the simulator's: customers of 300 users with two weeks of calls, whose admins
/// and readers (and the MSP's operator) sign in to the portal on the simulator's sign-in page. `config` is pointed
/// at it.
async fn demo_graph(
    config: &mut Config,
    data_dir: &std::path::Path,
    plain: SocketAddr,
    tls: SocketAddr,
    customers: u32,
) -> anyhow::Result<sua_graph_sim::GraphSim> {
    use sua_graph_sim::{GraphSim, SignInConfig, SimConfig, TenantSpec};
    let sim_config = SimConfig {
        tenants: (0..customers).map(|_| TenantSpec { users: 300, entra_p1: true, concealed_names: false }).collect(),
        days: 14,
        ca_file: Some(data_dir.join("graph-sim-ca.pem")),
        sign_in: SignInConfig { operator_tenant: Some(DEMO_OPERATOR_TENANT.into()), ..SignInConfig::default() },
        ..SimConfig::default()
    };
    let sim = GraphSim::start_on(sim_config, plain, tls).await?;
    config.graph_url = sim.graph_url.parse()?;
    config.login_url = sim.login_url.parse()?;
    config.client_id = sim.sim.config.client_id.clone();
    config.client_secret = Some(SecretString::from(sim.sim.config.client_secret.clone()));
    config.extra_ca_file = Some(sim.ca_file.clone());
    config.onboarding.consent_propagation_secs = 0;
    // The simulator does not enforce Microsoft's 10 signInActivity requests a minute, and the first start's week
    // of daily syncs would wait on it.
    config.graph.sign_in_activity_per_minute = 0;
    config.portal.audience = DEMO_AUDIENCE.into();
    config.portal.issuer_base = Some(sim.sim.config.issuer_base.parse()?);
    config.portal.operator_tenant = Some(DEMO_OPERATOR_TENANT.into());
    config.portal.web.authority = Some(sim.browser_authority.parse()?);
    config.portal.web.client_id = sim.sim.config.sign_in.client_id.clone();
    Ok(sim)
}

/// First start: each demo customer's admin follows the consent link, as a browser would. Later starts meet a new
/// simulator that remembers nothing: each customer's consent is restored as Entra ID would still hold it, and the
/// collector's subscription check recreates the subscription and backfills the gap.
async fn consent_demo_customers(
    config: &Config,
    deps: &Dependencies,
    collector: &sua_collector::Collector,
    sim: &sua_graph_sim::GraphSim,
) -> anyhow::Result<()> {
    let known = sua_domain::tenants::list(&deps.pool).await?;
    for tenant in &sim.sim.tenants {
        if known.iter().any(|t| t.tenant_id == tenant.id) {
            sim.sim.grant(&tenant.id, sua_graph_sim::catalog::APP_ROLES);
            continue;
        }
        let admin = format!("admin@{}", tenant.domain);
        let invitation =
            collector.onboarding.invite(&format!("{} (demo)", tenant.display_name), &admin, "demo").await?;
        let http = sua_collector::graph::http_client(config)?;
        sim.sim.set_next_consenting_tenant(&tenant.id);
        let consent = http.get(&invitation.consent_url).send().await?;
        let callback = consent.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default().to_string();
        let outcome = http.get(&callback).send().await?.status();
        anyhow::ensure!(outcome.is_success(), "the demo customer's consent failed ({outcome})");
    }
    Ok(())
}

/// Days of licence history a new demo starts with.
const DEMO_HISTORY_DAYS: i64 = 6;

/// What a demo customer's admins change on `day` of the history (1 is the day after consent), as they act on
/// sua's findings: two Microsoft 365 E3 licences taken from disabled accounts on day 2 and the two seats cancelled
/// on day 3; on day 5 half of the Copilot seats bought and never assigned cancelled.
fn demo_licence_changes(tenant: &sua_graph_sim::TenantModel, day: i64) {
    use sua_graph_sim::catalog::{COPILOT_SKU, SPE_E3};
    let disabled_e3 = || {
        (0..tenant.spec.users)
            .map(|i| tenant.user(i))
            .filter(|u| !u.account_enabled && u.licences.iter().any(|(s, _)| s.id == SPE_E3.id))
            .take(2)
    };
    let unassigned = |sku: &sua_graph_sim::catalog::Sku| {
        let subscription = tenant.subscriptions().into_iter().find(|s| s.sku.id == sku.id);
        subscription.map_or(0, |s| s.enabled.saturating_sub(s.consumed))
    };
    match day {
        2 => disabled_e3().for_each(|u| tenant.remove_licence(u.index, &SPE_E3)),
        3 => tenant.lower_seats(&SPE_E3, unassigned(&SPE_E3).min(2)),
        5 => tenant.lower_seats(&COPILOT_SKU, unassigned(&COPILOT_SKU) / 2),
        _ => {}
    }
}

/// The first start's week: waits for each day's aggregates of every customer, lets the admins make that day's
/// changes, and moves sua's and the simulator's clocks to the next day, whose licence sync and PSTN log collection
/// then run, until they read the real time again. Calls of those days, which Graph notified nobody of, are then
/// backfilled.
async fn demo_history(
    config: &Config,
    deps: &Dependencies,
    collector: &sua_collector::Collector,
    sim: &sua_graph_sim::GraphSim,
) -> anyhow::Result<()> {
    use sua_collector::scheduler::{Daily, queue_daily, queue_subscription_checks};
    let stale = chrono::Duration::seconds(i64::try_from(config.sync.stale_after_secs).unwrap_or(600));
    // The consent queued the first day's collection.
    let mut queued_for = sua_core::clock::today();
    for day in 0..=DEMO_HISTORY_DAYS {
        println!("demo history: day {} of {}, {}", day + 1, DEMO_HISTORY_DAYS + 1, sua_core::clock::today());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        for tenant in &sim.sim.tenants {
            loop {
                // Midnight may pass while a day is collected: the new day is then queued and waited for.
                let today = sua_core::clock::today();
                if today != queued_for {
                    queue_subscription_checks(&deps.pool, &deps.broker, "demo").await?;
                    for daily in [Daily::Licence, Daily::Pstn] {
                        queue_daily(&deps.pool, &deps.broker, daily, &[], false, stale, "demo").await?;
                    }
                    queued_for = today;
                }
                let id = tenant.id.clone();
                let rows =
                    deps.pool.run(move |conn| sua_db::models::TenantDayRow::range(conn, &id, today, today)).await?;
                if !rows.is_empty() {
                    break;
                }
                anyhow::ensure!(
                    std::time::Instant::now() < deadline,
                    "the demo customer {}'s licences of {today} were not analysed within 120 s",
                    tenant.id
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
        if day < DEMO_HISTORY_DAYS {
            for tenant in &sim.sim.tenants {
                demo_licence_changes(tenant, day + 1);
            }
            sua_core::clock::advance(chrono::Duration::days(1));
            sim.sim.advance_clock(chrono::Duration::days(1));
        }
    }
    let now = sua_core::clock::now();
    for tenant in &sim.sim.tenants {
        let from = now - chrono::Duration::days(DEMO_HISTORY_DAYS + 1);
        let id = collector.backfills.create(&tenant.id, from, now, "demo").await?;
        collector.backfills.run_here(&id, |_, _| {}).await?;
    }
    Ok(())
}

struct DemoPorts {
    portal: u16,
    collector: u16,
    analytics: u16,
}

/// Where everything is, who can sign in, and tokens for the API. The printed tokens are the sign-in page's
/// accounts', so the audit log names the same people either way.
fn print_demo_banner(
    config: &Config,
    sim: &sua_graph_sim::GraphSim,
    ports: &DemoPorts,
    data_dir: &std::path::Path,
) -> anyhow::Result<()> {
    use sua_graph_sim::UserTokenSpec;
    let accounts = sim.sim.portal_accounts("organizations");
    let token = |key: &str| -> anyhow::Result<(String, String)> {
        let account = accounts.iter().find(|a| a.key == key).ok_or_else(|| anyhow::anyhow!("no {key} account"))?;
        let mut spec = UserTokenSpec::new(&account.tenant_id, DEMO_AUDIENCE, &[account.role.as_str()]);
        spec.lifetime_secs = 24 * 3600;
        spec.object_id = account.object_id.clone();
        spec.name = account.name.clone();
        spec.username = account.username.clone();
        Ok((sim.sim.user_token(&spec)?, account.username.clone()))
    };
    let (operator, operator_name) = token("operator")?;
    let (admin, admin_name) = token("admin-0")?;
    let (_, reader_name) = token("reader-0")?;
    let customer = &sim.sim.tenants[0].id;
    let customer_name = &sim.sim.tenants[0].display_name;
    let portal_port = ports.portal;
    println!("sua demo is running (Ctrl-C to stop)");
    println!("  portal        http://127.0.0.1:{portal_port}/");
    println!(
        "                sign in as {customer_name}'s admin ({admin_name}) or reader ({reader_name}), or as the operator ({operator_name})"
    );
    if !config.portal.web.dir.join("index.html").is_file() {
        println!(
            "                (the web portal is not built in {}: run scripts/demo, or cd web && npm ci && npm run build)",
            config.portal.web.dir.display()
        );
    }
    println!(
        "  portal API    http://127.0.0.1:{portal_port}/api/v1   (Swagger UI: http://127.0.0.1:{portal_port}/api/docs/)"
    );
    println!("  collector     http://127.0.0.1:{}/healthz", ports.collector);
    println!("  analytics     http://127.0.0.1:{}/metrics", ports.analytics);
    println!("  sign-in       {} (the simulated Entra ID)", sim.browser_authority);
    println!("  Graph sim     {} (demo customer {customer})", sim.graph_url);
    println!("  data          {}", data_dir.display());
    println!();
    println!("Sign-in tokens for the next 24 hours (paste one into Swagger UI's Authorize, or export them):");
    println!("  export TOKEN={admin}");
    println!("  export OPERATOR_TOKEN={operator}");
    println!("(TOKEN is the customer admin's, {customer_name} only; OPERATOR_TOKEN the MSP operator's, every tenant.)");
    println!();
    println!(
        "Try: curl -s -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:{portal_port}/api/v1/tenants/{customer}/dashboard"
    );
    Ok(())
}
