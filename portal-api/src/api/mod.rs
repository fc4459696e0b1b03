//! The `/api/v1` endpoints, their JSON shapes (snake_case) and the helpers they share.

pub mod calls;
pub mod findings;
pub mod history;
pub mod licences;
pub mod onboarding;
pub mod prices;
pub mod pstn;
pub mod reports;
pub mod tenants;
pub mod users;

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::Digest;
use sua_db::models::{DataVersion, NewAudit, SnapshotRow, TenantRow};
use sua_db::{Conn, DbError};
use utoipa::{IntoResponses, ToSchema};

use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, Problem};

pub type State = web::Data<Arc<AppState>>;
pub type ApiResult<T> = Result<T, ApiError>;

/// Money: integer minor units of one currency. Amounts of different currencies are never added up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct Money {
    pub amount_minor: i64,
    /// ISO 4217.
    pub currency: String,
}

/// Sums per currency, in currency order.
#[derive(Debug, Clone, Default)]
pub struct Totals(BTreeMap<String, i64>);

impl Totals {
    pub fn add(&mut self, currency: &str, amount_minor: i64) {
        if !currency.is_empty() {
            *self.0.entry(currency.to_string()).or_default() += amount_minor;
        }
    }

    pub fn add_all(&mut self, monies: &[Money]) {
        for m in monies {
            self.add(&m.currency, m.amount_minor);
        }
    }

    pub fn monies(&self) -> Vec<Money> {
        self.0.iter().map(|(c, a)| Money { amount_minor: *a, currency: c.clone() }).collect()
    }
}

/// Findings' monthly money per currency: `(savings, costs at risk)`.
pub fn money_by_effect(totals: &[sua_db::views::FindingTotal]) -> (Totals, Totals) {
    let (mut savings, mut risk) = (Totals::default(), Totals::default());
    for t in totals {
        let side = if t.effect == "saving" { &mut savings } else { &mut risk };
        side.add(&t.currency, t.amount_minor);
    }
    (savings, risk)
}

/// The refusals every endpoint may answer with, as problem+json.
#[allow(dead_code, reason = "documentation only: the variants describe responses in the OpenAPI document")]
#[derive(IntoResponses)]
pub enum Refusals {
    /// A query parameter or body is invalid.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// No bearer token, or one that is expired, unsigned, tampered with, or for another audience or issuer.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// The token is valid but lacks the role this needs.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// No such tenant, or one the caller may not see (the two are not told apart).
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// The caller's rate limit is exhausted; see `Retry-After`.
    #[response(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Problem),
    /// The token signing keys cannot be fetched, or the database is busy or unreachable; see `Retry-After`.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}

/// The tenant, when the caller may read it (`write`: change it); otherwise the same "not found" whether the
/// tenant exists or not.
pub async fn visible_tenant(
    state: &AppState,
    principal: &Principal,
    tenant_id: &str,
    write: bool,
) -> ApiResult<TenantRow> {
    Ok(visible_tenant_at(state, principal, tenant_id, write).await?.0)
}

/// [`visible_tenant`] with the tenant's data version, read in the same round trip: the key of its cached
/// aggregates, read before them so that an answer cached before a commit is never served after it.
pub async fn visible_tenant_at(
    state: &AppState,
    principal: &Principal,
    tenant_id: &str,
    write: bool,
) -> ApiResult<(TenantRow, i64)> {
    let tenant_id = tenant_id.to_ascii_lowercase();
    if !principal.can_read(&tenant_id) {
        return Err(ApiError::tenant_not_found());
    }
    let lookup = tenant_id.clone();
    let (tenant, version) = state
        .pool
        .run(move |conn| -> Result<_, sua_db::DbError> {
            Ok((TenantRow::find(conn, &lookup)?, DataVersion::of(conn, &lookup)?))
        })
        .await?;
    let tenant = tenant.ok_or_else(ApiError::tenant_not_found)?;
    if write && !principal.can_write(&tenant_id) {
        return Err(ApiError::Forbidden("changing this needs the Portal.Admin role".into()));
    }
    Ok((tenant, version))
}

/// How every read of one tenant's data opens: the tenant, when the caller may see it, and its data version read
/// in the same round trip; then the data, either computed on the database pool or taken from the aggregate cache
/// for that version.
pub struct TenantRead<'a> {
    state: &'a AppState,
    pub tenant: TenantRow,
    version: i64,
}

impl<'a> TenantRead<'a> {
    pub async fn open(state: &'a AppState, principal: &Principal, tenant_id: &str) -> ApiResult<Self> {
        let (tenant, version) = visible_tenant_at(state, principal, tenant_id, false).await?;
        Ok(Self { state, tenant, version })
    }

