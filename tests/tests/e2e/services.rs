//! The service binaries as an operator runs them, and the services in-process on both back ends.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use sua_core::messages::{CallRecordV1, Envelope};
use sua_db::models::CallRecordRow;
use sua_db::service::Dependencies;
use sua_tests::binaries::{ServiceProcess, free_port};
use sua_tests::{BrokerUnderTest, TestBroker, TestDatabase, eventually};

const WAIT: Duration = Duration::from_secs(30);

/// The collector's app registration as the simulator knows it (readiness needs one configured).
const APP: [(&str, &str); 2] =
    [("SUA_CLIENT_ID", "5f0b7c2a-6e1d-4c38-9a3b-2d4e6f8a1b2c"), ("SUA_CLIENT_SECRET", "sim-client-secret")];

fn env_for(db: &TestDatabase, prefix: &str) -> Vec<(&'static str, String)> {
    use secrecy::ExposeSecret;
    let mut env = vec![
        ("SUA_DATABASE_URL", db.url().expose_secret().to_string()),
        ("SUA_AMQP_URL", sua_tests::rabbitmq_url()),
        ("SUA_AMQP__PREFIX", prefix.to_string()),
        ("SUA_AMQP__QUEUE_EXPIRES_MS", "600000".to_string()),
    ];
    env.extend(APP.map(|(k, v)| (k, v.to_string())));
    env
}

fn checks(readiness: &serde_json::Value) -> BTreeMap<String, Option<String>> {
    readiness["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_string(), c["error"].as_str().map(str::to_string)))
        .collect()
}

async fn get(url: &str) -> Option<(u16, String)> {
    let response = reqwest::get(url).await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.unwrap_or_default()))
}

async fn serves_health_readiness_and_metrics_then_exits_cleanly_on_sigterm(binary: &str, needs: &[&str]) {
    let db = TestDatabase::postgres().unwrap();
    let prefix = format!("t{}.", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut service = ServiceProcess::start(binary, &[], &env_for(&db, &prefix));
    let health = service.url("/healthz");
    eventually("/healthz answers 200", WAIT, || async { matches!(get(&health).await, Some((200, _))) }).await;
    assert!(service.exited().is_none());

    let (status, body) = get(&service.url("/readyz")).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let readiness: serde_json::Value = serde_json::from_str(&body).unwrap();
    let ready: BTreeMap<String, Option<String>> = needs.iter().map(|n| (n.to_string(), None)).collect();
    assert_eq!(checks(&readiness), ready, "{binary} checks what it needs to serve, and nothing else");

    let (status, metrics) = get(&service.url("/metrics")).await.unwrap();
    assert_eq!(status, 200);
    assert!(metrics.contains("sua_broker_reconnects_total"), "{metrics}");

    let exit = service.terminate(Duration::from_secs(20)).await;
    assert!(exit.success(), "{binary} exited with {exit:?} on SIGTERM");
}

#[tokio::test]
async fn the_collector_binary_serves_and_stops_on_sigterm() {
    serves_health_readiness_and_metrics_then_exits_cleanly_on_sigterm(
        "sua-collector",
        &["app_credentials", "broker", "database"],
    )
    .await;
}

#[tokio::test]
async fn the_analytics_binary_serves_and_stops_on_sigterm() {
    serves_health_readiness_and_metrics_then_exits_cleanly_on_sigterm("sua-analytics", &["broker", "database"]).await;
}

#[tokio::test]
async fn the_portal_api_binary_serves_and_stops_on_sigterm() {
    serves_health_readiness_and_metrics_then_exits_cleanly_on_sigterm("sua-portal-api", &["database"]).await;
}

#[tokio::test]
async fn a_service_is_not_ready_until_its_migrate_command_ran() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("fresh.db").display());
    let mut env = vec![("SUA_DATABASE_URL", url.clone()), ("SUA_AMQP_URL", "memory://".to_string())];
    env.extend(APP.map(|(k, v)| (k, v.to_string())));
    let service = ServiceProcess::start("sua-collector", &[], &env);
    let ready = service.url("/readyz");
    eventually("/readyz answers", WAIT, || async { get(&ready).await.is_some() }).await;
    let (status, body) = get(&ready).await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("sua migrate"), "the operator is told what to do: {body}");

    let migrate = tokio::process::Command::new(sua_tests::binaries::binary("sua-collector"))
        .arg("migrate")
        .env("SUA_DATABASE_URL", &url)
        .env("SUA_AMQP_URL", "memory://")
        .status()
        .await
        .unwrap();
    assert!(migrate.success());
    eventually("/readyz answers 200 after migrate", WAIT, || async { matches!(get(&ready).await, Some((200, _))) })
        .await;
    assert!(service.terminate(Duration::from_secs(20)).await.success());
}

