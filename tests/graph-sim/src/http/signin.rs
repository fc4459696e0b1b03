//! The browser side of portal sign-in: Entra ID's authorize endpoint with a sign-in page listing the simulator's
//! portal accounts, its logout endpoint, and CORS for the endpoints a single-page app calls with `fetch`
//! (discovery, keys, token). Served on the simulator's plain-HTTP loopback listener too, so a browser reaches
//! it without certificate warnings (`http://127.0.0.1` is a secure context: WebCrypto works there).

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};

use crate::signin::AuthorizeRequest;
use crate::sim::Sim;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/{tenant}/oauth2/v2.0/authorize", web::get().to(authorize_page))
        .route("/{tenant}/oauth2/v2.0/authorize", web::post().to(authorize_submit))
        .route("/{tenant}/oauth2/v2.0/logout", web::get().to(logout))
        .route("/{tenant}/oauth2/v2.0/token", web::method(actix_web::http::Method::OPTIONS).to(preflight))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            web::method(actix_web::http::Method::OPTIONS).to(preflight),
        )
        .route("/{tenant}/discovery/v2.0/keys", web::method(actix_web::http::Method::OPTIONS).to(preflight))
        // Browsers ask every origin for an icon; answering keeps their consoles free of 404s.
        .route("/favicon.ico", web::get().to(|| async { HttpResponse::NoContent().finish() }));
}

/// Lets a page of any origin read the answer (no cookies are involved: tokens travel in the body).
pub(crate) fn cors(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    response
}

