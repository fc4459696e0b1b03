//! Entra ID bearer tokens: RS256 only, signed by a key of the configured JWKS (cached; an unknown `kid` refetches,
//! at most once per `jwks_min_refresh_secs`), audience = the portal's app id, issuer = `{issuer_base}/{tid}/v2.0`
//! for the token's own `tid`, expiry with a small leeway. Who the caller is and what it may see follows from
//! `tid` and `roles` alone.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{FromRequest, HttpRequest, web};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use sua_core::config::PortalConfig;
use tokio::sync::{Mutex, RwLock};

use crate::AppState;
use crate::error::ApiError;

pub const READER: &str = "Portal.Reader";
pub const ADMIN: &str = "Portal.Admin";
pub const OPERATOR: &str = "Portal.Operator";

/// A signed-in portal user.
#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant_id: String,
    pub object_id: String,
    pub name: String,
    pub roles: BTreeSet<String>,
    /// A `Portal.Operator` of the operator tenant: sees every tenant.
    pub operator: bool,
}

impl Principal {
    pub fn can_read(&self, tenant_id: &str) -> bool {
        self.operator || (self.tenant_id == tenant_id && (self.roles.contains(READER) || self.roles.contains(ADMIN)))
    }

    pub fn can_write(&self, tenant_id: &str) -> bool {
        self.operator || (self.tenant_id == tenant_id && self.roles.contains(ADMIN))
    }

    /// `tid/oid`: the key of the caller's rate limit and its name in the audit log.
    pub fn key(&self) -> String {
        format!("{}/{}", self.tenant_id, self.object_id)
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    tid: String,
    #[serde(default)]
    oid: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
}

struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

/// Verifies portal tokens.
pub struct Verifier {
    http: reqwest::Client,
    jwks_url: String,
    issuer_base: String,
    audience: String,
    operator_tenant: Option<String>,
    leeway: u64,
    ttl: Duration,
    min_refresh: Duration,
    cache: RwLock<KeyCache>,
    refresh: Mutex<Option<Instant>>,
}

impl Verifier {
    pub fn new(config: &sua_core::Config, portal: &PortalConfig, http: reqwest::Client) -> Self {
        let login = config.login_url.as_str().trim_end_matches('/').to_string();
        let jwks_url = portal
            .jwks_url
            .as_ref()
            .map_or_else(|| format!("{login}/common/discovery/v2.0/keys"), |u| u.as_str().to_string());
        let issuer_base = portal.issuer_base.as_ref().map_or(login, |u| u.as_str().trim_end_matches('/').to_string());
        if portal.audience.is_empty() {
            tracing::warn!("portal.audience is not set: portal-api refuses every token (set SUA_PORTAL__AUDIENCE)");
        }
        Self {
            http,
            jwks_url,
            issuer_base,
            audience: portal.audience.clone(),
            operator_tenant: portal.operator_tenant.clone().map(|t| t.to_ascii_lowercase()),
            leeway: portal.leeway_secs,
            ttl: Duration::from_secs(portal.jwks_ttl_secs.max(1)),
            min_refresh: Duration::from_secs(portal.jwks_min_refresh_secs),
            cache: RwLock::new(KeyCache { keys: HashMap::new(), fetched_at: None }),
            refresh: Mutex::new(None),
        }
    }

