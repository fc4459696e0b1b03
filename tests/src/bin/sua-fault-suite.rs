//! The fault suite: sua as separate processes (collector, analytics) on a PostgreSQL and a RabbitMQ of its own,
//! with the Graph simulator placing calls and notifying all along, while it restarts RabbitMQ, stops PostgreSQL
//! for minutes, and SIGKILLs analytics and then the collector. At the end it prints what Graph sent, what the
//! collector acknowledged, what analytics stored, and what was duplicated, lost or dead-lettered.
//!
//! Run it with `scripts/fault-suite` (it builds the binaries first). It never touches the shared PostgreSQL or
//! RabbitMQ: its servers live in a temporary directory, on free ports, under a node name of their own.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test driver fails loudly on the first surprise")]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use secrecy::SecretString;
use sua_graph_sim::{GraphSim, SimConfig, TenantSpec};
use sua_tests::binaries::free_port;

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
const RABBITMQ_BIN: &str = "/usr/lib/rabbitmq/bin";
/// The shared servers other engineers' tests use: this suite must never touch them.
const SHARED_PORTS: [u16; 2] = [5432, 5672];

#[derive(Parser)]
#[command(about = "Faults against separate sua processes on a private PostgreSQL and RabbitMQ")]
struct Args {
    /// How long PostgreSQL stays down.
    #[arg(long, default_value_t = 180)]
    pg_outage_secs: u64,
    /// Calls placed per second while the faults happen.
    #[arg(long, default_value_t = 4)]
    calls_per_sec: u32,
    /// Longest wait, after the last fault, for everything acknowledged to be stored.
    #[arg(long, default_value_t = 600)]
    settle_secs: u64,
    /// Keep the temporary directory (logs, data) afterwards.
    #[arg(long)]
    keep: bool,
}

fn log(message: impl AsRef<str>) {
    eprintln!("[{}] {}", chrono::Utc::now().format("%H:%M:%S"), message.as_ref());
}

fn run(command: &mut Command) {
    let output = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_millis(200)).is_ok()
}

async fn wait_for(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?}: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A PostgreSQL cluster in the suite's directory, owned by the `postgres` user, on a free port.
struct PrivatePostgres {
    data: PathBuf,
    port: u16,
}

impl PrivatePostgres {
    fn init(dir: &Path) -> Self {
        let port = free_port();
        assert!(!SHARED_PORTS.contains(&port));
        let data = dir.join("pg");
        std::fs::create_dir_all(&data).unwrap();
        run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(&data));
        run(Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(format!("{PG_BIN}/initdb"))
            .arg("-D")
            .arg(data.join("data"))
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8"])
            .stdout(Stdio::null()));
        let pg = Self { data, port };
        pg.start();
        run(Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres", "-q", "-c", "CREATE DATABASE sua"])
            .stdout(Stdio::null()));
        pg
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/sua", self.port)
    }

    fn ctl(&self, args: &[&str]) -> Command {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(format!("{PG_BIN}/pg_ctl")).arg("-D").arg(self.data.join("data"));
        command.args(args).stdout(Stdio::null());
        command
    }

    fn start(&self) {
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.data.display());
        let log = self.data.join("postgres.log");
        run(&mut self.ctl(&["-w", "-o", &options, "-l", log.to_str().unwrap(), "start"]));
    }

    fn stop(&self) {
        run(&mut self.ctl(&["-w", "-m", "fast", "stop"]));
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.ctl(&["-w", "-m", "immediate", "stop"]).stderr(Stdio::null()).status();
    }
}

/// A RabbitMQ node in the suite's directory: its own node name, AMQP and distribution ports, configuration and
/// data; it never reads the system's configuration (whose listener is the shared broker's port).
struct PrivateRabbit {
    dir: PathBuf,
    node: String,
    port: u16,
    dist_port: u16,
    server: Option<std::process::Child>,
}

