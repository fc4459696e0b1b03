//! What operators see: traces exported over OTLP (one trace from a Graph notification to the stored record),
//! every service's `/metrics`, and alert rules and dashboards that only use metrics the services export.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use sua_db::models::CallRecordRow;
use sua_graph_sim::{Endpoint, Fault, FaultKind, SimConfig, TenantSpec};
use sua_tests::binaries::ServiceProcess;
use sua_tests::otlp::{Kind, OtlpReceiver, ReceivedSpan};
use sua_tests::stack::{Backend, Stack};
use sua_tests::{TestDatabase, eventually};

const WAIT: Duration = Duration::from_secs(120);
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Metric family names in a Prometheus text exposition.
fn families(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// The sample value of `name` with every label in `labels` (summed over the rest).
fn sample(exposition: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| line.split(['{', ' ']).next() == Some(name))
        .filter(|line| labels.iter().all(|(k, v)| line.contains(&format!("{k}=\"{v}\""))))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Metric names a PromQL expression reads: identifiers that are not functions, keywords, label names (inside
/// `{…}` or a `by (…)` list) or durations.
fn promql_metrics(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: [&str; 8] = ["and", "or", "unless", "offset", "bool", "atan2", "inf", "nan"];
    // Aggregations may put `by (…)` between their name and their parenthesis.
    const AGGREGATIONS: [&str; 12] = [
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
    ];
    // Followed by a list of label names.
    const LABEL_LISTS: [&str; 6] = ["by", "without", "on", "ignoring", "group_left", "group_right"];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let (mut i, mut braces, mut brackets) = (0, 0, 0);
    let mut label_list = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' => {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    i += 1;
                }
            }
            '{' => braces += 1,
            '}' => braces -= 1,
            '[' => brackets += 1,
            ']' => brackets -= 1,
            ')' => label_list = false,
            // A number (`1e6`, `0.95`, `0x1f`) is not a name.
            c if c.is_ascii_digit() => {
                while i + 1 < chars.len() && (chars[i + 1].is_ascii_alphanumeric() || chars[i + 1] == '.') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i + 1 < chars.len() && (chars[i + 1].is_ascii_alphanumeric() || matches!(chars[i + 1], '_' | ':'))
                {
                    i += 1;
                }
                let word: String = chars[start..=i].iter().collect();
                let next = chars[i + 1..].iter().find(|c| !c.is_whitespace()).copied();
                if LABEL_LISTS.contains(&word.as_str()) {
                    label_list = true;
                } else if braces == 0
                    && brackets == 0
                    && !label_list
                    && next != Some('(')
                    && !KEYWORDS.contains(&word.as_str())
                    && !AGGREGATIONS.contains(&word.as_str())
                {
                    names.insert(word);
                }
            }
            _ => {}
        }
        i += 1;
    }
    names
}

/// Every `expr:` of the PrometheusRule.
fn rule_expressions() -> Vec<String> {
    let rules = std::fs::read_to_string(format!("{REPO}/k8s/base/prometheus-rules.yaml")).unwrap();
    rules.lines().filter_map(|l| l.trim().strip_prefix("expr: ")).map(str::to_string).collect()
}

/// Every query of the Grafana dashboard.
fn dashboard_expressions() -> Vec<String> {
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{REPO}/k8s/base/grafana-dashboard.json")).unwrap())
            .unwrap();
    dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter().map(|t| t["expr"].as_str().unwrap().to_string()))
        .collect()
}

/// Histograms and summaries are queried through their series (`_bucket`, `_sum`, `_count`).
fn family_of(series: &str) -> &str {
    ["_bucket", "_sum", "_count"].iter().find_map(|s| series.strip_suffix(s)).unwrap_or(series)
}

#[test]
fn promql_metric_names_are_told_apart_from_functions_labels_and_keywords() {
    let names = promql_metrics(
        r#"sum by (service) (rate(sua_http_server_requests_total{status=~"5.."}[5m])) / ignoring(x) min(up) / 1e6 > 0 and histogram_quantile(0.9, sum by (le) (rate(sua_x_bucket[5m])))"#,
    );
    assert_eq!(names, BTreeSet::from(["sua_http_server_requests_total".into(), "up".into(), "sua_x_bucket".into()]));
    assert!(rule_expressions().len() >= 6, "every alert has an expression");
    assert!(dashboard_expressions().len() >= 14);
}

