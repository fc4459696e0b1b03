//! Benchmark P4 (design §7, issue 7): portal-api's dashboard and licence endpoints on a 100,000-user tenant with
//! 10,000,000 call records, at a fixed 200 requests/s (open loop: latency counts from when a request was due, so
//! a slow answer delays none of the next ones), next to the time psql takes for the same queries.
//!
//! 1. A fresh database, migrated, filled by SQL: the tenant's current snapshot (100k users, their licences, 12
//!    SKUs), its findings, 10M call records over 30 days and their per-user and per-tenant daily rollups.
//! 2. The Graph simulator in-process, only as the token issuer (JWKS) and to mint a portal user's token.
//! 3. The release `sua portal-api` as its own process.
//! 4. For each endpoint: requests at the rate for the duration after a warm-up; p50/p99/max and failures.
//! 5. psql: the statements each endpoint runs, each repeated, median time, summed per endpoint.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use sua_bench::Summary;
use sua_graph_sim::{GraphSim, SimConfig, TenantSpec, UserTokenSpec};

#[derive(Parser)]
struct Args {
    /// PostgreSQL server (admin connection, without database name).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres: String,
    #[arg(long, default_value_t = 100_000)]
    users: u32,
    #[arg(long, default_value_t = 10_000_000)]
    calls: u64,
    /// Requests per second.
    #[arg(long, default_value_t = 200)]
    rate: u32,
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    #[arg(long, default_value_t = 5)]
    warmup_seconds: u64,
    /// Requests per second for the list pages (users, findings, usage).
    #[arg(long, default_value_t = 20)]
    page_rate: u32,
    /// Reuse this database as it is (skip creating and filling it); it is kept afterwards.
    #[arg(long)]
    reuse: Option<String>,
    /// Keep the filled database for `--reuse`.
    #[arg(long)]
    keep: bool,
}

const TENANT: &str = "44444444-0000-4000-8000-000000000004";
const RUN: &str = "bench-run-1";
const AUDIENCE: &str = "api://sua-bench-portal";