    pub async fn verify(&self, token: &str) -> Result<Principal, ApiError> {
        let unauthorized = |why: &str| ApiError::Unauthorized(format!("invalid bearer token: {why}"));
        if self.audience.is_empty() {
            return Err(unauthorized("portal-api has no audience configured"));
        }
        let header = decode_header(token).map_err(|_| unauthorized("malformed"))?;
        if header.alg != Algorithm::RS256 {
            return Err(unauthorized("only RS256 tokens are accepted"));
        }
        let kid = header.kid.ok_or_else(|| unauthorized("no key id"))?;
        let key = self.key(&kid).await?.ok_or_else(|| unauthorized("signed with an unknown key"))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss"]);
        validation.validate_nbf = true;
        validation.leeway = self.leeway;
        let claims = decode::<Claims>(token, &key, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::ExpiredSignature => unauthorized("expired"),
                    ErrorKind::ImmatureSignature => unauthorized("not valid yet"),
                    ErrorKind::InvalidAudience => unauthorized("issued for another audience"),
                    ErrorKind::InvalidSignature => unauthorized("bad signature"),
                    _ => unauthorized("rejected"),
                }
            })?
            .claims;
        let tid = claims.tid.to_ascii_lowercase();
        if tid.is_empty() || !tid.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(unauthorized("no tenant"));
        }
        if claims.iss != format!("{}/{}/v2.0", self.issuer_base, claims.tid) {
            return Err(unauthorized("wrong issuer"));
        }
        let object_id = claims.oid.or(claims.sub).ok_or_else(|| unauthorized("no subject"))?;
        let roles: BTreeSet<String> = claims.roles.into_iter().collect();
        let operator = self.operator_tenant.as_deref() == Some(tid.as_str()) && roles.contains(OPERATOR);
        if !operator && !roles.contains(READER) && !roles.contains(ADMIN) {
            return Err(ApiError::Forbidden("the token carries no portal role (Portal.Reader or Portal.Admin)".into()));
        }
        Ok(Principal {
            tenant_id: tid,
            object_id,
            name: claims.preferred_username.or(claims.name).unwrap_or_default(),
            roles,
            operator,
        })
    }

    /// The key `kid`, fetching the JWKS when the cache is empty, stale, or lacks it (rate-limited).
    async fn key(&self, kid: &str) -> Result<Option<DecodingKey>, ApiError> {
        {
            let cache = self.cache.read().await;
            let fresh = cache.fetched_at.is_some_and(|at| at.elapsed() < self.ttl);
            if fresh && let Some(key) = cache.keys.get(kid) {
                return Ok(Some(key.clone()));
            }
        }
        let mut last = self.refresh.lock().await;
        {
            // Another request may have refreshed while this one waited.
            let cache = self.cache.read().await;
            let fresh = cache.fetched_at.is_some_and(|at| at.elapsed() < self.ttl);
            if let Some(key) = cache.keys.get(kid)
                && fresh
            {
                return Ok(Some(key.clone()));
            }
            if fresh {
                // An unknown key on fresh keys: a rollover, or a forged kid. Refetch, but not for every request.
                if last.is_some_and(|at| at.elapsed() < self.min_refresh) {
                    return Ok(None);
                }
                *last = Some(Instant::now());
            }
        }
        match self.fetch().await {
            Ok(keys) => {
                let found = keys.get(kid).cloned();
                *self.cache.write().await = KeyCache { keys, fetched_at: Some(Instant::now()) };
                Ok(found)
            }
            Err(error) => {
                tracing::warn!(error = %error, url = %self.jwks_url, "signing keys could not be fetched");
                // Keys fetched earlier stay good through an outage of the key endpoint.
                let cache = self.cache.read().await;
                match cache.keys.get(kid) {
                    Some(key) => Ok(Some(key.clone())),
                    None if cache.fetched_at.is_some() => Ok(None),
                    None => Err(ApiError::Unavailable("token signing keys are unavailable; try again shortly".into())),
                }
            }
        }
    }

    async fn fetch(&self) -> anyhow::Result<HashMap<String, DecodingKey>> {
        let response = self.http.get(&self.jwks_url).timeout(Duration::from_secs(10)).send().await?;
        anyhow::ensure!(response.status().is_success(), "JWKS answered {}", response.status());
        let set: JwkSet = response.json().await?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            if let Some(kid) = &jwk.common.key_id
                && let Ok(key) = DecodingKey::from_jwk(jwk)
            {
                keys.insert(kid.clone(), key);
            }
        }
        Ok(keys)
    }
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim()).filter(|t| !t.is_empty())
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let Some(state) = req.app_data::<web::Data<Arc<AppState>>>().cloned() else {
                return Err(ApiError::Internal("portal state missing".into()));
            };
            let peer = req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
            let result = match bearer(&req) {
                Some(token) => state.verifier.verify(token).await,
                None => Err(ApiError::Unauthorized("a bearer token is required".into())),
            };
            match result {
                Ok(principal) => {
                    state.limiter.check(&principal.key())?;
                    Ok(principal)
                }
                Err(error) => {
                    // Refused callers are limited by address, so guessing tokens is slow too.
                    state.limiter.check(&format!("ip/{peer}"))?;
                    Err(error)
                }
            }
        })
    }
}
