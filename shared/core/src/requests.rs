//! What every service's HTTP server records about each request: one middleware, wrapped around the whole app.
//!
//! * A SERVER span (OpenTelemetry HTTP semantic conventions), child of the caller's `traceparent` when one is
//!   sent, so a trace starts at whoever called sua.
//! * `sua_http_server_requests_total` and `sua_http_server_request_duration_seconds` by route template (actix's
//!   match pattern, `unmatched` when no route matched), method and status: bounded label values, never a path
//!   with ids in it.
//! * One access-log line per request (target `sua::access`), inside the span, so it carries the trace id.
//!
//! The operational endpoints (`/healthz`, `/readyz`, `/metrics`) are counted but get no span and no access log:
//! probes and scrapes every few seconds would drown the requests people look for.

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::Method;
use std::sync::OnceLock;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Paths that are counted but not traced or logged.
const QUIET_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// The request metrics of one service; cheap to clone.
#[derive(Clone)]
pub struct HttpMetrics {
    requests: IntCounterVec,
    seconds: HistogramVec,
}

impl HttpMetrics {
    /// The process's request metrics (labelled by service, so services sharing a process share them), registered
    /// in `registry`.
    #[expect(clippy::expect_used, reason = "metric definitions are compile-time literals, exercised by every test")]
    pub fn new(registry: &Registry) -> Self {
        static SHARED: OnceLock<HttpMetrics> = OnceLock::new();
        let metrics = SHARED.get_or_init(|| Self {
            requests: IntCounterVec::new(
                Opts::new(
                    "sua_http_server_requests_total",
                    "HTTP requests answered, by service, route template, method and status.",
                ),
                &["service", "route", "method", "status"],
            )
            .expect("valid counter definition"),
            seconds: HistogramVec::new(
                HistogramOpts::new(
                    "sua_http_server_request_duration_seconds",
                    "Time to answer an HTTP request, by service, route template and method.",
                )
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
                &["service", "route", "method"],
            )
            .expect("valid histogram definition"),
        });
        crate::metrics::register_shared(registry, &metrics.requests);
        crate::metrics::register_shared(registry, &metrics.seconds);
        metrics.clone()
    }
}

/// The middleware: `App::new().wrap(RequestTelemetry::new(SERVICE, &registry))`, outermost.
#[derive(Clone)]
pub struct RequestTelemetry {
    service: &'static str,
    metrics: HttpMetrics,
}

impl RequestTelemetry {
    pub fn new(service: &'static str, registry: &Registry) -> Self {
        Self { service, metrics: HttpMetrics::new(registry) }
    }
}

impl<S, B> Transform<S, ServiceRequest> for RequestTelemetry
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = RequestTelemetryService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequestTelemetryService { inner: Rc::new(service), telemetry: self.clone() }))
    }
}

pub struct RequestTelemetryService<S> {
    inner: Rc<S>,
    telemetry: RequestTelemetry,
}

/// A method as a label value: the standard ones by name, anything else as `other` (bounded cardinality).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

impl<S, B> Service<ServiceRequest> for RequestTelemetryService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    forward_ready!(inner);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let started = Instant::now();
        let service = self.telemetry.service;
        let metrics = self.telemetry.metrics.clone();
        let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_string());
        let method = method_label(req.method());
        let quiet = QUIET_PATHS.contains(&req.path());
        let span = if quiet {
            tracing::Span::none()
        } else {
            let span = tracing::info_span!(
                "http request",
                otel.name = %format!("{method} {route}"),
                otel.kind = "server",
                otel.status_code = tracing::field::Empty,
                service,
                "http.request.method" = method,
                "http.route" = %route,
                "url.path" = %req.path(),
                "http.response.status_code" = tracing::field::Empty,
            );
            let _ = span.set_parent(crate::telemetry::extract_http(req.headers()));
            span
        };
        let path = req.path().to_string();
        let future = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        Box::pin(
            async move {
                let result = future.await;
                let status = match &result {
                    Ok(response) => response.status(),
                    Err(error) => error.as_response_error().status_code(),
                };
                let elapsed = started.elapsed();
                metrics.requests.with_label_values(&[service, route.as_str(), method, status.as_str()]).inc();
                metrics.seconds.with_label_values(&[service, route.as_str(), method]).observe(elapsed.as_secs_f64());
                if !quiet {
                    let span = tracing::Span::current();
                    span.record("http.response.status_code", status.as_u16());
                    if status.is_server_error() {
                        span.record("otel.status_code", "ERROR");
                    }
                    tracing::info!(
                        target: "sua::access",
                        method,
                        route = %route,
                        path = %path,
                        status = status.as_u16(),
                        duration_ms = (elapsed.as_secs_f64() * 1_000_000.0).round() / 1_000.0,
                        "request"
                    );
                }
                result
            }
            .instrument(span),
        )
    }
}
