//! The Graph simulator against Microsoft's documentation: every endpoint's response is compared with the
//! documented example payload (field names, nesting, JSON types), and the documented behaviours are exercised.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use sua_graph_sim::{ConsentOutcome, Endpoint, Fault, FaultKind, SimConfig, TenantSpec, calls};
use sua_tests::eventually;
use sua_tests::graph::{Echo, SimHarness, WebhookReceiver, shape_differences};

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("graph-sim/fixtures").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Names the simulator writes that Microsoft documents on the resource pages but the examples omit.
const DOCUMENTED_ELSEWHERE: &[&str] = &[
    // callRecord, session, segment (callrecords-callrecord.md, -session.md, -segment.md)
    "joinWebUrl",
    "failureInfo",
    "caller",
    "callee",
    // clientUserAgent, serviceUserAgent (callrecords-clientuseragent.md, -serviceuseragent.md)
    "communicationServiceId",
    "azureADAppId",
    "applicationVersion",
    "role",
    // media, mediaStream (callrecords-media.md, -mediastream.md)
    "calleeNetwork",
    "calleeDevice",
    "audioCodec",
    "videoCodec",
    "startDateTime",
    "endDateTime",
    // signInActivity (signinactivity.md)
    "lastSuccessfulSignInDateTime",
    "lastSuccessfulSignInRequestId",
    // subscription (subscription.md)
    "lifecycleNotificationUrl",
    "notificationQueryOptions",
    "includeResourceData",
    "encryptionCertificate",
    "encryptionCertificateId",
    "notificationUrlAppId",
    // token response (v2-oauth2-client-creds-grant-flow.md)
    "ext_expires_in",
];

/// Every field name that appears in any of the documented examples.
fn documented_names() -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    out.push(key.clone());
                    walk(inner, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("graph-sim/fixtures");
    let mut names: Vec<String> = DOCUMENTED_ELSEWHERE.iter().map(|s| s.to_string()).collect();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "json") {
            walk(&serde_json::from_str(&std::fs::read_to_string(entry.path()).unwrap()).unwrap(), &mut names);
        }
    }
    names
}

fn assert_matches(doc: &str, actual: &Value, deprecated: &[&str]) {
    let names = documented_names();
    let extra: Vec<&str> = names.iter().map(String::as_str).collect();
    let problems = shape_differences(&fixture(doc), actual, &extra, deprecated);
    assert!(problems.is_empty(), "{doc} differs:\n  {}\nactual: {actual:#}", problems.join("\n  "));
}

async fn started(config: SimConfig) -> (SimHarness, String, String) {
    let harness = SimHarness::start(SimConfig { consent_all: true, ..config }).await;
    let tenant = harness.tenant(0);
    let token = harness.token(&tenant).await;
    (harness, tenant, token)
}

// ---- documented shapes -----------------------------------------------------------------------------------

#[tokio::test]
async fn subscribed_skus_match_the_documented_example() {
    let (harness, _, token) = started(SimConfig::default()).await;
    let (status, body) = harness.get(&token, "/v1.0/subscribedSkus").await;
    assert_eq!(status, 200);
    assert_matches("subscribedsku-list.json", &body, &[]);
    let parts: Vec<&str> =
        body["value"].as_array().unwrap().iter().map(|s| s["skuPartNumber"].as_str().unwrap()).collect();
    assert!(parts.contains(&"SPE_E5") && parts.contains(&"MCOEV") && parts.contains(&"MCOPSTN1"), "{parts:?}");
}

#[tokio::test]
async fn users_with_sign_in_activity_and_licences_match_the_documented_examples() {
    let (harness, _, token) = started(SimConfig::default()).await;
    let (status, body) =
        harness.get(&token, "/v1.0/users?$select=displayName,userPrincipalName,signInActivity&$top=50").await;
    assert_eq!(status, 200);
    // Compare a user who signed in (some users have never signed in: signInActivity is null then).
    let signed_in = body["value"].as_array().unwrap().iter().find(|u| u["signInActivity"].is_object()).unwrap().clone();
    let page = json!({ "@odata.context": body["@odata.context"], "value": [signed_in] });
    assert_matches("user-list-signinactivity.json", &page, &[]);
    let (_, body) = harness.get(&token, "/v1.0/users?$select=id,mail,assignedLicenses&$top=50").await;
    let licensed =
        body["value"].as_array().unwrap().iter().find(|u| !u["assignedLicenses"].as_array().unwrap().is_empty());
    assert_matches(
        "user-list-assignedlicenses.json",
        &json!({ "@odata.context": body["@odata.context"], "value": [licensed.unwrap()] }),
        &[],
    );
}

