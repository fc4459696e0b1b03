//! History end to end: after a licence sync, the day's trend point and the month's chargeback agree with the
//! generator (prices × units, per department); a price change moves the trend and realises no saving.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Datelike;
use reqwest::Method;
use serde_json::json;
use sua_core::messages::{Envelope, LicenceSyncJobV1};
use sua_db::models::TenantDayRow;
use sua_graph_sim::catalog;
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
    let units: BTreeMap<String, (i64, i64)> = trends
        .skus
        .iter()
        .filter_map(|s| {
            let i = s.days.iter().position(|d| *d == today)?;
            Some((s.sku_id.clone(), (s.purchased[i], s.assigned[i])))
        })
        .collect();
    let expected: BTreeMap<String, (i64, i64)> =
        subscriptions.iter().map(|s| (s.sku.id.to_string(), (s.enabled as i64, s.consumed as i64))).collect();
    assert_eq!(units, expected);
    let purchased: i64 = expected.values().map(|(p, _)| p).sum();
    let assigned: i64 = expected.values().map(|(_, a)| a).sum();
    assert_eq!((point.purchased_units, point.assigned_units), (Some(purchased), Some(assigned)));
    let today_cost: Vec<(Option<&str>, i64)> = trends
        .skus
        .iter()
        .filter_map(|s| {
            let i = s.days.iter().position(|d| *d == today)?;
            Some((s.currency.as_deref(), s.monthly_cost_minor[i]?))
        })
        .collect();
    assert!(today_cost.iter().all(|(currency, _)| *currency == Some("USD")), "{today_cost:?}");
    assert_eq!(today_cost.iter().map(|(_, c)| c).sum::<i64>(), cost, "per-SKU costs add up to the day's");

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_licence_removed_then_a_seat_given_up_realises_one_licence_on_the_day_the_seat_goes_on_postgresql() {
    realised_over_days(Backend::Production).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_licence_removed_then_a_seat_given_up_realises_one_licence_on_the_day_the_seat_goes_in_the_embedded_mode() {
    realised_over_days(Backend::Embedded).await;
}

/// Waits for the tenant's aggregates of `day`, whose snapshot is not `previous`; returns its snapshot run.
async fn aggregates_of(stack: &Stack, day: chrono::NaiveDate, previous: Option<&str>) -> String {
    let (tenant, pool) = (stack.tenant(0), stack.deps.pool.clone());
    let previous = previous.map(str::to_string);
    let latest = || async {
        let lookup = tenant.clone();
        let rows = pool.run(move |conn| TenantDayRow::range(conn, &lookup, day, day)).await.unwrap();
        rows.into_iter().next().map(|r| r.run_id).filter(|r| Some(r) != previous.as_ref())
    };
    eventually(&format!("analytics wrote the aggregates of {day}"), WAIT, || async { latest().await.is_some() }).await;
    latest().await.unwrap()
}

/// The next day on the simulator's and sua's clocks, and that day's licence sync.
async fn next_day_sync(stack: &Stack) -> chrono::NaiveDate {
    let day = chrono::Duration::days(1);
    stack.graph().advance_clock(day);
    sua_core::clock::advance(day);
    let today = sua_core::clock::today();
    let job = LicenceSyncJobV1 { day: today, reason: "test".into() };
    let envelope = Envelope::new(stack.tenant(0), None, &job).unwrap();
    stack.broker.broker.publish_job(&envelope).await.unwrap();
    today
}

async fn realised_over_days(backend: Backend) {
    let users = 120u32;
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
    let day1 = sua_core::clock::today();
    let run1 = aggregates_of(&stack, day1, None).await;
    let portal = Portal { url: stack.start_portal().await, http: stack.sim.http.clone() };
    let token = stack.portal_token(&tenant, &["Portal.Reader"]);
    let base = format!("/api/v1/tenants/{tenant}");

    // A user with a disabled account holding Microsoft 365 E3, from the generator.
    let e3 = &catalog::SPE_E3;
    let holder = (0..users)
        .map(|i| model.user(i))
        .find(|u| !u.account_enabled && u.licences.iter().any(|(s, _)| s.id == e3.id))
        .expect("the generator disables some E3 holders");
    let price = list_price(e3.id);
    let seats = model.subscriptions().iter().find(|s| s.sku.id == e3.id).unwrap().enabled as i64;

    // Day 2: the admin removes the licence but keeps the seat: the money is still spent, nothing is realised.
    model.remove_licence(holder.index, e3);
    let day2 = next_day_sync(&stack).await;
    let run2 = aggregates_of(&stack, day2, Some(&run1)).await;
    let realised: RealisedSavings = portal.get_as(&format!("{base}/savings/realised?from={day1}"), &token).await;
    assert!(realised.items.is_empty(), "a seat kept is no saving: {:?}", realised.items);

    // Day 3: the seat count is lowered by one: one E3 licence is realised that day, at its list price.
    model.lower_seats(e3, 1);
    let day3 = next_day_sync(&stack).await;
    aggregates_of(&stack, day3, Some(&run2)).await;
    let realised: RealisedSavings = portal.get_as(&format!("{base}/savings/realised?from={day1}"), &token).await;
    let items: Vec<_> =
        realised.items.iter().map(|r| (r.day, r.sku_id.as_str(), r.units, r.monthly_amount.clone())).collect();
    assert_eq!(items, vec![(day3, e3.id, 1, usd(price))]);
    assert_eq!(realised.total, vec![usd(price)]);

    // The trend shows the three days: E3 assigned one fewer from day 2, purchased one fewer from day 3.
    let trends: Trends = portal.get_as(&format!("{base}/trends?from={day1}&to={day3}"), &token).await;
    let e3_units: Vec<(chrono::NaiveDate, i64, i64)> = trends
        .skus
        .iter()
        .filter(|s| s.sku_id == e3.id)
        .flat_map(|s| (0..s.days.len()).map(move |i| (s.days[i], s.purchased[i], s.assigned[i])))
        .collect();
    let assigned = model.subscriptions().iter().find(|s| s.sku.id == e3.id).unwrap().consumed as i64;
    assert_eq!(e3_units, vec![(day1, seats, assigned + 1), (day2, seats, assigned), (day3, seats - 1, assigned)]);
    stack.stop().await;
}
