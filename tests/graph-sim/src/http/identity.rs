//! Entra ID: the token endpoint (client credentials; portal sign-in's code and refresh grants in `signin`), the v2.0 admin-consent endpoint, OIDC discovery and JWKS.
//! Shapes from entra-docs `v2-oauth2-client-creds-grant-flow.md` and `v2-admin-consent.md`.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde_json::json;

use crate::sim::{ConsentOutcome, Sim};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/{tenant}/oauth2/v2.0/token", web::post().to(token))
        .route("/{tenant}/v2.0/adminconsent", web::get().to(admin_consent))
        .route("/{tenant}/v2.0/.well-known/openid-configuration", web::get().to(openid_configuration))
        .route("/{tenant}/discovery/v2.0/keys", web::get().to(keys));
}

/// An Entra ID token error (`error`, `error_description`, `error_codes`, …).
pub(crate) fn token_error(status: StatusCode, error: &str, code: u32, description: &str) -> HttpResponse {
    let trace = uuid::Uuid::new_v4();
    HttpResponse::build(status).json(json!({
        "error": error,
        "error_description": format!("{description}\r\nTrace ID: {trace}\r\nCorrelation ID: {trace}\r\nTimestamp: {}", Utc::now().format("%Y-%m-%d %H:%M:%SZ")),
        "error_codes": [code],
        "timestamp": Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string(),
        "trace_id": trace,
        "correlation_id": trace,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}")
    }))
}

async fn token(sim: web::Data<Sim>, path: web::Path<String>, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let tenant_hint = path.into_inner();
    let form = form.into_inner();
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    // Portal sign-in (a single-page app redeeming a code, or renewing with a refresh token).
    let user_grant = match field("grant_type") {
        "authorization_code" => Some(sim.redeem_code(&form)),
        "refresh_token" => Some(sim.redeem_refresh(&form)),
        _ => None,
    };
    if let Some(outcome) = user_grant {
        return super::signin::cors(match outcome {
            Ok(body) => HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(body),
            Err((status, error, code, description)) => {
                token_error(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), error, code, &description)
            }
        });
    }
    if field("grant_type") != "client_credentials" {
        return token_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70_003,
            "AADSTS70003: The app requested an unsupported grant type.",
        );
    }
    let Some(tenant) = sim.tenant(&tenant_hint) else {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90_002,
            &format!(
                "AADSTS90002: Tenant '{tenant_hint}' not found. Check to make sure you have the correct tenant ID."
            ),
        );
    };
    if field("client_id") != sim.config.client_id {
        return token_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700_016,
            &format!(
                "AADSTS700016: Application with identifier '{}' was not found in the directory '{}'.",
                field("client_id"),
                tenant.display_name
            ),
        );
    }
    let secret_ok = match (form.get("client_secret"), form.get("client_assertion")) {
        (Some(secret), _) => secret == &sim.config.client_secret,
        // Certificate credentials: the assertion must be a JWT issued by the client (its signature is not
        // checked by the simulator).
        (None, Some(assertion)) => {
            field("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
                && assertion_issuer(assertion).as_deref() == Some(sim.config.client_id.as_str())
        }
        (None, None) => false,
    };
    if !secret_ok {
        return token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7_000_215,
            "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
        );
    }
    if !field("scope").ends_with("/.default") {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70_011,
            "AADSTS70011: The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid.",
        );
    }
    let Some(roles) = sim.granted(&tenant.id) else {
        // Without admin consent the app has no service principal in the customer's directory.
        return token_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700_016,
            &format!(
                "AADSTS700016: Application with identifier '{}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant.",
                sim.config.client_id, tenant.display_name
            ),
        );
    };
    match sim.app_token(tenant, &roles) {
        Ok(access_token) => HttpResponse::Ok().json(json!({
            "token_type": "Bearer",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": access_token
        })),
        Err(error) => token_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", 50_000, &error.to_string()),
    }
}

fn assertion_issuer(assertion: &str) -> Option<String> {
    use base64::Engine;
    let payload = assertion.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims["iss"].as_str().map(String::from)
}

fn error_page(status: StatusCode, text: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(format!("<!doctype html><title>Sign in to your account</title><h1>Sign in</h1><p>{text}</p>"))
}

/// The admin clicks Accept (or Cancel) at once: the endpoint redirects to `redirect_uri` with Microsoft's
/// documented success or error parameters.
async fn admin_consent(
    sim: web::Data<Sim>,
    path: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let tenant_hint = path.into_inner();
    let client_id = query.get("client_id").map(String::as_str).unwrap_or_default();
    if client_id != sim.config.client_id {
        return error_page(
            StatusCode::BAD_REQUEST,
            &format!("AADSTS700016: Application with identifier '{client_id}' was not found in the directory."),
        );
    }
    let Some(redirect) = query.get("redirect_uri").and_then(|r| url::Url::parse(r).ok()) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "AADSTS900144: The request body must contain the following parameter: 'redirect_uri'.",
        );
    };
    if tenant_hint == "common" {
        return error_page(
            StatusCode::BAD_REQUEST,
            "AADSTS90130: Application is not supported for personal accounts; use 'organizations'.",
        );
    }
    let Some((tenant, outcome)) = sim.consent(&tenant_hint) else {
        return error_page(StatusCode::BAD_REQUEST, &format!("AADSTS90002: Tenant '{tenant_hint}' not found."));
    };
    let mut target = redirect;
    {
        let mut params = target.query_pairs_mut();
        params.append_pair("admin_consent", "True");
        match outcome {
            ConsentOutcome::Grant(_) => {
                params.append_pair("tenant", &tenant);
                params.append_pair("scope", "https://graph.microsoft.com/.default");
            }
            ConsentOutcome::Deny => {
                params.append_pair("error", "consent_required");
                params.append_pair(
                    "error_description",
                    &format!(
                        "AADSTS65004: The resource owner or authorization server denied the request. Trace ID: {} Correlation ID: {} Timestamp: {}",
                        uuid::Uuid::new_v4(),
                        uuid::Uuid::new_v4(),
                        Utc::now().format("%Y-%m-%d %H:%M:%SZ")
                    ),
                );
            }
        }
        if let Some(state) = query.get("state") {
            params.append_pair("state", state);
        }
    }
    HttpResponse::Found().insert_header(("Location", target.to_string())).finish()
}

/// OIDC discovery. For the multi-tenant authorities (`organizations`, `common`) the issuer is a template, as
/// Entra's is: each token says its own tenant.
async fn openid_configuration(sim: web::Data<Sim>, path: web::Path<String>, req: HttpRequest) -> HttpResponse {
    let tenant = path.into_inner();
    let base = super::base_url(&req);
    let issuer_tenant = match tenant.as_str() {
        "organizations" | "common" | "consumers" => "{tenantid}".to_string(),
        other => sim.tenant(other).map_or_else(|| other.to_string(), |t| t.id.clone()),
    };
    super::signin::cors(HttpResponse::Ok().json(json!({
        "issuer": format!("{}/{issuer_tenant}/v2.0", sim.config.issuer_base),
        "authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{base}/{tenant}/oauth2/v2.0/token"),
        "end_session_endpoint": format!("{base}/{tenant}/oauth2/v2.0/logout"),
        "jwks_uri": format!("{base}/{tenant}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "name", "preferred_username", "oid", "tid", "nonce", "roles"],
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "msgraph_host": "graph.microsoft.com"
    })))
}

async fn keys(sim: web::Data<Sim>) -> HttpResponse {
    super::signin::cors(HttpResponse::Ok().json(sim.jwks()))
}
