//! The simulator's HTTP surface: Entra ID (login), Microsoft Graph v1.0, report downloads and the `/_sim`
//! control plane, served over plain HTTP and over HTTPS (certificate from the generated CA).
//!
//! Handlers return early with a ready `HttpResponse` as their error value, the usual actix pattern; its size
//! does not matter on these paths.
#![allow(clippy::result_large_err)]

mod callrecords;
mod control;
mod directory;
mod identity;
mod reports;
mod signin;
mod subscriptions;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use chrono::Utc;
use serde_json::json;

use crate::faults::{Endpoint, FaultKind};
use crate::sim::{RequestRecord, Sim, SimConfig};
use crate::tenant::TenantModel;

/// A Graph-style error response.
pub(crate) fn graph_error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    let request_id = uuid::Uuid::new_v4().to_string();
    HttpResponse::build(status).json(json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "request-id": request_id,
                "client-request-id": request_id
            }
        }
    }))
}

/// `scheme://host` as the client reached the simulator, for `@odata.nextLink` and report links.
pub(crate) fn base_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers().get("authorization")?.to_str().ok()?.strip_prefix("Bearer ")
}

/// Checks the bearer token and that its roles satisfy what Microsoft documents for the endpoint (see
/// [`crate::permissions`]); answers 401/403 as Graph does otherwise.
pub(crate) fn authorize<'a>(
    sim: &'a Sim,
    req: &HttpRequest,
    required: crate::permissions::Required,
) -> Result<(&'a TenantModel, BTreeSet<String>), HttpResponse> {
    let Some(token) = bearer(req) else {
        return Err(graph_error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", "Access token is empty."));
    };
    let (tenant, granted) = sim
        .verify_app_token(token)
        .map_err(|message| graph_error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", message))?;
    if !crate::permissions::satisfies(&granted, required) {
        return Err(forbidden());
    }
    Ok((tenant, granted))
}

pub(crate) fn forbidden() -> HttpResponse {
    graph_error(
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    )
}

/// The tenant a request concerns, for faults and the request log: the first path segment of Entra ID
/// endpoints, or the `tid` of a Graph bearer token (read without verification; handlers verify).
fn request_tenant(sim: &Sim, req: &ServiceRequest, endpoint: Endpoint) -> Option<String> {
    match endpoint {
        Endpoint::Token | Endpoint::AdminConsent | Endpoint::Discovery => {
            let first = req.path().trim_start_matches('/').split('/').next()?;
            Some(sim.tenant(first).map_or_else(|| first.to_string(), |t| t.id.clone()))
        }
        _ => {
            let token = req.headers().get("authorization")?.to_str().ok()?.strip_prefix("Bearer ")?;
            let payload = token.split('.').nth(1)?;
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
            let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
            claims["tid"].as_str().map(String::from)
        }
    }
}

/// Records every request and applies the faults configured for its endpoint and tenant.
async fn log_and_faults(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(sim) = req.app_data::<web::Data<Sim>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let endpoint = Endpoint::of(req.path());
    let tenant = request_tenant(&sim, &req, endpoint);
    let mut record = RequestRecord {
        seq: 0,
        at: sim.now(),
        method: req.method().to_string(),
        path: req.path().to_string(),
        query: req.query_string().to_string(),
        endpoint,
        tenant: tenant.clone(),
        status: 0,
        retry_after: None,
    };
    let fault = if endpoint == Endpoint::Control { None } else { sim.take_fault(endpoint, tenant.as_deref()) };
    let throttled = match &fault {
        Some(FaultKind::Throttle { retry_after_secs }) => Some(*retry_after_secs),
        _ => sim.throttle(endpoint, tenant.as_deref(), req.path(), req.query_string()),
    };
    let early = match &fault {
        _ if throttled.is_some() => {
            let retry_after_secs = throttled.unwrap_or(1);
            record.retry_after = Some(retry_after_secs);
            let mut response = graph_error(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Too many requests. Please retry after the time given in the Retry-After header.",
            );
            response.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from(retry_after_secs),
            );
            Some(response)
        }
        Some(FaultKind::Status { status }) => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            Some(graph_error(status, "ServiceUnavailable", "The service is temporarily unavailable."))
        }
        // Answered above: `throttled` holds its wait.
        Some(FaultKind::Throttle { .. }) => None,
        Some(FaultKind::Forbidden) => Some(forbidden()),
        Some(FaultKind::TokenFailure) => Some(identity::token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7_000_215,
            "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
        )),
        Some(FaultKind::Slow { millis }) => {
            tokio::time::sleep(std::time::Duration::from_millis(*millis)).await;
            None
        }
        Some(FaultKind::Truncate) | None => None,
    };
    if let Some(response) = early {
        record.status = response.status().as_u16();
        sim.record(record);
        return Ok(req.into_response(response).map_into_boxed_body());
    }
    let response = next.call(req).await?;
    record.status = response.status().as_u16();
    sim.record(record);
    if fault == Some(FaultKind::Truncate) {
        let (request, response) = response.into_parts();
        let status = response.status();
        let bytes = actix_web::body::to_bytes(response.into_body()).await.unwrap_or_default();
        let cut = bytes.slice(0..bytes.len() / 2);
        let truncated = HttpResponse::build(status).content_type("application/json").body(cut);
        return Ok(ServiceResponse::new(request, truncated).map_into_boxed_body());
    }
    Ok(response.map_into_boxed_body())
}

