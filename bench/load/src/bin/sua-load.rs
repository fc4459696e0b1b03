//! Closed-loop HTTP load: `--connections` clients each send one request after the other for `--seconds` (after a
//! warm-up), and the run prints one JSON line: requests/s and latency percentiles of the requests answered with
//! the expected status.
//!
//!   sua-load --url http://127.0.0.1:8081/webhooks/callrecords --notifications SUBSCRIPTION,CLIENT_STATE,TENANT
//!   sua-load --url http://127.0.0.1:8083/api/v1/... --header "authorization: Bearer …"
//!
//! With `--notifications`, each request POSTs one Graph change notification for a new call record id, as Graph
//! does when calls end; otherwise requests are GETs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use sua_bench::Summary;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    url: String,
    #[arg(long, default_value_t = 64)]
    connections: usize,
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    #[arg(long, default_value_t = 3)]
    warmup_seconds: u64,
    /// `name: value`, repeatable
    #[arg(long)]
    header: Vec<String>,
    /// `subscriptionId,clientState,tenantId`: POST call-record notifications
    #[arg(long)]
    notifications: Option<String>,
    /// The status that counts as success (default 202 for notifications, 200 otherwise).
    #[arg(long)]
    expect: Option<u16>,
}

struct Target {
    url: String,
    headers: reqwest::header::HeaderMap,
    notifications: Option<(String, String, String)>,
    expect: u16,
}

impl Target {
    fn request(&self, client: &reqwest::Client) -> reqwest::RequestBuilder {
        match &self.notifications {
            Some((subscription, client_state, tenant)) => {
                let id = uuid::Uuid::new_v4();
                let expires = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
                let body = serde_json::json!({ "value": [{
                    "subscriptionId": subscription,
                    "clientState": client_state,
                    "changeType": "created",
                    "resource": format!("communications/callRecords/{id}"),
                    "subscriptionExpirationDateTime": expires,
                    "resourceData": {
                        "@odata.type": "#microsoft.graph.callrecord",
                        "@odata.id": format!("communications/callRecords/{id}"),
                        "id": id.to_string(),
                    },
                    "tenantId": tenant,
                }]});
                client.post(&self.url).headers(self.headers.clone()).json(&body)
            }
            None => client.get(&self.url).headers(self.headers.clone()),
        }
    }
}

/// Sends requests until `stop`; returns the latencies (µs) of successes and the failure count.
async fn client_loop(target: Arc<Target>, client: reqwest::Client, stop: Arc<AtomicBool>) -> (Vec<u64>, usize) {
    let (mut latencies, mut failures) = (Vec::new(), 0);
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let outcome = target.request(&client).send().await;
        let ok = match outcome {
            Ok(response) => {
                let status = response.status().as_u16();
                let _ = response.bytes().await;
                status == target.expect
            }
            Err(_) => false,
        };
        if ok {
            latencies.push(started.elapsed().as_micros() as u64);
        } else {
            failures += 1;
        }
    }
    (latencies, failures)
}

async fn run(target: &Arc<Target>, connections: usize, seconds: u64) -> anyhow::Result<Summary> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    let started = Instant::now();
    for _ in 0..connections {
        // One client (one keep-alive connection) per loop, as separate senders would have.
        let client = reqwest::Client::builder().pool_max_idle_per_host(1).build()?;
        clients.push(tokio::spawn(client_loop(target.clone(), client, stop.clone())));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut latencies, mut failures) = (Vec::new(), 0);
    for client in clients {
        let (l, f) = client.await?;
        latencies.extend(l);
        failures += f;
    }
    Ok(Summary::of(latencies, failures, started.elapsed()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut headers = reqwest::header::HeaderMap::new();
    for header in &args.header {
        let (name, value) = header.split_once(':').context("--header wants `name: value`")?;
        headers.insert(
            reqwest::header::HeaderName::from_bytes(name.trim().as_bytes())?,
            reqwest::header::HeaderValue::from_str(value.trim())?,
        );
    }
    let notifications = match &args.notifications {
        Some(spec) => {
            let parts: Vec<&str> = spec.split(',').collect();
            let [subscription, state, tenant] = parts[..] else {
                anyhow::bail!("--notifications wants subscriptionId,clientState,tenantId");
            };
            Some((subscription.to_string(), state.to_string(), tenant.to_string()))
        }
        None => None,
    };
    let expect = args.expect.unwrap_or(if notifications.is_some() { 202 } else { 200 });
    let target = Arc::new(Target { url: args.url.clone(), headers, notifications, expect });
    if args.warmup_seconds > 0 {
        run(&target, args.connections, args.warmup_seconds).await?;
    }
    let summary = run(&target, args.connections, args.seconds).await?;
    let mut line = summary.to_json();
    line["url"] = serde_json::json!(args.url);
    line["connections"] = serde_json::json!(args.connections);
    println!("{line}");
    Ok(())
}
