//! Benchmark P4 (design §7, issues 13 and 19): portal-api's reads on a 100,000-user tenant with 10,000,000 call
//! records, at a fixed 200 requests/s (open loop: latency counts from when a request was due, so a slow answer
//! delays none of the next ones), with the aggregate cache as shipped and with it off, next to the time psql takes
//! for exactly the statements the endpoint runs.
//!
//! 1. A fresh database, migrated, filled by SQL: the tenant's current snapshot (100k users, their licences, 12
//!    SKUs), its findings and their totals, 10M call records over 30 days and their rollups, 90 days of daily
//!    aggregates (users, licence cost, savings, department cost, call and PSTN use) and some realised savings.
//! 2. The Graph simulator in-process, only as the token issuer (JWKS) and to mint a reader's and an operator's token.
//! 3. The release `sua portal-api` as its own process: once with the cache as shipped (30 s), once with
//!    `portal.cache_ttl_secs = 0` (every request runs its statements).
//! 4. For each endpoint: requests at the rate for the duration after a warm-up; p50/p99/max and failures.
//! 5. The baseline: one more portal-api logs every statement with its binds (`sua_db::statements` at TRACE, JSON,
//!    tagged with the request's trace id, which the bench sets through `traceparent`); one request per endpoint is
//!    captured, and psql replays exactly those statements (prepared, with the same binds) 21 times in one session;
//!    the median of the per-request sums is the baseline.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
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
    /// Requests per second for the other list pages (findings, usage, quality): informational.
    #[arg(long, default_value_t = 20)]
    page_rate: u32,
    /// Only these endpoints (comma-separated names as printed), e.g. `dashboard,users_by_sign_in`.
    #[arg(long)]
    only: Option<String>,
    /// Skip the informational pages and the exports.
    #[arg(long)]
    quick: bool,
    /// Reuse this database as it is (skip creating and filling it); it is kept afterwards.
    #[arg(long)]
    reuse: Option<String>,
    /// Keep the filled database for `--reuse`.
    #[arg(long)]
    keep: bool,
}

const TENANT: &str = "44444444-0000-4000-8000-000000000004";
const OPERATOR_TENANT: &str = "55555555-0000-4000-8000-000000000005";
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
/// a finding for about a quarter of the held licences, calls spread over 30 days, one user in twenty calling the
/// public phone network every day, and 90 days of the daily aggregates analytics keeps.
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
    now() - interval '2 years',
    CASE WHEN i % 17 = 0 THEN NULL ELSE now() - (i % 400) * interval '1 day' - (i % 86400) * interval '1 second' END,
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
-- What analytics writes with the findings (FindingRow::replace).
INSERT INTO finding_totals
SELECT tenant_id, kind, effect, COALESCE(sku_id, ''), COALESCE(currency, ''), COUNT(*), SUM(units),
       COALESCE(SUM(amount_minor), 0)
FROM findings WHERE tenant_id = '{TENANT}'
GROUP BY tenant_id, kind, effect, COALESCE(sku_id, ''), COALESCE(currency, '');
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
SELECT '{TENANT}', current_date - d, 'user-' || lpad(u::text, 7, '0'), 7, 1, 6, 2100, 1, 0, 28,
    CASE WHEN (u + d) % 25 = 0 THEN 1 + u % 3 ELSE 0 END
FROM generate_series(0, 29) d, generate_series(1, {users}) u;
INSERT INTO call_usage_tenant_daily (tenant_id, day, calls, group_calls, peer_calls, seconds, video_calls, pstn_calls,
    streams, poor_streams)
SELECT '{TENANT}', day, count(*), sum(CASE WHEN call_type = 'groupCall' THEN 1 ELSE 0 END),
    sum(CASE WHEN call_type = 'groupCall' THEN 0 ELSE 1 END), sum(duration_seconds), 0, sum(pstn::int), sum(streams),
    sum(poor_streams)
FROM call_records WHERE tenant_id = '{TENANT}' GROUP BY day;
-- The 60 days before the raw records (retention keeps the rollups).
INSERT INTO call_usage_tenant_daily (tenant_id, day, calls, group_calls, peer_calls, seconds, video_calls, pstn_calls,
    streams, poor_streams)