fn env_for(db: &TestDatabase, prefix: &str) -> Vec<(&'static str, String)> {
    use secrecy::ExposeSecret;
    vec![
        ("SUA_DATABASE_URL", db.url().expose_secret().to_string()),
        ("SUA_AMQP_URL", sua_tests::rabbitmq_url()),
        ("SUA_AMQP__PREFIX", prefix.to_string()),
        ("SUA_AMQP__QUEUE_EXPIRES_MS", "600000".to_string()),
        ("SUA_CLIENT_ID", "5f0b7c2a-6e1d-4c38-9a3b-2d4e6f8a1b2c".to_string()),
        ("SUA_CLIENT_SECRET", "sim-client-secret".to_string()),
    ]
}

async fn get(url: &str) -> Option<(u16, String)> {
    let response = reqwest::get(url).await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.unwrap_or_default()))
}

/// What every service exports, and what each exports besides.
const EVERY_SERVICE: [&str; 15] = [
    "sua_http_server_requests_total",
    "sua_http_server_request_duration_seconds",
    "sua_build_info",
    "sua_readiness_check_ok",
    "sua_db_pool_connections_in_use",
    "sua_db_pool_connections_idle",
    "sua_db_pool_connections_max",
    "sua_db_pool_wait_seconds",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
    "process_threads",
];
const BROKER_SERVICES: [&str; 4] = [
    "sua_broker_reconnects_total",
    "sua_queue_messages_ready",
    "sua_queue_messages_unacked",
    "sua_queue_oldest_unacked_age_seconds",
];
const COLLECTOR: [&str; 8] = [
    "sua_sync_oldest_last_success_timestamp_seconds",
    "sua_sync_stale_tenants",
    "sua_subscription_earliest_expiry_timestamp_seconds",
    "sua_sync_last_success_timestamp_seconds",
    "sua_sync_duration_seconds",
    "sua_graph_throttled_total",
    "sua_graph_throttle_wait_seconds_total",
    "sua_messages_dead_lettered_total",
];
const ANALYTICS: [&str; 2] = ["sua_notification_to_store_seconds", "sua_messages_dead_lettered_total"];