/// A peer-to-peer VoIP call whose callee left feedback, as in Microsoft's example.
fn example_like_call(harness: &SimHarness) -> calls::CallHeader {
    let sim = &harness.graph();
    let tenant = &sim.tenants[0];
    let now = sua_tests::clock::now();
    sim.calls_starting(tenant, now - chrono::Duration::days(20), now)
        .into_iter()
        .find(|c| {
            !c.group && c.pstn.is_none() && {
                let sessions = calls::sessions(tenant, c);
                sessions.len() == 1 && sessions[0]["callee"]["feedback"].is_object()
            }
        })
        .expect("the generator makes p2p calls with feedback")
}

#[tokio::test]
async fn a_call_record_with_sessions_and_segments_matches_the_documented_example() {
    let (harness, _, token) = started(SimConfig::default()).await;
    let call = example_like_call(&harness);
    let (status, body) = harness
        .get(&token, &format!("/v1.0/communications/callRecords/{}?$expand=sessions($expand=segments)", call.id))
        .await;
    assert_eq!(status, 200, "{body}");
    // A one-session call has no further session page; the example shows a link.
    let mut body = body;
    body["sessions@odata.nextLink"] = json!("https://graph.example/next");
    body["participants_v2@odata.context"] = json!("https://graph.example/ctx");
    assert_matches("callrecord-get-expanded.json", &body, &[]);
}

#[tokio::test]
async fn a_call_record_with_participants_matches_the_documented_example() {
    let (harness, _, token) = started(SimConfig::default()).await;
    let call = example_like_call(&harness);
    let (status, mut body) =
        harness.get(&token, &format!("/v1.0/communications/callRecords/{}?$expand=participants_v2", call.id)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["participants_v2"].as_array().unwrap().len(), 2);
    body["participants_v2@odata.nextLink"] = json!("https://graph.example/next");
    body["participants_v2@odata.context"] = json!("https://graph.example/ctx");
    assert_matches("callrecord-get-participants.json", &body, &[]);
}

#[tokio::test]
async fn session_pages_match_the_documented_example() {
    let (harness, _, token) = started(SimConfig::default()).await;
    let call = example_like_call(&harness);
    let (status, mut body) =
        harness.get(&token, &format!("/v1.0/communications/callRecords/{}/sessions?$expand=segments", call.id)).await;
    assert_eq!(status, 200);
    body["@odata.nextLink"] = json!("https://graph.example/next");
    // The example still shows the endpoint `identity` that stopped returning data on 2026-06-30.
    assert_matches("callrecord-sessions-expanded.json", &body, &["identity"]);
}

#[tokio::test]
async fn listed_call_records_match_the_documented_example() {
    let (harness, _, token) = started(SimConfig::default()).await;
    let (status, body) = harness.get(&token, "/v1.0/communications/callRecords").await;
    assert_eq!(status, 200);
    assert_eq!(body["value"].as_array().unwrap().len(), 60, "the default page holds 60 records");
    assert!(body["@odata.nextLink"].is_string());
    let first = body["value"][0].clone();
    let mut record = first.clone();
    record["organizer_v2@odata.context"] = json!("https://graph.example/ctx");
    let page = json!({ "@odata.context": body["@odata.context"], "value": [record] });
    // `organizer` stopped returning data on 2026-06-30.
    assert_matches("callrecords-list.json", &page, &["organizer"]);
    assert!(first.get("sessions").is_none(), "listed records carry no sessions");
}

