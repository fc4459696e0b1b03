//! The web portal's files, served at `/` beside the API: read once from `portal.web.dir` (built by `npm run
//! build` in `web/`, so building the services never needs Node.js), compressed once, and answered from memory.
//!
//! Vite names every script and stylesheet after its content (`assets/index-3f9a1c.js`), so those are cached
//! for a year as immutable; `index.html` is revalidated on every load (`no-cache` with an ETag), so a new build
//! is picked up at once. A path that is not a file is a client route of the single-page app: it gets
//! `index.html`. `/api/…` never falls back to the app: an unknown API path stays a 404 problem.
//!
//! The browser code reads its sign-in settings from `GET /config.json` (unauthenticated; nothing in it is a
//! secret: the portal is a public client using PKCE).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use serde::Serialize;
use sha2::Digest;
use sua_core::Config;

use crate::error::ApiError;

/// A built portal is a few hundred kilobytes; a directory far larger is not one (e.g. a mistyped `dir`).
const MAX_TOTAL_BYTES: u64 = 64 << 20;
/// How often a missing or broken build is looked for again.
const RETRY: Duration = Duration::from_secs(2);

/// One file, ready to send.
struct Asset {
    body: Bytes,
    gzip: Option<Bytes>,
    content_type: &'static str,
    etag: String,
    immutable: bool,
}

struct Assets {
    files: HashMap<String, Asset>,
}

/// What the browser code needs to sign people in and call the API.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ClientConfig {
    /// OpenID Connect authority (discovery at `{authority}/.well-known/openid-configuration`).
    pub authority: String,
    /// The portal's app registration; empty when sign-in is not configured.
    pub client_id: String,
    /// The API scope to ask for (besides `openid profile offline_access`).
    pub scope: String,
    /// Where the REST API lives, relative to the portal.
    pub api: String,
}

/// The portal's files and settings.
pub struct Frontend {
    dir: PathBuf,
    assets: RwLock<Option<Arc<Assets>>>,
    last_attempt: Mutex<Option<Instant>>,
    config_json: Bytes,
    /// `<script type="application/json" id="sua-config">…</script>`, put into index.html's head: the browser code
    /// has its settings without a round trip (a data block, not a script: the CSP does not need to allow it).
    config_tag: String,
    csp: String,
}

impl ClientConfig {
    pub fn from_config(config: &Config) -> Self {
        let web = &config.portal.web;
        let authority = web.authority.as_ref().map_or_else(
            || format!("{}/organizations/v2.0", config.login_url.as_str().trim_end_matches('/')),
            |a| a.as_str().trim_end_matches('/').to_string(),
        );
        let audience = config.portal.audience.trim_end_matches('/');
        let scope = web.scope.clone().unwrap_or_else(|| {
            if audience.contains("://") { format!("{audience}/.default") } else { format!("api://{audience}/.default") }
        });
        // One app registration can be both the portal (single-page application platform) and its API: then the
        // client id is the audience's application id and need not be given twice.
        let client_id = if web.client_id.is_empty() && is_application_id(audience) {
            audience.to_string()
        } else {
            web.client_id.clone()
        };
        Self { authority, client_id, scope, api: "/api/v1".into() }
    }
}

/// An Entra ID application (client) id: a GUID.
fn is_application_id(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
}

impl Frontend {
    /// Reads the built portal from `portal.web.dir` (logging, not failing, when it is missing).
    pub fn new(config: &Config) -> Self {
        let client = ClientConfig::from_config(config);
        let authority_origin =
            url::Url::parse(&client.authority).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
        // Scripts and styles only from the portal itself (the charts set inline styles); fetches to the API and
        // to the identity provider's discovery, keys and token endpoints.
        let csp = format!(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
             connect-src 'self' {authority_origin}; frame-src 'none'; object-src 'none'; base-uri 'none'; \
             form-action 'self'; frame-ancestors 'none'"
        );
        if client.client_id.is_empty() {
            tracing::warn!("portal.web.client_id is not set: the web portal cannot sign anyone in");
        }
        let json = serde_json::to_string(&client).unwrap_or_default();
        // JSON inside HTML: no `<` may end the element early.
        let config_tag =
            format!("<script type=\"application/json\" id=\"sua-config\">{}</script>", json.replace('<', "\\u003c"));
        let frontend = Self {
            dir: config.portal.web.dir.clone(),
            assets: RwLock::new(None),
            last_attempt: Mutex::new(None),
            config_json: Bytes::from(json),
            config_tag,
            csp,
        };
        frontend.reload();
        frontend
    }

