//! Microsoft Graph client: timeouts, `@odata.nextLink` paging as a stream, typed errors, retries with jittered
//! backoff on 5xx, timeouts and broken bodies, `Retry-After` honoured on 429 (no request to that API before it
//! elapsed), and the rate limiters of [`limits`]. Only the collector talks to Graph.

pub mod auth;
mod error;
pub mod limits;

use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use prometheus::{CounterVec, HistogramVec, IntCounterVec, Registry};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sua_core::Config;
use tracing::Instrument;

pub use auth::{AzureTokenProvider, TokenProvider};
pub use error::GraphError;
pub use limits::{Api, Limits, SharedLimit};

/// The `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` shape (hex digits) of Graph's and Entra ID's object ids.
pub fn is_guid(value: &str) -> bool {
    value.len() == 36
        && value.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// One URL path segment: RFC 3986 unreserved characters as they are, everything else percent-encoded. An
/// empty, `.` or `..` segment is refused (URL parsers resolve dot segments, encoded or not).
pub fn path_segment(value: &str) -> Result<String, GraphError> {
    if value.is_empty() || value == "." || value == ".." {
        return Err(GraphError::InvalidId(value.chars().take(64).collect()));
    }
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    Ok(encoded)
}

#[derive(Clone)]
struct GraphMetrics {
    requests: IntCounterVec,
    retries: IntCounterVec,
    throttled: IntCounterVec,
    throttle_wait: CounterVec,
    seconds: HistogramVec,
}

/// One Graph request: the tenant and budget it counts against, and what is sent.
#[derive(Debug, Clone)]
pub struct GraphRequest<'a> {
    pub tenant: &'a str,
    pub api: Api,
    pub method: Method,
    pub url: &'a str,
    pub body: Option<&'a Value>,
    pub headers: &'a [(&'a str, &'a str)],
}

impl<'a> GraphRequest<'a> {
    pub fn get(tenant: &'a str, api: Api, url: &'a str) -> Self {
        Self { tenant, api, method: Method::GET, url, body: None, headers: &[] }
    }

    /// A request with a JSON body (`POST`, `PATCH`).
    pub fn with_body(tenant: &'a str, api: Api, method: Method, url: &'a str, body: &'a Value) -> Self {
        Self { tenant, api, method, url, body: Some(body), headers: &[] }
    }
}

/// The Graph client every collector component shares; cheap to clone.
#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    base: String,
    tokens: Arc<dyn TokenProvider>,
    limits: Arc<Limits>,
    timeout: Duration,
    max_retries: u32,
    metrics: GraphMetrics,
}

/// The HTTP client for Graph and Entra ID (see [`sua_core::http::outbound_client`]).
pub fn http_client(config: &Config) -> anyhow::Result<reqwest::Client> {
    sua_core::http::outbound_client(config)
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A CLIENT span for one HTTP attempt: the route template, never the URL (its query may hold skip tokens).
fn client_span(method: &Method, template: &str, url: &str, resend_count: u32) -> tracing::Span {
    let host = url::Url::parse(url).ok().and_then(|u| u.host_str().map(String::from)).unwrap_or_default();
    tracing::info_span!(
        "http client",
        otel.name = %format!("{method} {template}"),
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        "http.request.method" = %method,
        "url.template" = %template,
        "server.address" = %host,
        "http.request.resend_count" = resend_count,
        "http.response.status_code" = tracing::field::Empty,
        "error.type" = tracing::field::Empty,
    )
}

/// A Graph URL as a route template: no scheme, host or query; ids and function arguments replaced, so that
/// `…/v1.0/communications/callRecords/2f1a…/sessions?$skiptoken=…` is `/v1.0/communications/callRecords/{id}/sessions`.
pub fn url_template(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let path = match path.find("://") {
        Some(scheme) => path[scheme + 3..].find('/').map_or("/", |slash| &path[scheme + 3 + slash..]),
        None => path,
    };
    let mut template = String::with_capacity(path.len());
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        template.push('/');
        if let Some(open) = segment.find('(') {
            // `getPstnCalls(fromDateTime=…,toDateTime=…)`, `getTeamsUserActivityUserDetail(period='D7')`
            template.push_str(&segment[..open]);
            template.push_str("(…)");
        } else if looks_like_id(segment) {
            template.push_str("{id}");
        } else {
            template.push_str(segment);
        }
    }
    if template.is_empty() { "/".into() } else { template }
}