fn configure(cfg: &mut web::ServiceConfig) {
    control::configure(cfg);
    identity::configure(cfg);
    signin::configure(cfg);
    directory::configure(cfg);
    reports::configure(cfg);
    callrecords::configure(cfg);
    subscriptions::configure(cfg);
}

/// A running simulator.
pub struct GraphSim {
    pub sim: Arc<Sim>,
    /// Graph over plain HTTP, e.g. `http://127.0.0.1:41234` (append `/v1.0/…`).
    pub graph_url: String,
    /// Entra ID over HTTPS, e.g. `https://127.0.0.1:41235` (azure_identity requires https).
    pub login_url: String,
    /// Graph over HTTPS, same port as `login_url`.
    pub https_graph_url: String,
    /// Entra ID for browsers: the multi-tenant authority on the plain-HTTP loopback listener, e.g.
    /// `http://127.0.0.1:41234/organizations/v2.0` (no certificate warning; loopback is a secure context).
    pub browser_authority: String,
    /// The generated CA certificate clients must trust for `login_url`.
    pub ca_file: PathBuf,
    pub ca_pem: String,
    handle: ServerHandle,
    _ca_dir: Option<tempfile_dir::TempDir>,
}

mod tempfile_dir {
    /// A directory removed on drop (the CA file of a simulator started without `ca_file`).
    pub struct TempDir(pub std::path::PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl GraphSim {
    /// Starts the simulator on loopback with free ports.
    pub async fn start(config: SimConfig) -> anyhow::Result<Self> {
        Self::start_on(config, "127.0.0.1:0".parse()?, "127.0.0.1:0".parse()?).await
    }

    /// Starts the simulator with HTTP on `listen` and HTTPS on `tls_listen`.
    pub async fn start_on(config: SimConfig, listen: SocketAddr, tls_listen: SocketAddr) -> anyhow::Result<Self> {
        let (ca_file, ca_dir) = match &config.ca_file {
            Some(path) => (path.clone(), None),
            None => {
                let dir = std::env::temp_dir().join(format!("sua-graph-sim-{}", uuid::Uuid::new_v4().simple()));
                (dir.join("ca.pem"), Some(tempfile_dir::TempDir(dir)))
            }
        };
        let tls = crate::tls::generate(&ca_file)?;
        let sim = Arc::new(Sim::new(config)?);
        let data = web::Data::from(sim.clone());
        let http = std::net::TcpListener::bind(listen)?;
        let https = std::net::TcpListener::bind(tls_listen)?;
        let (http_port, https_port) = (http.local_addr()?.port(), https.local_addr()?.port());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .wrap(from_fn(log_and_faults))
                .configure(configure)
        })
        .workers(2)
        .disable_signals()
        .listen(http)?
        .listen_rustls_0_23(https, (*tls.server_config).clone())?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        let host = listen.ip();
        Ok(Self {
            sim,
            graph_url: format!("http://{host}:{http_port}"),
            login_url: format!("https://{host}:{https_port}"),
            https_graph_url: format!("https://{host}:{https_port}"),
            browser_authority: format!("http://{host}:{http_port}/organizations/v2.0"),
            ca_file: tls.ca_file,
            ca_pem: tls.ca_pem,
            handle,
            _ca_dir: ca_dir,
        })
    }

    pub fn tenant_ids(&self) -> Vec<String> {
        self.sim.tenant_ids()
    }

    /// Stops serving (in-flight requests finish).
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}
