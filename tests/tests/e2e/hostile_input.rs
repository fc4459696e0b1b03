//! Hostile input: NUL (U+0000) in any request part is a 400 problem before it reaches PostgreSQL (whose text
//! cannot hold it), an export with it is refused before its first byte, and Graph text with NUL is stored without
//! failing the batch it came in.

use reqwest::Method;
use serde_json::{Value, json};
use sua_db::models::{CallRecordRow, SnapshotRow, TenantRow};
use sua_graph_sim::{SimConfig, TenantSpec};
use sua_tests::TestDatabase;
use sua_tests::portal::Portal;
use sua_tests::stack::{Backend, Stack};

const TENANT: &str = "aaaaaaaa-0000-4000-8000-00000000000a";

fn tenant_row() -> TenantRow {
    let now = sua_db::now();
    TenantRow {
        id: TENANT.into(),
        display_name: "Contoso".into(),
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
    }
}

/// A cursor as the API encodes them (base64url of a JSON array of strings), holding a NUL.
fn cursor_with_nul(parts: usize) -> String {
    use base64::Engine;
    let values: Vec<String> = (0..parts).map(|i| format!("a\u{0}{i}")).collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&values).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_anywhere_in_a_request_is_a_400_problem_and_never_reaches_postgresql() {
    let config = SimConfig {
        tenants: vec![TenantSpec { users: 5, entra_p1: true, concealed_names: true }],
        calls_per_user: 0.0,
        days: 1,
        ..SimConfig::default()
    };
    let mut stack = Stack::start(Backend::Production, config, |_| {}).await;
    let row = tenant_row();
    stack.deps.pool.run(move |conn| TenantRow::upsert(conn, &row)).await.unwrap();
    let portal = Portal { url: stack.start_portal().await, http: stack.sim.http.clone() };
    let admin = stack.portal_token(TENANT, &["Portal.Admin"]);
    let operator = stack.portal_token(sua_tests::stack::OPERATOR_TENANT, &["Portal.Operator"]);
    let base = format!("/api/v1/tenants/{TENANT}");
    let price = |part: &str| json!({"prices": [{"sku_part_number": part, "amount_minor": 3300, "currency": "EUR"}]});
    let settings = json!({"inactive_days": 60, "new_account_grace_days": 14, "phone_idle_days": 45,
                          "excluded_users": ["someone\u{0}@contoso.example"]});
    let invitation = json!({"customer_name": "North\u{0}wind", "admin_email": "admin@northwind.example"});
    let requests: Vec<(Method, String, Option<Value>, &str)> = vec![
        (Method::GET, format!("{base}/users?department=a%00b"), None, admin.as_str()),
        (Method::GET, format!("{base}/users?sku=%00"), None, admin.as_str()),
        (Method::GET, format!("{base}/findings?user=someone%00"), None, admin.as_str()),
        (Method::GET, format!("{base}/users?cursor={}", cursor_with_nul(2)), None, admin.as_str()),
        (Method::GET, format!("{base}/findings?cursor={}", cursor_with_nul(1)), None, admin.as_str()),
        (Method::GET, format!("{base}/calls/usage?group_by=user&cursor={}", cursor_with_nul(1)), None, admin.as_str()),
        (Method::GET, format!("{base}/calls/pstn?group_by=user&cursor={}", cursor_with_nul(1)), None, admin.as_str()),
        (Method::GET, format!("/api/v1/tenants/{TENANT}%00/licences"), None, admin.as_str()),
        (Method::DELETE, format!("{base}/prices/a%00"), None, admin.as_str()),
        (Method::PUT, format!("{base}/prices"), Some(price("SPE_E3\u{0}")), admin.as_str()),
        (Method::PUT, format!("{base}/settings"), Some(settings), admin.as_str()),
        (Method::POST, "/api/v1/onboarding/invitations".into(), Some(invitation), operator.as_str()),
        // Exports are refused before their first byte, not cut short after a 200.
        (Method::GET, format!("{base}/reports/users.csv?department=%00"), None, admin.as_str()),
        (Method::GET, format!("{base}/reports/findings.xlsx?user=a%00"), None, admin.as_str()),
        (Method::GET, format!("{base}/reports/users%00.csv"), None, admin.as_str()),
    ];
    for (method, path, body, token) in &requests {
        let answer = portal.call(method.clone(), path, Some(token), body.as_ref()).await;
        assert_eq!(
            (answer.status, answer.content_type.as_str()),
            (400, "application/problem+json"),
            "{method} {path}: {}",
            answer.text()
        );
        let why = answer.json()["detail"].as_str().unwrap_or_default().to_string();
        assert!(why.contains("NUL") || why.contains("cursor"), "{method} {path}: the problem says why: {why}");
    }
    // The same requests without the NUL are served; bodies reach the handlers whole.
    let answer = portal.call(Method::PUT, &format!("{base}/prices"), Some(&admin), Some(&price("SPE_E3"))).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let answer = portal.call(Method::GET, &format!("{base}/users?department=a%2500b"), Some(&admin), None).await;
    assert_eq!(answer.status, 200, "an escaped percent sign is text: {}", answer.text());
    let answer =
        portal.call(Method::GET, &format!("{base}/reports/users.csv?department=Sales"), Some(&admin), None).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    stack.stop().await;
}