/// Scrapes a started binary's `/metrics` once it is ready (readiness ran, the first samples were taken).
async fn scrape_when_ready(service: &ServiceProcess, expected: &[&str]) -> String {
    let ready = service.url("/readyz");
    eventually("/readyz answers 200", WAIT, || async { matches!(get(&ready).await, Some((200, _))) }).await;
    // A request of the service's own (not an operational endpoint): it is counted by route template.
    let _ = get(&service.url("/no/such/route/42")).await;
    let metrics = service.url("/metrics");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some((200, body)) = get(&metrics).await {
            let present = families(&body);
            let missing: Vec<&&str> = expected.iter().filter(|name| !present.contains(**name)).collect();
            if missing.is_empty() {
                return body;
            }
            assert!(tokio::time::Instant::now() < deadline, "{missing:?} not exported within {WAIT:?}: {body}");
        }
        assert!(tokio::time::Instant::now() < deadline, "/metrics did not answer within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Each binary's `/metrics` has what operators alert and chart on; the alert rules read only metrics the
/// services export; and the README documents every metric that is exported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_exports_its_metrics_the_alert_rules_read_only_those_and_the_readme_documents_them() {
    let db = TestDatabase::postgres().unwrap();
    let prefix = format!("t{}.", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let env = env_for(&db, &prefix);
    let services = [
        ("sua-collector", "collector", [&EVERY_SERVICE[..], &BROKER_SERVICES, &COLLECTOR].concat()),
        ("sua-analytics", "analytics", [&EVERY_SERVICE[..], &BROKER_SERVICES, &ANALYTICS].concat()),
        ("sua-portal-api", "portal-api", EVERY_SERVICE.to_vec()),
    ];
    let mut exported = BTreeSet::new();
    for (binary, name, expected) in services {
        let service = ServiceProcess::start(binary, &[], &env);
        let metrics = scrape_when_ready(&service, &expected).await;
        assert_eq!(sample(&metrics, "sua_build_info", &[("service", name)]), 1.0, "{metrics}");
        assert_eq!(sample(&metrics, "sua_readiness_check_ok", &[("service", name), ("check", "database")]), 1.0);
        assert!(
            sample(&metrics, "sua_http_server_requests_total", &[("service", name), ("route", "unmatched")]) >= 1.0,
            "a request no route matched is counted as `unmatched`, not by its path: {metrics}"
        );
        assert!(!metrics.contains("/no/such/route/42"), "paths never become label values");
        assert!(sample(&metrics, "process_resident_memory_bytes", &[]) > 0.0);
        assert!(sample(&metrics, "sua_db_pool_connections_max", &[]) >= 1.0);
        if name != "portal-api" {
            let queue = if name == "collector" { "collector.jobs" } else { "analytics" };
            assert!(
                metrics.lines().any(|l| l.starts_with("sua_queue_messages_ready{") && l.contains(queue)),
                "{name} samples its queue's depth: {metrics}"
            );
        }
        exported.extend(families(&metrics));
        assert!(service.terminate(Duration::from_secs(20)).await.success());
    }

    for expr in rule_expressions() {
        for metric in promql_metrics(&expr) {
            assert!(
                exported.contains(family_of(&metric)),
                "the rule `{expr}` reads {metric}, which no service exports"
            );
        }
    }
    let readme = std::fs::read_to_string(format!("{REPO}/README.md")).unwrap();
    for family in exported.iter().filter(|f| f.starts_with("sua_")) {
        assert!(readme.contains(&format!("`{family}")), "README.md does not document {family}");
    }
}

/// The names of a span's ancestors, nearest first (within the spans received).
fn ancestors<'a>(span: &'a ReceivedSpan, spans: &'a [ReceivedSpan]) -> Vec<&'a ReceivedSpan> {
    let by_id: BTreeMap<&str, &ReceivedSpan> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let mut chain = Vec::new();
    let mut current = span;
    while let Some(parent) = by_id.get(current.parent_span_id.as_str()) {
        chain.push(*parent);
        current = parent;
        if chain.len() > 64 {
            break;
        }
    }
    chain
}

/// The trace from a notification to the stored record, when every hop has arrived: the webhook's SERVER span,
/// the fetch job's PRODUCER and CONSUMER spans, the Graph CLIENT span, the record's PRODUCER and CONSUMER spans
/// and the analytics store, each a descendant of the one before.
fn notification_trace(spans: &[ReceivedSpan]) -> Option<Vec<&ReceivedSpan>> {
    let stores = spans.iter().filter(|s| s.name == "store callrecord.v1" && s.attribute("outcome") == Some("stored"));
    for store in stores {
        let chain = ancestors(store, spans);
        let position = |wanted: &dyn Fn(&ReceivedSpan) -> bool| chain.iter().position(|s| wanted(s));
        let consume_record = position(&|s| s.kind == Kind::Consumer && s.name == "process callrecord.v1")?;
        let publish_record = position(&|s| s.kind == Kind::Producer && s.name == "publish callrecord.v1")?;
        let consume_job = position(&|s| s.kind == Kind::Consumer && s.name == "process job.callrecord_fetch.v1")?;
        let publish_job = position(&|s| s.kind == Kind::Producer && s.name == "publish job.callrecord_fetch.v1")?;
        let webhook =
            position(&|s| s.kind == Kind::Server && s.attribute("http.route") == Some("/graph/notifications"))?;
        if consume_record < publish_record
            && publish_record < consume_job
            && consume_job < publish_job
            && publish_job < webhook
        {
            let mut trace = vec![store];
            trace.extend(chain);
            return Some(trace);
        }
    }
    None
}

/// With an OTLP receiver in the test: portal-api and the collector trace their requests as SERVER spans (an
/// incoming `traceparent` honoured), Graph requests are CLIENT spans with route templates, every publish and
/// consume is a PRODUCER and CONSUMER span, and one trace runs from a notification at the webhook through the
/// fetch job and its Graph requests to the analytics write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_runs_from_a_graph_notification_to_the_stored_record_and_every_hop_is_a_span() {
    // Installed before the stack, so this process's spans go to the receiver (nextest runs each test alone).
    let receiver = OtlpReceiver::start().await;
    let log = sua_core::config::LogConfig { filter: "warn".into(), ..Default::default() };
    let telemetry = sua_core::telemetry::init("sua-e2e", &log, Some(&receiver.endpoint)).unwrap();

    let sim = SimConfig {
        tenants: vec![TenantSpec { users: 20, entra_p1: true, concealed_names: true }],
        calls_per_user: 0.0,
        days: 1,
        ..SimConfig::default()
    };
    let mut stack = Stack::start(Backend::Production, sim, |_| {}).await;
    stack.start_analytics().await;
    let portal = stack.start_portal().await;
    let tenant = stack.tenant(0);
    let (status, _) = stack.onboard().await;
    assert_eq!(status, 200);
    eventually("the subscription is active", WAIT, || async {
        let tenant = tenant.clone();
        stack
            .deps
            .pool
            .run(move |conn| sua_db::models::SubscriptionRow::active_for_tenant(conn, &tenant))
            .await
            .unwrap()
            .is_some()
    })
    .await;

    // The first consent backfills the last 30 days: let it finish, so the calls below arrive by notification only.
    eventually("the first backfill completed", WAIT, || async {
        let tenant = tenant.clone();
        stack
            .deps
            .pool
            .run(move |conn| sua_db::models::BackfillRow::latest_for_tenant(conn, &tenant))
            .await
            .unwrap()
            .is_some_and(|b| b.status == "completed")
    })
    .await;

    // Graph throttles the first call-record request once: the collector waits and retries.
    let simulator = &stack.sim.sim.sim;
    simulator.add_fault(Fault::new(Endpoint::CallRecord, FaultKind::Throttle { retry_after_secs: 0 }).times(1));
    let ids = simulator.place_calls(&tenant, 3);
    eventually("the notified records are stored", WAIT, || async {
        let (tenant, ids) = (tenant.clone(), ids.clone());
        stack
            .deps
            .pool
            .run(move |conn| {
                let mut all = true;
                for id in &ids {
                    all &= CallRecordRow::find(conn, &tenant, id)?.is_some();
                }
                Ok::<_, sua_db::DbError>(all)
            })
            .await
            .unwrap()
    })
    .await;

    // A portal request from a caller that traces: its span joins the caller's trace.
    let (caller_trace, caller_span) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let token = stack.portal_token(&tenant, &["Portal.Reader"]);
    let response = reqwest::Client::new()
        .get(format!("{portal}/api/v1/tenants/{tenant}/status"))
        .bearer_auth(token)
        .header("traceparent", format!("00-{caller_trace}-{caller_span}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let deadline = tokio::time::Instant::now() + WAIT;
    let spans = loop {
        tokio::task::block_in_place(|| telemetry.flush());
        let spans = receiver.spans();
        if notification_trace(&spans).is_some()
            && spans.iter().any(|s| s.kind == Kind::Server && s.trace_id == caller_trace)
        {
            break spans;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no complete trace from a notification to its stored record within {WAIT:?}; spans: {:#?}",
            spans.iter().map(|s| (&s.name, s.kind, &s.trace_id[..8])).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    let portal_span = spans.iter().find(|s| s.kind == Kind::Server && s.trace_id == caller_trace).unwrap();
    assert_eq!(portal_span.parent_span_id, caller_span, "the caller's span is the parent");
    assert_eq!(portal_span.attribute("service"), Some("portal-api"));
    assert_eq!(portal_span.attribute("http.route"), Some("/api/v1/tenants/{tenant_id}/status"));
    assert_eq!(portal_span.attribute("http.response.status_code"), Some("200"));
    assert_eq!(portal_span.name, "GET /api/v1/tenants/{tenant_id}/status");

    let trace = notification_trace(&spans).unwrap();
    let webhook = trace.iter().find(|s| s.kind == Kind::Server).unwrap();
    assert_eq!(webhook.attribute("service"), Some("collector"));
    assert_eq!(webhook.attribute("http.response.status_code"), Some("202"));
    assert!(trace.iter().all(|s| s.trace_id == webhook.trace_id), "one trace");

    // Graph's requests in that trace: CLIENT spans under the fetch job's consumer span, templates not URLs.
    let trace_id = &webhook.trace_id;
    let in_trace: Vec<&ReceivedSpan> = spans.iter().filter(|s| &s.trace_id == trace_id).collect();
    let graph_clients: Vec<&&ReceivedSpan> = in_trace
        .iter()
        .filter(|s| s.kind == Kind::Client && s.attribute("url.template").is_some_and(|t| t.contains("callRecords")))
        .collect();
    assert!(!graph_clients.is_empty(), "Graph requests of the fetch are in the notification's trace");
    for client in &graph_clients {
        let template = client.attribute("url.template").unwrap();
        assert!(template.starts_with("/v1.0/communications/callRecords/{id}"), "{template}");
        assert!(!ids.iter().any(|id| template.contains(id.as_str())), "no id in a template: {template}");
        assert_eq!(client.attribute("http.request.method"), Some("GET"));
        assert!(client.attributes.keys().all(|k| k != "url.full"), "no URL with its query");
    }

    // Everywhere: no span carries a token; Graph's 429 is a CLIENT span and the exchange records the retry.
    for span in &spans {
        for value in span.attributes.values() {
            assert!(!value.contains("eyJ"), "a token-like value in span {}: {value}", span.name);
        }
    }
    assert!(
        spans.iter().any(|s| s.kind == Kind::Client && s.attribute("http.response.status_code") == Some("429")),
        "the throttled attempt is a span of its own"
    );
    assert!(
        spans.iter().any(|s| s.attribute("graph.api") == Some("call_records") && s.attribute("retries") == Some("1")),
        "the exchange records its retry"
    );
    // Entra ID token requests are CLIENT spans too, without the tenant or the secret.
    let token_span = spans
        .iter()
        .find(|s| s.kind == Kind::Client && s.attribute("url.template") == Some("/{tenant}/oauth2/v2.0/token"))
        .expect("a token request span");
    assert_eq!(token_span.attribute("http.request.method"), Some("POST"));

    // Every consumer span has a producer span as its parent: context crossed the queue for every kind.
    let producers: BTreeMap<&str, &ReceivedSpan> =
        spans.iter().filter(|s| s.kind == Kind::Producer).map(|s| (s.span_id.as_str(), s)).collect();
    let consumers: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.kind == Kind::Consumer).collect();
    let kinds: BTreeSet<&str> = consumers.iter().filter_map(|s| s.attribute("kind")).collect();
    for expected in ["tenant.consented.v1", "job.subscription_ensure.v1", "job.callrecord_fetch.v1", "callrecord.v1"] {
        assert!(kinds.contains(expected), "a consumer span for {expected}: {kinds:?}");
    }
    for consumer in consumers {
        let producer = producers.get(consumer.parent_span_id.as_str());
        assert!(
            producer.is_some_and(|p| p.name.ends_with(consumer.attribute("kind").unwrap_or("?"))),
            "consumer span {} has its producer as parent",
            consumer.name
        );
    }

    // The same run in the metrics: Graph by API and status, the 429 and its retry, end-to-end latency.
    let _ = get(&format!("{}/readyz", stack.collector_url)).await;
    let (_, metrics) = get(&format!("{}/metrics", stack.collector_url)).await.unwrap();
    assert!(sample(&metrics, "sua_graph_requests_total", &[("api", "call_records"), ("status", "200")]) >= 3.0);
    assert_eq!(sample(&metrics, "sua_graph_throttled_total", &[("api", "call_records")]), 1.0);
    assert!(sample(&metrics, "sua_graph_retries_total", &[("api", "call_records"), ("reason", "throttled")]) >= 1.0);
    assert!(sample(&metrics, "sua_notification_to_store_seconds_count", &[]) >= 3.0, "{metrics}");
    assert!(
        sample(
            &metrics,
            "sua_http_server_requests_total",
            &[("service", "collector"), ("route", "/graph/notifications"), ("status", "202")]
        ) >= 3.0
    );
    let exported = families(&metrics);
    for expr in dashboard_expressions() {
        for metric in promql_metrics(&expr) {
            assert!(exported.contains(family_of(&metric)), "the dashboard's `{expr}` reads {metric}, not exported");
        }
    }
    stack.stop().await;
    receiver.stop().await;
}