SELECT '{TENANT}', current_date - d, {calls} / 30, {calls} / 150, {calls} / 30 - {calls} / 150, {calls} * 10, 0,
    {calls} / 600, {calls} * 4 / 30, {calls} / 750
FROM generate_series(30, 89) d;
-- Calling Plan use: one user in twenty, every day of 90; charges in USD.
INSERT INTO pstn_usage_daily (tenant_id, day, user_id, source, currency, calls, seconds, charge_minor)
SELECT '{TENANT}', current_date - d, 'user-' || lpad(u::text, 7, '0'), 'pstn', 'USD', 2, 360, 12
FROM generate_series(0, 89) d, generate_series(20, {users}, 20) u;
INSERT INTO pstn_usage_tenant_daily (tenant_id, day, source, currency, calls, seconds, charge_minor)
SELECT tenant_id, day, source, currency, SUM(calls), SUM(seconds), SUM(charge_minor)
FROM pstn_usage_daily WHERE tenant_id = '{TENANT}' GROUP BY tenant_id, day, source, currency;
-- The same per department of the snapshot (rollups::rebuild_departments).
INSERT INTO call_usage_department_daily
SELECT d.tenant_id, d.day, COALESCE(u.department, ''), '{RUN}', SUM(d.calls), SUM(d.group_calls), SUM(d.peer_calls),
       SUM(d.seconds), SUM(d.video_calls), SUM(d.pstn_calls), SUM(d.streams), SUM(d.poor_streams)
FROM call_usage_daily d LEFT JOIN users u ON u.run_id = '{RUN}' AND u.id = d.user_id
WHERE d.tenant_id = '{TENANT}' GROUP BY d.tenant_id, d.day, COALESCE(u.department, '');
INSERT INTO pstn_department_daily
SELECT d.tenant_id, d.day, COALESCE(u.department, ''), d.source, d.currency, '{RUN}', SUM(d.calls), SUM(d.seconds),
       SUM(d.charge_minor)
FROM pstn_usage_daily d LEFT JOIN users u ON u.run_id = '{RUN}' AND u.id = d.user_id
WHERE d.tenant_id = '{TENANT}' GROUP BY d.tenant_id, d.day, COALESCE(u.department, ''), d.source, d.currency;
-- 90 days of what analytics writes when it recomputes findings (history.rs).
INSERT INTO tenant_daily (tenant_id, day, run_id, users, licensed_users, active_users, computed_at)
SELECT '{TENANT}', current_date - d, CASE WHEN d = 0 THEN '{RUN}' ELSE 'bench-run-old-' || d END,
    (SELECT count(*) FROM users WHERE run_id = '{RUN}'), (SELECT count(*) FROM users WHERE run_id = '{RUN}' AND licences > 0),
    {users} * 6 / 10, now()
FROM generate_series(0, 89) d;
INSERT INTO licence_cost_daily (tenant_id, day, sku_id, sku_part_number, purchased, assigned, available, currency,
    unit_price_minor, cost_minor)
SELECT '{TENANT}', current_date - d, sku_id, sku_part_number, enabled + d, consumed, enabled + d - consumed, 'USD', 3600,
    3600 * (enabled + d)
FROM skus, generate_series(0, 89) d WHERE run_id = '{RUN}';
INSERT INTO savings_daily (tenant_id, day, kind, effect, currency, findings, units, amount_minor)
SELECT '{TENANT}', current_date - d, kind, effect, currency, SUM(findings) + d, SUM(units) + d, SUM(amount_minor) + 3600 * d
FROM finding_totals, generate_series(0, 89) d WHERE tenant_id = '{TENANT}' GROUP BY d, kind, effect, currency;
INSERT INTO department_cost_daily (tenant_id, day, department, sku_id, sku_part_number, calling_plan, units, currency,
    cost_minor)
SELECT '{TENANT}', current_date - d, department, sku_id, sku_part_number, calling_plan, units, 'USD', 3600 * units
FROM (SELECT COALESCE(u.department, '') AS department, a.sku_id, s.sku_part_number,
             s.sku_part_number IN ('MCOPSTN1', 'MCOPSTN2') AS calling_plan, COUNT(*) AS units
      FROM assignments a JOIN users u ON u.run_id = a.run_id AND u.id = a.user_id
      JOIN skus s ON s.run_id = a.run_id AND s.sku_id = a.sku_id
      WHERE a.run_id = '{RUN}' GROUP BY 1, 2, 3, 4) c, generate_series(0, 89) d;
