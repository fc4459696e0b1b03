//! Cached answers follow the data: portal-api replicas that answered (and cached) an empty tenant before its
//! first sync and calls answer with the new data as soon as analytics has committed it, however long their cache
//! would keep an answer; a price written through one replica shows on the other at once.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use sua_db::models::{CallRecordRow, PstnCallRow, SnapshotRow, rollups};
use sua_graph_sim::{SimConfig, TenantSpec, catalog};
use sua_tests::eventually;
use sua_tests::expected::{history, party_users, pstn_rows_billed};
use sua_tests::portal::Portal;
use sua_tests::stack::{Backend, Stack};

const WAIT: Duration = Duration::from_secs(150);
/// The replicas' cache lifetime: an answer that merely expired could not show within the test.
const CACHE_TTL_SECS: u64 = 3_600;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_answers_follow_the_data_as_soon_as_analytics_commits_it_on_postgresql() {
    freshness(Backend::Production).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_answers_follow_the_data_as_soon_as_analytics_commits_it_in_the_embedded_mode() {
    freshness(Backend::Embedded).await;
}

/// What every cached aggregate says about the tenant, read from one replica.
async fn aggregates(portal: &Portal, base: &str, token: &str, range: &str) -> BTreeMap<&'static str, Value> {
    let dashboard = portal.get(&format!("{base}/dashboard"), token).await;
    let licences = portal.get(&format!("{base}/licences"), token).await;
    let departments = portal.get(&format!("{base}/calls/usage?{range}&group_by=department"), token).await;
    let quality = portal.get(&format!("{base}/calls/quality?{range}"), token).await;
    let pstn = portal.get(&format!("{base}/calls/pstn?{range}&group_by=department"), token).await;
    let department_calls: i64 =
        departments["items"].as_array().unwrap().iter().map(|d| d["calls"].as_i64().unwrap()).sum();
    let pstn_calls: i64 = pstn["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["pstn"]["calls"].as_i64().unwrap() + d["direct_routing"]["calls"].as_i64().unwrap())
        .sum();
    BTreeMap::from([
        ("dashboard: snapshot", json!(dashboard["snapshot"].is_object())),
        ("dashboard: users", dashboard["users"].clone()),
        ("dashboard: calls in 30 days", dashboard["calls_last_30_days"]["calls"].clone()),
        ("licences: SKUs", json!(licences["skus"].as_array().unwrap().len())),
        ("usage by department: calls", json!(department_calls)),
        ("quality: days", json!(quality["days"].as_array().unwrap().len())),
        ("PSTN by department: calls", json!(pstn_calls)),
    ])
}

async fn freshness(backend: Backend) {
    let users = 80u32;
    let config = SimConfig {
        tenants: vec![TenantSpec { users, entra_p1: true, concealed_names: true }],
        calls_per_user: 0.5,
        days: 3,
        ..SimConfig::default()
    };
    let mut stack = Stack::start(backend, config, |_| {}).await;
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let url = stack.start_portal_with(|p| p.cache_ttl_secs = CACHE_TTL_SECS).await;
        replicas.push(Portal { url, http: stack.sim.http.clone() });
    }
    // The customer consents; the collector syncs and collects, but analytics is not running yet.
    assert_eq!(stack.onboard().await.0, 200);
    let tenant = stack.tenant(0);
    let token = stack.portal_token(&tenant, &["Portal.Reader"]);
    let base = format!("/api/v1/tenants/{tenant}");
    let model = stack.graph().tenant(&tenant).unwrap().clone();
    let calls = history(&model, stack.graph());
    let from = calls.iter().map(|c| c.start.date_naive()).min().unwrap();
    let to = sua_core::clock::today();
    let range = format!("from={from}&to={to}");
    let empty = BTreeMap::from([
        ("dashboard: snapshot", json!(false)),
        ("dashboard: users", json!(0)),
        ("dashboard: calls in 30 days", json!(0)),
        ("licences: SKUs", json!(0)),
        ("usage by department: calls", json!(0)),
        ("quality: days", json!(0)),
        ("PSTN by department: calls", json!(0)),
    ]);
    for portal in &replicas {
        assert_eq!(aggregates(portal, &base, &token, &range).await, empty, "nothing is committed yet");
    }

    // Analytics starts and commits the sync, the calls and the PSTN logs.
    stack.start_analytics().await;
    let pool = stack.deps.pool.clone();
    let state = |pool: sua_db::Pool, tenant: String| async move {
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
    };
    let mut billed = None;
    eventually("the collector asked Graph for both PSTN logs", WAIT, || {
        billed = pstn_rows_billed(stack.graph(), &model);
        let asked = billed.is_some();
        async move { asked }
    })
    .await;
    let pstn_rows = billed.unwrap().0.len();
    eventually("analytics has committed the sync, every call, every PSTN row and every recompute", WAIT, || async {
        let (current, records, pstn, backlog) = state(pool.clone(), tenant.clone()).await;
        current && records == calls.len() && pstn == pstn_rows && backlog == (0, 0)
    })
    .await;

    // Committed: the very next read of each replica has it (no waiting for the hour-long cache to expire).
    let per_user: i64 = calls.iter().map(|c| party_users(&model, c).len() as i64).sum();
    let days: std::collections::BTreeSet<_> = calls.iter().map(|c| c.start.date_naive()).collect();
    let skus = model.subscriptions().len();
    let fresh = BTreeMap::from([
        ("dashboard: snapshot", json!(true)),
        ("dashboard: users", json!(users)),
        ("dashboard: calls in 30 days", json!(calls.len())),
        ("licences: SKUs", json!(skus)),
        ("usage by department: calls", json!(per_user)),
        ("quality: days", json!(days.len())),
        ("PSTN by department: calls", json!(pstn_rows)),
    ]);
    for portal in &replicas {
        assert_eq!(aggregates(portal, &base, &token, &range).await, fresh, "{}", portal.url);
    }

    // A price written through one replica shows on the other at once; clients revalidate every answer.
    let admin = stack.portal_token(&tenant, &["Portal.Admin"]);
    let part = catalog::COPILOT_SKU.part_number;
    let change = json!({"prices": [{"sku_part_number": part, "amount_minor": 2800, "currency": "EUR"}]});
    let answer = replicas[0].call(Method::PUT, &format!("{base}/prices"), Some(&admin), Some(&change)).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let read = replicas[1].call(Method::GET, &format!("{base}/licences"), Some(&token), None).await;
    assert_eq!(read.headers["cache-control"], "private, no-cache");
    let copilot = read.json()["skus"].as_array().unwrap().iter().find(|s| s["sku_part_number"] == part).cloned();
    assert_eq!(copilot.unwrap()["unit_price"], json!({"amount_minor": 2800, "currency": "EUR"}));
    stack.stop().await;
}
