//! History end to end: after a licence sync, the day's trend point and the month's chargeback agree with the
//! generator (prices × units, per department); a price change moves the trend and realises no saving.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Datelike;
use reqwest::Method;
use serde_json::json;
use sua_db::models::TenantDayRow;
use sua_graph_sim::{SimConfig, TenantSpec};
use sua_portal_api::api::history::{Chargeback, RealisedSavings, Trends};
use sua_tests::eventually;
use sua_tests::expected::list_price;
use sua_tests::portal::{Portal, usd};
use sua_tests::stack::{Backend, Stack};

const WAIT: Duration = Duration::from_secs(150);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trends_and_chargeback_follow_the_generator_and_a_price_change_realises_nothing_on_postgresql() {
    history(Backend::Production).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trends_and_chargeback_follow_the_generator_and_a_price_change_realises_nothing_in_the_embedded_mode() {
    history(Backend::Embedded).await;
}

async fn history(backend: Backend) {
    let users = 120u32;
    // No calls: the PSTN side of the chargeback is zero, the licence side is what this checks.
    let config = SimConfig {
        tenants: vec![TenantSpec { users, entra_p1: true, concealed_names: false }],
        calls_per_user: 0.0,
        ..SimConfig::default()
    };
    let mut stack = Stack::start(backend, config, |_| {}).await;
    stack.start_analytics().await;
    let (status, _) = stack.onboard().await;
    assert_eq!(status, 200);
    let tenant = stack.tenant(0);
    let model = stack.graph().tenant(&tenant).unwrap().clone();
    let pool = stack.deps.pool.clone();
    eventually("analytics wrote the day's aggregates", WAIT, || async {
        let lookup = tenant.clone();
        let today = sua_core::clock::today();
        pool.run(move |conn| TenantDayRow::range(conn, &lookup, today, today)).await.unwrap().len() == 1
    })
    .await;
    let portal = Portal { url: stack.start_portal().await, http: stack.sim.http.clone() };
    let token = stack.portal_token(&tenant, &["Portal.Reader"]);
    let base = format!("/api/v1/tenants/{tenant}");
    let today = sua_core::clock::today();

    // The day's point: licence cost is purchased units × list price, units as the generator bought them.
    let subscriptions = model.subscriptions();
    let cost: i64 = subscriptions.iter().map(|s| list_price(s.sku.id) * s.enabled as i64).sum();
    let trends: Trends = portal.get_as(&format!("{base}/trends"), &token).await;
    let point = trends.points.iter().find(|p| p.day == today).expect("a point for today");
    assert_eq!(point.monthly_licence_cost, vec![usd(cost)]);
    assert_eq!(point.users, Some(i64::from(users)));
    let units: BTreeMap<String, (i64, i64)> =
        point.skus.iter().map(|s| (s.sku_id.clone(), (s.purchased, s.assigned))).collect();
    let expected: BTreeMap<String, (i64, i64)> =
        subscriptions.iter().map(|s| (s.sku.id.to_string(), (s.enabled as i64, s.consumed as i64))).collect();
    assert_eq!(units, expected);

    // Chargeback: per department, the list prices of the licences its users hold.
    let mut per_department: BTreeMap<String, i64> = BTreeMap::new();
    for index in 0..users {
        let user = model.user(index);
        for (sku, _) in &user.licences {
            *per_department.entry(user.department.clone()).or_default() += list_price(sku.id);
        }
    }
    let month = format!("{:04}-{:02}", today.year(), today.month());
    let charges: Chargeback = portal.get_as(&format!("{base}/chargeback?month={month}"), &token).await;
    assert_eq!(charges.licences_day, Some(today));
    let got: BTreeMap<String, i64> = charges
        .departments
        .iter()
        .map(|d| (d.department.clone(), d.total.iter().map(|m| m.amount_minor).sum()))
        .collect();
    assert_eq!(got, per_department);
    assert_eq!(charges.total, vec![usd(per_department.values().sum())]);
    let csv =
        portal.call(Method::GET, &format!("{base}/reports/chargeback.csv?month={month}"), Some(&token), None).await;
    assert_eq!(csv.status, 200);
    let csv = portal.call(Method::GET, &format!("{base}/reports/trends.csv"), Some(&token), None).await;
    assert_eq!(csv.status, 200);

    // A price change reprices today's point and realises nothing.
    let admin = stack.portal_token(&tenant, &["Portal.Admin"]);
    let e3 = subscriptions.iter().find(|s| s.sku.part_number == "SPE_E3").expect("the tenant buys SPE_E3");
    let change = json!({"prices": [{"sku_part_number": "SPE_E3", "amount_minor": list_price(e3.sku.id) - 100, "currency": "USD"}]});
    let answer = portal.call(Method::PUT, &format!("{base}/prices"), Some(&admin), Some(&change)).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let repriced = usd(cost - 100 * e3.enabled as i64);
    eventually("today's point shows the new price", WAIT, || async {
        let trends: Trends = portal.get_as(&format!("{base}/trends"), &token).await;
        trends.points.iter().any(|p| p.day == today && p.monthly_licence_cost == vec![repriced.clone()])
    })
    .await;
    let realised: RealisedSavings = portal.get_as(&format!("{base}/savings/realised"), &token).await;
    assert!(realised.items.is_empty(), "a price change realises nothing: {:?}", realised.items);
    stack.stop().await;
}