impl PrivateRabbit {
    fn init(dir: &Path) -> Self {
        let (port, dist_port) = (free_port(), free_port());
        assert!(!SHARED_PORTS.contains(&port) && !SHARED_PORTS.contains(&dist_port));
        let dir = dir.join("rabbitmq");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("rabbitmq.conf"), format!("listeners.tcp.local = 127.0.0.1:{port}\n")).unwrap();
        std::fs::write(dir.join("enabled_plugins"), "[].\n").unwrap();
        std::fs::write(dir.join("rabbitmq-env.conf"), "").unwrap();
        run(Command::new("chown").args(["-R", "rabbitmq:rabbitmq"]).arg(&dir));
        let node = format!("sua-fault-{}@localhost", std::process::id());
        let mut rabbit = Self { dir, node, port, dist_port, server: None };
        rabbit.start();
        rabbit
    }

    fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    fn command(&self, program: &str) -> Command {
        let d = |name: &str| self.dir.join(name).display().to_string();
        let mut command = Command::new("runuser");
        command
            .args(["-u", "rabbitmq", "--", "env", "HOME=/var/lib/rabbitmq"])
            .arg(format!("RABBITMQ_CONF_ENV_FILE={}", d("rabbitmq-env.conf")))
            .arg(format!("RABBITMQ_NODENAME={}", self.node))
            .arg(format!("RABBITMQ_NODE_PORT={}", self.port))
            .arg(format!("RABBITMQ_DIST_PORT={}", self.dist_port))
            .arg(format!("RABBITMQ_CONFIG_FILE={}", d("rabbitmq.conf")))
            .arg(format!("RABBITMQ_MNESIA_BASE={}", d("mnesia")))
            .arg(format!("RABBITMQ_LOG_BASE={}", d("log")))
            .arg(format!("RABBITMQ_ENABLED_PLUGINS_FILE={}", d("enabled_plugins")))
            .arg(format!("RABBITMQ_PID_FILE={}", d("pid")))
            .arg("ERL_EPMD_ADDRESS=127.0.0.1")
            .arg(format!("{RABBITMQ_BIN}/{program}"));
        command
    }

    fn start(&mut self) {
        let out = std::fs::File::create(self.dir.join("server.out")).unwrap();
        let child = self
            .command("rabbitmq-server")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("rabbitmq-server: {e}"));
        self.server = Some(child);
    }

    /// Stops this node (and only it: `-n` names it) and waits for its process to end.
    fn stop(&mut self) {
        let _ = self.command("rabbitmqctl").args(["-n", &self.node, "stop"]).stdout(Stdio::null()).status();
        if let Some(mut child) = self.server.take() {
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRabbit {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A sua service as a child process, on a fixed port (a restarted collector keeps its webhook URL).
struct Service {
    name: &'static str,
    port: u16,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<tokio::process::Child>,
}

impl Service {
    fn new(name: &'static str, env: &[(String, String)], dir: &Path) -> Self {
        Self { name, port: free_port(), env: env.to_vec(), log: dir.join(format!("{name}.log")), child: None }
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let mut command = tokio::process::Command::new(sua_binary());
        command
            .arg(self.name)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SUA_LISTEN", format!("127.0.0.1:{}", self.port))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true);
        for (key, value) in &self.env {
            command.env(key, value);
        }
        self.child = Some(command.spawn().unwrap_or_else(|e| panic!("{}: {e}", self.name)));
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    async fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
            }
            if tokio::time::timeout(Duration::from_secs(30), child.wait()).await.is_err() {
                log(format!("{} did not stop within 30 s of SIGTERM; killing it", self.name));
                let _ = child.kill().await;
            }
        }
    }
}

fn sua_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().join("sua");
    assert!(path.exists(), "{} not found: cargo build --workspace --bins", path.display());
    path
}