#[tokio::test]
async fn pstn_and_direct_routing_logs_match_the_documented_examples() {
    let (harness, _, token) = started(SimConfig {
        tenants: vec![TenantSpec { users: 600, entra_p1: true, concealed_names: true }],
        ..SimConfig::default()
    })
    .await;
    let today = sua_tests::clock::now().date_naive();
    let from = today - chrono::Duration::days(20);
    for (function, doc) in
        [("getPstnCalls", "getpstncalls.json"), ("getDirectRoutingCalls", "getdirectroutingcalls.json")]
    {
        let path = format!("/v1.0/communications/callRecords/{function}(fromDateTime={from},toDateTime={today})");
        let (status, mut body) = harness.get(&token, &path).await;
        assert_eq!(status, 200, "{body}");
        assert!(!body["value"].as_array().unwrap().is_empty(), "{function} returned no rows");
        body["@odata.nextLink"] = json!("https://graph.example/next");
        assert_matches(doc, &body, &[]);
    }
}

#[tokio::test]
async fn the_token_response_matches_the_documented_fields() {
    let harness = SimHarness::start(SimConfig { consent_all: true, ..SimConfig::default() }).await;
    let (status, body) = harness.token_response(&harness.tenant(0)).await;
    assert_eq!(status, 200);
    assert_matches("token-response.json", &body, &[]);
    assert_eq!(body["token_type"], "Bearer");
}

#[tokio::test]
async fn a_subscription_and_its_notifications_match_the_documented_examples() {
    let (harness, tenant, token) = started(SimConfig::default()).await;
    let receiver = WebhookReceiver::start(Echo::Correct).await;
    let expiration = (sua_tests::clock::now() + chrono::Duration::minutes(4200)).to_rfc3339();
    let response = harness
        .http
        .post(format!("{}/v1.0/subscriptions", harness.sim.graph_url))
        .bearer_auth(&token)
        .json(&json!({
            "changeType": "created,updated",
            "notificationUrl": receiver.url,
            "lifecycleNotificationUrl": receiver.url,
            "resource": "/communications/callRecords",
            "expirationDateTime": expiration,
            "clientState": "s3cret-state"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let created: Value = response.json().await.unwrap();
    assert_matches("subscription-create.json", &created, &[]);
    let validations = harness.graph().deliveries().iter().filter(|d| d.kind == "validation").count();
    assert_eq!(validations, 2, "notificationUrl and lifecycleNotificationUrl are each validated");

    let ids = harness.graph().place_calls(&tenant, 2);
    assert_eq!(ids.len(), 2);
    eventually("two notifications arrive", Duration::from_secs(10), || async { receiver.received().len() >= 2 }).await;
    let notification = receiver.received()[0].clone();
    let problems = shape_differences(&fixture("callrecords-notification.json"), &notification, &[], &[]);
    assert!(problems.is_empty(), "{problems:?}\n{notification:#}");
    let item = &notification["value"][0];
    assert_eq!(item["clientState"], "s3cret-state");
    assert_eq!(item["tenantId"], tenant.as_str());
    assert_eq!(item["subscriptionId"], created["id"]);
    assert!(ids.contains(&item["resourceData"]["id"].as_str().unwrap().to_string()));
    // The notified record can be fetched.
    let (status, _) = harness.get(&token, &format!("/v1.0/communications/callRecords/{}", ids[0])).await;
    assert_eq!(status, 200);
    receiver.stop().await;
}

// ---- documented behaviour ---------------------------------------------------------------------------------

#[tokio::test]
async fn user_pages_visit_every_user_once_and_hold_at_most_500_with_sign_in_activity() {
    let users = 1_234;
    let (harness, _, token) = started(SimConfig {
        tenants: vec![TenantSpec { users, entra_p1: true, concealed_names: true }],
        ..SimConfig::default()
    })
    .await;
    let pages = harness.pages(&token, "/v1.0/users?$select=id,signInActivity&$top=999").await;
    let sizes: Vec<usize> = pages.iter().map(|p| p["value"].as_array().unwrap().len()).collect();
    assert_eq!(sizes, vec![500, 500, 234], "signInActivity caps pages at 500 whatever $top says");
    let mut ids: Vec<String> = pages
        .iter()
        .flat_map(|p| p["value"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_string()))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), users as usize);
    let plain = harness.pages(&token, "/v1.0/users?$select=id&$top=999").await;
    assert_eq!(plain.iter().map(|p| p["value"].as_array().unwrap().len()).collect::<Vec<_>>(), vec![999, 235]);
    let (status, body) = harness.get(&token, "/v1.0/users?$top=1000").await;
    assert_eq!(status, 400, "{body}");
    let (_, body) = harness.get(&token, "/v1.0/users?$top=1").await;
    let keys: Vec<&str> = body["value"][0].as_object().unwrap().keys().map(String::as_str).collect();
    assert!(
        keys.contains(&"userPrincipalName") && !keys.contains(&"assignedLicenses"),
        "default properties only: {keys:?}"
    );
}

#[tokio::test]
async fn sign_in_activity_needs_entra_id_p1_and_the_audit_log_permission() {
    let config = SimConfig {
        tenants: vec![
            TenantSpec { users: 50, entra_p1: false, concealed_names: true },
            TenantSpec { users: 50, entra_p1: true, concealed_names: true },
        ],
        ..SimConfig::default()
    };
    let (harness, no_p1, token) = started(config).await;
    let (status, body) = harness.get(&token, "/v1.0/users?$select=id,signInActivity").await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "Authentication_RequestFromNonPremiumTenantOrB2CTenant");
    let (status, _) = harness.get(&token, "/v1.0/users?$select=id,assignedLicenses").await;
    assert_eq!(status, 200, "the rest of the users endpoint still works for {no_p1}");

    let with_p1 = harness.tenant(1);
    harness.graph().revoke(&with_p1, "AuditLog.Read.All");
    let token = harness.token(&with_p1).await;
    let (status, body) = harness.get(&token, "/v1.0/users?$select=id,signInActivity").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("Authorization_RequestDenied")));
}

