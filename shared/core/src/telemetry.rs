//! Logs and traces in one place.
//!
//! `tracing` is the API everywhere. Logs go to stderr as text or JSON. An OpenTelemetry tracer provider is always
//! installed so that every span has a trace id that can cross the message queue in W3C `traceparent` headers
//! ([`inject`] / [`extract`]); spans leave the process only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (OTLP/HTTP,
//! protobuf), and nothing is exported when it is not.
//!
//! Every log line written inside a span carries that span's trace id (`trace_id`, a top-level field in JSON), so
//! a log search and a trace view meet on one key.

use std::collections::BTreeMap;

use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::propagation::{Extractor, Injector, TextMapCompositePropagator, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogConfig, LogFormat};

/// Flushes and stops trace export when dropped; keep it alive for the whole process.
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl TelemetryGuard {
    /// Exports the spans ended so far (tests read them from their OTLP receiver without waiting for a batch).
    pub fn flush(&self) {
        if let Err(error) = self.provider.force_flush() {
            eprintln!("telemetry flush: {error}");
        }
    }
}

/// The provider the first [`init`] installed: a later call (another service in the same process) shares it.
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(error) = self.provider.shutdown_with_timeout(Duration::from_secs(5)) {
            eprintln!("telemetry shutdown: {error}");
        }
    }
}

/// Installs the global subscriber. Calling it again (tests, the all-in-one process) keeps the first subscriber
/// and its exporter, and returns a guard on them.
pub fn init(service: &str, log: &LogConfig, otel_endpoint: Option<&str>) -> anyhow::Result<TelemetryGuard> {
    opentelemetry::global::set_text_map_propagator(propagator());
    if let Some(provider) = PROVIDER.get() {
        return Ok(TelemetryGuard { provider: provider.clone() });
    }

    let resource = opentelemetry_sdk::Resource::builder().with_service_name(service.to_string()).build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    if let Some(endpoint) = otel_endpoint {
        // OTLP/HTTP: the base endpoint (as in OTEL_EXPORTER_OTLP_ENDPOINT) plus the traces path; _HEADERS and
        // _TIMEOUT are still read from the environment by the exporter.
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    if PROVIDER.set(provider.clone()).is_err() {
        // Another thread initialised first: use its provider, drop this one.
        let _ = provider.shutdown();
        return Ok(TelemetryGuard { provider: PROVIDER.get().cloned().unwrap_or_default() });
    }
    opentelemetry::global::set_tracer_provider(provider.clone());
    let tracer = provider.tracer(service.to_string());

    let filter = EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(&log.filter))?;
    // The exporter's own HTTP client must not trace itself; the access log repeats its SERVER span's attributes,
    // so it is not copied into the span as an event.
    let otel_filter = EnvFilter::try_new("info,hyper=off,h2=off,reqwest=off,opentelemetry=off,sua::access=off")?;
    let otel_layer = tracing_opentelemetry::layer().with_tracer(tracer).with_filter(otel_filter);
    let fmt_layer = match log.format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .event_format(WithTraceId {
                json: true,
                inner: tracing_subscriber::fmt::format().json().with_current_span(true).with_span_list(false),
            })
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .event_format(WithTraceId {
                json: false,
                inner: tracing_subscriber::fmt::format()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
            })
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let _ = tracing_subscriber::registry().with(fmt_layer.with_filter(filter)).with(otel_layer).try_init();
    Ok(TelemetryGuard { provider })
}

/// Adds the trace id of the current span to a log line: a top-level `trace_id` in JSON, a trailing
/// `trace_id=…` in text. Lines outside any span are written unchanged.
struct WithTraceId<F> {
    json: bool,
    inner: F,
}

