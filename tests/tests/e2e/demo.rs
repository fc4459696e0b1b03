//! The README's first command: `sua demo` runs everything in one process with a simulated customer, and the
//! portal it prints answers with that customer's data (a week of history included), for the token it prints,
//! across a restart.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use sua_tests::binaries::{binary, free_port};
use sua_tests::eventually;

struct Printed {
    portal: String,
    tenant: String,
    admin: String,
    operator: String,
}

async fn start(data_dir: &std::path::Path, port: u16) -> (tokio::process::Child, Printed) {
    let mut child = Command::new(binary("sua"))
        .args(["demo", "--data-dir"])
        .arg(data_dir)
        .args(["--port", &port.to_string()])
        .env("SUA_LOG__FILTER", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut portal, mut tenant, mut admin, mut operator) = (None, None, None, None);
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let last = line.split_whitespace().last().unwrap_or_default().to_string();
            if line.trim_start().starts_with("portal API") {
                portal = line.split_whitespace().nth(2).map(|u| u.trim_end_matches("/api/v1").to_string());
            } else if line.contains("demo customer") {
                tenant = Some(last.trim_end_matches(')').to_string());
            } else if let Some(token) = line.trim_start().strip_prefix("export OPERATOR_TOKEN=") {
                operator = Some(token.to_string());
            } else if let Some(token) = line.trim_start().strip_prefix("export TOKEN=") {
                admin = Some(token.to_string());
            } else if line.starts_with("Try:") {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(120), read).await.expect("the demo printed its URLs and tokens");
    let printed = Printed {
        portal: portal.expect("portal URL"),
        tenant: tenant.expect("demo customer"),
        admin: admin.expect("admin token"),
        operator: operator.expect("operator token"),
    };
    (child, printed)
}

async fn stop(mut child: tokio::process::Child) {
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "the demo stops cleanly on SIGTERM: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_serves_a_collected_and_analysed_customer_to_the_tokens_it_prints() {
    let data = tempfile::tempdir().unwrap();
    // The demo takes port..port+2 and port+10..port+11.
    let port = loop {
        let p = free_port();
        if p < 60_000 && [1, 2, 10, 11].iter().all(|o| std::net::TcpListener::bind(("127.0.0.1", p + o)).is_ok()) {
            break p;
        }
    };
    let (child, printed) = start(data.path(), port).await;
    let http = reqwest::Client::new();
    let get = |path: String, token: String| {
        let http = http.clone();
        let url = format!("{}{path}", printed.portal);
        async move {
            let response = http.get(&url).bearer_auth(token).send().await.unwrap();
            (response.status().as_u16(), response.json::<serde_json::Value>().await.unwrap_or_default())
        }
    };
    let dashboard = format!("/api/v1/tenants/{}/dashboard", printed.tenant);
    eventually(
        "the demo customer's licences, findings and calls are in the portal",
        Duration::from_secs(180),
        || async {
            let (status, body) = get(dashboard.clone(), printed.admin.clone()).await;
            status == 200
                && body["users"] == 300
                && !body["findings"].as_array().is_none_or(Vec::is_empty)
                && body["calls_last_30_days"]["calls"].as_i64().unwrap_or(0) > 0
        },
    )
    .await;
    // The first start ran the last week: a licence sync each day, and the admins' changes realised as savings.
    let (_, body) = get(dashboard.clone(), printed.admin.clone()).await;
    let today: chrono::NaiveDate = body["snapshot"]["day"].as_str().unwrap().parse().unwrap();
    let week = format!("from={}&to={today}", today - chrono::Duration::days(6));
    let (_, trends) = get(format!("/api/v1/tenants/{}/trends?{week}", printed.tenant), printed.admin.clone()).await;
    let purchased: Vec<i64> =
        trends["points"].as_array().unwrap().iter().filter_map(|p| p["purchased_units"].as_i64()).collect();
    assert_eq!(purchased.len(), 7, "a licence sync on each of 7 days: {trends}");
    assert!(
        purchased.windows(2).all(|w| w[1] <= w[0]) && purchased[6] < purchased[0],
        "seats cancelled: {purchased:?}"
    );
    let path = format!("/api/v1/tenants/{}/savings/realised?{week}", printed.tenant);
    let (_, realised) = get(path, printed.admin.clone()).await;
    let e3: Vec<_> =
        realised["items"].as_array().unwrap().iter().filter(|i| i["sku_part_number"] == "SPE_E3").collect();
    assert_eq!(e3.len(), 1, "{realised}");
    assert_eq!(e3[0]["units"], 2, "{realised}");
    assert_eq!(body["realised_savings_total"], realised["total"], "the dashboard shows the savings realised");
    let (status, summary) = get("/api/v1/summary".into(), printed.operator.clone()).await;
    assert_eq!((status, summary["tenants"].as_array().map(Vec::len)), (200, Some(1)));
    let (status, _) = get("/api/v1/summary".into(), printed.admin.clone()).await;
    assert_eq!(status, 403, "a customer admin is no operator");
    let status_path = format!("/api/v1/tenants/{}/status", printed.tenant);
    let (_, before) = get(status_path.clone(), printed.admin.clone()).await;
    let expiry =
        |status: &serde_json::Value| status["subscription_expires_at"].as_str().unwrap_or_default().to_string();
    assert!(!expiry(&before).is_empty(), "the first start subscribed: {before}");
    stop(child).await;

    // A restart keeps the data and does not onboard the customer again; the new simulator remembers nothing, yet
    // collection goes on: the subscription is made again, its gap backfilled, the feed stays healthy.
    let (child, printed) = start(data.path(), port).await;
    let (status, body) = get(dashboard.clone(), printed.admin.clone()).await;
    assert_eq!((status, body["users"].as_i64()), (200, Some(300)));
    let (_, tenants) = get("/api/v1/tenants".into(), printed.operator.clone()).await;
    assert_eq!(tenants["items"].as_array().map(Vec::len), Some(1));
    eventually("the restarted demo subscribed again and backfilled the gap", Duration::from_secs(120), || async {
        let (_, now) = get(status_path.clone(), printed.admin.clone()).await;
        expiry(&now) > expiry(&before)
            && now["last_backfill"]["reason"] == "gap"
            && now["last_backfill"]["status"] == "completed"
    })
    .await;
    let (_, after) = get(status_path.clone(), printed.admin.clone()).await;
    assert_eq!(after["feed_state"], "healthy", "{after}");
    assert_eq!(after["consent_state"], "granted", "{after}");
    stop(child).await;
}