/// Ids in Graph paths are GUIDs, numbers or long opaque tokens; API names are short words without digits (bar
/// the version segment).
fn looks_like_id(segment: &str) -> bool {
    let digits = segment.chars().filter(char::is_ascii_digit).count();
    segment != "v1.0"
        && segment != "beta"
        && (digits > 0 && (segment.len() >= 8 || digits == segment.len()) || segment.contains('@'))
}

/// Graph's error answer: `{"error": {"code", "message"}}` (graph/errors).
#[derive(serde::Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(serde::Deserialize)]
struct ErrorDetail {
    code: Option<String>,
    message: Option<String>,
}

async fn error_body(response: reqwest::Response) -> (String, String) {
    let text = response.text().await.unwrap_or_default();
    match serde_json::from_str::<ErrorBody>(&text) {
        Ok(ErrorBody { error }) => (error.code.unwrap_or_else(|| "unknown".into()), error.message.unwrap_or_default()),
        Err(_) => ("unknown".into(), text.chars().take(200).collect()),
    }
}

impl GraphClient {
    /// The rate limiters this client waits on.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn new(
        config: &Config,
        http: reqwest::Client,
        tokens: Arc<dyn TokenProvider>,
        limits: Arc<Limits>,
        registry: &Registry,
    ) -> Self {
        let client = Self {
            http,
            base: config.graph_url.as_str().trim_end_matches('/').to_string(),
            tokens,
            limits,
            timeout: Duration::from_secs(config.graph.timeout_secs.max(1)),
            max_retries: config.graph.max_retries,
            metrics: GraphMetrics {
                requests: sua_core::metrics::counter_vec(
                    registry,
                    "sua_graph_requests_total",
                    "Graph requests by API and status.",
                    &["api", "status"],
                ),
                retries: sua_core::metrics::counter_vec(
                    registry,
                    "sua_graph_retries_total",
                    "Graph requests retried, by API and reason.",
                    &["api", "reason"],
                ),
                throttled: sua_core::metrics::counter_vec(
                    registry,
                    "sua_graph_throttled_total",
                    "Graph answers 429 Too Many Requests, by API.",
                    &["api"],
                ),
                throttle_wait: sua_core::metrics::float_counter_vec(
                    registry,
                    "sua_graph_throttle_wait_seconds_total",
                    "Time spent waiting before a retry Graph asked for (Retry-After or backoff), by API.",
                    &["api"],
                ),
                seconds: sua_core::metrics::histogram_vec(
                    registry,
                    "sua_graph_request_duration_seconds",
                    "Time until Graph answered one request (one attempt), by API.",
                    &["api"],
                    vec![0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
                ),
            },
        };
        // Series per API exist from the start at 0, so alerts on `increase()` see the first 429.
        for api in Api::ALL {
            client.metrics.throttled.with_label_values(&[api.as_str()]);
            client.metrics.throttle_wait.with_label_values(&[api.as_str()]);
        }
        client
    }

    /// A token for `tenant` (proves the app may act there at all).
    pub async fn token(&self, tenant: &str) -> Result<String, GraphError> {
        self.tokens.token(tenant).await
    }

    /// `https://graph.microsoft.com/v1.0{path}`, for a path sua wrote itself. A path with an id in it is built
    /// with [`GraphClient::url_with`].
    pub fn url(&self, path: &str) -> String {
        format!("{}/v1.0{path}", self.base)
    }

    /// `https://graph.microsoft.com/v1.0/{segment}/…{query}` with every segment percent-encoded, so that a value
    /// that came from outside (an id in a notification, a queued job) stays one segment: it cannot add segments,
    /// climb out with `..` or start a query.
    pub fn url_with(&self, segments: &[&str], query: &str) -> Result<String, GraphError> {
        let mut url = format!("{}/v1.0", self.base);
        for segment in segments {
            url.push('/');
            url.push_str(&path_segment(segment)?);
        }
        url.push_str(query);
        Ok(url)
    }

    fn backoff(&self, attempt: u32) -> Duration {
        sua_core::broker::backoff(attempt, Duration::from_millis(250), Duration::from_secs(30))
    }

    /// Sends one request with retries; returns the first 2xx or 3xx response.
    ///
    /// Traced as a span for the whole exchange (API, route template, retries, time waited on throttling) with a
    /// CLIENT span per attempt (OpenTelemetry HTTP conventions: method, `url.template`, status, resend count).
    /// Neither records a token or a full URL: query strings carry skip tokens and filters.
    pub async fn send(&self, request: GraphRequest<'_>) -> Result<reqwest::Response, GraphError> {
        let template = url_template(request.url);
        let span = tracing::info_span!(
            "graph",
            otel.name = %format!("graph {} {template}", request.method),
            otel.status_code = tracing::field::Empty,
            "graph.api" = request.api.as_str(),
            "url.template" = %template,
            retries = 0u32,
            throttle_wait_ms = 0u64,
        );
        let result = self.send_traced(request, &template, &span).instrument(span.clone()).await;
        if result.is_err() {
            span.record("otel.status_code", "ERROR");
        }
        result
    }

    async fn send_traced(
        &self,
        request: GraphRequest<'_>,
        template: &str,
        span: &tracing::Span,
    ) -> Result<reqwest::Response, GraphError> {
        let GraphRequest { tenant, api, method, url, body, headers } = request;
        let attempts = self.max_retries + 1;
        let mut last_status = None;
        let mut throttled = false;
        let mut waited = Duration::ZERO;
        for attempt in 1..=attempts {
            span.record("retries", attempt - 1);
            self.limits.acquire(tenant, api).await?;
            let token = self.tokens.token(tenant).await?;
            let mut request = self.http.request(method.clone(), url).bearer_auth(token).timeout(self.timeout);
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let client = client_span(&method, template, url, attempt - 1);
            let sent = std::time::Instant::now();
            let outcome = request.send().instrument(client.clone()).await;
            self.metrics.seconds.with_label_values(&[api.as_str()]).observe(sent.elapsed().as_secs_f64());
            match &outcome {
                Ok(response) => {
                    client.record("http.response.status_code", response.status().as_u16());
                    if response.status().is_client_error() || response.status().is_server_error() {
                        client.record("otel.status_code", "ERROR");
                        client.record("error.type", response.status().as_str());
                    }
                }
                Err(error) => {
                    client.record("otel.status_code", "ERROR");
                    client.record("error.type", if error.is_timeout() { "timeout" } else { "transport" });
                }
            }
            drop(client);
            let response = match outcome {
                Ok(response) => response,
                Err(error) => {
                    let reason = if error.is_timeout() { "timeout" } else { "transport" };
                    self.metrics.retries.with_label_values(&[api.as_str(), reason]).inc();
                    tracing::warn!(tenant, api = api.as_str(), attempt, %error, "Graph request failed");
                    if attempt == attempts {
                        return Err(if error.is_timeout() {
                            GraphError::Timeout { attempts }
                        } else {
                            GraphError::Transport { attempts, message: error.to_string() }
                        });
                    }
                    tokio::time::sleep(self.backoff(attempt)).await;
                    continue;
                }
            };
            let status = response.status();
            self.metrics.requests.with_label_values(&[api.as_str(), status.as_str()]).inc();
            if status.is_success() || status.is_redirection() {
                return Ok(response);
            }
            match status {
                StatusCode::TOO_MANY_REQUESTS
                | StatusCode::INTERNAL_SERVER_ERROR
                | StatusCode::BAD_GATEWAY
                | StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::GATEWAY_TIMEOUT => {
                    throttled = status == StatusCode::TOO_MANY_REQUESTS;
                    last_status = Some(status.as_u16());
                    // Graph: wait exactly Retry-After when given, otherwise back off exponentially.
                    let wait = retry_after(&response).unwrap_or_else(|| self.backoff(attempt));
                    let reason = if throttled { "throttled" } else { "server_error" };
                    if throttled {
                        self.metrics.throttled.with_label_values(&[api.as_str()]).inc();
                    }
                    if attempt < attempts {
                        waited += wait;
                        span.record("throttle_wait_ms", waited.as_millis() as u64);
                        self.metrics.throttle_wait.with_label_values(&[api.as_str()]).inc_by(wait.as_secs_f64());
                    }
                    self.metrics.retries.with_label_values(&[api.as_str(), reason]).inc();
                    tracing::warn!(
                        tenant,
                        api = api.as_str(),
                        attempt,
                        status = status.as_u16(),
                        wait_ms = wait.as_millis() as u64,
                        "Graph asked to retry"
                    );
                    if attempt == attempts {
                        break;
                    }
                    tokio::time::sleep(wait).await;
                }
                StatusCode::UNAUTHORIZED => {
                    let (code, message) = error_body(response).await;
                    return Err(GraphError::Unauthorized { code, message });
                }
                StatusCode::FORBIDDEN => {
                    let (code, message) = error_body(response).await;
                    return Err(GraphError::Forbidden { code, message });
                }
                StatusCode::NOT_FOUND => {
                    let (code, message) = error_body(response).await;
                    return Err(GraphError::NotFound { code, message });
                }
                other => {
                    let (code, message) = error_body(response).await;
                    return Err(GraphError::Rejected { status: other.as_u16(), code, message });
                }
            }
        }
        Err(if throttled {
            GraphError::Throttled { attempts }
        } else {
            GraphError::Server { status: last_status.unwrap_or(500), attempts }
        })
    }

    /// GETs JSON; a body that does not parse (a dropped connection) is fetched again like a 5xx.
    pub async fn get_json(&self, tenant: &str, api: Api, url: &str) -> Result<Value, GraphError> {
        self.get_json_with(tenant, api, url, &[]).await
    }

    pub async fn get_json_with(
        &self,
        tenant: &str,
        api: Api,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<Value, GraphError> {
        let attempts = self.max_retries + 1;
        let mut last = String::new();
        for attempt in 1..=attempts {
            let response = self.send(GraphRequest { headers, ..GraphRequest::get(tenant, api, url) }).await?;
            let bytes = response.bytes().await;
            match bytes
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| e.to_string()))
            {
                Ok(json) => return Ok(json),
                Err(error) => {
                    self.metrics.retries.with_label_values(&[api.as_str(), "malformed"]).inc();
                    tracing::warn!(tenant, api = api.as_str(), attempt, %error, "broken Graph response");
                    last = error;
                    if attempt < attempts {
                        tokio::time::sleep(self.backoff(attempt)).await;
                    }
                }
            }
        }
        Err(GraphError::Malformed { attempts, message: last })
    }

    /// Every page from `first_url`, following `@odata.nextLink`; one page in memory at a time.
    pub fn pages<'a>(
        &'a self,
        tenant: &'a str,
        api: Api,
        first_url: String,
    ) -> impl Stream<Item = Result<Value, GraphError>> + 'a {
        futures::stream::unfold(Some(first_url), move |next| async move {
            let url = next?;
            match self.get_json(tenant, api, &url).await {
                Ok(page) => {
                    let following = page["@odata.nextLink"].as_str().map(String::from);
                    Some((Ok(page), following))
                }
                Err(error) => Some((Err(error), None)),
            }
        })
    }

    /// A request answered with `302 Found`: returns the `Location` (report downloads).
    pub async fn redirect_location(&self, tenant: &str, api: Api, url: &str) -> Result<String, GraphError> {
        let response = self.send(GraphRequest::get(tenant, api, url)).await?;
        if !response.status().is_redirection() {
            return Err(GraphError::Unexpected(format!("expected a redirect from {url}, got {}", response.status())));
        }
        response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
            .ok_or_else(|| GraphError::Unexpected("redirect without Location".into()))
    }

    /// GETs a pre-authenticated download link, without the bearer token, with retries.
    pub async fn download(&self, url: &str) -> Result<reqwest::Response, GraphError> {
        let attempts = self.max_retries + 1;
        let mut last = String::new();
        for attempt in 1..=attempts {
            match self.http.get(url).timeout(self.timeout * 4).send().await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response)
                    if response.status().is_server_error() || response.status() == StatusCode::TOO_MANY_REQUESTS =>
                {
                    last = format!("download answered {}", response.status());
                }
                Ok(response) => return Err(GraphError::Unexpected(format!("download answered {}", response.status()))),
                Err(error) => last = error.to_string(),
            }
            if attempt < attempts {
                tokio::time::sleep(self.backoff(attempt)).await;
            }
        }
        Err(GraphError::Transport { attempts, message: last })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_guid_shape_is_an_id() {
        assert!(is_guid("e523d2ed-2966-4b6b-925b-754a88034cc5"));
        assert!(is_guid("E523D2ED-2966-4B6B-925B-754A88034CC5"));
        for bad in [
            "",
            "../../users",
            "e523d2ed29664b6b925b754a88034cc5",
            "{e523d2ed-2966-4b6b-925b-754a88034cc5}",
            "e523d2ed-2966-4b6b-925b-754a88034cc5/../x",
            "e523d2ed-2966-4b6b-925b-754a88034cg5",
            "e523d2ed+2966-4b6b-925b-754a88034cc5",
        ] {
            assert!(!is_guid(bad), "{bad}");
        }
    }

    #[test]
    fn a_path_segment_stays_one_segment() {
        assert_eq!(
            path_segment("e523d2ed-2966-4b6b-925b-754a88034cc5").unwrap(),
            "e523d2ed-2966-4b6b-925b-754a88034cc5"
        );
        assert_eq!(path_segment("../../users").unwrap(), "..%2F..%2Fusers");
        assert_eq!(path_segment("a?$expand=x#f").unwrap(), "a%3F%24expand%3Dx%23f");
        assert_eq!(path_segment("%2e%2e").unwrap(), "%252e%252e");
        for refused in ["", ".", ".."] {
            assert!(matches!(path_segment(refused), Err(GraphError::InvalidId(_))), "{refused:?}");
        }
    }

    #[test]
    fn graph_urls_become_route_templates_without_ids_or_queries() {
        let cases = [
            (
                "https://graph.microsoft.com/v1.0/communications/callRecords/2f1a8e4c-1d2b-4c3d-9e8f-0a1b2c3d4e5f/sessions?$skiptoken=abc",
                "/v1.0/communications/callRecords/{id}/sessions",
            ),
            ("https://graph.microsoft.com/v1.0/users?$select=id,signInActivity&$top=999", "/v1.0/users"),
            (
                "http://127.0.0.1:4000/v1.0/communications/callRecords/getPstnCalls(fromDateTime=2026-01-01,toDateTime=2026-01-02)",
                "/v1.0/communications/callRecords/getPstnCalls(…)",
            ),
            (
                "https://graph.microsoft.com/v1.0/reports/getTeamsUserActivityUserDetail(period='D7')",
                "/v1.0/reports/getTeamsUserActivityUserDetail(…)",
            ),
            (
                "https://graph.microsoft.com/v1.0/subscriptions/7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
                "/v1.0/subscriptions/{id}",
            ),
            ("https://graph.microsoft.com/v1.0/users/adele@contoso.example", "/v1.0/users/{id}"),
            ("https://graph.microsoft.com/v1.0/subscribedSkus", "/v1.0/subscribedSkus"),
        ];
        for (url, template) in cases {
            assert_eq!(url_template(url), template, "{url}");
        }
    }
}