/// With every dependency wrong the collector still opens its port at once (so Kubernetes' probes reach it), and
/// readiness names each problem in the dependency's own words.
#[tokio::test]
async fn with_its_dependencies_unusable_a_service_serves_health_and_readiness_names_each_cause() {
    let missing = format!("sua_missing_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let env = vec![
        ("SUA_DATABASE_URL", format!("postgres://postgres@127.0.0.1:5432/{missing}")),
        ("SUA_AMQP_URL", "amqp://guest:not-the-password@127.0.0.1:5672/%2f".to_string()),
    ];
    let service = ServiceProcess::start("sua-collector", &[], &env);
    let health = service.url("/healthz");
    eventually("/healthz answers 200", WAIT, || async { matches!(get(&health).await, Some((200, _))) }).await;
    let ready = service.url("/readyz");
    let named = || {
        let ready = ready.clone();
        async move {
            let (status, body) = get(&ready).await.unwrap_or_default();
            let readiness: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let found = if readiness.get("checks").is_some() { checks(&readiness) } else { BTreeMap::new() };
            (status, body, found)
        }
    };
    eventually("readiness names the broker's refusal", WAIT, || async {
        let (status, _, found) = named().await;
        status == 503 && found.get("broker").cloned().flatten().is_some_and(|e| e.contains("ACCESS_REFUSED"))
    })
    .await;
    let (_, body, found) = named().await;
    let database = found["database"].clone().unwrap_or_default();
    assert!(database.contains(&format!("database \"{missing}\" does not exist")), "{body}");
    assert!(found["app_credentials"].clone().unwrap_or_default().contains("SUA_CLIENT_ID"), "{body}");
    assert!(!body.contains("not-the-password"), "a secret was shown: {body}");
    assert!(service.terminate(Duration::from_secs(20)).await.success());
}

/// portal-api serves from the database alone: a broker it cannot reach does not take it out of rotation.
#[tokio::test]
async fn portal_api_is_ready_without_a_broker() {
    let db = TestDatabase::postgres().unwrap();
    let mut env = env_for(&db, "unused.");
    env.retain(|(k, _)| *k != "SUA_AMQP_URL");
    env.push(("SUA_AMQP_URL", format!("amqp://guest:guest@127.0.0.1:{}/%2f", free_port())));
    let service = ServiceProcess::start("sua-portal-api", &[], &env);
    let ready = service.url("/readyz");
    eventually("/readyz answers 200", WAIT, || async { matches!(get(&ready).await, Some((200, _))) }).await;
    assert!(service.terminate(Duration::from_secs(20)).await.success());
}

/// A port already taken: the service stops at once and says which address and which setting chose it.
#[tokio::test]
async fn a_port_in_use_is_named_with_the_setting_that_chose_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = tokio::process::Command::new(sua_tests::binaries::binary("sua-analytics"))
        .env_clear()
        .env("SUA_LISTEN", &address)
        .env("SUA_DATABASE_URL", "sqlite::memory:")
        .env("SUA_AMQP_URL", "memory://")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&address) && stderr.contains("SUA_LISTEN"), "{stderr}");
    drop(taken);
}

