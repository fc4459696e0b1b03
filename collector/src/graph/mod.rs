//! Microsoft Graph client: timeouts, `@odata.nextLink` paging as a stream, typed errors, retries with jittered
//! backoff on 5xx, timeouts and broken bodies, `Retry-After` honoured on 429 (no request to that API before it
//! elapsed), and the rate limiters of [`limits`]. Only the collector talks to Graph.

pub mod auth;
mod error;
pub mod limits;

use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use prometheus::{IntCounterVec, Registry};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sua_core::Config;

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
    pub fn new(
        config: &Config,
        http: reqwest::Client,
        tokens: Arc<dyn TokenProvider>,
        limits: Arc<Limits>,
        registry: &Registry,
    ) -> Self {
        Self {
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
            },
        }
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
    pub async fn send(&self, request: GraphRequest<'_>) -> Result<reqwest::Response, GraphError> {
        let GraphRequest { tenant, api, method, url, body, headers } = request;
        let attempts = self.max_retries + 1;
        let mut last_status = None;
        let mut throttled = false;
        for attempt in 1..=attempts {
            self.limits.acquire(tenant, api).await?;
            let token = self.tokens.token(tenant).await?;
            let mut request = self.http.request(method.clone(), url).bearer_auth(token).timeout(self.timeout);
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = match request.send().await {
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
}