INSERT INTO realised_savings (tenant_id, day, sku_id, kind, sku_part_number, units, currency, amount_minor, description,
    recorded_at)
SELECT '{TENANT}', current_date - 3 * d, 'sku-1', 'inactive_user', 'SPE_E3', 2, 'USD', 7200, '2 licences removed', now()
FROM generate_series(0, 29) d;
"#
    )
}

/// One endpoint under load.
struct Endpoint {
    name: &'static str,
    /// After `/api/v1`.
    path: String,
    operator: bool,
}

fn endpoints(today: chrono::NaiveDate, deep_cursor: &str) -> Vec<Endpoint> {
    use chrono::Datelike;
    let from = today - chrono::Duration::days(89);
    let last_month = (today.with_day(1).unwrap_or(today) - chrono::Duration::days(1)).format("%Y-%m");
    let tenant = format!("/tenants/{TENANT}");
    let e = |name, path: String, operator| Endpoint { name, path, operator };
    vec![
        e("dashboard", format!("{tenant}/dashboard"), false),
        e("licences", format!("{tenant}/licences"), false),
        e("summary", "/summary".to_string(), true),
        e("trends_90d", format!("{tenant}/trends?from={from}&to={today}"), false),
        e("chargeback", format!("{tenant}/chargeback?month={last_month}"), false),
        e(
            "department_usage_30d",
            format!("{tenant}/calls/usage?group_by=department&from={}&to={today}", today - chrono::Duration::days(29)),
            false,
        ),
        e(
            "quality_30d",
            format!("{tenant}/calls/quality?from={}&to={today}", today - chrono::Duration::days(29)),
            false,
        ),
        e(
            "quality_30d_totals",
            format!("{tenant}/calls/quality?from={}&to={today}&worst_users=0", today - chrono::Duration::days(29)),
            false,
        ),
        e("users_by_sign_in", format!("{tenant}/users?limit=100&sort=last_sign_in&order=desc"), false),
        e(
            "users_by_sign_in_p500",
            format!("{tenant}/users?limit=100&sort=last_sign_in&order=desc&cursor={deep_cursor}"),
            false,
        ),
    ]
}

/// A statement as diesel ran it: its SQL and its binds as SQL literals (`None`: run as a simple statement).
#[derive(Debug, Clone)]
struct Statement {
    sql: String,
    binds: Option<Vec<String>>,
}

impl Statement {
    /// From diesel's `SQL -- binds: [..]`.
    fn parse(logged: &str) -> anyhow::Result<Statement> {
        let (sql, binds) = logged.rsplit_once(" -- binds: ").context("no binds in a logged statement")?;
        let sql = sql.trim().to_string();
        let upper = sql.to_ascii_uppercase();
        // Transaction control goes through the simple protocol in diesel too; everything else is prepared.
        if ["BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"].iter().any(|k| upper.starts_with(k)) {
            return Ok(Statement { sql, binds: None });
        }
        let mut parser = Binds { text: binds.trim().as_bytes(), at: 0 };
        let binds = parser.list()?;
        Ok(Statement { sql, binds: Some(binds) })
    }
}

/// A parser of the `Debug` text of diesel's binds into SQL literals that PostgreSQL types from the statement.
struct Binds<'a> {
    text: &'a [u8],
    at: usize,
}