fn psql(url: &str, script: &str) -> anyhow::Result<String> {
    let output = Command::new("psql").args([url, "-v", "ON_ERROR_STOP=1", "-qtA", "-c", script]).output()?;
    if !output.status.success() {
        bail!("psql failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The tenant, in SQL: SKUs with list prices in the shipped book, users with one or two licences (a tenth none),
/// a finding for about a quarter of the held licences, and calls spread over 30 days.
fn fill_sql(users: u32, calls: u64) -> String {
    format!(
        r#"
SET search_path TO collector, analytics, portal, public;
INSERT INTO tenants (id, display_name, consent_state, permissions, prerequisites, consented_at, created_at, updated_at,
    feed_state) VALUES ('{TENANT}', 'Bench Corp', 'granted', '{{}}', '{{"entra_id_p1": true}}', now(), now(), now(), 'healthy');
INSERT INTO snapshots (run_id, tenant_id, day, state, sign_in_activity, concealed_names, created_at, completed_at, current_at)
    VALUES ('{RUN}', '{TENANT}', current_date, 'current', true, true, now(), now(), now());
INSERT INTO skus (run_id, tenant_id, sku_id, sku_part_number, capability_status, applies_to, enabled, warning, suspended,
    locked_out, consumed)
SELECT '{RUN}', '{TENANT}', 'sku-' || i, p, 'Enabled', 'User', {users} / 4 + 500, 0, 0, 0, {users} / 4
FROM unnest(ARRAY['SPE_E3','SPE_E5','ENTERPRISEPACK','ENTERPRISEPREMIUM','MCOEV','MCOPSTN1','MCOPSTN2','AAD_PREMIUM',
    'AAD_PREMIUM_P2','POWER_BI_PRO','Microsoft_365_Copilot','EMS']) WITH ORDINALITY AS s(p, i);
INSERT INTO users (run_id, tenant_id, id, user_principal_name, display_name, mail, department, job_title, country,
    usage_location, account_enabled, user_type, created_at, last_successful_sign_in, last_sign_in, licences)
SELECT '{RUN}', '{TENANT}', 'user-' || lpad(i::text, 7, '0'), 'user' || i || '@bench.example', 'User ' || md5(i::text),
    'user' || i || '@bench.example', 'Department ' || (i % 40), 'Staff', 'GB', 'GB', i % 50 <> 0, 'Member',
    now() - interval '2 years', CASE WHEN i % 17 = 0 THEN NULL ELSE now() - (i % 400) * interval '1 day' END,
    CASE WHEN i % 17 = 0 THEN NULL ELSE now() - (i % 400) * interval '1 day' END,
    CASE WHEN i % 10 = 0 THEN 0 WHEN i % 3 = 0 THEN 2 ELSE 1 END
FROM generate_series(1, {users}) AS i;
INSERT INTO assignments (run_id, tenant_id, user_id, sku_id, disabled_plans)
SELECT '{RUN}', '{TENANT}', 'user-' || lpad(i::text, 7, '0'), 'sku-' || (1 + i % 6), '' FROM generate_series(1, {users}) i
WHERE i % 10 <> 0
UNION ALL
SELECT '{RUN}', '{TENANT}', 'user-' || lpad(i::text, 7, '0'), 'sku-' || (7 + i % 6), '' FROM generate_series(1, {users}) i
WHERE i % 10 <> 0 AND i % 3 = 0;
INSERT INTO findings (tenant_id, id, run_id, kind, user_id, user_principal_name, department, sku_id, sku_part_number,
    units, effect, amount_minor, currency, evidence, computed_at)
SELECT '{TENANT}', k || ':user-' || lpad(i::text, 7, '0'), '{RUN}', k, 'user-' || lpad(i::text, 7, '0'),
    'user' || i || '@bench.example', 'Department ' || (i % 40), 'sku-' || (1 + i % 6), 'SPE_E3', 1, 'saving', 3600, 'USD',
    '{{"last_successful_sign_in": null}}', now()
FROM generate_series(1, {users}) i,
    LATERAL (SELECT (ARRAY['inactive_user','never_signed_in','disabled_account','downgrade_candidate'])[1 + i % 4] AS k) kk
WHERE i % 4 = 0;
INSERT INTO call_records (tenant_id, id, version, call_type, start_at, end_at, modalities, organizer_id, raw, received_at,
    day, duration_seconds, participants, pstn, streams, poor_streams)
SELECT '{TENANT}', md5(i::text), 1, CASE WHEN i % 5 = 0 THEN 'groupCall' ELSE 'peerToPeer' END,
    date_trunc('day', now()) - (i % 30) * interval '1 day' + (i % 36000) * interval '1 second',
    date_trunc('day', now()) - (i % 30) * interval '1 day' + (i % 36000 + 300) * interval '1 second',
    'audio', 'user-' || lpad((1 + i % {users})::text, 7, '0'), '{{}}', now(),
    (date_trunc('day', now()) - (i % 30) * interval '1 day')::date, 300, 2, i % 20 = 0, 4, CASE WHEN i % 25 = 0 THEN 1 ELSE 0 END
FROM generate_series(1, {calls}) i;
INSERT INTO call_usage_daily (tenant_id, day, user_id, calls, group_calls, peer_calls, seconds, video_calls, pstn_calls,
    streams, poor_streams)
SELECT '{TENANT}', current_date - d, 'user-' || lpad(u::text, 7, '0'), 7, 1, 6, 2100, 1, 0, 28, 1
FROM generate_series(0, 29) d, generate_series(1, {users}) u;
INSERT INTO call_usage_tenant_daily (tenant_id, day, calls, group_calls, peer_calls, seconds, video_calls, pstn_calls,
    streams, poor_streams)
SELECT '{TENANT}', day, count(*), sum(CASE WHEN call_type = 'groupCall' THEN 1 ELSE 0 END),
    sum(CASE WHEN call_type = 'groupCall' THEN 0 ELSE 1 END), sum(duration_seconds), 0, sum(pstn::int), sum(streams),
    sum(poor_streams)
FROM call_records WHERE tenant_id = '{TENANT}' GROUP BY day;
"#
    )
}

/// What each endpoint asks the database, as psql would run it.
fn statements(endpoint: &str) -> Vec<String> {
    let tenant = format!(
        "SELECT * FROM tenants WHERE id = '{TENANT}'; SELECT * FROM snapshots WHERE tenant_id = '{TENANT}' AND state = 'current' LIMIT 1"
    );
    let licences = [
        "SELECT * FROM skus WHERE run_id = 'RUN' ORDER BY sku_part_number".to_string(),
        "SELECT * FROM price_overrides WHERE tenant_id = 'TENANT' ORDER BY sku_part_number".to_string(),
        "SELECT sku_id, COALESCE(currency, '') AS currency, CAST(SUM(units) AS BIGINT), CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) \
         FROM findings WHERE tenant_id = 'TENANT' AND effect = 'saving' AND sku_id IS NOT NULL \
         GROUP BY sku_id, COALESCE(currency, '') ORDER BY sku_id, currency"
            .to_string(),
    ];
    let dashboard = [
        "SELECT kind, effect, COALESCE(currency, ''), CAST(COUNT(*) AS BIGINT), CAST(SUM(units) AS BIGINT), \
         CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM findings WHERE tenant_id = 'TENANT' \
         GROUP BY kind, effect, COALESCE(currency, '') ORDER BY kind, effect, 3"
            .to_string(),
        "SELECT count(*) FROM users WHERE run_id = 'RUN'".to_string(),
        "SELECT count(*) FROM users WHERE run_id = 'RUN' AND licences > 0".to_string(),
        "SELECT CAST(d.day AS TEXT), CAST(SUM(d.calls) AS BIGINT), CAST(SUM(d.seconds) AS BIGINT) FROM call_usage_tenant_daily d \
         WHERE d.tenant_id = 'TENANT' AND d.day >= current_date - 29 AND d.day <= current_date GROUP BY d.day ORDER BY d.day"
            .to_string(),
    ];
    let mut out = vec![tenant];
    out.extend(licences);
    if endpoint == "dashboard" {
        out.extend(dashboard);
    }
    out.into_iter()
        .map(|s| s.replace("'RUN'", &format!("'{RUN}'")).replace("'TENANT'", &format!("'{TENANT}'")))
        .collect()
}

/// Median time of `statement` over `n` runs in one psql session, ms (psql's `\timing`).
fn psql_ms(url: &str, statement: &str, n: usize) -> anyhow::Result<f64> {
    let script = format!(
        "SET search_path TO collector, analytics, portal, public;\n\\timing on\n{}",
        format!("{statement};\n").repeat(n)
    );
    let output = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qtA"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().map(|mut stdin| stdin.write_all(script.as_bytes()));
            child.wait_with_output()
        })?;
    let text = String::from_utf8_lossy(&output.stdout);
    let times: Vec<f64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("Time: "))
        .filter_map(|t| t.split_whitespace().next())
        .filter_map(|t| t.parse().ok())
        .collect();
    // Each statement line may hold several statements; group their times per repetition.
    let per = times.len() / n.max(1);
    if per == 0 {
        bail!("psql printed no timings: {text}");
    }
    let mut runs: Vec<f64> = times.chunks(per).map(|c| c.iter().sum()).collect();
    runs.sort_by(f64::total_cmp);
    Ok(runs[runs.len() / 2])
}