#[tokio::test]
async fn the_activity_report_redirects_to_a_csv_with_the_documented_header() {
    let (harness, tenant, token) = started(SimConfig::default()).await;
    let response = harness
        .http
        .get(format!("{}/v1.0/reports/getTeamsUserActivityUserDetail(period='D30')", harness.sim.graph_url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let refused = harness.http.get(&location).bearer_auth(&token).send().await.unwrap();
    assert!(refused.status().is_client_error(), "the download must not receive the Graph token");
    let csv = harness.http.get(&location).send().await.unwrap().text().await.unwrap();
    let mut lines = csv.lines();
    let header = lines.next().unwrap().trim_start_matches('\u{feff}');
    assert_eq!(header, sua_graph_sim::report::HEADER);
    let rows: Vec<&str> = lines.collect();
    let model = harness.graph().tenant(&tenant).unwrap();
    let licensed = (0..model.spec.users).filter(|i| model.user(*i).is_licensed()).count();
    assert_eq!(rows.len(), licensed);
    let upn = rows[0].split(',').nth(4).unwrap();
    assert!(upn.len() == 32 && !upn.contains('@'), "names are concealed by default: {upn}");
    let (status, _) = harness.get(&token, "/v1.0/reports/getTeamsUserActivityUserDetail(period='D8')").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_report_shows_names_when_the_tenant_reveals_them() {
    let (harness, _, token) = started(SimConfig {
        tenants: vec![TenantSpec { users: 30, entra_p1: true, concealed_names: false }],
        ..SimConfig::default()
    })
    .await;
    let response = harness
        .http
        .get(format!("{}/v1.0/reports/getTeamsUserActivityUserDetail(period=%27D7%27)", harness.sim.graph_url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let csv = harness.http.get(&location).send().await.unwrap().text().await.unwrap();
    let upn = csv.lines().nth(1).unwrap().split(',').nth(4).unwrap();
    assert!(upn.contains('@'), "{upn}");
}

#[tokio::test]
async fn sessions_of_a_large_meeting_come_in_pages_of_60() {
    let (harness, _, token) = started(SimConfig { days: 20, ..SimConfig::default() }).await;
    let sim = &harness.graph();
    let tenant = &sim.tenants[0];
    let now = sua_tests::clock::now();
    let large = sim
        .calls_starting(tenant, now - chrono::Duration::days(25), now)
        .into_iter()
        .find(|c| c.participants > 60)
        .expect("the generator makes meetings with more than 60 participants");
    let expected = calls::sessions(tenant, &large).len();
    let (status, first) = harness
        .get(&token, &format!("/v1.0/communications/callRecords/{}?$expand=sessions($expand=segments)", large.id))
        .await;
    assert_eq!(status, 200);
    assert_eq!(first["sessions"].as_array().unwrap().len(), 60);
    let next = first["sessions@odata.nextLink"].as_str().expect("a next link").to_string();
    let rest = harness.pages(&token, &next).await;
    let total = 60 + rest.iter().map(|p| p["value"].as_array().unwrap().len()).sum::<usize>();
    assert_eq!(total, expected);
    assert!(rest[0]["value"][0]["segments"].is_array(), "later pages keep $expand=segments");
}

#[tokio::test]
async fn listing_by_start_time_returns_exactly_the_calls_in_the_window() {
    let (harness, tenant, token) = started(SimConfig::default()).await;
    let now = sua_tests::clock::now();
    let from = now - chrono::Duration::days(5);
    let to = now - chrono::Duration::days(2);
    let filter = format!(
        "startDateTime ge {} and startDateTime lt {}",
        from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let path = format!(
        "/v1.0/communications/callRecords?$filter={}",
        url::form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>()
    );
    let pages = harness.pages(&token, &path).await;
    let mut listed: Vec<String> = pages
        .iter()
        .flat_map(|p| p["value"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()))
        .collect();
    let model = harness.graph().tenant(&tenant).unwrap();
    let mut expected: Vec<String> = harness.graph().calls_starting(model, from, to).into_iter().map(|c| c.id).collect();
    listed.sort();
    expected.sort();
    assert!(!expected.is_empty());
    assert_eq!(listed, expected);
}

#[tokio::test]
async fn pstn_logs_refuse_windows_over_90_days() {
    let (harness, _, token) = started(SimConfig::default()).await;
    let (status, body) = harness
        .get(&token, "/v1.0/communications/callRecords/getPstnCalls(fromDateTime=2026-01-01,toDateTime=2026-05-01)")
        .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn admin_consent_redirects_with_the_documented_parameters() {
    let harness = SimHarness::start(SimConfig::default()).await;
    let tenant = harness.tenant(0);
    let config = &harness.graph().config;
    let (status, body) = harness.token_response(&tenant).await;
    assert_eq!(status, 400, "no token before consent: {body}");
    assert!(body["error_description"].as_str().unwrap().contains("AADSTS700016"));

    let url = format!(
        "{}/organizations/v2.0/adminconsent?client_id={}&scope=https://graph.microsoft.com/.default&redirect_uri=https://sua.example/consent/callback&state=abc123",
        harness.sim.login_url, config.client_id
    );
    let response = harness.http.get(&url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 302);
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let params: std::collections::HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(location.path(), "/consent/callback");
    assert_eq!(params["admin_consent"], "True");
    assert_eq!(params["tenant"], tenant);
    assert_eq!(params["state"], "abc123");
    assert_eq!(params["scope"], "https://graph.microsoft.com/.default");
    let token = harness.token(&tenant).await;
    let (status, _) = harness.get(&token, "/v1.0/subscribedSkus").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn denied_consent_redirects_with_the_documented_error() {
    let harness = SimHarness::start(SimConfig::default()).await;
    let tenant = harness.tenant(0);
    harness.graph().set_consent_outcome(&tenant, ConsentOutcome::Deny);
    let url = format!(
        "{}/{tenant}/v2.0/adminconsent?client_id={}&scope=https://graph.microsoft.com/.default&redirect_uri=https://sua.example/cb&state=s1",
        harness.sim.login_url,
        harness.graph().config.client_id
    );
    let response = harness.http.get(&url).send().await.unwrap();
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let params: std::collections::HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(params["error"], "consent_required");
    assert!(params["error_description"].starts_with("AADSTS65004"));
    assert_eq!(params["admin_consent"], "True", "documented: admin_consent=True comes with errors too");
    assert_eq!(params["state"], "s1");
    assert!(!params.contains_key("tenant"));
    assert_eq!(harness.token_response(&tenant).await.0, 400);
}

#[tokio::test]
async fn graph_refuses_missing_forged_and_underprivileged_tokens() {
    let (harness, tenant, token) = started(SimConfig::default()).await;
    let (status, body) = harness.get("", "/v1.0/users").await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("InvalidAuthenticationToken")));
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(harness.get(&forged, "/v1.0/users").await.0, 401);
    harness.graph().revoke(&tenant, "CallRecords.Read.All");
    let narrowed = harness.token(&tenant).await;
    assert_eq!(harness.get(&narrowed, "/v1.0/communications/callRecords").await.0, 403);
    assert_eq!(harness.get(&narrowed, "/v1.0/users").await.0, 200);
    let unknown = harness.token_response("00000000-0000-0000-0000-000000000000").await;
    assert!(unknown.1["error_description"].as_str().unwrap().contains("AADSTS90002"));
}

async fn create_subscription(harness: &SimHarness, token: &str, url: &str, minutes: i64) -> (u16, Value) {
    let response = harness
        .http
        .post(format!("{}/v1.0/subscriptions", harness.sim.graph_url))
        .bearer_auth(token)
        .json(&json!({
            "changeType": "created",
            "notificationUrl": url,
            "resource": "communications/callRecords",
            "expirationDateTime": (sua_tests::clock::now() + chrono::Duration::minutes(minutes)).to_rfc3339(),
            "clientState": "x"
        }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_subscription_is_refused_when_the_echo_is_wrong_or_late() {
    let (harness, _, token) =
        started(SimConfig { validation_timeout: Duration::from_secs(3), ..SimConfig::default() }).await;
    let receiver = WebhookReceiver::start(Echo::Encoded).await;
    let (status, body) = create_subscription(&harness, &token, &receiver.url, 60).await;
    assert_eq!(status, 400, "an URL-encoded echo must fail: {body}");
    receiver.set_echo(Echo::Slow(Duration::from_secs(8)));
    let (status, body) = create_subscription(&harness, &token, &receiver.url, 60).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("timed out"));
    receiver.set_echo(Echo::Fail);
    assert_eq!(create_subscription(&harness, &token, &receiver.url, 60).await.0, 400);
    receiver.set_echo(Echo::Correct);
    assert_eq!(create_subscription(&harness, &token, &receiver.url, 60).await.0, 201);
    assert!(harness.graph().subscriptions(&harness.tenant(0)).len() == 1);
    receiver.stop().await;
}

#[tokio::test]
async fn subscriptions_live_at_most_4230_minutes_and_are_gone_when_expired() {
    let (harness, tenant, token) = started(SimConfig::default()).await;
    let receiver = WebhookReceiver::start(Echo::Correct).await;
    assert_eq!(create_subscription(&harness, &token, &receiver.url, 4231).await.0, 400);
    let (status, created) = create_subscription(&harness, &token, &receiver.url, 4200).await;
    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap().to_string();
    let renew = harness
        .http
        .patch(format!("{}/v1.0/subscriptions/{id}", harness.sim.graph_url))
        .bearer_auth(&token)
        .json(
            &json!({ "expirationDateTime": (sua_tests::clock::now() + chrono::Duration::minutes(4230)).to_rfc3339() }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(renew.status().as_u16(), 200);
    harness.graph().expire_subscription(&id);
    assert_eq!(harness.get(&token, &format!("/v1.0/subscriptions/{id}")).await.0, 404);
    // A live subscription beside it: once its notification is recorded, the expired one had its chance.
    let (_, live) = create_subscription(&harness, &token, &receiver.url, 600).await;
    let live = live["id"].as_str().unwrap().to_string();
    let placed = harness.graph().place_calls(&tenant, 1);
    assert_eq!(placed.len(), 1);
    let notified = |subscription: &str| {
        harness
            .sim
            .sim
            .deliveries()
            .iter()
            .filter(|d| d.kind == "notification" && d.subscription_id == subscription)
            .count()
    };
    eventually("the live subscription is notified", Duration::from_secs(30), || async { notified(&live) == 1 }).await;
    assert_eq!(notified(&id), 0, "no notification to an expired subscription");
    receiver.stop().await;
}

#[tokio::test]
async fn lifecycle_events_reach_the_lifecycle_url() {
    let (harness, _, token) = started(SimConfig::default()).await;
    let receiver = WebhookReceiver::start(Echo::Correct).await;
    let (_, created) = create_subscription(&harness, &token, &receiver.url, 600).await;
    let id = created["id"].as_str().unwrap();
    assert!(harness.graph().send_lifecycle(id, "reauthorizationRequired"));
    eventually("the lifecycle event arrives", Duration::from_secs(10), || async { !receiver.received().is_empty() })
        .await;
    let event = &receiver.received()[0]["value"][0];
    assert_eq!(event["lifecycleEvent"], "reauthorizationRequired");
    assert_eq!(event["subscriptionId"], id);
    assert!(event.get("changeType").is_none(), "lifecycleEvent and changeType are exclusive");
    receiver.stop().await;
}

#[tokio::test]
async fn faults_answer_as_configured_and_every_request_is_logged() {
    let (harness, tenant, token) = started(SimConfig::default()).await;
    let sim = &harness.graph();
    sim.add_fault(Fault::new(Endpoint::SubscribedSkus, FaultKind::Throttle { retry_after_secs: 7 }).times(1));
    let response = harness
        .http
        .get(format!("{}/v1.0/subscribedSkus", harness.sim.graph_url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    assert_eq!(harness.get(&token, "/v1.0/subscribedSkus").await.0, 200, "the fault hit once");

    sim.add_fault(Fault::new(Endpoint::Users, FaultKind::Truncate).skip(1).times(1));
    assert_eq!(harness.get(&token, "/v1.0/users").await.0, 200);
    let (status, body) = harness.get(&token, "/v1.0/users").await;
    assert_eq!(status, 200);
    assert!(body.is_string(), "a truncated page is not JSON");

    sim.add_fault(
        Fault::new(Endpoint::CallRecordsList, FaultKind::Status { status: 503 }).for_tenant(&tenant).times(1),
    );
    assert_eq!(harness.get(&token, "/v1.0/communications/callRecords").await.0, 503);
    sim.add_fault(Fault::new(Endpoint::Token, FaultKind::TokenFailure).times(1));
    assert_eq!(harness.token_response(&tenant).await.0, 401);

    let log = sim.requests_to(Endpoint::SubscribedSkus);
    assert_eq!(log.len(), 2);
    assert_eq!((log[0].status, log[0].retry_after), (429, Some(7)));
    assert_eq!(log[0].tenant.as_deref(), Some(tenant.as_str()));
    assert!(log[1].at >= log[0].at);
}

#[tokio::test]
async fn the_same_seed_serves_the_same_tenant() {
    let a = SimHarness::start(SimConfig { seed: 9, consent_all: true, ..SimConfig::default() }).await;
    let b = SimHarness::start(SimConfig { seed: 9, consent_all: true, ..SimConfig::default() }).await;
    assert_eq!(a.tenant(0), b.tenant(0));
    let (ta, tb) = (a.token(&a.tenant(0)).await, b.token(&b.tenant(0)).await);
    let (_, ua) = a.get(&ta, "/v1.0/users?$select=id,displayName,assignedLicenses&$top=20").await;
    let (_, ub) = b.get(&tb, "/v1.0/users?$select=id,displayName,assignedLicenses&$top=20").await;
    assert_eq!(ua["value"], ub["value"]);
    let c = SimHarness::start(SimConfig { seed: 10, ..SimConfig::default() }).await;
    assert_ne!(a.tenant(0), c.tenant(0));
}