impl Binds<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> anyhow::Result<()> {
        self.skip_spaces();
        anyhow::ensure!(self.peek() == Some(byte), "expected {:?} at {} in binds", byte as char, self.at);
        self.at += 1;
        Ok(())
    }

    /// `[a, b, …]` → one literal per element.
    fn list(&mut self) -> anyhow::Result<Vec<String>> {
        self.expect(b'[')?;
        let mut out = Vec::new();
        loop {
            self.skip_spaces();
            if self.peek() == Some(b']') {
                self.at += 1;
                return Ok(out);
            }
            out.push(self.value()?.literal());
            self.skip_spaces();
            if self.peek() == Some(b',') {
                self.at += 1;
            }
        }
    }

    fn value(&mut self) -> anyhow::Result<Value> {
        self.skip_spaces();
        match self.peek() {
            Some(b'"') => Ok(Value::Text(self.string()?)),
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_spaces();
                    if self.peek() == Some(b']') {
                        self.at += 1;
                        return Ok(Value::Array(items));
                    }
                    items.push(self.value()?);
                    self.skip_spaces();
                    if self.peek() == Some(b',') {
                        self.at += 1;
                    }
                }
            }
            _ => {
                let start = self.at;
                while let Some(b) = self.peek() {
                    if matches!(b, b',' | b']' | b'(' | b')') {
                        break;
                    }
                    self.at += 1;
                }
                let word = std::str::from_utf8(&self.text[start..self.at])?.trim().to_string();
                match word.as_str() {
                    "None" => Ok(Value::Null),
                    "Some" => {
                        self.expect(b'(')?;
                        let inner = self.value()?;
                        self.expect(b')')?;
                        Ok(inner)
                    }
                    _ => Ok(Value::Bare(word)),
                }
            }
        }
    }

    /// A Rust `Debug` string: `"…"` with `\"`, `\\`, `\n`, `\t`, `\r`, `\'`, `\0` and `\u{…}` escapes.
    fn string(&mut self) -> anyhow::Result<String> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            let b = self.peek().context("unterminated string in binds")?;
            self.at += 1;
            match b {
                b'"' => return Ok(String::from_utf8(out)?),
                b'\\' => {
                    let e = self.peek().context("dangling escape in binds")?;
                    self.at += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'0' => out.push(0),
                        b'u' => {
                            self.expect(b'{')?;
                            let start = self.at;
                            while self.peek().is_some_and(|b| b != b'}') {
                                self.at += 1;
                            }
                            let code = u32::from_str_radix(std::str::from_utf8(&self.text[start..self.at])?, 16)?;
                            self.at += 1;
                            let c = char::from_u32(code).context("bad \\u escape in binds")?;
                            out.extend_from_slice(c.to_string().as_bytes());
                        }
                        other => out.push(other),
                    }
                }
                other => out.push(other),
            }
        }
    }
}

enum Value {
    Null,
    Text(String),
    /// A number, boolean, date or timestamp as Rust prints it; PostgreSQL reads each from an untyped literal.
    Bare(String),
    Array(Vec<Value>),
}

impl Value {
    fn literal(&self) -> String {
        let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
        match self {
            Value::Null => "NULL".to_string(),
            Value::Text(s) | Value::Bare(s) => quote(s),
            Value::Array(items) => {
                let elements: Vec<String> = items
                    .iter()
                    .map(|v| match v {
                        Value::Null => "NULL".to_string(),
                        Value::Text(s) | Value::Bare(s) => {
                            format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
                        }
                        Value::Array(_) => String::new(),
                    })
                    .collect();
                quote(&format!("{{{}}}", elements.join(",")))
            }
        }
    }
}

/// Median time of one request's statements over `n` replays in one psql session, ms (psql's `\timing`): each
/// statement prepared once (untimed), then executed with its binds in the request's order.
fn replay_ms(url: &str, statements: &[Statement], n: usize) -> anyhow::Result<f64> {
    anyhow::ensure!(!statements.is_empty(), "no statements captured");
    let mut script = String::from("SET search_path TO collector, analytics, portal, public;\nSET TIME ZONE 'UTC';\n");
    for (i, s) in statements.iter().enumerate() {
        if s.binds.is_some() {
            script.push_str(&format!("PREPARE q{i} AS {};\n", s.sql));
        }
    }
    script.push_str("\\timing on\n");
    for _ in 0..n {
        for (i, s) in statements.iter().enumerate() {
            match &s.binds {
                Some(b) if b.is_empty() => script.push_str(&format!("EXECUTE q{i};\n")),
                Some(b) => script.push_str(&format!("EXECUTE q{i}({});\n", b.join(", "))),
                None => script.push_str(&format!("{};\n", s.sql)),
            }
        }
    }
    let output = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qtA", "-o", "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().map(|mut stdin| stdin.write_all(script.as_bytes()));
            child.wait_with_output()
        })?;
    anyhow::ensure!(output.status.success(), "psql replay failed: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout);
    let times: Vec<f64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("Time: "))
        .filter_map(|t| t.split_whitespace().next())
        .filter_map(|t| t.parse().ok())
        .collect();
    anyhow::ensure!(
        times.len() == statements.len() * n,
        "psql printed {} timings for {} statements × {n}",
        times.len(),
        statements.len()
    );
    // The slowest statement, to say where the time goes.
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let per_statement: Vec<f64> = (0..statements.len())
        .map(|i| median(times.iter().skip(i).step_by(statements.len()).copied().collect()))
        .collect();
    if let Some((i, ms)) = per_statement.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)) {
        let sql: String = statements[i].sql.chars().take(160).collect();
        eprintln!("  slowest statement {ms:.2} ms: {sql}");
    }
    Ok(median(times.chunks(statements.len()).map(|c| c.iter().sum()).collect()))
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

