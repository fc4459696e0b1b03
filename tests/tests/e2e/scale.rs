//! Many tenants on many replicas: three collectors (one of them intake-only, taking Graph's notifications and the
//! consent callbacks), two analytics and two portal-api, as separate processes on one RabbitMQ and one
//! PostgreSQL, as a service provider runs sua. Fifty customers consent at once, then a call storm spreads over
//! them while one replica of each kind is killed, a backfill runs and the day's licence sync is forced again.
//! What every customer sees must be exactly what the simulator generated for it, whichever replica did the work.
//!
//! The services run on the system clock (they are separate processes), so the simulator does too: every
//! expectation comes from the generator, whatever the date.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::future::join_all;
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::json;
use sua_graph_sim::{SimConfig, TenantSpec, UserTokenSpec};
use sua_portal_api::api::calls::Usage;
use sua_portal_api::api::findings::Findings;
use sua_portal_api::api::licences::Licences;
use sua_tests::binaries::{ServiceProcess, free_port};
use sua_tests::expected::{expected_findings, history, pstn_rows_billed};
use sua_tests::graph::SimHarness;
use sua_tests::portal::Portal;
use sua_tests::sql::counts;
use sua_tests::stack::{OPERATOR_TENANT, PORTAL_AUDIENCE};
use sua_tests::{BrokerUnderTest, TestBroker, TestDatabase, eventually, settles};

const TENANTS: usize = 50;
const USERS: u32 = 30;
/// Calls placed per tenant in the storm.
const STORM: u32 = 20;
const WAIT: Duration = Duration::from_secs(150);

struct Replicas {
    intake: ServiceProcess,
    workers: Vec<ServiceProcess>,
    analytics: Vec<ServiceProcess>,
    portals: Vec<ServiceProcess>,
}

fn environment(
    sim: &SimHarness,
    db: &TestDatabase,
    broker: &TestBroker,
    public_url: &str,
) -> Vec<(&'static str, String)> {
    let graph = sim.graph();
    vec![
        ("SUA_DATABASE_URL", db.url().expose_secret().to_string()),
        ("SUA_AMQP_URL", sua_tests::rabbitmq_url()),
        ("SUA_AMQP__PREFIX", broker.settings.prefix.clone()),
        ("SUA_AMQP__QUEUE_EXPIRES_MS", "600000".into()),
        ("SUA_GRAPH_URL", sim.sim.graph_url.clone()),
        ("SUA_LOGIN_URL", sim.sim.login_url.clone()),
        ("SUA_EXTRA_CA_FILE", sim.sim.ca_file.display().to_string()),
        ("SUA_CLIENT_ID", graph.config.client_id.clone()),
        ("SUA_CLIENT_SECRET", graph.config.client_secret.clone()),
        ("SUA_PUBLIC_URL", public_url.to_string()),
        ("SUA_GRAPH__MAX_RETRIES", "3".into()),
        // Microsoft allows 10 signInActivity requests a minute per app across every tenant: fifty first syncs would
        // take five minutes at that pace (the Graph-budget benchmark measures it). The shared window still runs,
        // across the replicas, at a pace this test can wait for.
        ("SUA_GRAPH__SIGN_IN_ACTIVITY_PER_MINUTE", "600".into()),
        ("SUA_ONBOARDING__CONSENT_PROPAGATION_SECS", "0".into()),
        ("SUA_SYNC__CHECK_INTERVAL_SECS", "1".into()),
        ("SUA_ANALYTICS__RECOMPUTE_INTERVAL_MS", "200".into()),
        ("SUA_PORTAL__AUDIENCE", PORTAL_AUDIENCE.into()),
        ("SUA_PORTAL__ISSUER_BASE", graph.config.issuer_base.clone()),
        ("SUA_PORTAL__OPERATOR_TENANT", OPERATOR_TENANT.into()),
        ("SUA_PORTAL__RATE_PER_SECOND", "10000".into()),
        ("SUA_PORTAL__RATE_BURST", "10000".into()),
        // No aggregate cache: each portal replica computes every answer itself.
        ("SUA_PORTAL__CACHE_TTL_SECS", "0".into()),
    ]
}

