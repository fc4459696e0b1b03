//! Benchmark P2 (design §7): call records ingested by analytics (consumed from RabbitMQ, normalised into
//! PostgreSQL, rollups recomputed) per second, against PostgreSQL `COPY` of the very rows that ingest produced,
//! on the same machine in the same run.
//!
//! 1. A fresh database (migrated) and broker namespace; N generated call records (sessions, segments, media
//!    streams, participants_v2) published to analytics' queue beforehand (not timed).
//! 2. Timed: analytics (in this process, release build) from start until every record is stored and no rollup
//!    recompute is pending.
//! 3. Timed: `psql \copy … FROM` of the same rows (every table ingest wrote, rollups included) into empty copies
//!    of those tables with the same keys and indexes.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::Utc;
use clap::Parser;
use futures::StreamExt;
use secrecy::SecretString;
use sua_core::Config;
use sua_core::broker::Broker;
use sua_core::messages::{CallRecordV1, Envelope};
use sua_core::metrics::BrokerMetrics;
use sua_db::Pool;
use sua_db::models::{CallRecordRow, rollups};
use sua_db::service::Dependencies;
use sua_graph_sim::calls;
use sua_graph_sim::{Sim, SimConfig, TenantSpec};

#[derive(Parser)]
struct Args {
    /// Call records to ingest.
    #[arg(long, default_value_t = 20_000)]
    records: usize,
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres: String,
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp: String,
    /// Analytics consumer prefetch (deliveries handled at once); the configured default when absent.
    #[arg(long)]
    prefetch: Option<u16>,
}

/// Tables ingest writes for call records, in dependency-free order.
const TABLES: &[&str] = &[
    "call_records",
    "call_participants",
    "call_sessions",
    "call_segments",
    "call_streams",
    "call_user_facts",
    "call_usage_daily",
    "call_usage_tenant_daily",
];

fn psql(url: &str, script: &str) -> anyhow::Result<String> {
    let output = Command::new("psql").args([url, "-v", "ON_ERROR_STOP=1", "-qtA", "-c", script]).output()?;
    if !output.status.success() {
        bail!("psql failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn envelopes(wanted: usize) -> anyhow::Result<(String, Vec<Envelope>)> {
    let config = SimConfig {
        tenants: vec![TenantSpec { users: 5_000, entra_p1: true, concealed_names: true }],
        calls_per_user: 1.0,
        days: 14,
        ..SimConfig::default()
    };
    let sim = Sim::new(config)?;
    let tenant = sim.tenant_ids()[0].clone();
    let model = sim.tenant(&tenant).context("tenant")?.clone();
    let to = Utc::now();
    let mut out = Vec::with_capacity(wanted);
    for call in sim.calls_starting(&model, to - chrono::Duration::days(15), to).into_iter().take(wanted) {
        out.push(Envelope::new(tenant.clone(), None, &CallRecordV1(calls::full_record(&model, &call, 1)))?);
    }
    if out.len() < wanted {
        bail!("the generator made only {} calls", out.len());
    }
    Ok((tenant, out))
}

async fn settled(pool: &Pool, tenant: &str, records: usize) -> anyhow::Result<bool> {
    let tenant = tenant.to_string();
    let (stored, backlog) = pool
        .run(move |conn| {
            Ok::<_, sua_db::DbError>((CallRecordRow::count_for_tenant(conn, &tenant)?, rollups::backlog(conn)?))
        })
        .await?;
    Ok(stored as usize == records && backlog.0 == 0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let name = format!("sua_p2_{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    psql(&format!("{}/postgres", args.postgres), &format!("CREATE DATABASE {name}"))?;
    let url = format!("{}/{name}", args.postgres);
    let result = run(&args, &url).await;
    let _ = psql(&format!("{}/postgres", args.postgres), &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    result
}

async fn run(args: &Args, url: &str) -> anyhow::Result<()> {
    let database_url = SecretString::from(url.to_string());
    sua_db::migrate(&database_url)?;
    let mut config = Config {
        database_url: database_url.clone(),
        amqp_url: SecretString::from(args.amqp.clone()),
        listen: Some("127.0.0.1:0".parse()?),
        ..Config::default()
    };
    config.amqp.prefix = format!("p2{}.", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    config.amqp.queue_expires_ms = Some(600_000);
    if let Some(prefetch) = args.prefetch {
        config.analytics.prefetch = prefetch;
    }
    config.db.pool_size = 16;

    eprintln!("generating {} call records …", args.records);
    let (tenant, envelopes) = envelopes(args.records)?;
    let registry = prometheus::Registry::new();
    let broker = Broker::connect(&config.amqp_url, &config.amqp, BrokerMetrics::new(&registry)).await?;
    eprintln!("publishing …");
    let bytes: usize = envelopes.iter().map(|e| e.payload.get().len()).sum();
    futures::stream::iter(envelopes.iter())
        .map(|e| broker.publish_raw(e))
        .buffer_unordered(256)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;

    let pool = Pool::new(&database_url, &config.db)?;
    let deps = Dependencies { pool: pool.clone(), broker: broker.clone(), registry };
    let shutdown = sua_core::shutdown::CancellationToken::new();
    eprintln!("ingesting …");
    let started = Instant::now();
    let running = sua_analytics::build(&config, deps).await?;
    let service = tokio::spawn(running.run_until_stopped(shutdown.clone()));
    while !settled(&pool, &tenant, args.records).await? {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ingest = started.elapsed();
    shutdown.cancel();
    let _ = service.await;
    broker.delete_topology().await.ok();

    let mut rows = BTreeMap::new();
    let dir = tempfile_dir()?;
    let mut setup = String::from("CREATE SCHEMA bench_copy;");
    let mut load = String::new();
    for table in TABLES {
        let file = format!("{dir}/{table}.csv");
        psql(url, &format!("\\copy analytics.{table} TO '{file}' CSV"))?;
        rows.insert(*table, psql(url, &format!("SELECT count(*) FROM analytics.{table}"))?);
        setup.push_str(&format!("CREATE TABLE bench_copy.{table} (LIKE analytics.{table} INCLUDING ALL);"));
        load.push_str(&format!("\\copy bench_copy.{table} FROM '{file}' CSV\n"));
    }
    psql(url, &setup)?;
    let script = format!("{dir}/load.sql");
    std::fs::write(&script, load)?;
    let started = Instant::now();
    let output = Command::new("psql").args([url, "-v", "ON_ERROR_STOP=1", "-q", "-f", &script]).output()?;
    let copy = started.elapsed();
    if !output.status.success() {
        bail!("COPY failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let _ = std::fs::remove_dir_all(&dir);

    let n = args.records as f64;
    println!(
        "records={} payload_mb={:.1} prefetch={} writers={} write_batch_max={}",
        args.records,
        bytes as f64 / 1e6,
        config.analytics.prefetch,
        config.analytics.writers,
        config.analytics.write_batch_max
    );
    println!("rows written per table: {rows:?}");
    println!(
        "analytics ingest (consume, normalise, commit, ack, rollups): {:.2} s = {:.0} records/s",
        ingest.as_secs_f64(),
        n / ingest.as_secs_f64()
    );
    println!("psql COPY of the same rows: {:.2} s = {:.0} records/s", copy.as_secs_f64(), n / copy.as_secs_f64());
    println!("ratio: {:.2}x (target >= 0.5x)", copy.as_secs_f64() / ingest.as_secs_f64());
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<String> {
    let dir = std::env::temp_dir().join(format!("sua-p2-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir.display().to_string())
}
