//! Harness for tests against the Graph simulator: a client that trusts the simulator's CA, token helpers, and
//! a webhook receiver that answers Graph's validation handshake as told and records what it is sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;
use sua_graph_sim::{GraphSim, SimConfig};

/// A started simulator and an HTTP client for it.
pub struct SimHarness {
    pub sim: GraphSim,
    pub http: reqwest::Client,
}

impl SimHarness {
    /// Starts the simulator at the test's instant (see [`crate::clock`]) and sets sua's clock to the simulator's.
    pub async fn start(mut config: SimConfig) -> Self {
        if config.clock.is_none() {
            config.clock = crate::clock::pinned();
        }
        let sim = GraphSim::start(config).await.unwrap_or_else(|e| panic!("simulator did not start: {e:#}"));
        sua_core::clock::set(sim.sim.now());
        let ca = reqwest::Certificate::from_pem(sim.ca_pem.as_bytes()).unwrap_or_else(|e| panic!("bad CA: {e}"));
        let http = reqwest::Client::builder()
            .tls_certs_merge([ca])
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_else(|e| panic!("client: {e}"));
        Self { sim, http }
    }

    /// The simulated Graph itself: its tenants, request log, faults and clock.
    pub fn graph(&self) -> &std::sync::Arc<sua_graph_sim::Sim> {
        &self.sim.sim
    }

    pub fn tenant(&self, n: usize) -> String {
        self.sim.tenant_ids()[n].clone()
    }

    /// The token endpoint's raw answer for `tenant` with the simulator's client credentials.
    pub async fn token_response(&self, tenant: &str) -> (u16, Value) {
        let config = &self.graph().config;
        let response = self
            .http
            .post(format!("{}/{tenant}/oauth2/v2.0/token", self.sim.login_url))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", config.client_id.as_str()),
                ("client_secret", config.client_secret.as_str()),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .unwrap_or_else(|e| panic!("token request: {e}"));
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// An app-only Graph token for `tenant` (the tenant must have consented).
    pub async fn token(&self, tenant: &str) -> String {
        let (status, body) = self.token_response(tenant).await;
        assert_eq!(status, 200, "token request failed: {body}");
        body["access_token"].as_str().unwrap_or_default().to_string()
    }

    /// GET a Graph path (`/v1.0/…`) or absolute URL with a bearer token.
    pub async fn get(&self, token: &str, path_or_url: &str) -> (u16, Value) {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.sim.graph_url)
        };
        let response =
            self.http.get(url).bearer_auth(token).send().await.unwrap_or_else(|e| panic!("GET {path_or_url}: {e}"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Follows `@odata.nextLink` from `path` and returns every page.
    pub async fn pages(&self, token: &str, path: &str) -> Vec<Value> {
        let mut pages = Vec::new();
        let mut next = Some(path.to_string());
        while let Some(url) = next {
            let (status, page) = self.get(token, &url).await;
            assert_eq!(status, 200, "{url}: {page}");
            next = page["@odata.nextLink"].as_str().map(String::from);
            pages.push(page);
        }
        pages
    }
}

/// How the receiver answers a validation request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    /// 200 text/plain with the decoded token, as Graph requires.
    Correct,
    /// 200 with the token still URL-encoded.
    Encoded,
    /// Waits this long first.
    Slow(Duration),
    /// 500.
    Fail,
}

/// A loopback HTTP endpoint standing in for a webhook receiver.
pub struct WebhookReceiver {
    pub url: String,
    pub echo: Arc<Mutex<Echo>>,
    pub received: Arc<Mutex<Vec<Value>>>,
    handle: actix_web::dev::ServerHandle,
}

/// What the receiver shares with its handler: how to echo, and what it received.
type ReceiverState = (Arc<Mutex<Echo>>, Arc<Mutex<Vec<Value>>>);

async fn hook(req: HttpRequest, body: web::Bytes, state: web::Data<ReceiverState>) -> HttpResponse {
    let raw_query = req.query_string().to_string();
    let token = url::form_urlencoded::parse(raw_query.as_bytes())
        .find(|(k, _)| k == "validationToken")
        .map(|(_, v)| v.into_owned());
    if let Some(token) = token {
        let echo = *state.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        return match echo {
            Echo::Correct => HttpResponse::Ok().content_type("text/plain").body(token),
            Echo::Encoded => {
                let encoded = raw_query.split("validationToken=").nth(1).unwrap_or_default().to_string();
                HttpResponse::Ok().content_type("text/plain").body(encoded)
            }
            Echo::Slow(delay) => {
                tokio::time::sleep(delay).await;
                HttpResponse::Ok().content_type("text/plain").body(token)
            }
            Echo::Fail => HttpResponse::InternalServerError().finish(),
        };
    }
    if let Ok(json) = serde_json::from_slice::<Value>(&body) {
        state.1.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(json);
    }
    HttpResponse::Accepted().finish()
}

impl WebhookReceiver {
    pub async fn start(echo: Echo) -> Self {
        let echo = Arc::new(Mutex::new(echo));
        let received = Arc::new(Mutex::new(Vec::new()));
        let state = web::Data::new((echo.clone(), received.clone()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let server = HttpServer::new(move || App::new().app_data(state.clone()).route("/hook", web::post().to(hook)))
            .workers(1)
            .disable_signals()
            .listen(listener)
            .unwrap_or_else(|e| panic!("listen: {e}"))
            .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { url: format!("http://127.0.0.1:{port}/hook"), echo, received, handle }
    }

    pub fn set_echo(&self, echo: Echo) {
        *self.echo.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = echo;
    }

    pub fn received(&self) -> Vec<Value> {
        self.received.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// Compares the shape of `actual` with a documented example: every field of the example must be present with
/// the same JSON type (recursively; arrays compare their first elements), `@odata.type` values must be equal,
/// and `actual` may hold no field the example lacks unless it is in `extra`. Fields in `deprecated` are
/// skipped (Microsoft stopped returning them). Returns every difference found.
pub fn shape_differences(doc: &Value, actual: &Value, extra: &[&str], deprecated: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    compare(doc, actual, "$", extra, deprecated, &mut problems);
    problems
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn compare(doc: &Value, actual: &Value, path: &str, extra: &[&str], deprecated: &[&str], problems: &mut Vec<String>) {
    match (doc, actual) {
        (Value::Null, _) => {}
        (Value::Object(expected), Value::Object(got)) => {
            for (key, value) in expected {
                if deprecated.contains(&key.as_str()) {
                    continue;
                }
                let here = format!("{path}.{key}");
                match got.get(key) {
                    None => problems.push(format!("{here}: missing")),
                    Some(found) => {
                        if key == "@odata.type" && value != found {
                            problems.push(format!("{here}: {found} where the docs say {value}"));
                        }
                        compare(value, found, &here, extra, deprecated, problems);
                    }
                }
            }
            for key in got.keys() {
                if !expected.contains_key(key) && !extra.contains(&key.as_str()) {
                    problems.push(format!("{path}.{key}: not in the documented example"));
                }
            }
        }
        (Value::Array(expected), Value::Array(got)) => {
            if let Some(first) = expected.first() {
                match got.first() {
                    Some(found) => compare(first, found, &format!("{path}[0]"), extra, deprecated, problems),
                    None => problems.push(format!("{path}: empty where the example has elements")),
                }
            }
        }
        (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_)) => {}
        (expected, got) => problems.push(format!("{path}: {} where the docs have {}", kind(got), kind(expected))),
    }
}