/// Open-loop load: one request every 1/rate s for `seconds`; latency from the moment each was due.
async fn load(client: &reqwest::Client, url: &str, token: &str, rate: u32, seconds: u64) -> Summary {
    let period = Duration::from_secs_f64(1.0 / f64::from(rate));
    let total = u64::from(rate) * seconds;
    let start = tokio::time::Instant::now();
    let results = Arc::new(std::sync::Mutex::new((Vec::with_capacity(total as usize), 0usize)));
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + period * i as u32;
        tokio::time::sleep_until(due).await;
        let (client, url, token, results) = (client.clone(), url.to_string(), token.to_string(), results.clone());
        tasks.push(tokio::spawn(async move {
            let ok = match client.get(&url).bearer_auth(&token).send().await {
                Ok(response) => response.status().as_u16() == 200 && response.bytes().await.is_ok(),
                Err(_) => false,
            };
            let elapsed = due.elapsed().as_micros() as u64;
            let mut r = results.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if ok { r.0.push(elapsed) } else { r.1 += 1 }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = start.elapsed();
    let (latencies, failures) = std::mem::take(&mut *results.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    Summary::of(latencies, failures, elapsed)
}

/// Peak resident memory of a process, MB.
fn vm_hwm_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let root = std::env::current_dir()?;
    let sua = root.join("target/release/sua");
    anyhow::ensure!(sua.exists(), "build it first: cargo build --release --bin sua");
    let (name, fresh) = match &args.reuse {
        Some(name) => (name.clone(), false),
        None => (format!("sua_bench_p4_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]), true),
    };
    let url = format!("{}/{name}", args.postgres);
    if fresh {
        psql(&format!("{}/postgres", args.postgres), &format!("CREATE DATABASE {name}"))?;
        sua_db::migrate(&secrecy::SecretString::from(url.clone()))?;
        let started = Instant::now();
        eprintln!("filling {name}: {} users, {} call records …", args.users, args.calls);
        psql(&url, &fill_sql(args.users, args.calls)).context("filling the database")?;
        psql(&url, "VACUUM ANALYZE")?;
        eprintln!("filled in {:.0} s", started.elapsed().as_secs_f64());
    }
    let counts = psql(
        &url,
        &format!(
            "SELECT (SELECT count(*) FROM analytics.users WHERE run_id = '{RUN}') || ' users, ' || \
             (SELECT count(*) FROM analytics.call_records WHERE tenant_id = '{TENANT}') || ' call records, ' || \
             (SELECT count(*) FROM analytics.findings WHERE tenant_id = '{TENANT}') || ' findings'"
        ),
    )?;
    eprintln!("tenant: {counts}");

    let sim = GraphSim::start(SimConfig {
        tenants: vec![TenantSpec { users: 1, entra_p1: true, concealed_names: true }],
        calls_per_user: 0.0,
        days: 1,
        ..SimConfig::default()
    })
    .await?;
    let mut spec = UserTokenSpec::new(TENANT, AUDIENCE, &["Portal.Reader"]);
    spec.lifetime_secs = 3600;
    let token = sim.sim.user_token(&spec)?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    let mut report = serde_json::Map::new();
    // With the aggregate cache as shipped (30 s), and without it: every request runs its queries.
    for (label, ttl) in [("cached", 30u64), ("uncached", 0)] {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut portal = Command::new(&sua)
            .arg("portal-api")
            .env("SUA_DATABASE_URL", &url)
            .env("SUA_AMQP_URL", "memory://")
            .env("SUA_LISTEN", format!("127.0.0.1:{port}"))
            .env("SUA_LOGIN_URL", &sim.login_url)
            .env("SUA_EXTRA_CA_FILE", &sim.ca_file)
            .env("SUA_PORTAL__AUDIENCE", AUDIENCE)
            .env("SUA_PORTAL__ISSUER_BASE", &sim.sim.config.issuer_base)
            .env("SUA_PORTAL__RATE_PER_SECOND", "100000")
            .env("SUA_PORTAL__RATE_BURST", "100000")
            .env("SUA_PORTAL__CACHE_TTL_SECS", ttl.to_string())
            .env("SUA_DB__POOL_SIZE", "16")
            .env("SUA_LOG__FILTER", "warn")
            .spawn()?;
        let base = format!("http://127.0.0.1:{port}/api/v1/tenants/{TENANT}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while client
            .get(format!("{base}/licences"))
            .bearer_auth(&token)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
            != 200
        {
            anyhow::ensure!(Instant::now() < deadline, "portal-api did not answer");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        for endpoint in ["dashboard", "licences"] {
            let target = format!("{base}/{endpoint}");
            load(&client, &target, &token, args.rate, args.warmup_seconds).await;
            let summary = load(&client, &target, &token, args.rate, args.seconds).await;
            let db_ms: f64 = statements(endpoint).iter().map(|s| psql_ms(&url, s, 21)).sum::<anyhow::Result<f64>>()?;
            println!(
                "P4 {endpoint:<9} ({label}): {:.0} req/s offered {}, answered {} ({} failed): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; \
                 psql, the same statements: {db_ms:.1} ms (p99 / psql = {:.1}x)",
                f64::from(args.rate),
                summary.requests + summary.failures,
                summary.requests,
                summary.failures,
                summary.p50_ms,
                summary.p99_ms,
                summary.max_ms,
                summary.p99_ms / db_ms.max(0.001),
            );
            let mut json = summary.to_json();
            json["psql_ms"] = serde_json::json!(db_ms);
            report.insert(format!("{endpoint}_{label}"), json);
        }
        // The lists behind the other portal pages (never cached), at a lower rate: informational.
        if ttl > 0 {
            for page in [
                "users?limit=100",
                "users?limit=100&sort=last_sign_in&order=desc",
                "users?limit=100&inactive_days=90&licensed=true",
                "findings?limit=100",
                "calls/usage?group_by=day",
                "calls/usage?group_by=user&limit=100",
                "calls/usage?group_by=department",
                "calls/quality",
            ] {
                let target = format!("{base}/{page}");
                load(&client, &target, &token, args.page_rate, 2).await;
                let summary = load(&client, &target, &token, args.page_rate, 10).await;
                println!(
                    "page {page:<48} at {} req/s: {} answered ({} failed), p50 {:.1} ms, p99 {:.1} ms",
                    args.page_rate, summary.requests, summary.failures, summary.p50_ms, summary.p99_ms
                );
                report.insert(format!("page {page}"), summary.to_json());
            }
        }
        // Exports of the whole users list: streamed, so portal-api's peak memory should barely move.
        let before = vm_hwm_mb(portal.id());
        for format in ["csv", "xlsx"] {
            let started = Instant::now();
            let response = client.get(format!("{base}/reports/users.{format}")).bearer_auth(&token).send().await?;
            anyhow::ensure!(response.status().as_u16() == 200, "export answered {}", response.status());
            let mut bytes = 0usize;
            let mut stream = response;
            while let Some(chunk) = stream.chunk().await? {
                bytes += chunk.len();
            }
            let seconds = started.elapsed().as_secs_f64();
            let peak = vm_hwm_mb(portal.id());
            println!(
                "export users.{format:<4} ({label}): {:.1} MB in {seconds:.2} s; portal-api peak RSS {before:.0} MB before exports, {peak:.0} MB after",
                bytes as f64 / 1e6
            );
            report.insert(
                format!("export_{format}_{label}"),
                serde_json::json!({"bytes": bytes, "seconds": seconds, "peak_rss_mb": peak}),
            );
        }
        let _ = portal.kill();
        let _ = portal.wait();
    }
    println!("{}", serde_json::json!({"p4": report, "tenant": counts, "rate": args.rate}));
    sim.stop().await;
    if fresh && !args.keep {
        psql(&format!("{}/postgres", args.postgres), &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
    } else {
        eprintln!("database {name} kept: rerun with --reuse {name}");
    }
    Ok(())
}