impl<S, N, F> FormatEvent<S, N> for WithTraceId<F>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        // The event's parent: an explicit `parent:` or else the current span.
        let trace_id = ctx.parent_span().and_then(|span| {
            let id = span.id();
            tracing::dispatcher::get_default(|dispatch| tracing_opentelemetry::get_otel_context(&id, dispatch))
        });
        let trace_id = trace_id.and_then(|context| {
            use opentelemetry::trace::TraceContextExt;
            let span_context = context.span().span_context().clone();
            span_context.is_valid().then(|| span_context.trace_id().to_string())
        });
        let Some(trace_id) = trace_id else {
            return self.inner.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.inner.format_event(ctx, Writer::new(&mut line), event)?;
        if self.json {
            match line.strip_prefix('{') {
                Some(rest) => write!(writer, "{{\"trace_id\":\"{trace_id}\",{rest}"),
                None => writer.write_str(&line),
            }
        } else {
            let body = line.trim_end_matches('\n');
            writeln!(writer, "{body} trace_id={trace_id}")
        }
    }
}

/// The W3C header that carries a trace context.
pub const TRACEPARENT: &str = "traceparent";

/// W3C trace context plus W3C baggage (which carries, e.g., when a notification arrived, to the record's store).
fn propagator() -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(opentelemetry_sdk::propagation::BaggagePropagator::new()),
    ])
}

/// Writes the current span's trace context (`traceparent`, `tracestate`, `baggage`) into message headers.
pub fn inject(headers: &mut BTreeMap<String, String>) {
    inject_from(&tracing::Span::current(), headers);
}

/// Writes `span`'s trace context into message headers (replacing one already there).
pub fn inject_from(span: &tracing::Span, headers: &mut BTreeMap<String, String>) {
    inject_context(&span.context(), headers);
}

/// Writes a trace context into message headers (replacing one already there).
pub fn inject_context(context: &opentelemetry::Context, headers: &mut BTreeMap<String, String>) {
    propagator().inject_context(context, &mut MapInjector(headers));
}

/// Reads a trace context from message headers, to become the parent of the consumer's span.
pub fn extract(headers: &BTreeMap<String, String>) -> opentelemetry::Context {
    propagator().extract(&MapExtractor(headers))
}

/// Baggage key: when the notification that led to this work arrived (Unix milliseconds).
pub const NOTIFIED_AT: &str = "sua.notified_at";

/// The current span's context with when a notification arrived as baggage.
pub fn with_notified_at(at: chrono::DateTime<chrono::Utc>) -> opentelemetry::Context {
    use opentelemetry::baggage::BaggageExt;
    tracing::Span::current()
        .context()
        .with_baggage(vec![opentelemetry::KeyValue::new(NOTIFIED_AT, at.timestamp_millis().to_string())])
}

/// When the notification that led to the current work arrived, if it did (baggage of the current span).
pub fn notified_at() -> Option<chrono::DateTime<chrono::Utc>> {
    use opentelemetry::baggage::BaggageExt;
    let context = tracing::Span::current().context();
    let millis = context.baggage().get(NOTIFIED_AT)?.as_str().parse::<i64>().ok()?;
    chrono::DateTime::from_timestamp_millis(millis)
}

/// Makes `span` a child of the trace carried in `headers` (no-op when the headers carry none).
pub fn set_parent_from(span: &tracing::Span, headers: &BTreeMap<String, String>) {
    let _ = span.set_parent(extract(headers));
}

/// The trace id of a span, hex, when it has one (used by tests and in logs).
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    use opentelemetry::trace::TraceContextExt;
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then(|| span_context.trace_id().to_string())
}

struct MapInjector<'a>(&'a mut BTreeMap<String, String>);

impl Injector for MapInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_string(), value);
    }
}

struct MapExtractor<'a>(&'a BTreeMap<String, String>);

impl Extractor for MapExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// Reads a trace context from HTTP request headers (`traceparent`, `tracestate`).
pub fn extract_http(headers: &actix_web::http::header::HeaderMap) -> opentelemetry::Context {
    struct HeaderExtractor<'a>(&'a actix_web::http::header::HeaderMap);
    impl Extractor for HeaderExtractor<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }

        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(actix_web::http::header::HeaderName::as_str).collect()
        }
    }
    propagator().extract(&HeaderExtractor(headers))
}