    fn reload(&self) -> Option<Arc<Assets>> {
        *self.last_attempt.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
        match load(&self.dir, &self.config_tag) {
            Ok(assets) => {
                tracing::info!(dir = %self.dir.display(), files = assets.files.len(), "web portal loaded");
                let assets = Arc::new(assets);
                *self.assets.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(assets.clone());
                Some(assets)
            }
            Err(why) => {
                tracing::warn!(dir = %self.dir.display(), reason = %why, "web portal not served");
                None
            }
        }
    }

    /// The loaded files; a missing build is looked for again every few seconds, so building the portal while
    /// the service runs is enough.
    async fn assets(self: &Arc<Self>) -> Option<Arc<Assets>> {
        if let Some(assets) = self.assets.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone() {
            return Some(assets);
        }
        let due = self
            .last_attempt
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_none_or(|at| at.elapsed() >= RETRY);
        if !due {
            return None;
        }
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.reload()).await.ok().flatten()
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase()).as_deref() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        Some("webmanifest") => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

fn compressible(content_type: &str) -> bool {
    content_type.starts_with("text/") || content_type.contains("json") || content_type.contains("svg")
}

fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(body)?;
    encoder.finish()
}

/// Reads every file under `dir` (hidden ones and source maps aside); `head` goes into index.html's head.
fn load(dir: &Path, head: &str) -> Result<Assets, String> {
    if !dir.join("index.html").is_file() {
        return Err(format!("{} has no index.html", dir.display()));
    }
    let mut files = HashMap::new();
    let mut total = 0u64;
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let entries = std::fs::read_dir(dir.join(&relative)).map_err(|e| e.to_string())?;
        for entry in entries {
            let entry = entry.map_err(|e| e.to_string())?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name.ends_with(".map") {
                continue;
            }
            let kind = entry.file_type().map_err(|e| e.to_string())?;
            let path = relative.join(&name);
            if kind.is_dir() {
                pending.push(path);
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let mut body = std::fs::read(entry.path()).map_err(|e| e.to_string())?;
            total += body.len() as u64;
            if total > MAX_TOTAL_BYTES {
                return Err(format!("{} holds more than {MAX_TOTAL_BYTES} bytes: not a built portal", dir.display()));
            }
            let key = path.to_string_lossy().replace('\\', "/");
            if key == "index.html" {
                let html = String::from_utf8_lossy(&body);
                if let Some(at) = html.find("</head>") {
                    body = format!("{}{head}{}", &html[..at], &html[at..]).into_bytes();
                }
            }
            let content_type = content_type(&key);
            let compressed = if compressible(content_type) && body.len() > 256 {
                gzip(&body).ok().filter(|z| z.len() < body.len()).map(Bytes::from)
            } else {
                None
            };
            let etag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(&sha2::Sha256::digest(&body)[..16]));
            files.insert(
                key.clone(),
                Asset {
                    body: Bytes::from(body),
                    gzip: compressed,
                    content_type,
                    etag,
                    immutable: key.starts_with("assets/"),
                },
            );
        }
    }
    Ok(Assets { files })
}

fn accepts_gzip(req: &HttpRequest) -> bool {
    req.headers().get_all(header::ACCEPT_ENCODING).filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').any(|part| {
            let mut pieces = part.split(';').map(str::trim);
            let name = pieces.next().unwrap_or_default();
            let refused = pieces.any(|p| p.replace(' ', "") == "q=0" || p.replace(' ', "") == "q=0.0");
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
    })
}

fn send(req: &HttpRequest, asset: &Asset, csp: &str) -> HttpResponse {
    let cache = if asset.immutable { "public, max-age=31536000, immutable" } else { "no-cache" };
    let mut response = if req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == asset.etag))
    {
        HttpResponse::NotModified().finish()
    } else {
        let mut builder = HttpResponse::Ok();
        builder.content_type(asset.content_type);
        match (&asset.gzip, accepts_gzip(req)) {
            (Some(gz), true) => builder.insert_header((header::CONTENT_ENCODING, "gzip")).body(gz.clone()),
            _ => builder.body(asset.body.clone()),
        }
    };
    let headers = response.headers_mut();
    let mut set = |name: header::HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(header::CACHE_CONTROL, cache);
    set(header::ETAG, &asset.etag);
    set(header::VARY, "Accept-Encoding");
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    if asset.content_type.starts_with("text/html") {
        set(header::CONTENT_SECURITY_POLICY, csp);
        // The sign-in answer arrives as `?code=…` on the portal's URL: no page may see it as a referrer.
        set(header::REFERRER_POLICY, "no-referrer");
        set(header::X_FRAME_OPTIONS, "DENY");
    }
    response
}

