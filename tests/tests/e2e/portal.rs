//! portal-api end to end: tokens minted by the simulator's issuer, every endpoint's refusals (no token, expired,
//! wrong audience, wrong issuer, unsigned, tampered, another tenant), and a simulated tenant → collector →
//! analytics → portal-api whose licences, findings, users and call usage match the generator exactly.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use serde_json::{Value, json};
use sua_db::models::{SnapshotRow, TenantRow, rollups};
use sua_graph_sim::calls::CallHeader;
use sua_graph_sim::catalog;
use sua_graph_sim::tenant::SignIn;
use sua_graph_sim::{SimConfig, TenantSpec, UserTokenSpec};
use sua_portal_api::api::Money;
use sua_portal_api::api::calls::{Quality, Usage};
use sua_portal_api::api::findings::Findings;
use sua_portal_api::api::licences::Licences;
use sua_portal_api::api::users::Users;
use sua_tests::expected::{audio_streams, expected_findings, expected_money, history, list_price, party_users};
use sua_tests::portal::{Portal, usd};
use sua_tests::stack::{Backend, OPERATOR_TENANT, PORTAL_AUDIENCE, Stack};
use sua_tests::{eventually, settles};

const WAIT: Duration = Duration::from_secs(150);
const READER: &str = "Portal.Reader";
const ADMIN: &str = "Portal.Admin";
const OPERATOR: &str = "Portal.Operator";
const TENANT_A: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
const TENANT_B: &str = "bbbbbbbb-0000-4000-8000-00000000000b";
const NO_TENANT: &str = "cccccccc-0000-4000-8000-00000000000c";

/// Every endpoint, with `{t}` for the tenant id.
fn endpoints() -> Vec<(Method, &'static str, Option<Value>)> {
    let prices = json!({"prices": [{"sku_part_number": "SPE_E3", "amount_minor": 3300, "currency": "EUR"}]});
    let settings =
        json!({"inactive_days": 60, "new_account_grace_days": 14, "phone_idle_days": 45, "excluded_users": []});
    vec![
        (Method::GET, "/api/v1/tenants/{t}/status", None),
        (Method::GET, "/api/v1/tenants/{t}/licences", None),
        (Method::GET, "/api/v1/tenants/{t}/dashboard", None),
        (Method::GET, "/api/v1/tenants/{t}/users?licensed=true", None),
        (Method::GET, "/api/v1/tenants/{t}/findings", None),
        (Method::GET, "/api/v1/tenants/{t}/calls/usage?group_by=user", None),
        (Method::GET, "/api/v1/tenants/{t}/calls/quality", None),
        (Method::GET, "/api/v1/tenants/{t}/calls/pstn?group_by=user", None),
        (Method::GET, "/api/v1/tenants/{t}/reports/users.csv", None),
        (Method::GET, "/api/v1/tenants/{t}/reports/findings.xlsx", None),
        (Method::GET, "/api/v1/tenants/{t}/reports/pstn-usage.csv?group_by=department", None),
        (Method::GET, "/api/v1/tenants/{t}/prices", None),
        (Method::PUT, "/api/v1/tenants/{t}/prices", Some(prices)),
        (Method::DELETE, "/api/v1/tenants/{t}/prices/SPE_E3", None),
        (Method::GET, "/api/v1/tenants/{t}/settings", None),
        (Method::PUT, "/api/v1/tenants/{t}/settings", Some(settings)),
        (Method::GET, "/api/v1/tenants/{t}/audit", None),
    ]
}

fn tenant_row(id: &str, name: &str) -> TenantRow {
    let now = sua_db::now();
    TenantRow {
        id: id.into(),
        display_name: name.into(),
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

fn tiny_sim() -> SimConfig {
    SimConfig {
        tenants: vec![TenantSpec { users: 5, entra_p1: true, concealed_names: true }],
        calls_per_user: 0.0,
        days: 1,
        ..SimConfig::default()
    }
}

/// A valid token with its payload changed and its signature kept.
fn tampered(token: &str, change: impl FnOnce(&mut Value)) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    change(&mut claims);
    format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(claims.to_string()), parts[2])
}

fn unsigned(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#), parts[1])
}