fn sua(env: &[(String, String)], args: &[&str]) -> String {
    let output = Command::new(sua_binary())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    assert!(output.status.success(), "sua {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!("sua-fault-suite-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    log(format!("working in {}", dir.display()));

    let pg = PrivatePostgres::init(&dir);
    let mut rabbit = PrivateRabbit::init(&dir);
    log(format!("private PostgreSQL on :{}, private RabbitMQ {} on :{}", pg.port, rabbit.node, rabbit.port));
    wait_for("the private RabbitMQ", Duration::from_secs(120), || port_open(rabbit.port)).await;

    let sim_config = SimConfig {
        tenants: vec![TenantSpec { users: 50, entra_p1: true, concealed_names: true }],
        days: 1,
        calls_per_user: 0.0,
        ca_file: Some(dir.join("graph-sim-ca.pem")),
        // Graph retries an unanswered notification for hours; a few minutes cover every fault here.
        notification_retries: 400,
        notification_retry_delay: Duration::from_secs(1),
        ..SimConfig::default()
    };
    let sim =
        GraphSim::start_on(sim_config, "127.0.0.1:0".parse().unwrap(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let tenant = sim.sim.tenants[0].id.clone();

    let mut collector_port = free_port();
    while collector_port == 0 {
        collector_port = free_port();
    }
    let env: Vec<(String, String)> = [
        ("SUA_DATABASE_URL", pg.url()),
        ("SUA_AMQP_URL", rabbit.url()),
        ("SUA_GRAPH_URL", sim.graph_url.clone()),
        ("SUA_LOGIN_URL", sim.login_url.clone()),
        ("SUA_CLIENT_ID", sim.sim.config.client_id.clone()),
        ("SUA_CLIENT_SECRET", sim.sim.config.client_secret.clone()),
        ("SUA_EXTRA_CA_FILE", sim.ca_file.display().to_string()),
        ("SUA_PUBLIC_URL", format!("http://127.0.0.1:{collector_port}")),
        ("SUA_STATE_SIGNING_KEY", "fault-suite-state-signing-key-0123456789".into()),
        ("SUA_ONBOARDING__CONSENT_PROPAGATION_SECS", "0".into()),
        ("SUA_SYNC__SCHEDULER", "false".into()),
        ("SUA_LOG__FILTER", "warn,sua_core=info".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    sua(&env, &["migrate"]);
    let mut collector = Service::new("collector", &env, &dir);
    collector.port = collector_port;
    let mut analytics = Service::new("analytics", &env, &dir);
    collector.start();
    analytics.start();
    wait_for("the collector", Duration::from_secs(60), || port_open(collector.port)).await;

    // Consent, as the customer's admin would give it in a browser.
    let invite = sua(&env, &["invite", "--customer", "Fault Suite", "--email", "admin@fault.example"]);
    let consent_url = invite.lines().last().unwrap().trim().to_string();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&sim.ca_file).unwrap()).unwrap();
    let http = reqwest::Client::builder()
        .add_root_certificate(ca)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    sim.sim.set_next_consenting_tenant(&tenant);
    let consent = http.get(&consent_url).send().await.unwrap();
    let callback = consent.headers()["location"].to_str().unwrap().to_string();
    let outcome = http.get(&callback).send().await.unwrap().status();
    assert!(outcome.is_success(), "consent failed: {outcome}");
    wait_for("the call-record subscription", Duration::from_secs(120), || !sim.sim.subscriptions(&tenant).is_empty())
        .await;
    log(format!("tenant {tenant} consented and subscribed"));

    // Graph places calls and notifies the collector the whole time.
    let sent: Arc<Mutex<Vec<String>>> = Arc::default();
    let driving = tokio_util::sync::CancellationToken::new();
    let driver = {
        let (sim, tenant, sent, driving) = (sim.sim.clone(), tenant.clone(), sent.clone(), driving.clone());
        let every = Duration::from_millis(1_000 / u64::from(args.calls_per_sec.max(1)));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            while !driving.is_cancelled() {
                tick.tick().await;
                let ids = sim.place_calls(&tenant, 1);
                sent.lock().unwrap().extend(ids);
            }
        })
    };
    let pace = |secs: u64| tokio::time::sleep(Duration::from_secs(secs));

    pace(15).await;
    log("fault: restarting RabbitMQ");
    rabbit.stop();
    pace(5).await;
    rabbit.start();
    wait_for("RabbitMQ back", Duration::from_secs(120), || port_open(rabbit.port)).await;
    log("RabbitMQ is back");
    pace(20).await;

    log(format!("fault: stopping PostgreSQL for {} s", args.pg_outage_secs));
    pg.stop();
    pace(args.pg_outage_secs).await;
    pg.start();
    log("PostgreSQL is back");
    pace(20).await;

    log("fault: SIGKILL analytics");
    analytics.kill().await;
    pace(3).await;
    analytics.start();
    pace(15).await;

    log("fault: SIGKILL collector");
    collector.kill().await;
    pace(3).await;
    collector.start();
    wait_for("the collector back", Duration::from_secs(60), || port_open(collector.port)).await;
    pace(20).await;

    driving.cancel();
    driver.await.unwrap();
    let sent: Vec<String> = sent.lock().unwrap().clone();
    log(format!("stopped placing calls: {} placed; waiting for the pipeline to settle", sent.len()));

    // Settled: every notification answered (or given up), and everything acknowledged stored.
    let pool = sua_db::Pool::new(&SecretString::from(pg.url()), &sua_core::config::DbConfig::default()).unwrap();
    let stored_ids = || async {
        let sql = format!("SELECT id AS key, 1::bigint AS n FROM analytics.call_records WHERE tenant_id = '{tenant}'");
        sua_tests::sql::counts(&pool, &sql).await.into_keys().collect::<BTreeSet<String>>()
    };
    let acknowledged = |sim: &GraphSim| -> BTreeSet<String> {
        sim.sim
            .deliveries()
            .iter()
            .filter(|d| d.kind == "notification" && d.status.is_some_and(|s| (200..300).contains(&s)))
            .flat_map(|d| d.resources.clone())
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(args.settle_secs);
    loop {
        let (acked, stored) = (acknowledged(&sim), stored_ids().await);
        let pending = sent.iter().filter(|id| !acked.contains(*id)).count();
        let missing = acked.iter().filter(|id| !stored.contains(*id)).count();
        if (pending == 0 && missing == 0) || Instant::now() >= deadline {
            break;
        }
        log(format!("settling: {pending} notifications not acknowledged yet, {missing} acknowledged not stored"));
        tokio::time::sleep(Duration::from_secs(5)).await;
    }

    let acked = acknowledged(&sim);
    let stored = stored_ids().await;
    let sent_set: BTreeSet<String> = sent.iter().cloned().collect();
    let acked_sent: BTreeSet<&String> = sent_set.iter().filter(|id| acked.contains(*id)).collect();
    let stored_sent = sent_set.iter().filter(|id| stored.contains(*id)).count();
    let lost: Vec<&&String> = acked_sent.iter().filter(|id| !stored.contains(**id)).collect();
    // Each call is one row (its primary key); a call stored twice would show in the daily rollup's count.
    let rollup = sua_tests::sql::counts(
        &pool,
        &format!(
            "SELECT 'calls' AS key, COALESCE(SUM(calls), 0)::bigint AS n FROM analytics.call_usage_tenant_daily \
             WHERE tenant_id = '{tenant}'"
        ),
    )
    .await;
    let rollup_calls = rollup.get("calls").copied().unwrap_or_default();
    let duplicates = (rollup_calls - stored.len() as i64).max(0);

    let metrics = sua_core::metrics::BrokerMetrics::new(&prometheus::Registry::new());
    let amqp = sua_core::config::AmqpConfig::default();
    let broker = sua_core::broker::Broker::connect(&SecretString::from(rabbit.url()), &amqp, metrics).await.unwrap();
    let dead = broker.dead_letters(100_000).await.unwrap();
    broker.close().await;
    let mut dead_by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for letter in &dead {
        *dead_by_kind.entry(letter.kind.clone()).or_default() += 1;
    }

    println!();
    println!(
        "| faults | RabbitMQ restarted; PostgreSQL down {} s; analytics SIGKILLed; collector SIGKILLed |",
        args.pg_outage_secs
    );
    println!("|---|---|");
    println!("| sent (calls Graph notified) | {} |", sent.len());
    println!("| acknowledged (2xx to Graph) | {} |", acked_sent.len());
    let refused = sim
        .sim
        .deliveries()
        .iter()
        .filter(|d| d.kind == "notification" && !d.status.is_some_and(|s| (200..300).contains(&s)))
        .count();
    println!("| notification attempts refused or unanswered (Graph retried) | {refused} |");
    println!("| stored (distinct, in analytics) | {stored_sent} |");
    println!("| duplicates | {duplicates} |");
    println!("| lost (acknowledged, not stored) | {} |", lost.len());
    if dead.is_empty() {
        println!("| dead letters | 0 |");
    } else {
        println!("| dead letters | {} {dead_by_kind:?} |", dead.len());
    }
    println!();
    if !lost.is_empty() {
        println!("lost: {:?}", lost.iter().take(20).collect::<Vec<_>>());
    }

    collector.terminate().await;
    analytics.terminate().await;
    sim.stop().await;
    drop(rabbit);
    drop(pg);
    if args.keep {
        log(format!("kept {}", dir.display()));
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    if !lost.is_empty() || duplicates > 0 || !dead.is_empty() {
        std::process::exit(1);
    }
}
