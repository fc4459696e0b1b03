//! Operational endpoints every service serves: `/healthz` (the process runs), `/readyz` (its dependencies
//! answer) and `/metrics` (Prometheus text).

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use prometheus::{IntGaugeVec, Registry};
use serde::Serialize;

/// A dependency that must answer before the service takes traffic.
#[async_trait::async_trait]
pub trait ReadinessCheck: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    async fn check(&self) -> Result<(), String>;
}

/// Shared state of the operational endpoints.
#[derive(Clone)]
pub struct Ops {
    pub service: &'static str,
    pub registry: Registry,
    pub checks: Vec<Arc<dyn ReadinessCheck>>,
    /// Each readiness check's last outcome (1 passed, 0 failed), as `/readyz` last evaluated it.
    ready: IntGaugeVec,
}

impl Ops {
    /// Also registers what every service exports: build information and process metrics.
    pub fn new(service: &'static str, registry: Registry) -> Self {
        crate::metrics::register_process(&registry, service);
        static READY: std::sync::OnceLock<IntGaugeVec> = std::sync::OnceLock::new();
        #[expect(clippy::expect_used, reason = "a compile-time literal, exercised by every test")]
        let ready = READY
            .get_or_init(|| {
                let opts = prometheus::Opts::new(
                    "sua_readiness_check_ok",
                    "Outcome of each readiness check when /readyz last ran it (1 passed, 0 failed).",
                );
                IntGaugeVec::new(opts, &["service", "check"]).expect("valid gauge definition")
            })
            .clone();
        crate::metrics::register_shared(&registry, &ready);
        Self { service, registry, checks: Vec::new(), ready }
    }

    pub fn with_check(mut self, check: Arc<dyn ReadinessCheck>) -> Self {
        self.checks.push(check);
        self
    }

    /// Registers the three routes; call inside `App::configure`.
    pub fn configure(self) -> impl FnOnce(&mut web::ServiceConfig) {
        move |cfg: &mut web::ServiceConfig| {
            cfg.app_data(web::Data::new(self))
                .route("/healthz", web::get().to(healthz))
                .route("/readyz", web::get().to(readyz))
                .route("/metrics", web::get().to(metrics));
        }
    }
}

#[derive(Serialize)]
struct Readiness {
    service: &'static str,
    ready: bool,
    checks: Vec<CheckResult>,
}

#[derive(Serialize)]
struct CheckResult {
    name: &'static str,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

async fn healthz(ops: web::Data<Ops>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"service": ops.service, "status": "ok"}))
}

async fn readyz(ops: web::Data<Ops>) -> HttpResponse {
    let results = futures::future::join_all(ops.checks.iter().map(|check| async move {
        let outcome = match tokio::time::timeout(Duration::from_secs(3), check.check()).await {
            Ok(outcome) => outcome,
            Err(_) => Err("no answer within 3 s".to_string()),
        };
        CheckResult { name: check.name(), ok: outcome.is_ok(), error: outcome.err() }
    }))
    .await;
    for result in &results {
        ops.ready.with_label_values(&[ops.service, result.name]).set(i64::from(result.ok));
    }
    let ready = results.iter().all(|r| r.ok);
    let body = Readiness { service: ops.service, ready, checks: results };
    if ready { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}

async fn metrics(ops: web::Data<Ops>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::metrics::render(&ops.registry))
}