/// The same claims signed with HS256, the key being the public JWKS (the classic algorithm confusion).
fn hs256(stack: &Stack, token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = header["kid"].as_str().map(str::to_string);
    let secret = stack.graph().jwks().to_string();
    jsonwebtoken::encode(&h, &claims, &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_refuses_bad_tokens_and_other_tenants_on_postgresql() {
    refusals(Backend::Production).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_refuses_bad_tokens_and_other_tenants_in_the_embedded_mode() {
    refusals(Backend::Embedded).await;
}

async fn refusals(backend: Backend) {
    let mut stack = Stack::start(backend, tiny_sim(), |_| {}).await;
    let rows = [tenant_row(TENANT_A, "Contoso"), tenant_row(TENANT_B, "Fabrikam")];
    stack.deps.pool.run(move |conn| rows.iter().try_for_each(|r| TenantRow::upsert(conn, r))).await.unwrap();
    let portal = Portal { url: stack.start_portal().await, http: stack.sim.http.clone() };
    let sim = stack.graph().clone();
    let reader_a = stack.portal_token(TENANT_A, &[READER]);
    let admin_a = stack.portal_token(TENANT_A, &[ADMIN]);
    let mint = |change: &dyn Fn(&mut UserTokenSpec)| {
        let mut spec = UserTokenSpec::new(TENANT_A, PORTAL_AUDIENCE, &[ADMIN]);
        change(&mut spec);
        sim.user_token(&spec).unwrap()
    };
    let bad_tokens: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("expired", Some(mint(&|s| s.issued_offset_secs = -7_200))),
        ("not yet valid", Some(mint(&|s| s.issued_offset_secs = 3_600))),
        ("wrong audience", Some(mint(&|s| s.audience = "api://another-app".into()))),
        ("wrong issuer", Some(mint(&|s| s.issuer = Some("https://login.example.net/evil/v2.0".into())))),
        (
            "another tenant's issuer",
            Some(mint(&|s| s.issuer = Some(format!("https://login.microsoftonline.com/{TENANT_B}/v2.0")))),
        ),
        ("unsigned", Some(unsigned(&admin_a))),
        ("tampered", Some(tampered(&admin_a, |c| c["roles"] = json!([OPERATOR])))),
        ("HS256 with the public keys", Some(hs256(&stack, &admin_a))),
        ("garbage", Some("not.a.token".into())),
    ];
    let everything: Vec<(Method, String, Option<Value>)> = endpoints()
        .into_iter()
        .map(|(m, p, b)| (m, p.replace("{t}", TENANT_A), b))
        .chain([
            (Method::GET, "/api/v1/me".to_string(), None),
            (Method::GET, "/api/v1/tenants".to_string(), None),
            (Method::GET, "/api/v1/summary".to_string(), None),
            (Method::GET, "/api/v1/audit".to_string(), None),
            (
                Method::POST,
                "/api/v1/onboarding/invitations".to_string(),
                Some(json!({"customer_name": "Northwind", "admin_email": "admin@northwind.example"})),
            ),
        ])
        .collect();
    for (method, path, body) in &everything {
        for (why, token) in &bad_tokens {
            let answer = portal.call(method.clone(), path, token.as_deref(), body.as_ref()).await;
            assert_eq!(answer.status, 401, "{why}: {method} {path}: {}", answer.text());
            assert_eq!(answer.content_type, "application/problem+json", "{why}: {method} {path}");
            assert_eq!(answer.json()["status"], 401);
            assert!(answer.headers.contains_key("www-authenticate"));
        }
    }

    // Another tenant's data is "not found", exactly like a tenant that does not exist.
    for (method, path, body) in endpoints() {
        for token in [&reader_a, &admin_a] {
            let other = portal.call(method.clone(), &path.replace("{t}", TENANT_B), Some(token), body.as_ref()).await;
            let missing =
                portal.call(method.clone(), &path.replace("{t}", NO_TENANT), Some(token), body.as_ref()).await;
            assert_eq!(other.status, 404, "{method} {path} of tenant B: {}", other.text());
            assert_eq!((other.status, other.text()), (missing.status, missing.text()), "{method} {path}");
            assert_eq!(other.content_type, "application/problem+json");
        }
    }
    let tenants = portal.get("/api/v1/tenants", &reader_a).await;
    let ids: Vec<&str> =
        tenants["items"].as_array().unwrap().iter().map(|t| t["tenant_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [TENANT_A], "a customer lists only its own tenant");

    // Roles: readers read; writes and the audit log need Portal.Admin; operator views need Portal.Operator.
    for (method, path, body) in endpoints() {
        let path = path.replace("{t}", TENANT_A);
        let answer = portal.call(method.clone(), &path, Some(&reader_a), body.as_ref()).await;
        let write = method != Method::GET || path.ends_with("/audit");
        let expected = if write { 403 } else { 200 };
        assert_eq!(answer.status, expected, "reader: {method} {path}: {}", answer.text());
    }
    for path in ["/api/v1/summary", "/api/v1/audit"] {
        assert_eq!(portal.call(Method::GET, path, Some(&admin_a), None).await.status, 403);
    }
    let invite = json!({"customer_name": "Northwind", "admin_email": "admin@northwind.example"});
    let answer = portal.call(Method::POST, "/api/v1/onboarding/invitations", Some(&admin_a), Some(&invite)).await;
    assert_eq!(answer.status, 403, "{}", answer.text());
    let no_role = stack.portal_token(TENANT_A, &[]);
    assert_eq!(portal.call(Method::GET, "/api/v1/me", Some(&no_role), None).await.status, 403);
    // Portal.Operator outside the operator tenant grants nothing.
    let fake_operator = stack.portal_token(TENANT_A, &[OPERATOR]);
    let answer = portal.call(Method::GET, "/api/v1/summary", Some(&fake_operator), None).await;
    assert_eq!(answer.status, 403, "{}", answer.text());

    // Admins write, and every write is in the audit log with who did it.
    let prices = json!({"prices": [{"sku_part_number": "spe_e3", "amount_minor": 3300, "currency": "EUR"}]});
    let path = format!("/api/v1/tenants/{TENANT_A}/prices");
    let answer = portal.call(Method::PUT, &path, Some(&admin_a), Some(&prices)).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let e3 =
        answer.json()["items"].as_array().unwrap().iter().find(|p| p["sku_part_number"] == "SPE_E3").unwrap().clone();
    assert_eq!(
        (e3["unit_price"].clone(), e3["origin"].clone()),
        (json!({"amount_minor": 3300, "currency": "EUR"}), json!("override"))
    );
    for bad in [
        json!({"prices": [{"sku_part_number": "SPE_E3", "amount_minor": -1, "currency": "EUR"}]}),
        json!({"prices": [{"sku_part_number": "SPE_E3", "amount_minor": 1, "currency": "euro"}]}),
        json!({"prices": []}),
        json!({"prices": "SPE_E3"}),
    ] {
        let answer = portal.call(Method::PUT, &path, Some(&admin_a), Some(&bad)).await;
        assert_eq!((answer.status, answer.content_type.as_str()), (400, "application/problem+json"), "{bad}");
    }
    let big = json!({"prices": [{"sku_part_number": "X".repeat(100_000), "amount_minor": 1, "currency": "EUR"}]});
    assert_eq!(portal.call(Method::PUT, &path, Some(&admin_a), Some(&big)).await.status, 413);
    let audit = portal.get(&format!("/api/v1/tenants/{TENANT_A}/audit"), &admin_a).await;
    let entry = &audit["items"][0];
    assert_eq!((entry["action"].as_str(), entry["target"].as_str()), (Some("price.set"), Some("SPE_E3")));
    assert_eq!(entry["actor_name"], "portal.user@contoso.example");
    assert_eq!(entry["after"], json!({"amount_minor": 3300, "currency": "EUR"}));

    // Operators see every tenant, the all-tenants summary, and invite customers.
    let operator = stack.portal_token(OPERATOR_TENANT, &[OPERATOR]);
    for (method, path, _) in endpoints().into_iter().filter(|(m, _, _)| *m == Method::GET) {
        for tenant in [TENANT_A, TENANT_B] {
            let answer = portal.call(method.clone(), &path.replace("{t}", tenant), Some(&operator), None).await;
            assert_eq!(answer.status, 200, "operator: {path} of {tenant}: {}", answer.text());
        }
    }
    let summary = portal.get("/api/v1/summary", &operator).await;
    assert_eq!(summary["tenants"].as_array().unwrap().len(), 2);
    let answer = portal.call(Method::POST, "/api/v1/onboarding/invitations", Some(&operator), Some(&invite)).await;
    assert_eq!(answer.status, 201, "{}", answer.text());
    assert!(answer.json()["consent_url"].as_str().unwrap().contains("/adminconsent?"));
    let everything = portal.get("/api/v1/audit", &operator).await;
    let actions: Vec<(&str, Option<&str>)> = everything["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["tenant_id"].as_str()))
        .collect();
    assert_eq!(actions, [("invitation.create", None), ("price.set", Some(TENANT_A))], "newest first, across tenants");

    // Key rollover: a token signed with a key the portal has not seen yet is accepted after one JWKS refetch.
    sim.rotate_signing_key();
    let rotated = stack.portal_token(TENANT_A, &[READER]);
    assert_ne!(rotated.split('.').next(), reader_a.split('.').next(), "the new token names the new key");
    let answer = portal.call(Method::GET, "/api/v1/me", Some(&rotated), None).await;
    assert_eq!(answer.status, 200, "{}", answer.text());

    // ETags: an unchanged answer is 304.
    let path = format!("/api/v1/tenants/{TENANT_A}/licences");
    let first = portal.call(Method::GET, &path, Some(&reader_a), None).await;
    let etag = first.headers["etag"].to_str().unwrap().to_string();
    let again = portal
        .http
        .get(format!("{}{path}", portal.url))
        .bearer_auth(&reader_a)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 304);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_over_its_rate_limit_gets_429_with_retry_after_and_others_are_unaffected() {
    let mut stack = Stack::start(Backend::Embedded, tiny_sim(), |_| {}).await;
    let row = tenant_row(TENANT_A, "Contoso");
    stack.deps.pool.run(move |conn| TenantRow::upsert(conn, &row)).await.unwrap();
    let url = stack
        .start_portal_with(|p| {
            p.rate_per_second = 1;
            p.rate_burst = 5;
        })
        .await;
    let portal = Portal { url, http: stack.sim.http.clone() };
    let busy = stack.portal_token(TENANT_A, &[READER]);
    // A burst of 5, then one request a second: however slowly this machine sends them, a caller gets at most
    // the burst plus one per second that passed, and the burst itself is served whole.
    let started = std::time::Instant::now();
    let mut statuses = Vec::new();
    let limited = loop {
        assert!(statuses.len() < 100, "never limited: {statuses:?}");
        let answer = portal.call(Method::GET, "/api/v1/me", Some(&busy), None).await;
        statuses.push(answer.status);
        if answer.status == 429 {
            break answer;
        }
    };
    let served = statuses.iter().filter(|s| **s == 200).count() as u64;
    assert!(served >= 5, "the burst is served: {statuses:?}");
    assert!(served <= 5 + started.elapsed().as_secs() + 1, "{served} served in {:?}", started.elapsed());
    assert_eq!(limited.content_type, "application/problem+json");
    assert!(limited.headers["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    let other = stack.portal_token(TENANT_A, &[READER]);
    assert_eq!(portal.call(Method::GET, "/api/v1/me", Some(&other), None).await.status, 200);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_shows_a_simulated_tenant_exactly_as_the_generator_built_it() {
    let users = 400u32;
    let config = SimConfig {
        tenants: vec![TenantSpec { users, entra_p1: true, concealed_names: true }],
        calls_per_user: 0.25,
        days: 3,
        ..SimConfig::default()
    };
    let mut stack = Stack::start(Backend::Production, config, |_| {}).await;
    stack.start_analytics().await;
    let (status, _) = stack.onboard().await;
    assert_eq!(status, 200);
    let tenant = stack.tenant(0);
    let model = stack.graph().tenant(&tenant).unwrap().clone();
    let calls: Vec<CallHeader> = history(&model, stack.graph());
    let pstn_rows: Vec<Value> = calls
        .iter()
        .flat_map(|c| [sua_graph_sim::pstn::pstn_row(&model, c), sua_graph_sim::pstn::direct_routing_row(&model, c)])
        .flatten()
        .collect();
    let pool = stack.deps.pool.clone();
    eventually("analytics holds the tenant and has recomputed everything", WAIT, || async {
        let lookup = tenant.clone();
        let (current, records, backlog) = pool
            .run(move |conn| {
                Ok::<_, sua_db::DbError>((
                    SnapshotRow::current(conn, &lookup)?.is_some(),
                    sua_db::models::CallRecordRow::count_for_tenant(conn, &lookup)? as usize,
                    rollups::backlog(conn)?,
                ))
            })
            .await
            .unwrap();
        current && records == calls.len() && backlog == (0, 0)
    })
    .await;
    eprintln!("{users} users, {} calls, {} PSTN rows collected and analysed", calls.len(), pstn_rows.len());
    let portal = Portal { url: stack.start_portal().await, http: stack.sim.http.clone() };
    let token = stack.portal_token(&tenant, &[READER]);
    let base = format!("/api/v1/tenants/{tenant}");

    // Licences: every SKU with the generator's units; money is units × unit price.
    let licences: Licences = portal.get_as(&format!("{base}/licences"), &token).await;
    let got: BTreeMap<String, (i64, i64, i64)> =
        licences.skus.iter().map(|s| (s.sku_id.clone(), (s.purchased, s.warning, s.assigned))).collect();
    let expected: BTreeMap<String, (i64, i64, i64)> = model
        .subscriptions()
        .iter()
        .map(|s| (s.sku.id.to_string(), (s.enabled as i64, s.warning as i64, s.consumed as i64)))
        .collect();
    assert_eq!(got, expected);
    // Seats free and money per SKU: the generator's units at the list prices the test knows.
    let got: BTreeMap<String, (i64, Option<Money>)> =
        licences.skus.iter().map(|s| (s.sku_id.clone(), (s.available, s.monthly_cost.clone()))).collect();
    let expected: BTreeMap<String, (i64, Option<Money>)> = model
        .subscriptions()
        .iter()
        .map(|s| {
            let cost = usd(list_price(s.sku.id) * s.enabled as i64);
            (s.sku.id.to_string(), ((s.enabled as i64 - s.consumed as i64).max(0), Some(cost)))
        })
        .collect();
    assert_eq!(got, expected);
    // Copilot: a public list price of 30.00 USD; the seats bought and never assigned are its waste.
    let copilot = licences.skus.iter().find(|s| s.sku_id == catalog::COPILOT_SKU.id).unwrap();
    let bought = model.subscriptions().iter().find(|s| s.sku.id == catalog::COPILOT_SKU.id).unwrap().enabled as i64;
    assert_eq!(copilot.unit_price, Some(usd(3000)));
    assert_eq!(copilot.monthly_waste, vec![usd(bought * 3000)]);

    // Findings: exactly the (kind, user, SKU) the generator built, across pages; totals agree with the items.
    let dialled: BTreeSet<String> = pstn_rows.iter().filter_map(|r| r["userId"].as_str()).map(str::to_string).collect();
    let expected = expected_findings(&model, &dialled);
    let (items, pages) = portal.all_pages::<Findings>(&format!("{base}/findings?limit=40"), &token).await;
    assert!(pages > 1, "the findings span pages");
    let found: BTreeSet<(String, String, String)> = items
        .iter()
        .map(|f| {
            let user = f.user_id.clone().unwrap_or_else(|| "-".into());
            (f.kind.clone(), user, f.sku_id.clone().unwrap_or_default())
        })
        .collect();
    assert_eq!(found.len(), items.len(), "no finding repeats across pages");
    assert_eq!(found, expected);
    eprintln!("{} findings over {pages} pages match the generator", found.len());
    let first: Findings = portal.get_as(&format!("{base}/findings?limit=1"), &token).await;
    assert_eq!(first.total as usize, expected.len());
    let mut per_kind: BTreeMap<String, i64> = BTreeMap::new();
    for (kind, _, _) in &expected {
        *per_kind.entry(kind.clone()).or_default() += 1;
    }
    let totals: BTreeMap<String, i64> = first.totals.iter().map(|t| (t.kind.clone(), t.findings)).collect();
    assert_eq!(totals, per_kind);
    let money = expected_money(&model, &expected);
    let saved: i64 = money.iter().filter(|(kind, _)| *kind != "over_assigned").map(|(_, cents)| cents).sum();
    assert_eq!(first.monthly_savings, vec![usd(saved)]);
    let per_finding: BTreeMap<String, i64> = items.iter().fold(BTreeMap::new(), |mut acc, f| {
        *acc.entry(f.kind.clone()).or_default() += f.monthly_amount.as_ref().unwrap().amount_minor;
        acc
    });
    assert_eq!(per_finding, money, "each finding's money, summed per kind");
    let inactive: Findings = portal.get_as(&format!("{base}/findings?kind=inactive_user&limit=1000"), &token).await;
    assert_eq!(inactive.items.len() as i64, per_kind["inactive_user"]);

    // Users: every user once across pages in name order; filters count what the generator made.
    let model_users: Vec<_> = (0..users).map(|i| model.user(i)).collect();
    let (items, _) = portal.all_pages::<Users>(&format!("{base}/users?limit=70"), &token).await;
    let ids: Vec<&String> = items.iter().map(|u| &u.id).collect();
    assert_eq!(
        ids.iter().copied().collect::<BTreeSet<_>>(),
        model_users.iter().map(|u| &u.id).collect::<BTreeSet<_>>()
    );
    assert_eq!(ids.len(), users as usize);
    let names: Vec<(&str, &str)> = items.iter().map(|u| (u.display_name.as_str(), u.id.as_str())).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "sorted by display name, then id");
    // By last sign-in: never-signed-in users first (by id), then each instant the generator gave (by id where
    // two are equal); descending is the exact reverse. Page sizes put boundaries inside both.
    let signed_in = |u: &sua_graph_sim::tenant::SimUser| match u.sign_in {
        SignIn::Never => None,
        SignIn::DaysAgo(days) => {
            Some(model.clock - chrono::Duration::days(days) - chrono::Duration::minutes(i64::from(u.index % 600)))
        }
    };
    let mut by_sign_in: Vec<_> =
        model_users.iter().map(|u| (signed_in(u).map(|t| t.timestamp()), u.id.clone())).collect();
    by_sign_in.sort();
    assert!(by_sign_in.iter().filter(|(t, _)| t.is_none()).count() > 7, "the generator made never-signed-in users");
    let ascending: Vec<String> = by_sign_in.into_iter().map(|(_, id)| id).collect();
    let (asc, _) = portal.all_pages::<Users>(&format!("{base}/users?limit=7&sort=last_sign_in"), &token).await;
    assert_eq!(asc.iter().map(|u| u.id.clone()).collect::<Vec<_>>(), ascending);
    let (desc, _) =
        portal.all_pages::<Users>(&format!("{base}/users?limit=90&sort=last_sign_in&order=desc"), &token).await;
    let descending: Vec<String> = ascending.iter().rev().cloned().collect();
    assert_eq!(desc.iter().map(|u| u.id.clone()).collect::<Vec<_>>(), descending);
    let count = |path: String| {
        let portal = &portal;
        let token = &token;
        async move { portal.get_as::<Users>(&path, token).await.total }
    };
    let licensed = model_users.iter().filter(|u| !u.licences.is_empty()).count() as i64;
    assert_eq!(count(format!("{base}/users?licensed=true&limit=1")).await, licensed);
    assert_eq!(count(format!("{base}/users?licensed=false&limit=1")).await, users as i64 - licensed);
    let disabled = model_users.iter().filter(|u| !u.account_enabled).count() as i64;
    assert_eq!(count(format!("{base}/users?enabled=false&limit=1")).await, disabled);
    let stale = model_users.iter().filter(|u| !matches!(u.sign_in, SignIn::DaysAgo(d) if d <= 90)).count() as i64;
    assert_eq!(count(format!("{base}/users?inactive_days=90&limit=1")).await, stale);
    let with_phone =
        model_users.iter().filter(|u| u.licences.iter().any(|(s, _)| s.id == catalog::MCOEV_SKU.id)).count();
    assert_eq!(count(format!("{base}/users?sku=MCOEV&limit=1")).await, with_phone as i64);
    let department = model_users[0].department.clone();
    let in_department = model_users.iter().filter(|u| u.department == department).count() as i64;
    let query = url::form_urlencoded::Serializer::new(String::new()).append_pair("department", &department).finish();
    assert_eq!(count(format!("{base}/users?{query}&limit=1")).await, in_department);

    // Call usage: per day and per user over the range, exactly the generated calls.
    let mut per_day: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    let mut per_user: BTreeMap<String, i64> = BTreeMap::new();
    for call in &calls {
        let entry = per_day.entry(call.start.date_naive().to_string()).or_default();
        entry.0 += 1;
        entry.1 += i64::from(call.group);
        entry.2 += (call.end - call.start).num_seconds();
        for user in party_users(&model, call) {
            *per_user.entry(user).or_default() += 1;
        }
    }
    let from = calls.iter().map(|c| c.start.date_naive()).min().unwrap();
    let to = calls.iter().map(|c| c.start.date_naive()).max().unwrap();
    let usage: Usage = portal.get_as(&format!("{base}/calls/usage?from={from}&to={to}&group_by=day"), &token).await;
    let got: BTreeMap<String, (i64, i64, i64)> =
        usage.items.iter().map(|d| (d.key.clone(), (d.counts.calls, d.counts.group_calls, d.counts.seconds))).collect();
    assert_eq!(got, per_day);
    assert_eq!(usage.totals.calls as usize, calls.len());
    let (items, _) = portal
        .all_pages::<Usage>(&format!("{base}/calls/usage?from={from}&to={to}&group_by=user&limit=50"), &token)
        .await;
    let got: BTreeMap<String, i64> = items.iter().map(|u| (u.key.clone(), u.counts.calls)).collect();
    assert_eq!(got, per_user);
    let by_department: Usage =
        portal.get_as(&format!("{base}/calls/usage?from={from}&to={to}&group_by=department"), &token).await;
    let department_calls: i64 = by_department.items.iter().map(|d| d.counts.calls).sum();
    assert_eq!(department_calls, per_user.values().sum::<i64>());
    let quality: Quality = portal.get_as(&format!("{base}/calls/quality?from={from}&to={to}"), &token).await;
    let poor: i64 = calls.iter().map(|c| audio_streams(&model, c).1).sum();
    assert!(poor > 0, "the generator degraded some calls' networks");
    assert_eq!(quality.poor_streams, poor);
    // The worst users: most poor streams first, at most 20 by default; fewer on request, none for the totals alone.
    let worst: Vec<(String, i64)> = quality.worst_users.iter().map(|u| (u.user_id.clone(), u.poor_streams)).collect();
    assert!(!worst.is_empty() && worst.len() <= 20, "{worst:?}");
    assert!(worst.windows(2).all(|w| w[0].1 >= w[1].1) && worst.iter().all(|w| w.1 > 0), "{worst:?}");
    let three: Quality =
        portal.get_as(&format!("{base}/calls/quality?from={from}&to={to}&worst_users=3"), &token).await;
    let three: Vec<(String, i64)> = three.worst_users.iter().map(|u| (u.user_id.clone(), u.poor_streams)).collect();
    assert_eq!(three, worst.iter().take(3).cloned().collect::<Vec<_>>());
    let totals: Quality =
        portal.get_as(&format!("{base}/calls/quality?from={from}&to={to}&worst_users=0"), &token).await;
    assert!(totals.worst_users.is_empty());
    assert_eq!((totals.streams, totals.poor_streams, totals.days.len()), (quality.streams, poor, quality.days.len()));
    let refused = portal.call(Method::GET, &format!("{base}/calls/quality?worst_users=101"), Some(&token), None).await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    // The last 30 days are a window analytics ranks ahead of requests: once ranked, the same users, names and
    // numbers as summed on request over 31 days (which hold the same calls: the generator's are more recent).
    let today = sua_core::clock::today();
    let days_back = |n| today - chrono::Duration::days(n);
    let summed: Quality =
        portal.get_as(&format!("{base}/calls/quality?from={}&to={today}", days_back(30)), &token).await;
    assert!(summed.worst_users_as_of.is_none(), "31 days are summed on request");
    assert_eq!(summed.poor_streams, poor);
    let listed = |q: &Quality| {
        q.worst_users.iter().map(|u| (u.user_id.clone(), u.poor_streams, u.display_name.clone())).collect::<Vec<_>>()
    };
    let window = format!("{base}/calls/quality?from={}&to={today}", days_back(29));
    settles("the last 30 days' worst users ranked by analytics", WAIT, || async {
        let ranked: Quality = portal.get_as(&window, &token).await;
        match ranked.worst_users_as_of {
            Some(_) if listed(&ranked) == listed(&summed) => Ok(()),
            Some(at) => Err(format!("ranked at {at}: {:?}, summed: {:?}", listed(&ranked), listed(&summed))),
            None => Err("not ranked yet".into()),
        }
    })
    .await;

    // Exports: the users list as CSV (one line per user) and XLSX (a workbook any reader opens).
    let csv = portal
        .call(Method::GET, &format!("{base}/reports/users.csv?sort=user_principal_name"), Some(&token), None)
        .await;
    assert_eq!((csv.status, csv.content_type.as_str()), (200, "text/csv; charset=utf-8"));
    let text = csv.text();
    let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), users as usize + 1);
    assert!(lines[0].starts_with("\u{feff}id,user_principal_name,"));
    let csv_ids: BTreeSet<&str> = lines[1..].iter().map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(csv_ids.len(), users as usize);
    let xlsx = portal.call(Method::GET, &format!("{base}/reports/findings.xlsx"), Some(&token), None).await;
    assert_eq!(xlsx.status, 200);
    assert_eq!(xlsx_rows(&xlsx.body), expected.len() + 1, "a header row and one row per finding");

    // An admin's price override reprices the findings (recomputed by analytics) and is audited.
    let admin = stack.portal_token(&tenant, &[ADMIN]);
    let change = json!({"prices": [{"sku_part_number": catalog::COPILOT_SKU.part_number, "amount_minor": 2800, "currency": "EUR"}]});
    let answer = portal.call(Method::PUT, &format!("{base}/prices"), Some(&admin), Some(&change)).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    eventually("the Copilot waste is repriced in EUR", WAIT, || async {
        let licences: Licences = portal.get_as(&format!("{base}/licences"), &token).await;
        let copilot = licences.skus.into_iter().find(|s| s.sku_id == catalog::COPILOT_SKU.id);
        let eur = Money { amount_minor: bought * 2800, currency: "EUR".into() };
        copilot.is_some_and(|c| c.monthly_waste == vec![eur])
    })
    .await;
    stack.stop().await;
}

/// Rows of the first sheet of a workbook, read by Python's standard library (an independent ZIP and XML reader).
fn xlsx_rows(bytes: &[u8]) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.xlsx");
    std::fs::write(&path, bytes).unwrap();
    let script = "import sys, zipfile, xml.etree.ElementTree as ET\n\
                  z = zipfile.ZipFile(sys.argv[1])\n\
                  assert z.testzip() is None\n\
                  ns = '{http://schemas.openxmlformats.org/spreadsheetml/2006/main}'\n\
                  wb = ET.fromstring(z.read('xl/workbook.xml'))\n\
                  assert wb.find(ns + 'sheets') is not None\n\
                  sheet = ET.fromstring(z.read('xl/worksheets/sheet1.xml'))\n\
                  print(len(sheet.find(ns + 'sheetData').findall(ns + 'row')))\n";
    let output = std::process::Command::new("python3").arg("-c").arg(script).arg(&path).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().parse().unwrap()
}

/// The schemathesis CLI that `scripts/prereqs` installs (or `TEST_SUA_SCHEMATHESIS`).
fn schemathesis() -> std::path::PathBuf {
    if let Ok(path) = std::env::var("TEST_SUA_SCHEMATHESIS") {
        return path.into();
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let path = root.join("target/tools/venv/bin/schemathesis");
    assert!(path.exists(), "{} is missing: run scripts/prereqs (it installs schemathesis from PyPI)", path.display());
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_response_outside_the_openapi_document() {
    let config = SimConfig {
        tenants: vec![TenantSpec { users: 120, entra_p1: true, concealed_names: true }],
        calls_per_user: 0.25,
        days: 2,
        ..SimConfig::default()
    };
    let mut stack = Stack::start(Backend::Production, config, |_| {}).await;
    stack.start_analytics().await;
    assert_eq!(stack.onboard().await.0, 200);
    let tenant = stack.tenant(0);
    let pool = stack.deps.pool.clone();
    eventually("the tenant's snapshot is current", WAIT, || async {
        let lookup = tenant.clone();
        pool.run(move |conn| SnapshotRow::current(conn, &lookup)).await.unwrap().is_some()
    })
    .await;
    let url = stack.start_portal().await;
    let token = stack.portal_token(OPERATOR_TENANT, &[OPERATOR]);
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("schemathesis.toml");
    // Half the generated tenant ids are the real tenant, so the data paths run, not only "not found".
    std::fs::write(&config_file, format!("[parameters]\n\"path.tenant_id\" = \"{tenant}\"\n")).unwrap();
    let program = schemathesis();
    let output = tokio::process::Command::new(&program)
        .arg("--config-file")
        .arg(&config_file)
        .args(["--no-color", "run", &format!("{url}/api/v1/openapi.json")])
        .args(["--url", &url])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance"])
        .args(["--checks", "response_schema_conformance,response_headers_conformance"])
        // One worker: Python 3.11's parser is not thread-safe, and hypothesis parses lambdas while generating
        // ("AST constructor recursion depth mismatch" with two).
        .args(["--phases", "examples,coverage,fuzzing", "--max-examples", "100", "--workers", "1", "--seed", "1"])
        .args(["--suppress-health-check", "all", "--request-timeout", "30"])
        .current_dir(dir.path())
        .output()
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{stdout}");
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_of_the_configured_origins_may_call_the_api_and_other_origins_get_no_grant() {
    let mut stack = Stack::start(Backend::Embedded, tiny_sim(), |_| {}).await;
    let row = tenant_row(TENANT_A, "Contoso");
    stack.deps.pool.run(move |conn| TenantRow::upsert(conn, &row)).await.unwrap();
    let token = stack.portal_token(TENANT_A, &[READER]);
    let http = stack.sim.http.clone();
    // Without origins configured (same-origin deployment), a request carrying an Origin is served as usual.
    let plain = stack.start_portal().await;
    let response =
        http.get(format!("{plain}/api/v1/me")).bearer_auth(&token).header("origin", &plain).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(!response.headers().contains_key("access-control-allow-origin"));

    let portal_origin = "https://portal.example.com";
    let url = stack.start_portal_with(|p| p.cors_origins = vec![portal_origin.into()]).await;
    let preflight = http
        .request(Method::OPTIONS, format!("{url}/api/v1/tenants/{TENANT_A}/prices"))
        .header("origin", portal_origin)
        .header("access-control-request-method", "PUT")
        .header("access-control-request-headers", "authorization, content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status().as_u16(), 200);
    assert_eq!(preflight.headers()["access-control-allow-origin"], portal_origin);
    let allowed = preflight.headers()["access-control-allow-methods"].to_str().unwrap().to_string();
    assert!(allowed.contains("PUT"), "{allowed}");
    let response =
        http.get(format!("{url}/api/v1/me")).bearer_auth(&token).header("origin", portal_origin).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], portal_origin);
    let evil = http
        .get(format!("{url}/api/v1/me"))
        .bearer_auth(&token)
        .header("origin", "https://evil.example.net")
        .send()
        .await
        .unwrap();
    // No grant: the browser keeps the answer from the other origin's page.
    assert!(!evil.headers().contains_key("access-control-allow-origin"));
    let preflight = http
        .request(Method::OPTIONS, format!("{url}/api/v1/tenants/{TENANT_A}/prices"))
        .header("origin", "https://evil.example.net")
        .header("access-control-request-method", "PUT")
        .send()
        .await
        .unwrap();
    assert!(!preflight.headers().contains_key("access-control-allow-origin"), "no preflight grant either");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_documentation_is_served_with_or_without_the_trailing_slash() {
    let mut stack = Stack::start(Backend::Embedded, tiny_sim(), |_| {}).await;
    let url = stack.start_portal().await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let bare = http.get(format!("{url}/api/docs")).send().await.unwrap();
    assert_eq!(bare.status().as_u16(), 308);
    assert_eq!(bare.headers()["location"], "/api/docs/");
    let page = http.get(format!("{url}/api/docs/")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("swagger"), "Swagger UI's page");
    stack.stop().await;
}