async fn preflight() -> HttpResponse {
    cors(
        HttpResponse::NoContent()
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS"))
            .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "content-type, accept, authorization"))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, "3600"))
            .finish(),
    )
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;background:#f3f4f6;color:#111827;margin:0}\
main{max-width:32rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 3px #0003}\
h1{font-size:1.5rem;margin:0 0 .25rem}p{margin:.25rem 0 1rem;color:#374151}\
ul{list-style:none;padding:0;margin:0}li{margin:.5rem 0}\
button{width:100%;text-align:left;font:inherit;padding:.75rem 1rem;border:1px solid #9ca3af;border-radius:6px;\
background:#fff;color:#111827;cursor:pointer}button:hover{background:#eff6ff;border-color:#1d4ed8}\
button:focus-visible{outline:3px solid #1d4ed8;outline-offset:2px}\
.name{font-weight:600;display:block}.meta{font-size:.875rem;color:#374151;display:block}\
.cancel{margin-top:1rem;background:#f9fafb}";

fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Frame-Options", "DENY"))
        .body(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <title>{}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
            escape(title)
        ))
}

fn request_of(params: &HashMap<String, String>) -> AuthorizeRequest {
    let get = |k: &str| params.get(k).cloned().unwrap_or_default();
    AuthorizeRequest {
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        scope: get("scope"),
        state: params.get("state").cloned(),
        nonce: params.get("nonce").cloned(),
        code_challenge: get("code_challenge"),
        code_challenge_method: get("code_challenge_method"),
        response_mode: params.get("response_mode").cloned(),
    }
}

/// Back to the app with `pairs` in the query (or the fragment for `response_mode=fragment`).
fn back_to_app(request: &AuthorizeRequest, pairs: &[(&str, &str)]) -> HttpResponse {
    let Ok(mut target) = url::Url::parse(&request.redirect_uri) else {
        return page(StatusCode::BAD_REQUEST, "Sign in", "<h1>Sign in</h1><p>The redirect URI is not valid.</p>");
    };
    let mut all: Vec<(&str, &str)> = pairs.to_vec();
    if let Some(state) = &request.state {
        all.push(("state", state));
    }
    if request.response_mode.as_deref() == Some("fragment") {
        let encoded = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(all).finish();
        target.set_fragment(Some(&encoded));
    } else {
        target.query_pairs_mut().extend_pairs(all);
    }
    HttpResponse::Found().insert_header((header::LOCATION, target.to_string())).finish()
}

/// The sign-in page: one button per account, each posting the authorization request back with its choice.
async fn authorize_page(
    sim: web::Data<Sim>,
    path: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let params = query.into_inner();
    let request = request_of(&params);
    if let Err(problem) = sim.check_authorize(&request) {
        return page(
            StatusCode::BAD_REQUEST,
            "Sign in",
            &format!("<h1>Sign in</h1><p role=\"alert\">{}</p>", escape(&problem)),
        );
    }
    if params.get("response_type").map(String::as_str) != Some("code") {
        return back_to_app(
            &request,
            &[("error", "unsupported_response_type"), ("error_description", "AADSTS70005: use response_type=code")],
        );
    }
    // Nobody has a session with the simulator: a silent request cannot be answered without the user.
    if params.get("prompt").map(String::as_str) == Some("none") {
        return back_to_app(
            &request,
            &[
                ("error", "login_required"),
                ("error_description", "AADSTS50058: A silent sign-in request was sent but no user is signed in."),
            ],
        );
    }
    let accounts = sim.portal_accounts(&path);
    let hidden: String = params
        .iter()
        .filter(|(k, _)| k.as_str() != "account")
        .map(|(k, v)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", escape(k), escape(v)))
        .collect();
    let buttons: String = accounts
        .iter()
        .map(|a| {
            format!(
                "<li><button type=\"submit\" name=\"account\" value=\"{}\"><span class=\"name\">{}</span>\
                 <span class=\"meta\">{} · {} · {}</span></button></li>",
                escape(&a.key),
                escape(&a.name),
                escape(&a.username),
                escape(&a.tenant_name),
                escape(&a.role)
            )
        })
        .collect();
    let body = format!(
        "<h1>Sign in</h1><p>Microsoft Entra ID simulator: pick an account to sign in to the portal.</p>\
         <form method=\"post\" aria-label=\"Accounts\">{hidden}<ul>{buttons}</ul>\
         <button type=\"submit\" class=\"cancel\" name=\"account\" value=\"\">Cancel</button></form>"
    );
    page(StatusCode::OK, "Sign in to your account", &body)
}

async fn authorize_submit(sim: web::Data<Sim>, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let params = form.into_inner();
    let request = request_of(&params);
    if let Err(problem) = sim.check_authorize(&request) {
        return page(
            StatusCode::BAD_REQUEST,
            "Sign in",
            &format!("<h1>Sign in</h1><p role=\"alert\">{}</p>", escape(&problem)),
        );
    }
    let account = params.get("account").map(String::as_str).unwrap_or_default();
    if account.is_empty() {
        return back_to_app(
            &request,
            &[("error", "access_denied"), ("error_description", "AADSTS65004: The user cancelled the sign-in.")],
        );
    }
    match sim.issue_code(&request, account) {
        Some(code) => back_to_app(&request, &[("code", &code)]),
        None => page(StatusCode::BAD_REQUEST, "Sign in", "<h1>Sign in</h1><p role=\"alert\">No such account.</p>"),
    }
}

/// Entra ID's sign-out: back to `post_logout_redirect_uri` when it is one the app may use.
async fn logout(sim: web::Data<Sim>, query: web::Query<HashMap<String, String>>) -> HttpResponse {
    let target = query.get("post_logout_redirect_uri").cloned().unwrap_or_default();
    if let Ok(mut url) = url::Url::parse(&target)
        && (crate::signin::loopback(&url) || sim.config.sign_in.redirect_uris.contains(&target))
    {
        if let Some(state) = query.get("state") {
            url.query_pairs_mut().append_pair("state", state);
        }
        return HttpResponse::Found().insert_header((header::LOCATION, url.to_string())).finish();
    }
    page(StatusCode::OK, "Signed out", "<h1>You signed out</h1><p>You can close this window.</p>")
}