    /// `load` run on the pool for this tenant, every time.
    pub async fn load<T, F>(&self, load: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn<'_>, &TenantRow) -> Result<T, DbError> + Send + 'static,
    {
        let tenant = self.tenant.clone();
        Ok(self.state.pool.run(move |conn| load(conn, &tenant)).await?)
    }

    /// The aggregate `key` of this tenant's data version: cached, or computed by `load` on the pool (once, however
    /// many requests ask at the same time) and kept.
    pub async fn aggregate<T, F>(&self, key: &str, load: F) -> ApiResult<Arc<T>>
    where
        T: Send + Sync + 'static,
        F: FnOnce(&mut Conn<'_>, &TenantRow) -> Result<T, DbError> + Send + 'static,
    {
        let tenant = self.tenant.clone();
        let compute = || self.state.pool.run(move |conn| load(conn, &tenant));
        Ok(self.state.cache.get_or(&self.tenant.id, key, self.version, compute).await?)
    }
}

/// The snapshot a tenant's pages read, as the responses describe it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct SnapshotInfo {
    pub run_id: String,
    /// The day of the licence sync the snapshot comes from.
    pub day: chrono::NaiveDate,
    pub current_since: Option<chrono::DateTime<chrono::Utc>>,
    /// Whether last sign-in dates are known (they need Entra ID P1 in the customer tenant).
    pub sign_in_activity: bool,
}

impl From<&SnapshotRow> for SnapshotInfo {
    fn from(row: &SnapshotRow) -> Self {
        Self {
            run_id: row.run_id.clone(),
            day: row.day,
            current_since: row.current_at.map(|t| t.and_utc()),
            sign_in_activity: row.sign_in_activity,
        }
    }
}

/// A JSON response with a strong ETag over its body: `If-None-Match` with the same tag gets 304. Clients may
/// keep it but revalidate before each use (`no-cache`): new data shows as soon as analytics has committed it,
/// and an unchanged answer costs a 304.
pub fn cached_json<T: Serialize>(req: &HttpRequest, body: &T) -> HttpResponse {
    let bytes = match serde_json::to_vec(body) {
        Ok(bytes) => bytes,
        Err(e) => return actix_web::ResponseError::error_response(&ApiError::Internal(e.to_string())),
    };
    let digest = sha2::Sha256::digest(&bytes);
    let etag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..16]));
    let cache = "private, no-cache";
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, cache))
            .finish();
    }
    HttpResponse::Ok()
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, cache))
        .content_type("application/json")
        .body(bytes)
}

/// Opaque cursors: base64url of a JSON array of strings.
pub fn encode_cursor(parts: &[&str]) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(parts).unwrap_or_default())
}

pub fn decode_cursor(cursor: &str, parts: usize) -> ApiResult<Vec<String>> {
    let invalid = || ApiError::BadRequest("cursor is not one this API returned".into());
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim()).map_err(|_| invalid())?;
    let values: Vec<String> = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    // What a cursor decodes to goes into queries: no NUL, as for every other input (see `crate::input`).
    if values.len() == parts && !values.iter().any(|v| v.contains('\0')) { Ok(values) } else { Err(invalid()) }
}

/// A page size within `1..=max`.
pub fn page_size(limit: Option<i64>, default: i64, max: i64) -> ApiResult<i64> {
    match limit {
        None => Ok(default.min(max)),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::BadRequest(format!("limit must be between 1 and {max}"))),
    }
}

/// An audit entry for a write by `principal`.
pub fn audit(
    principal: &Principal,
    tenant_id: Option<&str>,
    action: &str,
    target: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> NewAudit {
    NewAudit {
        at: sua_db::now(),
        tenant_id: tenant_id.map(str::to_string),
        actor_tenant: principal.tenant_id.clone(),
        actor_id: principal.object_id.clone(),
        actor_name: principal.name.clone(),
        action: action.into(),
        target: target.into(),
        before: before.map(|v| v.to_string()),
        after: after.map(|v| v.to_string()),
    }
}

/// Days `[from, to]` from optional query values: `to` defaults to today, `from` to 29 days before `to`; at most
/// 366 days.
pub fn date_range(
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
) -> ApiResult<(chrono::NaiveDate, chrono::NaiveDate)> {
    let to = to.unwrap_or_else(sua_core::clock::today);
    let from = from.unwrap_or(to - chrono::Duration::days(29));
    if from > to {
        return Err(ApiError::BadRequest("from must not be after to".into()));
    }
    if (to - from).num_days() > 366 {
        return Err(ApiError::BadRequest("the range may span at most 366 days".into()));
    }
    Ok((from, to))
}

/// The query of an endpoint that takes none: anything given is refused, not silently ignored.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoQuery {}
