//! The web portal's server side: the simulator signing a portal user in as Entra ID does for a single-page app
//! (authorize page, code with PKCE, refresh tokens, CORS) with tokens portal-api accepts, and portal-api serving
//! the built portal (hashed assets cached for a year, index.html revalidated, gzip, client routes, a page that
//! says how to build a missing portal). The browser itself is tested by `web/e2e/portal.mjs`.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sua_graph_sim::{DEFAULT_PORTAL_CLIENT_ID, SignInConfig, SimConfig, TenantSpec};
use sua_tests::eventually;
use sua_tests::stack::{Backend, OPERATOR_TENANT, PORTAL_AUDIENCE, Stack};

// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REDIRECT: &str = "http://127.0.0.1:5173/auth/callback";

fn sim() -> SimConfig {
    SimConfig {
        tenants: vec![TenantSpec { users: 8, entra_p1: true, concealed_names: true }],
        calls_per_user: 0.0,
        days: 1,
        sign_in: SignInConfig { operator_tenant: Some(OPERATOR_TENANT.into()), ..SignInConfig::default() },
        ..SimConfig::default()
    }
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn write_portal(dir: &Path) {
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><html><head><title>portal</title><script type=\"module\" src=\"/assets/app-3f9a1c.js\"></script></head><body></body></html>",
    )
    .unwrap();
    std::fs::write(dir.join("assets/app-3f9a1c.js"), "console.log('the portal');\n".repeat(100)).unwrap();
    std::fs::write(dir.join("favicon.svg"), "<svg xmlns=\"http://www.w3.org/2000/svg\"/>").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_user_signs_in_with_the_code_flow_and_pkce_and_portal_api_accepts_the_token() {
    let mut stack = Stack::start(Backend::Embedded, sim(), |_| {}).await;
    let authority = stack.sim.sim.browser_authority.clone();
    let portal = stack
        .start_portal_with(|p| {
            p.web.authority = Some(authority.parse().unwrap());
            p.web.client_id = DEFAULT_PORTAL_CLIENT_ID.into();
        })
        .await;
    let http = stack.sim.http.clone();
    let tenant = stack.tenant(0);

    // portal-api tells the browser where to sign in; the authority is plain loopback HTTP.
    let config: Value = http.get(format!("{portal}/config.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(config["authority"], authority.as_str());
    assert_eq!(config["client_id"], DEFAULT_PORTAL_CLIENT_ID);
    assert_eq!(config["scope"], format!("{PORTAL_AUDIENCE}/.default"));
    assert!(authority.starts_with("http://127.0.0.1:"), "{authority}");

    // OIDC discovery, readable cross-origin, with Entra's templated multi-tenant issuer.
    let response = http.get(format!("{authority}/.well-known/openid-configuration")).send().await.unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let discovery: Value = response.json().await.unwrap();
    assert_eq!(discovery["issuer"], "https://login.microsoftonline.com/{tenantid}/v2.0");
    assert_eq!(discovery["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    let authorize = discovery["authorization_endpoint"].as_str().unwrap().to_string();
    let token_url = discovery["token_endpoint"].as_str().unwrap().to_string();
    assert!(discovery["end_session_endpoint"].as_str().unwrap().starts_with("http://127.0.0.1:"));

    let scope = format!("openid profile offline_access {PORTAL_AUDIENCE}/.default");
    let params = |client: &str, redirect: &str, challenge: &str| {
        vec![
            ("client_id", client.to_string()),
            ("response_type", "code".to_string()),
            ("redirect_uri", redirect.to_string()),
            ("scope", scope.clone()),
            ("state", "state-123".to_string()),
            ("nonce", "nonce-456".to_string()),
            ("code_challenge", challenge.to_string()),
            ("code_challenge_method", "S256".to_string()),
        ]
    };

    // The sign-in page lists the tenant's admin and reader and the operator.
    let page = http.get(&authorize).query(&params(DEFAULT_PORTAL_CLIENT_ID, REDIRECT, CHALLENGE)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for role in ["Portal.Admin", "Portal.Reader", "Portal.Operator"] {
        assert!(html.contains(role), "the sign-in page offers a {role}: {html}");
    }
    // Refused without showing accounts: another client, an unregistered redirect, no PKCE.
    for (why, query) in [
        ("unknown client", params("another-app", REDIRECT, CHALLENGE)),
        ("foreign redirect", params(DEFAULT_PORTAL_CLIENT_ID, "https://evil.example/cb", CHALLENGE)),
        ("no PKCE", params(DEFAULT_PORTAL_CLIENT_ID, REDIRECT, "")),
    ] {
        let refused = http.get(&authorize).query(&query).send().await.unwrap();
        assert_eq!(refused.status(), 400, "{why}");
        assert!(!refused.text().await.unwrap().contains("Portal.Admin"), "{why}");
    }

    // Choosing the admin redirects back with a code and the state.
    let code = || async {
        let mut form = params(DEFAULT_PORTAL_CLIENT_ID, REDIRECT, CHALLENGE);
        form.push(("account", "admin-0".into()));
        let answer = http.post(&authorize).form(&form).send().await.unwrap();
        assert_eq!(answer.status(), 302);
        let location = url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
        assert!(location.as_str().starts_with(REDIRECT), "{location}");
        let query: std::collections::HashMap<String, String> = location.query_pairs().into_owned().collect();
        assert_eq!(query["state"], "state-123");
        query["code"].clone()
    };
    let redeem = |code: String, verifier: &'static str| {
        let http = http.clone();
        let token_url = token_url.clone();
        async move {
            let form = [
                ("grant_type", "authorization_code"),
                ("client_id", DEFAULT_PORTAL_CLIENT_ID),
                ("redirect_uri", REDIRECT),
                ("code", code.as_str()),
                ("code_verifier", verifier),
            ];
            let answer = http.post(&token_url).form(&form).send().await.unwrap();
            let cors = answer.headers().get("access-control-allow-origin").cloned();
            (answer.status().as_u16(), cors, answer.json::<Value>().await.unwrap())
        }
    };

    // A wrong verifier is refused (and the code is spent).
    let first = code().await;
    let (status, _, body) = redeem(first.clone(), "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj").await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    assert_eq!(redeem(first, VERIFIER).await.0, 400, "a code works once at most");

    let (status, cors, tokens) = redeem(code().await, VERIFIER).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(cors.unwrap(), "*", "the browser may read the token answer");
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let id = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!((id["aud"].as_str(), id["nonce"].as_str()), (Some(DEFAULT_PORTAL_CLIENT_ID), Some("nonce-456")));
    assert_eq!(claims(&access)["iss"], format!("https://login.microsoftonline.com/{tenant}/v2.0"));

    // portal-api accepts the access token as the admin of the tenant.
    let me: Value =
        http.get(format!("{portal}/api/v1/me")).bearer_auth(&access).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["tenant_id"], tenant.as_str());
    assert_eq!(me["roles"], serde_json::json!(["Portal.Admin"]));
    assert_eq!(me["name"], claims(&access)["preferred_username"]);

    // The refresh token renews the tokens once; it is rotated.
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    let renew = |token: String| {
        let http = http.clone();
        let token_url = token_url.clone();
        async move {
            let form =
                [("grant_type", "refresh_token"), ("client_id", DEFAULT_PORTAL_CLIENT_ID), ("refresh_token", &token)];
            let answer = http.post(&token_url).form(&form).send().await.unwrap();
            (answer.status().as_u16(), answer.json::<Value>().await.unwrap())
        }
    };
    let (status, renewed) = renew(refresh.clone()).await;
    assert_eq!(status, 200, "{renewed}");
    assert_eq!(claims(renewed["access_token"].as_str().unwrap())["oid"], claims(&access)["oid"]);
    assert_ne!(renewed["refresh_token"], refresh.as_str());
    assert_eq!(renew(refresh).await.0, 400, "a used refresh token is refused");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_api_serves_the_built_portal_with_long_lived_assets_client_routes_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("dist");
    let mut stack = Stack::start(Backend::Embedded, sim(), |_| {}).await;
    let dist = web.clone();
    let portal = stack
        .start_portal_with(|p| {
            p.web.dir = dist;
            p.web.client_id = DEFAULT_PORTAL_CLIENT_ID.into();
        })
        .await;
    // The raw bytes portal-api sends (reqwest would otherwise decompress them behind the test's back).
    let http = reqwest::Client::builder().no_gzip().build().unwrap();

    // Not built yet: a page that says how to build it; the API still answers.
    let missing = http.get(format!("{portal}/")).send().await.unwrap();
    assert_eq!(missing.status(), 503);
    assert!(missing.text().await.unwrap().contains("npm ci"));
    assert_eq!(http.get(format!("{portal}/healthz")).send().await.unwrap().status(), 200);

    // Built while portal-api runs: picked up without a restart.
    write_portal(&web);
    eventually("the built portal to be served", Duration::from_secs(20), || async {
        http.get(format!("{portal}/")).send().await.is_ok_and(|r| r.status() == 200)
    })
    .await;

    let index = http.get(format!("{portal}/")).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(index.headers()["cache-control"], "no-cache");
    assert!(index.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    assert_eq!(index.headers()["referrer-policy"], "no-referrer");
    let etag = index.headers()["etag"].clone();
    let html = gunzip_if_needed(index).await;
    assert!(html.contains("<script type=\"application/json\" id=\"sua-config\">"), "settings embedded: {html}");
    assert!(html.contains(DEFAULT_PORTAL_CLIENT_ID));
    let revalidated = http.get(format!("{portal}/")).header("if-none-match", etag).send().await.unwrap();
    assert_eq!(revalidated.status(), 304);

    // A hashed asset: a year, immutable, gzip-compressed for clients that take it.
    let asset =
        http.get(format!("{portal}/assets/app-3f9a1c.js")).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(asset.status(), 200);
    assert_eq!(asset.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(asset.headers()["content-encoding"], "gzip");
    assert!(asset.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    let compressed = asset.bytes().await.unwrap();
    let mut script = String::new();
    gunzip(&compressed, &mut script);
    assert_eq!(script, "console.log('the portal');\n".repeat(100));
    let plain = http.get(format!("{portal}/assets/app-3f9a1c.js")).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());

    // Client routes get the app; unknown files and API paths do not.
    for route in ["/t/aaaaaaaa-0000-4000-8000-00000000000a/findings", "/operator", "/auth/callback"] {
        let answer = http.get(format!("{portal}{route}")).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{route}");
        assert!(answer.text().await.unwrap().contains("<title>portal</title>"), "{route}");
    }
    for (path, problem) in
        [("/assets/app-000000.js", true), ("/nothing.js", true), ("/api/v1/nothing", true), ("/api", true)]
    {
        let answer = http.get(format!("{portal}{path}")).send().await.unwrap();
        assert_eq!(answer.status(), 404, "{path}");
        let content_type = answer.headers()["content-type"].to_str().unwrap().to_string();
        assert_eq!(content_type == "application/problem+json", problem, "{path}: {content_type}");
    }
    assert_eq!(http.post(format!("{portal}/t/x")).send().await.unwrap().status(), 404);
    let docs = http.get(format!("{portal}/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(docs.status(), 200, "the OpenAPI document is still served");
    stack.stop().await;
}

async fn gunzip_if_needed(response: reqwest::Response) -> String {
    let gzip = response.headers().get("content-encoding").is_some_and(|v| v == "gzip");
    let bytes = response.bytes().await.unwrap();
    if gzip {
        let mut text = String::new();
        gunzip(&bytes, &mut text);
        text
    } else {
        String::from_utf8(bytes.to_vec()).unwrap()
    }
}

fn gunzip(bytes: &[u8], out: &mut String) {
    flate2::read::GzDecoder::new(bytes).read_to_string(out).unwrap();
}
