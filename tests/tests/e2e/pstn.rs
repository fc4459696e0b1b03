//! PSTN and Direct Routing use in the portal: calls, minutes and charges by day, user and department, split by
//! source, in the API and in the `pstn-usage` exports, exactly as the simulator's generator billed them for the
//! window the collector asked Graph for.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use sua_db::models::{PstnCallRow, SnapshotRow, rollups};
use sua_graph_sim::{SimConfig, TenantSpec};
use sua_portal_api::api::history::Chargeback;
use sua_tests::eventually;
use sua_tests::expected::pstn_rows_billed;
use sua_tests::portal::{Portal, SheetCell, read_workbook};
use sua_tests::stack::{Backend, Stack};

const WAIT: Duration = Duration::from_secs(150);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pstn_and_direct_routing_use_is_what_the_generator_billed_on_postgresql() {
    pstn_use(Backend::Production).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pstn_and_direct_routing_use_is_what_the_generator_billed_in_the_embedded_mode() {
    pstn_use(Backend::Embedded).await;
}

/// Sums of one source in one group: calls, seconds and charges in minor units per currency.
#[derive(Debug, Clone, Default, PartialEq)]
struct Billed {
    calls: i64,
    seconds: i64,
    charges: BTreeMap<String, i64>,
}

impl Billed {
    fn add(&mut self, row: &Value) {
        self.calls += 1;
        self.seconds += row["duration"].as_i64().unwrap();
        // Calling Plan rows carry a charge in a currency; Direct Routing rows none (the carrier bills them).
        if let (Some(charge), Some(currency)) = (row["charge"].as_f64(), row["currency"].as_str()) {
            *self.charges.entry(currency.to_string()).or_default() += (charge * 100.0).round() as i64;
        }
    }

    /// As the API writes one source.
    fn json(&self) -> Value {
        let charges: Vec<Value> = self.charges.iter().map(|(c, a)| json!({"amount_minor": a, "currency": c})).collect();
        json!({"calls": self.calls, "seconds": self.seconds, "minutes": self.seconds as f64 / 60.0, "charges": charges})
    }
}

/// `(key, source)` → what the generator billed.
type Expected = BTreeMap<(String, &'static str), Billed>;

fn sources(items: &Value) -> BTreeMap<(String, &'static str), Value> {
    let mut out = BTreeMap::new();
    for item in items.as_array().unwrap() {
        for source in ["pstn", "direct_routing"] {
            if item[source]["calls"].as_i64().unwrap() > 0 {
                out.insert((item["key"].as_str().unwrap().to_string(), source), item[source].clone());
            }
        }
    }
    out
}

fn as_json(expected: &Expected) -> BTreeMap<(String, &'static str), Value> {
    expected.iter().map(|(k, b)| (k.clone(), b.json())).collect()
}

async fn pstn_use(backend: Backend) {
    let spec = TenantSpec { users: 200, entra_p1: true, concealed_names: true };
    let (calls_per_user, days) = (1.0, 3);
    let clock = sua_tests::clock::pinned().unwrap_or_else(chrono::Utc::now);
    let config = SimConfig {
        seed: seed_with_charged_calls(&spec, calls_per_user, days, clock),
        tenants: vec![spec],
        calls_per_user,
        days,
        clock: Some(clock),
        ..SimConfig::default()
    };
    let mut stack = Stack::start(backend, config, |_| {}).await;
    stack.start_analytics().await;
    assert_eq!(stack.onboard().await.0, 200);
    let tenant = stack.tenant(0);
    let model = stack.graph().tenant(&tenant).unwrap().clone();

    // What the generator billed for the windows the collector asked Graph for.
    let mut billed = None;
    eventually("the collector asked Graph for both PSTN logs", WAIT, || {
        billed = pstn_rows_billed(stack.graph(), &model);
        let asked = billed.is_some();
        async move { asked }
    })
    .await;
    let (rows, (from, to)) = billed.unwrap();
    let source_of =
        |row: &Value| if row.get("trunkFullyQualifiedDomainName").is_some() { "direct_routing" } else { "pstn" };
    let calling_plan = rows.iter().filter(|r| source_of(r) == "pstn").count();
    assert!(calling_plan >= 5 && rows.len() - calling_plan >= 5, "both kinds: {calling_plan} of {}", rows.len());
    let charged = rows.iter().filter(|r| r["charge"].as_f64().unwrap_or(0.0) > 0.0).count();
    assert!(charged >= 2, "some calls were charged (international minutes): {charged}");
    let departments: BTreeMap<String, String> =
        (0..model.spec.users).map(|i| model.user(i)).map(|u| (u.id.to_ascii_lowercase(), u.department)).collect();
    let (mut by_day, mut by_user, mut by_department) = (Expected::new(), Expected::new(), Expected::new());
    let mut totals: BTreeMap<&'static str, Billed> = BTreeMap::new();
    for row in &rows {
        let source = source_of(row);
        let user = row["userId"].as_str().unwrap_or_default().to_ascii_lowercase();
        let day = row["startDateTime"].as_str().unwrap()[..10].to_string();
        let department = departments.get(&user).cloned().unwrap_or_default();
        by_day.entry((day, source)).or_default().add(row);
        by_user.entry((user, source)).or_default().add(row);
        by_department.entry((department, source)).or_default().add(row);
        totals.entry(source).or_default().add(row);
    }

    let pool = stack.deps.pool.clone();
    let expected_rows = rows.len();
    eventually("analytics stored every PSTN row and recomputed everything", WAIT, || async {
        let lookup = tenant.clone();
        let (current, stored, backlog) = pool
            .run(move |conn| {
                Ok::<_, sua_db::DbError>((
                    SnapshotRow::current(conn, &lookup)?.is_some(),
                    PstnCallRow::for_tenant(conn, &lookup)?.len(),
                    rollups::backlog(conn)?,
                ))
            })
            .await
            .unwrap();
        current && stored == expected_rows && backlog == (0, 0)
    })
    .await;
    eprintln!("{} PSTN rows ({calling_plan} Calling Plan) collected and analysed", rows.len());

    let portal = Portal { url: stack.start_portal().await, http: stack.sim.http.clone() };
    let token = stack.portal_token(&tenant, &["Portal.Reader"]);
    let base = format!("/api/v1/tenants/{tenant}");
    let range = format!("from={from}&to={to}");

    // By day, with the range's totals.
    let answer = portal.get(&format!("{base}/calls/pstn?{range}&group_by=day"), &token).await;
    assert_eq!(sources(&answer["items"]), as_json(&by_day));
    for source in ["pstn", "direct_routing"] {
        assert_eq!(answer["totals"][source], totals.get(source).cloned().unwrap_or_default().json(), "{source}");
    }
    assert_eq!(answer["totals"]["direct_routing"]["charges"], json!([]), "Direct Routing is billed by the carrier");

    // By user, across pages of 7 users; names from the snapshot.
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let after = cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default();
        let page = portal.get(&format!("{base}/calls/pstn?{range}&group_by=user&limit=7{after}"), &token).await;
        pages += 1;
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert!(pages > 1, "the users span pages");
    assert_eq!(sources(&Value::Array(items.clone())), as_json(&by_user));
    for item in &items {
        let user = model_user(&model, item["key"].as_str().unwrap());
        assert_eq!(item["user_principal_name"].as_str(), user.as_ref().map(|u| u.user_principal_name.as_str()));
    }

    // By department.
    let answer = portal.get(&format!("{base}/calls/pstn?{range}&group_by=department"), &token).await;
    assert_eq!(sources(&answer["items"]), as_json(&by_department));

    // Chargeback: each month's PSTN charges per department (the snapshot's departments, "unassigned" for none),
    // exactly what the generator billed in that month; Direct Routing carries no charge.
    let mut by_month: BTreeMap<String, BTreeMap<String, BTreeMap<String, i64>>> = BTreeMap::new();
    for row in &rows {
        let (Some(charge), Some(currency)) = (row["charge"].as_f64(), row["currency"].as_str()) else { continue };
        let month = row["startDateTime"].as_str().unwrap()[..7].to_string();
        let user = row["userId"].as_str().unwrap_or_default().to_ascii_lowercase();
        let department = departments.get(&user).cloned().filter(|d| !d.is_empty());
        let department = department.unwrap_or_else(|| sua_portal_api::api::history::UNASSIGNED.to_string());
        let charges = by_month.entry(month).or_default().entry(department).or_default();
        *charges.entry(currency.to_string()).or_default() += (charge * 100.0).round() as i64;
    }
    assert!(
        by_month.values().flat_map(|d| d.values()).flat_map(|c| c.values()).any(|a| *a > 0),
        "some charges to check"
    );
    for (month, expected) in &by_month {
        let charges: Chargeback = portal.get_as(&format!("{base}/chargeback?month={month}"), &token).await;
        let got: BTreeMap<String, BTreeMap<String, i64>> = charges
            .departments
            .iter()
            .filter(|d| !d.pstn_charges.is_empty())
            .map(|d| {
                (d.department.clone(), d.pstn_charges.iter().map(|m| (m.currency.clone(), m.amount_minor)).collect())
            })
            .collect();
        assert_eq!(&got, expected, "PSTN charges per department in {month}");
        let mut total: BTreeMap<String, i64> = BTreeMap::new();
        for (currency, amount) in expected.values().flatten() {
            *total.entry(currency.clone()).or_default() += amount;
        }
        let got_total: BTreeMap<String, i64> =
            charges.pstn_charges.iter().map(|m| (m.currency.clone(), m.amount_minor)).collect();
        assert_eq!(got_total, total, "{month}");
    }

    // The export by user as CSV: a row per user, source and currency, money in major units.
    let csv = portal
        .call(Method::GET, &format!("{base}/reports/pstn-usage.csv?{range}&group_by=user"), Some(&token), None)
        .await;
    assert_eq!((csv.status, csv.content_type.as_str()), (200, "text/csv; charset=utf-8"), "{}", csv.text());
    let text = csv.text();
    let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(
        header,
        [
            "key",
            "user_principal_name",
            "display_name",
            "department",
            "source",
            "calls",
            "seconds",
            "minutes",
            "charge",
            "currency"
        ]
    );
    let mut exported: BTreeMap<(String, &'static str), Billed> = BTreeMap::new();
    for record in reader.records() {
        let r = record.unwrap();
        let source = if &r[4] == "direct_routing" { "direct_routing" } else { "pstn" };
        let entry = exported.entry((r[0].to_string(), source)).or_default();
        entry.calls += r[5].parse::<i64>().unwrap();
        entry.seconds += r[6].parse::<i64>().unwrap();
        if !r[9].is_empty() {
            // Major units with the currency's two decimals, exactly.
            let (whole, cents) = r[8].split_once('.').unwrap();
            assert_eq!(cents.len(), 2, "{}", &r[8]);
            *entry.charges.entry(r[9].to_string()).or_default() +=
                whole.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap();
        } else {
            assert_eq!(&r[8], "", "no charge without a currency");
        }
    }
    // Uncharged Calling Plan calls carry their currency with 0.00; the API lists them as a 0 amount too.
    assert_eq!(exported, by_user);

    // The export by day as XLSX: days are dates, charges numbers in a USD format.
    let xlsx = portal
        .call(Method::GET, &format!("{base}/reports/pstn-usage.xlsx?{range}&group_by=day"), Some(&token), None)
        .await;
    assert_eq!(xlsx.status, 200, "{}", xlsx.text());
    let sheet = read_workbook(&xlsx.body);
    let mut from_sheet: BTreeMap<(String, &'static str), Billed> = BTreeMap::new();
    for row in &sheet[1..] {
        let SheetCell::Date(day) = &row[0] else { panic!("the day is not a date: {row:?}") };
        let source = match &row[4] {
            SheetCell::Text(s) if s == "direct_routing" => "direct_routing",
            SheetCell::Text(s) if s == "pstn" => "pstn",
            other => panic!("source {other:?}"),
        };
        let entry = from_sheet.entry((day.to_string(), source)).or_default();
        let number = |c: &SheetCell| match c {
            SheetCell::Number(n) => *n as i64,
            other => panic!("not a number: {other:?}"),
        };
        entry.calls += number(&row[5]);
        entry.seconds += number(&row[6]);
        match (&row[8], &row[9]) {
            (SheetCell::Money(amount, code), SheetCell::Text(currency)) => {
                assert_eq!(code, currency, "the format names the row's currency");
                *entry.charges.entry(currency.clone()).or_default() += (amount * 100.0).round() as i64;
            }
            (SheetCell::Empty, SheetCell::Text(currency)) => assert_eq!(currency, ""),
            other => panic!("charge {other:?}"),
        }
    }
    assert_eq!(from_sheet, by_day);
    stack.stop().await;
}

/// The first generator seed whose tenant, at `clock`, made Calling Plan and Direct Routing calls and was charged
/// for some (international minutes are rare), so that every figure the test compares is there to compare.
fn seed_with_charged_calls(spec: &TenantSpec, calls_per_user: f64, days: u32, clock: DateTime<Utc>) -> u64 {
    use sua_graph_sim::calls;
    let today = sua_graph_sim::tenant::day_number(clock.date_naive());
    (1..=1_000)
        .find(|seed| {
            let model = sua_graph_sim::TenantModel::new(*seed, 0, spec.clone(), clock);
            let (mut plan, mut direct, mut charged) = (0, 0, 0);
            for day in today.saturating_sub(days)..today {
                for slot in 0..calls::slots_on_day(&model, day, calls_per_user) {
                    let Some(call) = calls::header(&model, day, slot, None) else { continue };
                    // Graph lists calls up to an hour ago; leave the last two out of the count.
                    let Some(leg) = call.pstn.as_ref().filter(|_| call.start < clock - chrono::Duration::hours(2))
                    else {
                        continue;
                    };
                    if leg.direct_routing {
                        direct += 1;
                    } else {
                        plan += 1;
                        charged += i32::from(sua_graph_sim::pstn::charge(&call) > 0.0);
                    }
                }
            }
            plan >= 5 && direct >= 5 && charged >= 2
        })
        .unwrap_or_else(|| panic!("no seed up to 1,000 makes charged calls"))
}

fn model_user(model: &sua_graph_sim::TenantModel, id: &str) -> Option<sua_graph_sim::SimUser> {
    (0..model.spec.users).map(|i| model.user(i)).find(|u| u.id.eq_ignore_ascii_case(id))
}
