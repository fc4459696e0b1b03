//! portal-api: the portal frontend's REST API over the analytics tables (`/api/v1`), behind Entra ID tokens.
//!
//! Every `/api/v1` request carries a bearer token (see [`auth`]); a customer user sees only its own tenant, an
//! operator every tenant. Responses are snake_case JSON with ETags, errors RFC 9457 problems, lists are paged by
//! cursors and exported as streamed CSV/XLSX. The OpenAPI document is generated from the handlers and served at
//! `/api/v1/openapi.json`, with Swagger UI at `/api/docs/`. The web portal (built from `web/`) is served at `/`
//! (see [`frontend`]).

pub mod api;
pub mod auth;
pub mod cache;
pub mod error;
pub mod export;
pub mod frontend;
pub mod input;
pub mod limits;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer, web};
use sua_core::Config;
use sua_core::service::Running;
use sua_db::Pool;
use sua_db::service::Dependencies;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

pub const SERVICE: &str = "portal-api";
pub const DEFAULT_PORT: u16 = 8080;
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// What every handler shares.
pub struct AppState {
    pub pool: Pool,
    pub verifier: auth::Verifier,
    pub limiter: limits::RateLimiter,
    pub invitations: sua_domain::invitations::Invitations,
    pub max_page: i64,
    pub cache: cache::Cache,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "sua portal API",
        description = "Microsoft Teams call usage and Microsoft 365 licence analytics for the tenants a managed-service \
                       provider looks after. Send an Entra ID access token for the portal app as a bearer token. Money \
                       is integer minor units with an ISO 4217 currency and is never summed across currencies. Errors \
                       are RFC 9457 problems."
    ),
    components(schemas(error::Problem)),
    modifiers(&BearerScheme),
    tags(
        (name = "tenants", description = "Tenants, their collection status, the all-tenants summary"),
        (name = "licences", description = "Licences with money, and the dashboard"),
        (name = "users", description = "Users and their licences"),
        (name = "findings", description = "Where licence money is wasted"),
        (name = "calls", description = "How people call, and how well"),
        (name = "history", description = "Trends per day, savings realised, cost per department"),
        (name = "reports", description = "Every list as CSV or XLSX"),
        (name = "prices", description = "Price book, thresholds and their audit log"),
        (name = "onboarding", description = "Inviting customers (operators)")
    )
)]
struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("JWT".into());
        scheme.description = Some("An Entra ID v2 access token whose audience is the portal app".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The OpenAPI document (also what `/api/v1/openapi.json` serves).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, api) = App::new().into_utoipa_app().openapi(ApiDoc::openapi()).service(api_scope()).split_for_parts();
    api
}

fn api_scope() -> utoipa_actix_web::scope::Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    use api::*;
    utoipa_actix_web::scope("/api/v1")
        .service(tenants::get_me)
        .service(tenants::list_tenants)
        .service(tenants::get_summary)
        .service(tenants::get_status)
        .service(licences::get_licences)
        .service(licences::get_dashboard)
        .service(users::list_users)
        .service(findings::list_findings)
        .service(calls::get_usage)
        .service(calls::get_quality)
        .service(pstn::get_pstn)
        .service(history::get_trends)
        .service(history::get_realised)
        .service(history::get_chargeback)
        .service(reports::get_report)
        .service(prices::get_prices)
        .service(prices::put_prices)
        .service(prices::delete_price)
        .service(prices::get_settings)
        .service(prices::put_settings)
        .service(prices::audit_log)
        .service(prices::audit_log_all)
        .service(onboarding::create_invitation)
}

/// Binds portal-api's HTTP server.
pub async fn build(config: &Config, deps: Dependencies) -> anyhow::Result<Running> {
    let listener =
        sua_core::service::bind(config.listen.unwrap_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, DEFAULT_PORT))))?;
    let port = listener.local_addr()?.port();
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let ops = deps.database_ops(SERVICE);
    let http = sua_core::http::outbound_client(config)?;
    let portal = &config.portal;
    let state = Arc::new(AppState {
        pool: deps.pool.clone(),
        verifier: auth::Verifier::new(config, portal, http),
        limiter: limits::RateLimiter::new(portal.rate_per_second, portal.rate_burst),
        invitations: sua_domain::invitations::Invitations::new(
            config,
            deps.pool.clone(),
            sua_domain::invitations::Mailer::from_config(&config.smtp)?,
        ),
        max_page: portal.max_page_size,
        cache: cache::Cache::new(Duration::from_secs(portal.cache_ttl_secs)),
    });
    let max_body = portal.max_body_bytes;
    let document = openapi();
    let origins = portal.cors_origins.clone();
    let frontend = web::Data::new(Arc::new(frontend::Frontend::new(config)));
    let telemetry = sua_core::requests::RequestTelemetry::new(SERVICE, &deps.registry);
    let server = HttpServer::new(move || {
        // Browsers of the listed origins may call the API cross-origin; other origins get no grant (their pages
        // cannot read the answers). Off entirely when no origin is configured.
        let mut cors = actix_cors::Cors::default()
            .allowed_methods(["GET", "PUT", "POST", "DELETE"])
            .allowed_headers([
                actix_web::http::header::AUTHORIZATION,
                actix_web::http::header::CONTENT_TYPE,
                actix_web::http::header::IF_NONE_MATCH,
            ])
            .expose_headers([actix_web::http::header::ETAG, actix_web::http::header::RETRY_AFTER])
            .max_age(3600);
        for origin in &origins {
            cors = cors.allowed_origin(origin);
        }
        App::new()
            .wrap(actix_web::middleware::from_fn(input::refuse_nul))
            .wrap(actix_web::middleware::Condition::new(!origins.is_empty(), cors))
            .wrap(telemetry.clone())
            .app_data(input::BodyLimit(max_body))
            .app_data(web::Data::new(state.clone()))
            .app_data(web::JsonConfig::default().limit(max_body).error_handler(error::json_error))
            .app_data(web::PayloadConfig::new(max_body))
            .app_data(web::QueryConfig::default().error_handler(error::query_error))
            .app_data(web::PathConfig::default().error_handler(error::path_error))
            .configure(ops.clone().configure())
            // Before the /api/v1 scope, which would otherwise answer 404 for its OpenAPI document.
            .service(SwaggerUi::new("/api/docs/{_:.*}").url(OPENAPI_PATH, document.clone()))
            .route(
                "/api/docs",
                web::get().to(|| async {
                    actix_web::HttpResponse::PermanentRedirect()
                        .insert_header((actix_web::http::header::LOCATION, "/api/docs/"))
                        .finish()
                }),
            )
            .service(api_scope())
            .app_data(frontend.clone())
            .route("/config.json", web::get().to(frontend::client_config))
            // The web portal's files and client routes; unknown API paths stay 404 problems.
            .default_service(web::to(frontend::serve))
    })
    .disable_signals()
    .shutdown_timeout(grace.as_secs())
    .listen(listener)?
    .run();
    Ok(Running::new(SERVICE, server, port, grace))
}