/// Every `displayName` in a Graph payload, with a NUL in it.
fn with_nul_names(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "displayName" && v.is_string() {
                    *v = json!(format!("{}\u{0}!", v.as_str().unwrap()));
                } else {
                    with_nul_names(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(with_nul_names),
        _ => {}
    }
}

fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("graph-sim/fixtures").join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

#[test]
fn graph_names_and_departments_with_nul_are_stored_without_failing_their_batch() {
    use sua_analytics::normalise::{calls, directory};
    // Microsoft's documented payloads with NUL in every display name and a department.
    let mut users = fixture("user-list-signinactivity.json");
    with_nul_names(&mut users);
    users["value"][0]["department"] = json!("Sa\u{0}les");
    let mut record = fixture("callrecord-get-expanded.json");
    with_nul_names(&mut record);
    let mut clean = fixture("callrecord-get-expanded.json");
    clean["id"] = json!("00000000-0000-4000-8000-000000000001");
    for (backend, db) in [("postgres", TestDatabase::postgres().unwrap()), ("sqlite", TestDatabase::sqlite().unwrap())]
    {
        let pool = db.pool().unwrap();
        let mut pooled = pool.get().unwrap();
        let conn = &mut pooled.conn();
        let (user_rows, licences) = directory::users("run-1", TENANT, &users, true).unwrap();
        let batch: Vec<_> = [&record, &clean]
            .into_iter()
            .map(|r| calls::call_record(TENANT, r, &r.to_string(), sua_db::now()).unwrap())
            .collect();
        conn.transaction(|tx| -> Result<(), sua_db::DbError> {
            SnapshotRow::lock(tx, "run-1", TENANT, sua_core::clock::today(), sua_db::now())?;
            SnapshotRow::insert_users(tx, &user_rows, &licences)?;
            // One group commit with a clean record beside the one with NUL names.
            assert_eq!(CallRecordRow::store_many(tx, &batch)?, [true, true], "{backend}");
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{backend}: the batch failed: {e}"));
        let stored = SnapshotRow::load(conn, "run-1").unwrap().users;
        assert_eq!(stored[0].display_name, "Adele Vance\u{fffd}!", "{backend}");
        assert_eq!(stored[0].department.as_deref(), Some("Sa\u{fffd}les"), "{backend}");
        assert_eq!(CallRecordRow::count_for_tenant(conn, TENANT).unwrap(), 2, "{backend}");
    }
}

mod webhook {
    use std::time::{Duration, Instant};

    use serde_json::json;
    use sua_core::messages::{CallRecordFetchJobV1, CallToFetch, Envelope};
    use sua_db::models::SubscriptionRow;
    use sua_graph_sim::{SimConfig, TenantSpec};
    use sua_tests::stack::{Backend, Stack};
    use sua_tests::{counter_value, eventually};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const WAIT: Duration = Duration::from_secs(60);

    fn sim() -> SimConfig {
        SimConfig {
            tenants: vec![TenantSpec { users: 5, entra_p1: true, concealed_names: true }],
            calls_per_user: 0.0,
            days: 1,
            ..SimConfig::default()
        }
    }

    async fn subscription(stack: &Stack) -> (SubscriptionRow, String) {
        let tenant = stack.tenant(0);
        eventually("the subscription is active", WAIT, || async {
            let tenant = tenant.clone();
            stack.deps.pool.run(move |conn| SubscriptionRow::active_for_tenant(conn, &tenant)).await.unwrap().is_some()
        })
        .await;
        let lookup = tenant.clone();
        let row =
            stack.deps.pool.run(move |conn| SubscriptionRow::active_for_tenant(conn, &lookup)).await.unwrap().unwrap();
        let client_state = stack.sim.sim.sim.subscriptions(&tenant)[0].client_state.clone().unwrap();
        (row, client_state)
    }

    fn notification(subscription_id: &str, client_state: &str, tenant: &str, call_id: &str) -> String {
        json!({ "value": [{
            "subscriptionId": subscription_id, "clientState": client_state, "changeType": "created",
            "resource": format!("communications/callRecords/{call_id}"),
            "resourceData": { "@odata.type": "#Microsoft.Graph.callrecord", "id": call_id },
            "tenantId": tenant
        }]})
        .to_string()
    }

    async fn post(stack: &Stack, body: String) -> u16 {
        let url = format!("{}/graph/notifications", stack.collector_url);
        let response =
            stack.sim.http.post(url).header("content-type", "application/json").body(body).send().await.unwrap();
        response.status().as_u16()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn invented_subscription_ids_are_refused_and_nothing_about_them_is_cached() {
        let stack = Stack::start(Backend::Production, sim(), |_| {}).await;
        stack.onboard().await;
        let (subscription, client_state) = subscription(&stack).await;
        let tenant = stack.tenant(0);
        let call = "e523d2ed-2966-4b6b-925b-754a88034cc5";
        let huge = "7".repeat(200_000);
        for n in 0..200u32 {
            let invented = match n % 3 {
                0 => huge.clone(),
                1 => format!("not-a-guid-{n}"),
                _ => format!("{n:08x}-2dc5-4530-97cd-4e7ae6534c07"),
            };
            let status = post(&stack, notification(&invented, &client_state, &tenant, call)).await;
            assert!((400..500).contains(&status), "an invented subscription id was answered {status}");
        }
        assert_eq!(stack.collector.webhook.cache.len(), 0, "an invented id was cached");
        let outcome = |o: &str| counter_value(&stack.broker.registry, "sua_webhook_items_total", &[("outcome", o)]);
        assert_eq!(outcome("accepted"), 0);
        assert!(outcome("malformed") >= 133, "ids not shaped like a GUID are refused before any lookup");

        // The real subscription is cached once found; invented ids still add nothing.
        assert_eq!(post(&stack, notification(&subscription.id, &client_state, &tenant, call)).await, 202);
        assert_eq!(stack.collector.webhook.cache.len(), 1);
        let unknown = "0badc0de-2dc5-4530-97cd-4e7ae6534c07";
        assert_eq!(post(&stack, notification(unknown, &client_state, &tenant, call)).await, 403);
        assert_eq!(stack.collector.webhook.cache.len(), 1);
        stack.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_resource_id_that_is_not_a_call_record_id_never_steers_a_graph_request() {
        let stack = Stack::start(Backend::Production, sim(), |_| {}).await;
        stack.onboard().await;
        let (subscription, client_state) = subscription(&stack).await;
        let tenant = stack.tenant(0);
        for hostile in ["../../users", "..", "x/../../../users?$expand=memberOf", "%2e%2e%2f%2e%2e%2fusers"] {
            let status = post(&stack, notification(&subscription.id, &client_state, &tenant, hostile)).await;
            assert_eq!(status, 403, "{hostile} was accepted");
        }
        let outcome = |o: &str| counter_value(&stack.broker.registry, "sua_webhook_items_total", &[("outcome", o)]);
        assert_eq!(outcome("accepted"), 0);

        // A fetch job holding such an id (queued by an older collector, or forged on the queue) is refused by the
        // worker without a request, and dead-lettered.
        let job = CallRecordFetchJobV1 {
            calls: vec![CallToFetch { id: "../../users".into(), change_type: "created".into() }],
        };
        stack.broker.broker.publish_job(&Envelope::new(tenant.clone(), None, &job).unwrap()).await.unwrap();
        let fetches =
            |o: &str| counter_value(&stack.broker.registry, "sua_callrecord_fetches_total", &[("outcome", o)]);
        eventually("the job is refused", WAIT, || async { fetches("invalid_id") == 1 }).await;
        let dead = stack.broker.broker.topology().dead_letter_queue();
        eventually("the job is dead-lettered", WAIT, || async {
            stack.broker.broker.ready_count(&dead).await.unwrap() == 1
        })
        .await;
        let steered: Vec<String> = stack
            .sim
            .sim
            .sim
            .requests()
            .iter()
            .filter(|r| {
                r.endpoint == sua_graph_sim::Endpoint::CallRecord
                    || (r.path.contains("users") && r.query.contains("expand"))
            })
            .map(|r| format!("{} {}?{}", r.method, r.path, r.query))
            .collect();
        assert!(steered.is_empty(), "Graph was asked: {steered:?}");
        stack.stop().await;
    }

    /// Opens a connection and sends `head`, then the body one byte every `every`, until the server closes it;
    /// returns how long the connection lived.
    async fn trickle(addr: &str, head: &str, every: Duration) -> Duration {
        let started = Instant::now();
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut buffer = [0u8; 4096];
        loop {
            tokio::select! {
                read = stream.read(&mut buffer) => match read {
                    Ok(0) | Err(_) => return started.elapsed(),
                    Ok(_) => {}
                },
                () = tokio::time::sleep(every) => {
                    if stream.write_all(b" ").await.is_err() {
                        return started.elapsed();
                    }
                }
            }
            assert!(started.elapsed() < Duration::from_secs(30), "a slow sender was kept for 30 s");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slow_senders_are_dropped_while_a_normal_request_still_answers_quickly() {
        let stack = Stack::start(Backend::Production, sim(), |c| {
            c.callrecords.webhook_request_timeout_ms = 1_000;
            c.callrecords.webhook_body_timeout_ms = 1_500;
        })
        .await;
        let addr = stack.collector_url.trim_start_matches("http://").to_string();
        let body_head = format!(
            "POST /graph/notifications HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: 100000\r\n\r\n{{"
        );
        let slow_head = format!("POST /graph/notifications HTTP/1.1\r\nHost: {addr}\r\n");
        let mut senders = Vec::new();
        for n in 0..40 {
            let (addr, head) = (addr.clone(), if n % 2 == 0 { body_head.clone() } else { slow_head.clone() });
            senders.push(tokio::spawn(async move { trickle(&addr, &head, Duration::from_millis(200)).await }));
        }
        // Meanwhile a normal request is answered at once.
        let started = Instant::now();
        let status = post(&stack, "{\"value\": []}".to_string()).await;
        assert_eq!(status, 400);
        assert!(started.elapsed() < Duration::from_secs(1), "a normal request took {:?}", started.elapsed());
        for sender in senders {
            let lived = sender.await.unwrap();
            assert!(lived < Duration::from_secs(5), "a slow sender was kept {lived:?}");
        }
        stack.stop().await;
    }
}