#[tokio::test]
async fn a_bad_configuration_stops_the_binary_with_every_problem_named() {
    let output = tokio::process::Command::new(sua_tests::binaries::binary("sua"))
        .args(["portal-api"])
        .env("SUA_DATABASE_URL", "mysql://user:hunter2@db/sua")
        .env("SUA_AMQP__PREFETCH", "0")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("database_url") && stderr.contains("amqp.prefetch"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "a secret was printed: {stderr}");
}

/// analytics acks a call record only after it is stored, and a replay changes nothing: on PostgreSQL with
/// RabbitMQ and on SQLite with the in-process broker.
async fn analytics_stores_each_call_record_once_at_its_newest_version(db: TestDatabase, kind: BrokerUnderTest) {
    let test = TestBroker::new(kind).await;
    let deps = Dependencies { pool: db.pool().unwrap(), broker: test.broker.clone(), registry: test.registry.clone() };
    let config = sua_core::Config {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        amqp: test.settings.clone(),
        ..Default::default()
    };
    let running = sua_analytics::build(&config, deps).await.unwrap();
    let shutdown = sua_core::shutdown::CancellationToken::new();
    let service = tokio::spawn(running.run_until_stopped(shutdown.clone()));

    // Only the newest version has video: what is stored tells which version won.
    let record = |version: i64| {
        let modalities = if version == 3 { json!(["audio", "video"]) } else { json!(["audio"]) };
        CallRecordV1(json!({
            "id": "e523d2ed-2966-4b6b-925b-754a88034cc5", "version": version, "type": "peerToPeer",
            "modalities": modalities, "startDateTime": "2026-11-24T18:52:21.2169889Z",
            "endDateTime": "2026-11-24T18:52:46.7640013Z",
            "organizer_v2": {"id": "821809f5-0bb3-4d7c-9f1d-c5e8a9d9f8e1"}, "sessions": []
        }))
    };
    // The newest first, then older ones: a last-write-wins store would end at version 2.
    for version in [3, 1, 2] {
        let envelope = Envelope::new("tenant-a", None, &record(version)).unwrap();
        test.broker.publish_raw(&envelope).await.unwrap();
    }
    let pool = db.pool().unwrap();
    let handled = || test.counter("sua_messages_handled_total", &[("outcome", "acked")]);
    eventually("three deliveries acked", WAIT, || async { handled() >= 3 }).await;
    let stored = pool
        .run(|conn| CallRecordRow::find(conn, "tenant-a", "e523d2ed-2966-4b6b-925b-754a88034cc5"))
        .await
        .unwrap()
        .expect("the record is stored");
    assert_eq!(stored.version, 3);
    assert_eq!(stored.modalities, "audio,video");
    assert_eq!(stored.organizer_id.as_deref(), Some("821809f5-0bb3-4d7c-9f1d-c5e8a9d9f8e1"));
    assert_eq!(pool.run(|conn| CallRecordRow::count_for_tenant(conn, "tenant-a")).await.unwrap(), 1);

    shutdown.cancel();
    service.await.unwrap().unwrap();
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_stores_call_records_on_postgres_and_rabbitmq() {
    analytics_stores_each_call_record_once_at_its_newest_version(
        TestDatabase::postgres().unwrap(),
        BrokerUnderTest::RabbitMq,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_stores_call_records_on_sqlite_and_the_in_process_broker() {
    analytics_stores_each_call_record_once_at_its_newest_version(
        TestDatabase::sqlite().unwrap(),
        BrokerUnderTest::InProcess,
    )
    .await;
}

#[tokio::test]
async fn sua_invite_prints_a_consent_link_and_sua_tenants_shows_each_tenants_state() {
    use sua_db::models::{SyncRunRow, TenantRow};
    let db = TestDatabase::postgres().unwrap();
    let prefix = format!("t{}.", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut env = env_for(&db, &prefix);
    env.push(("SUA_STATE_SIGNING_KEY", "cli-test-signing-key-0123456789abcdef".into()));
    env.push(("SUA_CLIENT_ID", "5f0b7c2a-6e1d-4c38-9a3b-2d4e6f8a1b2c".into()));
    env.push(("SUA_LOG__FILTER", "warn".into()));
    let run = |args: &'static [&'static str]| {
        let env = env.clone();
        async move {
            let output = tokio::process::Command::new(sua_tests::binaries::binary("sua"))
                .args(args)
                .envs(env.iter().map(|(k, v)| (*k, v.clone())))
                .output()
                .await
                .unwrap();
            assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
            String::from_utf8_lossy(&output.stdout).into_owned()
        }
    };
    let invite = run(&["invite", "--customer", "Contoso", "--email", "admin@contoso.example"]).await;
    assert!(
        invite.contains("https://login.microsoftonline.com/organizations/v2.0/adminconsent?client_id="),
        "{invite}"
    );
    assert!(invite.contains("not e-mailed"), "{invite}");

    let pool = db.pool().unwrap();
    pool.run(|conn| {
        let now = sua_db::now();
        TenantRow::upsert(
            conn,
            &TenantRow {
                id: "9c5e2b0a-41d4-4b8e-a7d5-3a2f0c1b7e11".into(),
                display_name: "Contoso Ltd".into(),
                consent_state: sua_db::states::ConsentState::Granted,
                permissions: r#"{"AuditLog.Read.All":"missing","User.Read.All":"granted"}"#.into(),
                prerequisites: r#"{"entra_id_p1":false}"#.into(),
                consented_at: Some(now),
                created_at: now,
                updated_at: now,
                invitation_id: None,
                feed_state: sua_db::states::FeedState::Down,
                feed_since: Some(now),
                feed_error: Some("subscription creation failed".into()),
            },
        )?;
        let day = now.date();
        SyncRunRow::start(conn, "9c5e2b0a-41d4-4b8e-a7d5-3a2f0c1b7e11", "licence", day, "run-1", now, now)?;
        SyncRunRow::fail(conn, "run-1", "users: Graph failed with 503 after 4 attempts", now)?;
        Ok::<_, sua_db::DbError>(())
    })
    .await
    .unwrap();
    let table = run(&["tenants"]).await;
    assert!(table.contains("9c5e2b0a-41d4-4b8e-a7d5-3a2f0c1b7e11") && table.contains("Contoso Ltd"), "{table}");
    assert!(table.contains("AuditLog.Read.All") && table.contains("NO"), "{table}");
    assert!(table.contains("failed (attempt 1): users: Graph failed with 503"), "{table}");
    let json: serde_json::Value = serde_json::from_str(&run(&["tenants", "--json"]).await).unwrap();
    assert_eq!(json[0]["missing_permissions"][0], "AuditLog.Read.All");

    // `sua sync`: today's failed run is due again; once it completed, it is not, and the command says why; forced,
    // it runs again.
    let tenant = "9c5e2b0a-41d4-4b8e-a7d5-3a2f0c1b7e11";
    let sync = run(&["sync"]).await;
    assert!(sync.contains("queued for 1 of 1 tenant(s)") && sync.contains(&format!("{tenant}  queued")), "{sync}");
    pool.run(move |conn| {
        let now = sua_db::now();
        SyncRunRow::start(conn, tenant, "licence", now.date(), "run-2", now, now)?;
        SyncRunRow::complete(conn, "run-2", "{}", now)?;
        Ok::<_, sua_db::DbError>(())
    })
    .await
    .unwrap();
    let sync = run(&["sync"]).await;
    assert!(sync.contains("queued for 0 of 1 tenant(s)"), "{sync}");
    assert!(sync.contains("already ran today") && sync.contains("--force"), "the operator is told why: {sync}");
    let forced = run(&["sync", "--force"]).await;
    assert!(forced.contains("queued for 1 of 1 tenant(s)"), "{forced}");
    let run_row = pool.run(move |conn| SyncRunRow::latest(conn, tenant, "licence")).await.unwrap().unwrap();
    assert_eq!(run_row.status, "rerun_requested", "the next start runs the day again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sua_dead_letters_lists_them_with_their_tenant_sua_tenants_counts_them_and_replay_sends_them_back() {
    use sua_db::models::TenantRow;
    let db = TestDatabase::postgres().unwrap();
    let test = TestBroker::with_settings(BrokerUnderTest::RabbitMq, |s| s.queue_expires_ms = Some(600_000)).await;
    let topology = test.broker.topology().clone();
    let tenant = "3e0c5f7a-1b2d-4c6e-8f90-a1b2c3d4e5f6";
    let envelope = Envelope::new(tenant, None, &CallRecordV1(json!({ "id": "x" }))).unwrap();
    test.broker.publish_raw(&envelope).await.unwrap();
    // A consumer refuses it: it is dead-lettered.
    let mut subscription = test.broker.subscribe(&topology.analytics_queue(), 1).await.unwrap();
    let delivery = sua_tests::within("the delivery", WAIT, subscription.next()).await.unwrap();
    delivery.dead_letter().await.unwrap();
    subscription.close().await;
    eventually("it is dead-lettered", WAIT, || async {
        test.broker.ready_count(&topology.dead_letter_queue()).await.unwrap() == 1
    })
    .await;
    let pool = db.pool().unwrap();
    pool.run(move |conn| {
        let now = sua_db::now();
        TenantRow::upsert(
            conn,
            &TenantRow {
                id: tenant.into(),
                display_name: "Fabrikam".into(),
                consent_state: sua_db::states::ConsentState::Granted,
                permissions: "{}".into(),
                prerequisites: "{}".into(),
                consented_at: Some(now),
                created_at: now,
                updated_at: now,
                invitation_id: None,
                feed_state: sua_db::states::FeedState::Healthy,
                feed_since: None,
                feed_error: None,
            },
        )
    })
    .await
    .unwrap();

    let mut env = env_for(&db, &test.settings.prefix);
    env.push(("SUA_LOG__FILTER", "warn".into()));
    let run = |args: &'static [&'static str]| {
        let env = env.clone();
        async move {
            let output = tokio::process::Command::new(sua_tests::binaries::binary("sua"))
                .args(args)
                .envs(env.iter().map(|(k, v)| (*k, v.clone())))
                .output()
                .await
                .unwrap();
            assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
            String::from_utf8_lossy(&output.stdout).into_owned()
        }
    };
    let listed: serde_json::Value = serde_json::from_str(&run(&["dead-letters", "list", "--json"]).await).unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["message_id"], envelope.id.to_string());
    assert_eq!(listed[0]["tenant_id"], tenant);
    assert_eq!(listed[0]["kind"], "callrecord.v1");
    assert_eq!(listed[0]["queue"], topology.analytics_queue());
    let table = run(&["tenants"]).await;
    assert!(table.contains("1 dead letter(s)"), "{table}");
    let json: serde_json::Value = serde_json::from_str(&run(&["tenants", "--json"]).await).unwrap();
    assert_eq!(json[0]["dead_letters"], 1);

    let replayed = run(&["dead-letters", "replay", "--tenant", "3e0c5f7a-1b2d-4c6e-8f90-a1b2c3d4e5f6"]).await;
    assert!(replayed.contains("1 dead letter(s) replayed"), "{replayed}");
    eventually("the message is back in its queue", WAIT, || async {
        test.broker.ready_count(&topology.analytics_queue()).await.unwrap() == 1
            && test.broker.ready_count(&topology.dead_letter_queue()).await.unwrap() == 0
    })
    .await;
    test.cleanup().await;
}