struct Portal {
    child: Child,
    base: String,
}

impl Drop for Portal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The release portal-api on a free port, answering; `log`: a file for its (JSON) log and a filter.
async fn start_portal(
    sua: &std::path::Path,
    url: &str,
    sim: &GraphSim,
    client: &reqwest::Client,
    token: &str,
    ttl: u64,
    log: Option<(&std::path::Path, &str)>,
) -> anyhow::Result<Portal> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut command = Command::new(sua);
    command
        .arg("portal-api")
        .env("SUA_DATABASE_URL", url)
        .env("SUA_AMQP_URL", "memory://")
        .env("SUA_LISTEN", format!("127.0.0.1:{port}"))
        .env("SUA_LOGIN_URL", &sim.login_url)
        .env("SUA_EXTRA_CA_FILE", &sim.ca_file)
        .env("SUA_PORTAL__AUDIENCE", AUDIENCE)
        .env("SUA_PORTAL__ISSUER_BASE", &sim.sim.config.issuer_base)
        .env("SUA_PORTAL__OPERATOR_TENANT", OPERATOR_TENANT)
        .env("SUA_PORTAL__RATE_PER_SECOND", "100000")
        .env("SUA_PORTAL__RATE_BURST", "100000")
        .env("SUA_PORTAL__CACHE_TTL_SECS", ttl.to_string())
        .env("SUA_DB__POOL_SIZE", "16")
        .env("SUA_LOG__FILTER", log.map_or("warn", |(_, filter)| filter));
    if let Some((file, _)) = log {
        command.env("SUA_LOG__FORMAT", "json").stderr(std::fs::File::create(file)?);
    }
    let portal = Portal { child: command.spawn()?, base: format!("http://127.0.0.1:{port}/api/v1") };
    let deadline = Instant::now() + Duration::from_secs(30);
    let probe = format!("{}/tenants/{TENANT}/licences", portal.base);
    while client.get(&probe).bearer_auth(token).send().await.map(|r| r.status().as_u16()).unwrap_or(0) != 200 {
        anyhow::ensure!(Instant::now() < deadline, "portal-api did not answer");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(portal)
}

/// Each endpoint's statements, as one uncached request runs them: a portal-api logging every statement, one
/// request per endpoint with its own trace id, the log grouped by trace id.
async fn capture(
    sua: &std::path::Path,
    url: &str,
    sim: &GraphSim,
    client: &reqwest::Client,
    tokens: &Tokens,
    endpoints: &[Endpoint],
) -> anyhow::Result<BTreeMap<&'static str, Vec<Statement>>> {
    let file = std::env::temp_dir().join(format!("sua-p4-statements-{}.log", std::process::id()));
    let portal = start_portal(
        sua,
        url,
        sim,
        client,
        &tokens.reader,
        0,
        Some((&file, "warn,sua_core::requests=info,sua_db=info,sua_db::statements=trace")),
    )
    .await?;
    let mut traces = BTreeMap::new();
    for (i, endpoint) in endpoints.iter().enumerate() {
        let trace = format!("{:032x}", 0x5ea0_0000_u128 + i as u128 + 1);
        let response = client
            .get(format!("{}{}", portal.base, endpoint.path))
            .bearer_auth(tokens.of(endpoint))
            .header("traceparent", format!("00-{trace}-{:016x}-01", i + 1))
            .send()
            .await?;
        anyhow::ensure!(response.status().as_u16() == 200, "{} answered {}", endpoint.name, response.status());
        let body = response.bytes().await?;
        eprintln!("{}: {} bytes", endpoint.name, body.len());
        traces.insert(trace, endpoint.name);
    }
    drop(portal);
    let log = std::fs::read_to_string(&file)?;
    let mut out: BTreeMap<&'static str, Vec<Statement>> = BTreeMap::new();
    for line in log.lines() {
        let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if event["target"] != "sua_db::statements" {
            continue;
        }
        let Some(name) = event["trace_id"].as_str().and_then(|t| traces.get(t)) else { continue };
        let sql = event["fields"]["sql"].as_str().context("a statement without sql")?;
        out.entry(name).or_default().push(Statement::parse(sql)?);
    }
    for endpoint in endpoints {
        anyhow::ensure!(
            out.contains_key(endpoint.name),
            "no statements captured for {} (portal-api's log kept in {})",
            endpoint.name,
            file.display()
        );
    }
    let _ = std::fs::remove_file(&file);
    Ok(out)
}