impl Replicas {
    fn start(env: &[(&'static str, String)], intake_port: u16) -> Self {
        let with = |extra: &[(&'static str, &str)]| {
            let mut env = env.to_vec();
            env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
            env
        };
        Self {
            intake: ServiceProcess::start_at(intake_port, "sua-collector", &[], &with(&[("SUA_SYNC__JOBS", "false")])),
            workers: (0..2).map(|_| ServiceProcess::start("sua-collector", &[], env)).collect(),
            analytics: (0..2).map(|_| ServiceProcess::start("sua-analytics", &[], env)).collect(),
            portals: (0..2).map(|_| ServiceProcess::start("sua-portal-api", &[], env)).collect(),
        }
    }

    fn all(&self) -> impl Iterator<Item = &ServiceProcess> {
        std::iter::once(&self.intake).chain(&self.workers).chain(&self.analytics).chain(&self.portals)
    }
}

async fn ready(url: String) -> bool {
    reqwest::get(&url).await.is_ok_and(|r| r.status().is_success())
}

/// Call records stored per tenant.
async fn stored(pool: &sua_db::Pool) -> BTreeMap<String, i64> {
    counts(pool, "SELECT tenant_id AS key, COUNT(*) AS n FROM call_records GROUP BY tenant_id").await
}

/// Calls counted in the per-day rollups per tenant.
async fn rolled_up(pool: &sua_db::Pool) -> BTreeMap<String, i64> {
    counts(
        pool,
        "SELECT tenant_id AS key, CAST(SUM(calls) AS BIGINT) AS n FROM call_usage_tenant_daily GROUP BY tenant_id",
    )
    .await
}

async fn run_sua(env: &[(&'static str, String)], args: &[&str]) -> String {
    let output = tokio::process::Command::new(sua_tests::binaries::binary("sua"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (*k, v.clone())))
        .env("SUA_LOG__FILTER", "warn")
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "sua {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_tenants_on_three_collectors_two_analytics_and_two_portals_come_out_exact_through_replica_kills() {
    let config = SimConfig {
        tenants: (0..TENANTS).map(|_| TenantSpec { users: USERS, entra_p1: true, concealed_names: true }).collect(),
        days: 2,
        calls_per_user: 0.5,
        clock: Some(chrono::Utc::now()),
        ..SimConfig::default()
    };
    let started_on = chrono::Utc::now().date_naive();
    let sim = SimHarness::start(config).await;
    let graph = sim.graph().clone();
    let db = TestDatabase::postgres().unwrap();
    let pool = db.pool().unwrap();
    let broker = TestBroker::new(BrokerUnderTest::RabbitMq).await;
    let intake_port = free_port();
    let env = environment(&sim, &db, &broker, &format!("http://127.0.0.1:{intake_port}"));
    let mut replicas = Replicas::start(&env, intake_port);
    for service in replicas.all() {
        let url = service.url("/readyz");
        eventually(&format!("{url} ready"), WAIT, || ready(url.clone())).await;
    }
    let portals: Vec<Portal> =
        replicas.portals.iter().map(|p| Portal { url: p.url(""), http: sim.http.clone() }).collect();
    let operator =
        graph.user_token(&UserTokenSpec::new(OPERATOR_TENANT, PORTAL_AUDIENCE, &["Portal.Operator"])).unwrap();

    // Fifty customers' admins consent at the same time, through invitations made on either portal replica.
    let mut links = Vec::new();
    for n in 0..TENANTS {
        let body = json!({"customer_name": format!("Customer {n}"), "admin_email": format!("admin{n}@example.com")});
        let answer =
            portals[n % 2].call(Method::POST, "/api/v1/onboarding/invitations", Some(&operator), Some(&body)).await;
        assert_eq!(answer.status, 201, "{}", answer.text());
        links.push(answer.json()["consent_url"].as_str().unwrap().to_string());
    }
    let consents = join_all(links.iter().map(|link| {
        let http = sim.http.clone();
        async move {
            let page = http.get(link).send().await.unwrap();
            assert_eq!(page.status().as_u16(), 302, "Microsoft's consent page redirects back");
            let callback = page.headers()["location"].to_str().unwrap().to_string();
            http.get(&callback).send().await.unwrap().status().as_u16()
        }
    }))
    .await;
    assert!(consents.iter().all(|s| *s == 200), "every consent recorded: {consents:?}");
    let tenants = sim.sim.tenant_ids();
    let models: Vec<_> = tenants.iter().map(|t| graph.tenant(t).unwrap().clone()).collect();

    // Each customer: a current snapshot, its call history backfilled, its PSTN logs read.
    let history_of: BTreeMap<String, i64> =
        models.iter().map(|m| (m.id.clone(), history(m, &graph).len() as i64)).collect();
    settles("every tenant synced and backfilled", WAIT, || async {
        let snapshots = counts(
            &pool,
            "SELECT tenant_id AS key, COUNT(*) AS n FROM snapshots WHERE state = 'current' GROUP BY tenant_id",
        )
        .await;
        let complete = stored(&pool).await.into_iter().filter(|(t, n)| history_of.get(t) == Some(n)).count();
        // The portals read calls from the per-day rollup, which analytics brings up to date after storing.
        let rolled_up = rolled_up(&pool).await.into_iter().filter(|(t, n)| history_of.get(t) == Some(n)).count();
        let billed = models.iter().filter(|m| pstn_rows_billed(&graph, m).is_some()).count();
        let done = (snapshots.len(), complete, rolled_up, billed);
        if done == (TENANTS, TENANTS, TENANTS, TENANTS) {
            Ok(())
        } else {
            Err(format!(
                "of {TENANTS} tenants: {} with a current snapshot, {complete} backfilled, {rolled_up} with every call \
                 in the rollups, {billed} with PSTN logs read",
                done.0
            ))
        }
    })
    .await;

    // Both portal replicas answer every customer alike. Analytics may still be recomputing a tenant's findings
    // (its PSTN logs were just read) between the two reads, so a difference must go away, not merely be absent.
    for tenant in &tenants {
        let token = graph.user_token(&UserTokenSpec::new(tenant, PORTAL_AUDIENCE, &["Portal.Reader"])).unwrap();
        for page in ["dashboard", "licences"] {
            let path = format!("/api/v1/tenants/{tenant}/{page}");
            settles(&format!("{path} alike on the two portal replicas"), Duration::from_secs(30), || async {
                let (a, b) = (portals[0].get(&path, &token).await, portals[1].get(&path, &token).await);
                if a == b { Ok(()) } else { Err(format!("{a}\n  differs from\n{b}")) }
            })
            .await;
        }
    }

    // A storm over every customer; one replica of each kind dies in the middle of it, and a backfill runs too.
    let mut placed = BTreeMap::new();
    for tenant in &tenants {
        placed.insert(tenant.clone(), graph.place_calls(tenant, STORM).len() as i64);
    }
    let total_expected: i64 = history_of.values().sum::<i64>() + placed.values().sum::<i64>();
    let total_before: i64 = history_of.values().sum();
    eventually("a third of the storm stored", WAIT, || async {
        stored(&pool).await.values().sum::<i64>() >= total_before + (total_expected - total_before) / 3
    })
    .await;
    replicas.workers.remove(0).kill().await;
    replicas.analytics.remove(0).kill().await;
    replicas.portals.remove(1).kill().await;
    let backfill = run_sua(&env, &["backfill", "--tenant", &tenants[0], "--days", "2", "--wait-secs", "120"]).await;
    eprintln!("{backfill}");
    let expected_records: BTreeMap<String, i64> =
        tenants.iter().map(|t| (t.clone(), history_of[t] + placed[t])).collect();
    settles("every call record of the storm stored", WAIT, || async {
        let now = stored(&pool).await;
        let short: Vec<String> = expected_records
            .iter()
            .filter(|(t, n)| now.get(*t) != Some(*n))
            .map(|(t, n)| format!("{t}: {} of {n}", now.get(t).copied().unwrap_or(0)))
            .collect();
        if short.is_empty() { Ok(()) } else { Err(short.join(", ")) }
    })
    .await;

    // The day's licence sync forced again: the two remaining workers (and their schedulers) race for it, and each
    // tenant's run is claimed once: a run's attempt counts its claims. Were midnight (UTC) passed since consent,
    // the new day's run is claimed once more by the schedulers, and still only once.
    let sync = run_sua(&env, &["sync", "--force"]).await;
    assert!(sync.contains(&format!("queued for {TENANTS} of {TENANTS} tenant(s)")), "{sync}");
    let claims = 2 + i64::from(chrono::Utc::now().date_naive() != started_on);
    let claimed = || {
        counts(
            &pool,
            "SELECT tenant_id AS key, SUM(attempt) AS n FROM sync_runs WHERE kind = 'licence' AND status = 'completed' \
             GROUP BY tenant_id",
        )
    };
    eventually("every tenant's forced sync completed", WAIT, || async {
        let runs = claimed().await;
        runs.len() == TENANTS && runs.values().all(|n| *n >= claims)
    })
    .await;
    let runs = claimed().await;
    assert!(runs.values().all(|n| *n == claims), "each run claimed once per start: {runs:?}");
    let unfinished = counts(
        &pool,
        "SELECT status AS key, COUNT(*) AS n FROM sync_runs WHERE kind = 'licence' AND status <> 'completed' GROUP BY status",
    )
    .await;
    assert!(unfinished.is_empty(), "{unfinished:?}");

    // One subscription per tenant, however many workers checked it.
    let active = counts(
        &pool,
        "SELECT tenant_id AS key, COUNT(*) AS n FROM subscriptions WHERE status = 'active' GROUP BY tenant_id",
    )
    .await;
    assert_eq!(active.len(), TENANTS);
    assert!(active.values().all(|n| *n == 1), "{active:?}");
    assert!(tenants.iter().all(|t| graph.subscriptions(t).len() == 1), "Graph holds one subscription per tenant");

    // What each customer sees is what the generator made: licences, findings, and every call counted once.
    let portal = &portals[0];
    let today = chrono::Utc::now().date_naive();
    for model in &models {
        let tenant = &model.id;
        let token = graph.user_token(&UserTokenSpec::new(tenant, PORTAL_AUDIENCE, &["Portal.Reader"])).unwrap();
        let licences: Licences = portal.get_as(&format!("/api/v1/tenants/{tenant}/licences"), &token).await;
        let got: BTreeMap<String, (i64, i64)> =
            licences.skus.iter().map(|s| (s.sku_id.clone(), (s.purchased, s.assigned))).collect();
        let expected: BTreeMap<String, (i64, i64)> = model
            .subscriptions()
            .iter()
            .map(|s| (s.sku.id.to_string(), (s.enabled as i64, s.consumed as i64)))
            .collect();
        assert_eq!(got, expected, "{tenant}: licences");

        let (rows, _) = pstn_rows_billed(&graph, model).unwrap();
        let dialled: BTreeSet<String> = rows.iter().filter_map(|r| r["userId"].as_str()).map(str::to_string).collect();
        let findings: Findings = portal.get_as(&format!("/api/v1/tenants/{tenant}/findings?limit=1000"), &token).await;
        let found: BTreeSet<(String, String, String)> = findings
            .items
            .iter()
            .map(|f| {
                let user = f.user_id.clone().unwrap_or_else(|| "-".into());
                (f.kind.clone(), user, f.sku_id.clone().unwrap_or_default())
            })
            .collect();
        assert_eq!(found, expected_findings(model, &dialled), "{tenant}: findings");

        let from = today - chrono::Duration::days(10);
        let usage: Usage =
            portal.get_as(&format!("/api/v1/tenants/{tenant}/calls/usage?from={from}&to={today}"), &token).await;
        assert_eq!(usage.totals.calls, expected_records[tenant], "{tenant}: every call counted once");
    }

    // Nothing was dead-lettered, and the remaining replicas stop cleanly.
    let dead = broker.broker.ready_count(&broker.broker.topology().dead_letter_queue()).await.unwrap();
    assert_eq!(dead, 0, "no dead letters");
    let Replicas { intake, workers, analytics, portals } = replicas;
    for service in std::iter::once(intake).chain(workers).chain(analytics).chain(portals) {
        assert!(service.terminate(Duration::from_secs(30)).await.success());
    }
    broker.cleanup().await;
    sim.sim.stop().await;
}
