//! analytics end to end: a simulated tenant → collector → RabbitMQ → analytics → tables that hold exactly what
//! the simulator generated, and the findings the generator built users to trigger. Expected values come from the
//! generator's own model (profiles, sign-in ages, subscriptions, calls), never from analytics' code.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use secrecy::ExposeSecret;
use sua_core::messages::{CallRecordV1, Envelope};
use sua_db::Pool;
use sua_db::models::{CallRecordRow, FindingRow, PstnCallRow, SnapshotData, SnapshotRow, rollups};
use sua_graph_sim::calls::{self, CallHeader};
use sua_graph_sim::catalog;
use sua_graph_sim::tenant::{SignIn, TenantModel};
use sua_graph_sim::{SimConfig, TenantSpec};
use sua_tests::binaries::ServiceProcess;
use sua_tests::expected::{expected_findings, history, party_users};
use sua_tests::stack::{Backend, Stack};
use sua_tests::{BrokerUnderTest, TestBroker, TestDatabase, eventually};

const WAIT: Duration = Duration::from_secs(150);

fn sim(users: u32, calls_per_user: f64) -> SimConfig {
    SimConfig {
        tenants: vec![TenantSpec { users, entra_p1: true, concealed_names: true }],
        calls_per_user,
        days: 3,
        ..SimConfig::default()
    }
}

struct Stored {
    snapshot: SnapshotRow,
    data: SnapshotData,
    records: Vec<CallRecordRow>,
    call_users: Vec<(String, String)>,
    pstn: Vec<PstnCallRow>,
    tenant_days: Vec<rollups::TenantDayUsage>,
    user_days: Vec<rollups::UserDayUsage>,
    findings: Vec<FindingRow>,
}

async fn stored(pool: &Pool, tenant: &str) -> Stored {
    let tenant = tenant.to_string();
    pool.run(move |conn| {
        let snapshot = SnapshotRow::current(conn, &tenant)?.expect("a current snapshot");
        let data = SnapshotRow::load(conn, &snapshot.run_id)?;
        Ok::<_, sua_db::DbError>(Stored {
            snapshot,
            data,
            records: CallRecordRow::for_tenant(conn, &tenant)?,
            call_users: CallRecordRow::users_by_call(conn, &tenant)?,
            pstn: PstnCallRow::for_tenant(conn, &tenant)?,
            tenant_days: rollups::tenant_days(conn, &tenant)?,
            user_days: rollups::user_days(conn, &tenant)?,
            findings: FindingRow::for_tenant(conn, &tenant)?,
        })
    })
    .await
    .unwrap()
}