struct Tokens {
    reader: String,
    operator: String,
}

impl Tokens {
    fn of(&self, endpoint: &Endpoint) -> &str {
        if endpoint.operator { &self.operator } else { &self.reader }
    }
}

/// A cursor halfway through the users sorted by last sign-in, descending (page 501 of 100 users), found by
/// paging as a client would.
async fn deep_cursor(portal: &Portal, client: &reqwest::Client, token: &str, users: u32) -> anyhow::Result<String> {
    let mut cursor: Option<String> = None;
    let mut seen = 0u32;
    while seen < users / 2 {
        let mut request = client.get(format!("{}/tenants/{TENANT}/users", portal.base)).query(&[
            ("limit", "1000"),
            ("sort", "last_sign_in"),
            ("order", "desc"),
        ]);
        if let Some(c) = &cursor {
            request = request.query(&[("cursor", c.as_str())]);
        }
        let page: serde_json::Value = request.bearer_auth(token).send().await?.error_for_status()?.json().await?;
        seen += page["items"].as_array().map_or(0, |a| a.len() as u32);
        cursor = Some(page["next_cursor"].as_str().context("users ended before half way")?.to_string());
    }
    cursor.context("no cursor")
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
             (SELECT count(*) FROM analytics.findings WHERE tenant_id = '{TENANT}') || ' findings, ' || \
             (SELECT count(*) FROM analytics.pstn_usage_daily WHERE tenant_id = '{TENANT}') || ' PSTN user-days'"
        ),
    )?;
    eprintln!("tenant: {counts}");
    let today: chrono::NaiveDate = psql(&url, "SELECT current_date")?.parse()?;
    // What analytics keeps for call quality: the worst users of the last 7, 30 and 90 days, ranked by its own code.
    let started = Instant::now();
    let pool = sua_db::Pool::new(&secrecy::SecretString::from(url.clone()), &sua_core::config::DbConfig::default())?;
    pool.run(move |conn| conn.transaction(|tx| sua_db::models::quality_windows::recompute(tx, TENANT, today))).await?;
    eprintln!("call-quality windows ranked in {:.0} ms", started.elapsed().as_secs_f64() * 1000.0);

    let sim = GraphSim::start(SimConfig {
        tenants: vec![TenantSpec { users: 1, entra_p1: true, concealed_names: true }],
        calls_per_user: 0.0,
        days: 1,
        ..SimConfig::default()
    })
    .await?;
    let token = |tenant: &str, role: &str| -> anyhow::Result<String> {
        let mut spec = UserTokenSpec::new(tenant, AUDIENCE, &[role]);
        spec.lifetime_secs = 3600;
        sim.sim.user_token(&spec)
    };
    let tokens =
        Tokens { reader: token(TENANT, "Portal.Reader")?, operator: token(OPERATOR_TENANT, "Portal.Operator")? };
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;

    let cursor = {
        let portal = start_portal(&sua, &url, &sim, &client, &tokens.reader, 0, None).await?;
        deep_cursor(&portal, &client, &tokens.reader, args.users).await?
    };
    let only: Option<Vec<&str>> = args.only.as_deref().map(|o| o.split(',').collect());
    let endpoints: Vec<Endpoint> =
        endpoints(today, &cursor).into_iter().filter(|e| only.as_ref().is_none_or(|o| o.contains(&e.name))).collect();
    let statements = capture(&sua, &url, &sim, &client, &tokens, &endpoints).await?;
    let mut baseline = BTreeMap::new();
    for endpoint in &endpoints {
        let list = &statements[endpoint.name];
        let ms = replay_ms(&url, list, 21)?;
        eprintln!("{}: {} statements, psql {ms:.2} ms", endpoint.name, list.len());
        baseline.insert(endpoint.name, (list.len(), ms));
    }

    let mut report = serde_json::Map::new();
    let mut rows: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    // With the aggregate cache as shipped (30 s), and without it: every request runs its statements.
    for (label, ttl) in [("cached", 30u64), ("uncached", 0)] {
        let portal = start_portal(&sua, &url, &sim, &client, &tokens.reader, ttl, None).await?;
        for endpoint in &endpoints {
            let target = format!("{}{}", portal.base, endpoint.path);
            let token = tokens.of(endpoint);
            load(&client, &target, token, args.rate, args.warmup_seconds).await;
            let summary = load(&client, &target, token, args.rate, args.seconds).await;
            let (count, db_ms) = baseline[endpoint.name];
            let line = format!(
                "{:<22} {label:<8} {:>5}/{:<5} {:>4} {:>8.1} {:>8.1} {:>8.1} | {count:>3} stmts {db_ms:>7.2} ms | {:>6.1}x",
                endpoint.name,
                summary.requests,
                summary.requests + summary.failures,
                summary.failures,
                summary.p50_ms,
                summary.p99_ms,
                summary.max_ms,
                summary.p99_ms / db_ms.max(0.001),
            );
            println!("{line}");
            rows.entry(endpoint.name).or_default().push(line);
            let mut json = summary.to_json();
            json["psql_ms"] = serde_json::json!(db_ms);
            json["statements"] = serde_json::json!(count);
            report.insert(format!("{}_{label}", endpoint.name), json);
        }
        // The lists behind the other portal pages, at a lower rate: informational.
        if ttl > 0 && !args.quick {
            for page in [
                "users?limit=100",
                "users?limit=100&inactive_days=90&licensed=true",
                "findings?limit=100",
                "calls/usage?group_by=day",
                "calls/usage?group_by=user&limit=100",
                "calls/quality",
                "calls/pstn?group_by=day",
            ] {
                let target = format!("{}/tenants/{TENANT}/{page}", portal.base);
                load(&client, &target, &tokens.reader, args.page_rate, 2).await;
                let summary = load(&client, &target, &tokens.reader, args.page_rate, 10).await;
                println!(
                    "page {page:<48} at {} req/s: {} answered ({} failed), p50 {:.1} ms, p99 {:.1} ms",
                    args.page_rate, summary.requests, summary.failures, summary.p50_ms, summary.p99_ms
                );
                report.insert(format!("page {page}"), summary.to_json());
            }
            // Exports of the whole users list: streamed, so portal-api's peak memory should barely move.
            let before = vm_hwm_mb(portal.child.id());
            for format in ["csv", "xlsx"] {
                let started = Instant::now();
                let response = client
                    .get(format!("{}/tenants/{TENANT}/reports/users.{format}", portal.base))
                    .bearer_auth(&tokens.reader)
                    .send()
                    .await?;
                anyhow::ensure!(response.status().as_u16() == 200, "export answered {}", response.status());
                let mut bytes = 0usize;
                let mut stream = response;
                while let Some(chunk) = stream.chunk().await? {
                    bytes += chunk.len();
                }
                let seconds = started.elapsed().as_secs_f64();
                let peak = vm_hwm_mb(portal.child.id());
                println!(
                    "export users.{format:<4}: {:.1} MB in {seconds:.2} s; portal-api peak RSS {before:.0} MB before exports, {peak:.0} MB after",
                    bytes as f64 / 1e6
                );
                report.insert(
                    format!("export_{format}"),
                    serde_json::json!({"bytes": bytes, "seconds": seconds, "peak_rss_mb": peak}),
                );
            }
        }
    }
    println!(
        "\n{} req/s for {} s after {} s of warm-up; latency (ms) counted from when each request was due\n\
         endpoint               cache    answered fail      p50      p99      max | psql: the endpoint's statements | p99/psql",
        args.rate, args.seconds, args.warmup_seconds
    );
    for lines in rows.values() {
        for line in lines {
            println!("{line}");
        }
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