const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>sua: the web portal \
    is not built</title></head><body style=\"font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;\
    padding:0 1rem\"><h1>The web portal is not built</h1><p>portal-api serves the web portal from <code>{dir}</code>, \
    which holds no built portal. Build it with Node.js 20.19 or newer:</p><pre>cd web &amp;&amp; npm ci &amp;&amp; npm \
    run build</pre><p>(or set <code>portal.web.dir</code> / <code>SUA_PORTAL__WEB__DIR</code> to where it was built). \
    It is picked up within seconds, without a restart. The REST API works meanwhile: <a href=\"/api/docs/\">\
    /api/docs/</a>.</p></body></html>";

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// `GET /config.json`: the browser code's sign-in settings.
pub async fn client_config(frontend: web::Data<Arc<Frontend>>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(frontend.config_json.clone())
}

/// Everything no other route answered: the portal's files, its client routes, or a 404 problem for the API.
pub async fn serve(req: HttpRequest, frontend: web::Data<Arc<Frontend>>) -> Result<HttpResponse, ApiError> {
    let path = req.path();
    let not_found = || ApiError::NotFound("no such endpoint".into());
    if path == "/api" || path.starts_with("/api/") || !matches!(*req.method(), Method::GET | Method::HEAD) {
        return Err(not_found());
    }
    let Some(assets) = frontend.assets().await else {
        let page = NOT_BUILT.replace("{dir}", &html_escape(&frontend.dir.display().to_string()));
        return Ok(HttpResponse::build(StatusCode::SERVICE_UNAVAILABLE)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::RETRY_AFTER, "10"))
            .body(page));
    };
    let relative = path.trim_start_matches('/');
    if relative.split('/').any(|s| s == ".." || s == ".") {
        return Err(not_found());
    }
    if let Some(asset) = assets.files.get(relative).filter(|_| relative != "index.html") {
        return Ok(send(&req, asset, &frontend.csp));
    }
    // A file the build does not have (an old hashed name, a typo) is a 404, not the app: a script tag must
    // never receive HTML.
    let last = relative.rsplit('/').next().unwrap_or_default();
    if relative.starts_with("assets/") || last.contains('.') && !last.ends_with(".html") {
        return Err(not_found());
    }
    match assets.files.get("index.html") {
        Some(index) => Ok(send(&req, index, &frontend.csp)),
        None => Err(not_found()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn gzip_is_sent_only_to_clients_that_accept_it() {
        let req = |v: &str| TestRequest::default().insert_header((header::ACCEPT_ENCODING, v)).to_http_request();
        assert!(accepts_gzip(&req("gzip, deflate, br")));
        assert!(accepts_gzip(&req("br;q=1.0, gzip;q=0.8")));
        assert!(accepts_gzip(&req("*")));
        assert!(!accepts_gzip(&req("gzip;q=0")));
        assert!(!accepts_gzip(&req("br, identity")));
        assert!(!accepts_gzip(&TestRequest::default().to_http_request()));
    }

    #[test]
    fn the_scope_and_client_default_from_the_api_app() {
        let mut config = Config::default();
        config.portal.audience = "api://sua-portal".into();
        assert_eq!(ClientConfig::from_config(&config).scope, "api://sua-portal/.default");
        assert_eq!(
            ClientConfig::from_config(&config).authority,
            "https://login.microsoftonline.com/organizations/v2.0"
        );
        assert_eq!(ClientConfig::from_config(&config).client_id, "", "no application id to fall back on");
        config.portal.audience = "7d3f0c9e-2b1a-4c5d-8e9f-0a1b2c3d4e5f".into();
        let client = ClientConfig::from_config(&config);
        assert_eq!(client.scope, "api://7d3f0c9e-2b1a-4c5d-8e9f-0a1b2c3d4e5f/.default");
        assert_eq!(client.client_id, "7d3f0c9e-2b1a-4c5d-8e9f-0a1b2c3d4e5f", "one registration for portal and API");
        config.portal.web.client_id = "11111111-2222-3333-4444-555555555555".into();
        assert_eq!(ClientConfig::from_config(&config).client_id, "11111111-2222-3333-4444-555555555555");
    }
}