async fn counts(pool: &Pool, tenant: &str) -> (bool, usize, usize, (i64, i64)) {
    let tenant = tenant.to_string();
    pool.run(move |conn| {
        Ok::<_, sua_db::DbError>((
            SnapshotRow::current(conn, &tenant)?.is_some(),
            CallRecordRow::count_for_tenant(conn, &tenant)? as usize,
            PstnCallRow::for_tenant(conn, &tenant)?.len(),
            rollups::backlog(conn)?,
        ))
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_tenant_arrives_whole_and_every_finding_kind_names_exactly_the_users_built_for_it() {
    whole_tenant(Backend::Production, 700).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_mode_normalises_a_tenant_and_finds_the_same_things() {
    whole_tenant(Backend::Embedded, 400).await;
}

async fn whole_tenant(backend: Backend, users: u32) {
    let mut stack = Stack::start(backend, sim(users, 0.25), |_| {}).await;
    stack.start_analytics().await;
    let (status, _) = stack.onboard().await;
    assert_eq!(status, 200);
    let tenant = stack.tenant(0);
    let sim = stack.graph().clone();
    let model = sim.tenant(&tenant).unwrap().clone();
    let calls = history(&model, stack.graph());
    let pstn_rows: Vec<serde_json::Value> = calls
        .iter()
        .flat_map(|c| [sua_graph_sim::pstn::pstn_row(&model, c), sua_graph_sim::pstn::direct_routing_row(&model, c)])
        .flatten()
        .collect();
    assert!(!calls.is_empty() && !pstn_rows.is_empty());
    eventually("analytics holds the tenant and has recomputed everything", WAIT, || async {
        let (current, records, pstn, backlog) = counts(&stack.deps.pool, &tenant).await;
        current && records == calls.len() && pstn == pstn_rows.len() && backlog == (0, 0)
    })
    .await;
    let got = stored(&stack.deps.pool, &tenant).await;
    assert!(got.snapshot.sign_in_activity);
    assert_eq!(got.snapshot.concealed_names, Some(true));

    // Directory: users, SKUs with their units, assignments with disabled plans.
    let users: Vec<_> = (0..users).map(|i| model.user(i)).collect();
    let ids: BTreeSet<String> = users.iter().map(|u| u.id.clone()).collect();
    assert_eq!(got.data.users.iter().map(|u| u.id.clone()).collect::<BTreeSet<_>>(), ids);
    let by_id: BTreeMap<&str, &sua_db::models::UserRow> = got.data.users.iter().map(|u| (u.id.as_str(), u)).collect();
    for user in &users {
        let row = by_id[user.id.as_str()];
        assert_eq!(row.user_principal_name, user.user_principal_name);
        assert_eq!(row.department.as_deref(), Some(user.department.as_str()));
        assert_eq!(row.account_enabled, Some(user.account_enabled));
        assert_eq!(row.last_successful_sign_in.is_none(), user.sign_in == SignIn::Never, "{}", user.id);
    }
    let skus: BTreeMap<String, (i64, i64, i64)> =
        got.data.skus.iter().map(|s| (s.sku_id.clone(), (s.enabled, s.warning, s.consumed))).collect();
    let expected_skus: BTreeMap<String, (i64, i64, i64)> = model
        .subscriptions()
        .iter()
        .map(|s| (s.sku.id.to_string(), (s.enabled as i64, s.warning as i64, s.consumed as i64)))
        .collect();
    assert_eq!(skus, expected_skus);
    let assignments: BTreeSet<(String, String, String)> =
        got.data.assignments.iter().map(|a| (a.user_id.clone(), a.sku_id.clone(), a.disabled_plans.clone())).collect();
    let expected_assignments: BTreeSet<(String, String, String)> = users
        .iter()
        .flat_map(|u| u.licences.iter().map(|(sku, disabled)| (u.id.clone(), sku.id.to_string(), disabled.join(","))))
        .collect();
    assert_eq!(assignments, expected_assignments);

    // Calls: every record with its participants; rollups per day and per user.
    let expected_records: BTreeMap<String, &CallHeader> = calls.iter().map(|c| (c.id.clone(), c)).collect();
    assert_eq!(
        got.records.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        expected_records.keys().cloned().collect::<Vec<_>>()
    );
    for record in &got.records {
        let call = expected_records[&record.id];
        assert_eq!(record.participants as usize, calls::parties(&model, call).len(), "{}", record.id);
        assert_eq!(record.pstn, call.pstn.is_some());
        assert_eq!(record.duration_seconds, (call.end - call.start).num_seconds());
        if call.poor_network {
            assert!(record.poor_streams > 0, "{}: the generator degraded its network", record.id);
        } else {
            assert_eq!(record.poor_streams, 0, "{}", record.id);
        }
    }
    let mut per_call: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (call, user) in &got.call_users {
        per_call.entry(call.clone()).or_default().insert(user.clone());
    }
    for call in &calls {
        assert_eq!(per_call.get(&call.id).cloned().unwrap_or_default(), party_users(&model, call), "{}", call.id);
    }
    let mut per_day: BTreeMap<chrono::NaiveDate, (i64, i64, i64)> = BTreeMap::new();
    let mut per_user_day: BTreeMap<(chrono::NaiveDate, String), i64> = BTreeMap::new();
    for call in &calls {
        let day = call.start.date_naive();
        let entry = per_day.entry(day).or_default();
        entry.0 += 1;
        entry.1 += i64::from(call.group);
        entry.2 += (call.end - call.start).num_seconds();
        for user in party_users(&model, call) {
            *per_user_day.entry((day, user)).or_default() += 1;
        }
    }
    let tenant_days: BTreeMap<chrono::NaiveDate, (i64, i64, i64)> =
        got.tenant_days.iter().map(|d| (d.day, (d.calls, d.group_calls, d.seconds))).collect();
    assert_eq!(tenant_days, per_day);
    let user_days: BTreeMap<(chrono::NaiveDate, String), i64> =
        got.user_days.iter().map(|d| ((d.day, d.user_id.clone()), d.calls)).collect();
    assert_eq!(user_days, per_user_day);

    // PSTN and Direct Routing rows, with charges in minor units.
    assert_eq!(
        got.pstn.iter().map(|r| r.id.clone()).collect::<BTreeSet<_>>(),
        pstn_rows.iter().map(|r| r["id"].as_str().unwrap().to_string()).collect::<BTreeSet<_>>()
    );
    // Charges as the generator billed them (Calling Plan rows carry one; Direct Routing rows none), read with the
    // test's own SQL.
    let expected_charges: BTreeMap<String, i64> = pstn_rows
        .iter()
        .filter(|r| r.get("charge").is_some())
        .map(|r| {
            let cents = (r["charge"].as_f64().unwrap() * 100.0).round() as i64;
            (format!("{} {}", r["id"].as_str().unwrap(), r["currency"].as_str().unwrap()), cents)
        })
        .collect();
    let charges = sua_tests::sql::counts(
        &stack.deps.pool,
        &format!(
            "SELECT id || ' ' || COALESCE(currency, '-') AS key, COALESCE(charge_minor, -1) AS n \
             FROM analytics.pstn_calls WHERE tenant_id = '{tenant}' AND source = 'pstn'"
        ),
    )
    .await;
    assert!(!expected_charges.is_empty());
    assert_eq!(charges, expected_charges);

    // Findings: exactly the users and SKUs the generator built for each kind, every kind present.
    let dialled: BTreeSet<String> = pstn_rows.iter().filter_map(|r| r["userId"].as_str()).map(str::to_string).collect();
    let expected = expected_findings(&model, &dialled);
    let found: BTreeSet<(String, String, String)> = got
        .findings
        .iter()
        .map(|f| {
            (f.kind.clone(), f.user_id.clone().unwrap_or_else(|| "-".into()), f.sku_id.clone().unwrap_or_default())
        })
        .collect();
    let missing: Vec<_> = expected.difference(&found).collect();
    let unexpected: Vec<_> = found.difference(&expected).collect();
    assert!(missing.is_empty() && unexpected.is_empty(), "missing {missing:?}\nunexpected {unexpected:?}");
    for kind in [
        "disabled_account",
        "never_signed_in",
        "inactive_user",
        "redundant_licence",
        "unused_phone_licence",
        "downgrade_candidate",
        "unassigned_seats",
        "over_assigned",
    ] {
        assert!(found.iter().any(|(k, _, _)| k == kind), "no {kind} finding in the generated tenant");
    }
    // Money: Copilot seats bought and never assigned cost their list price each.
    let copilot = got.findings.iter().find(|f| f.sku_id.as_deref() == Some(catalog::COPILOT_SKU.id)).unwrap();
    let bought = model.subscriptions().iter().find(|s| s.sku.id == catalog::COPILOT_SKU.id).unwrap().enabled as i64;
    assert_eq!(
        (copilot.units, copilot.amount_minor, copilot.currency.as_deref()),
        (bought, Some(bought * 3_000), Some("USD"))
    );
    let mut licences = BTreeSet::new();
    for f in got.findings.iter().filter(|f| f.user_id.is_some()) {
        assert!(licences.insert((f.user_id.clone(), f.sku_id.clone())), "{} counted twice", f.id);
    }
    stack.stop().await;
}

/// Call records as the collector would publish them, straight from the generator.
fn record_envelopes(model: &TenantModel, calls: &[CallHeader]) -> Vec<Envelope> {
    calls
        .iter()
        .map(|call| Envelope::new(model.id.clone(), None, &CallRecordV1(calls::full_record(model, call, 1))).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_analytics_mid_stream_and_restarting_it_loses_and_duplicates_nothing() {
    let db = TestDatabase::postgres().unwrap();
    let broker = TestBroker::new(BrokerUnderTest::RabbitMq).await;
    // A week of history holds five weekdays and a weekend whatever day the test runs on, so the stream is always
    // long enough to be killed in the middle.
    let config = SimConfig { days: 7, clock: sua_tests::clock::pinned(), ..sim(600, 0.8) };
    let simulator = sua_graph_sim::Sim::new(config).unwrap();
    let model = simulator.tenant(&simulator.tenant_ids()[0]).unwrap().clone();
    let to = simulator.now();
    let calls = simulator.calls_starting(&model, to - chrono::Duration::days(8), to);
    assert!(calls.len() > 1_000, "{} calls", calls.len());
    // Every record twice (a redelivered notification), the second copy after the first.
    let envelopes = record_envelopes(&model, &calls);
    for envelope in envelopes.iter().chain(envelopes.iter()) {
        broker.broker.publish_raw(envelope).await.unwrap();
    }
    let env = vec![
        ("SUA_DATABASE_URL", db.url().expose_secret().to_string()),
        ("SUA_AMQP_URL", sua_tests::rabbitmq_url()),
        ("SUA_AMQP__PREFIX", broker.settings.prefix.clone()),
        ("SUA_AMQP__QUEUE_EXPIRES_MS", "600000".to_string()),
        ("SUA_ANALYTICS__RECOMPUTE_INTERVAL_MS", "50".to_string()),
        // One record per transaction, one transaction at a time: the stream takes seconds, so the kill below lands
        // in its middle however fast the machine is.
        ("SUA_ANALYTICS__WRITE_BATCH_MAX", "1".to_string()),
        ("SUA_ANALYTICS__WRITERS", "1".to_string()),
    ];
    let pool = db.pool().unwrap();
    let stored = || async {
        let tenant = model.id.clone();
        pool.run(move |conn| CallRecordRow::count_for_tenant(conn, &tenant)).await.unwrap() as usize
    };
    let first = ServiceProcess::start("sua-analytics", &[], &env);
    eventually("analytics stored some records", WAIT, || async { stored().await >= 300 }).await;
    first.kill().await;
    let at_kill = stored().await;
    eprintln!("killed analytics with {at_kill} of {} records stored", calls.len());
    assert!(at_kill < calls.len(), "analytics was killed mid-stream ({at_kill} of {} stored)", calls.len());

    let second = ServiceProcess::start("sua-analytics", &[], &env);
    let queue = broker.broker.topology().analytics_queue();
    eventually("every record is stored and the queue is drained", WAIT, || async {
        stored().await == calls.len() && broker.broker.ready_count(&queue).await.unwrap_or(1) == 0
    })
    .await;
    eventually("the rollups are recomputed", WAIT, || async { pool.run(rollups::backlog).await.unwrap() == (0, 0) })
        .await;
    let tenant = &model.id;
    let mut per_day: BTreeMap<String, i64> = BTreeMap::new();
    let mut users_per_call: BTreeMap<String, i64> = BTreeMap::new();
    for call in &calls {
        *per_day.entry(call.start.date_naive().to_string()).or_default() += 1;
        let users = party_users(&model, call).len() as i64;
        if users > 0 {
            users_per_call.insert(call.id.clone(), users);
        }
    }
    let days = sua_tests::sql::counts(
        &pool,
        &format!(
            "SELECT CAST(day AS TEXT) AS key, calls AS n FROM analytics.call_usage_tenant_daily \
             WHERE tenant_id = '{tenant}'"
        ),
    )
    .await;
    assert_eq!(days, per_day, "every call counted exactly once");
    let users = sua_tests::sql::counts(
        &pool,
        &format!(
            "SELECT call_id AS key, COUNT(*) AS n FROM analytics.call_user_facts WHERE tenant_id = '{tenant}' \
             GROUP BY call_id"
        ),
    )
    .await;
    assert_eq!(users, users_per_call, "each call's users once");
    let dead = broker.broker.topology().dead_letter_queue();
    assert_eq!(broker.broker.ready_count(&dead).await.unwrap(), 0, "nothing was dead-lettered");
    second.terminate(Duration::from_secs(20)).await;
    broker.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_longer_than_the_delivery_limit_is_waited_out_and_nothing_is_dead_lettered() {
    let db = TestDatabase::postgres().unwrap();
    let broker = TestBroker::with_settings(BrokerUnderTest::RabbitMq, |s| s.delivery_limit = 2).await;
    let upstream = url::Url::parse(db.url().expose_secret()).unwrap();
    let upstream_addr = format!("{}:{}", upstream.host_str().unwrap(), upstream.port().unwrap_or(5432));
    let proxy = sua_tests::proxy::TcpProxy::start(
        tokio::net::lookup_host(&upstream_addr).await.unwrap().next().expect("the database's address"),
    )
    .await;
    let mut config = sua_core::Config {
        database_url: secrecy::SecretString::from(proxy.url_for(db.url().expose_secret())),
        amqp_url: broker.url.clone(),
        amqp: broker.settings.clone(),
        listen: Some(format!("127.0.0.1:{}", sua_tests::binaries::free_port()).parse().unwrap()),
        shutdown_grace_secs: 5,
        ..sua_core::Config::default()
    };
    config.db.acquire_timeout_secs = 1;
    config.db.connect_timeout_secs = 1;
    config.amqp.unavailable_retry_max_ms = 200;
    config.analytics.recompute_interval_ms = 50;
    let deps = sua_db::service::Dependencies {
        pool: Pool::new(&config.database_url, &config.db).unwrap(),
        broker: broker.broker.clone(),
        registry: broker.registry.clone(),
    };
    let running = sua_analytics::build(&config, deps).await.unwrap();
    let shutdown = sua_core::shutdown::CancellationToken::new();
    let service = tokio::spawn(running.run_until_stopped(shutdown.clone()));

    let simulator = sua_graph_sim::Sim::new(SimConfig { clock: sua_tests::clock::pinned(), ..sim(20, 1.0) }).unwrap();
    let model = simulator.tenant(&simulator.tenant_ids()[0]).unwrap().clone();
    let to = simulator.now();
    let calls = simulator.calls_starting(&model, to - chrono::Duration::days(3), to);
    let envelope = record_envelopes(&model, &calls[..1]).remove(0);

    proxy.cut();
    broker.broker.publish_raw(&envelope).await.unwrap();
    // Four times the delivery limit of attempts meet the outage; a requeue per attempt would have dead-lettered.
    eventually("analytics meets the outage again and again", WAIT, || async {
        broker.counter("sua_messages_unavailable_retries_total", &[]) >= 8
    })
    .await;
    proxy.restore();

    let pool = db.pool().unwrap();
    let tenant = model.id.clone();
    eventually("the record is stored once the database is back", WAIT, || async {
        let tenant = tenant.clone();
        pool.run(move |conn| CallRecordRow::count_for_tenant(conn, &tenant)).await.unwrap() == 1
    })
    .await;
    eventually("the delivery is acked", WAIT, || async {
        broker.counter("sua_messages_handled_total", &[("outcome", "acked")]) == 1
    })
    .await;
    let topology = broker.broker.topology().clone();
    assert_eq!(broker.counter("sua_messages_dead_lettered_total", &[]), 0);
    assert_eq!(broker.counter("sua_messages_handled_total", &[("outcome", "retried")]), 0);
    assert_eq!(broker.broker.ready_count(&topology.dead_letter_queue()).await.unwrap(), 0, "nothing dead-lettered");
    assert_eq!(broker.broker.ready_count(&topology.analytics_queue()).await.unwrap(), 0);
    shutdown.cancel();
    service.await.unwrap().unwrap();
    broker.cleanup().await;
}
