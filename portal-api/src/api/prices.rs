//! The tenant's price book and finding thresholds (read: any portal user of the tenant; write: `Portal.Admin` or
//! an operator), and the audit log of those writes.

use std::collections::BTreeSet;

use actix_web::{HttpRequest, HttpResponse, delete, get, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sua_db::models::{AuditRow, PriceOverrideRow, SnapshotRow, TenantSettingsRow};
use sua_db::{Conn, DbError};
use sua_domain::prices::PriceBook;
use utoipa::{IntoParams, ToSchema};

use super::{
    ApiResult, Money, Refusals, State, audit, cached_json, decode_cursor, encode_cursor, page_size, visible_tenant,
};
use crate::auth::Principal;
use crate::error::ApiError;

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct PriceEntry {
    pub sku_part_number: String,
    /// Per unit per month; absent for a SKU the tenant has that sua knows no price for.
    pub unit_price: Option<Money>,
    /// `default` (sua's list price), `override` (set for this tenant) or `unknown`.
    pub origin: String,
    /// Where a default price comes from.
    pub source: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by: Option<String>,
    /// The tenant has this SKU in its current snapshot.
    pub in_use: bool,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct Prices {
    pub tenant_id: String,
    pub items: Vec<PriceEntry>,
}

fn load(conn: &mut Conn<'_>, tenant_id: &str) -> Result<Prices, DbError> {
    let overrides = PriceOverrideRow::for_tenant(conn, tenant_id)?;
    let book = PriceBook::for_tenant(&overrides);
    let in_use: BTreeSet<String> = match SnapshotRow::current(conn, tenant_id)? {
        Some(s) => {
            SnapshotRow::skus(conn, &s.run_id)?.into_iter().map(|s| s.sku_part_number.to_ascii_uppercase()).collect()
        }
        None => BTreeSet::new(),
    };
    let mut items: Vec<PriceEntry> = book
        .entries()
        .map(|(part, price)| {
            let set = overrides.iter().find(|o| o.sku_part_number.eq_ignore_ascii_case(part));
            PriceEntry {
                sku_part_number: part.clone(),
                unit_price: Some(Money { amount_minor: price.amount_minor, currency: price.currency.clone() }),
                origin: price.origin.to_string(),
                source: (!price.source.is_empty()).then(|| price.source.clone()),
                updated_at: set.map(|o| o.updated_at.and_utc()),
                updated_by: set.map(|o| o.updated_by.clone()),
                in_use: in_use.contains(&part.to_ascii_uppercase()),
            }
        })
        .collect();
    for part in &in_use {
        if book.get(part).is_none() {
            items.push(PriceEntry {
                sku_part_number: part.clone(),
                unit_price: None,
                origin: "unknown".into(),
                source: None,
                updated_at: None,
                updated_by: None,
                in_use: true,
            });
        }
    }
    items.sort_by(|a, b| a.sku_part_number.cmp(&b.sku_part_number));
    Ok(Prices { tenant_id: tenant_id.to_string(), items })
}

/// The prices in force for the tenant: sua's defaults with its overrides, and SKUs it has without a price.
#[utoipa::path(
    tag = "prices",
    params(("tenant_id" = String, Path, description = "Customer tenant id")),
    responses((status = 200, description = "The tenant's price book", body = Prices), Refusals),
    security(("bearer" = []))
)]
#[get("/tenants/{tenant_id}/prices")]
pub async fn get_prices(
    state: State,
    principal: Principal,
    path: web::Path<String>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let tenant = visible_tenant(&state, &principal, &path, false).await?;
    let body = state.pool.run(move |conn| load(conn, &tenant.id)).await?;
    Ok(cached_json(&req, &body))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceInput {
    /// e.g. `SPE_E3`.
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,64}$")]
    pub sku_part_number: String,
    /// Per unit per month, in minor units.
    #[schema(minimum = 0, maximum = 100_000_000)]
    pub amount_minor: i64,
    /// ISO 4217, e.g. `EUR`.
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PricesInput {
    /// Overrides to set (at most 500, each SKU once); SKUs not listed keep theirs.
    #[schema(min_items = 1, max_items = 500)]
    pub prices: Vec<PriceInput>,
}

fn validate(input: &PricesInput) -> ApiResult<()> {
    if input.prices.is_empty() || input.prices.len() > 500 {
        return Err(ApiError::BadRequest("prices must hold 1 to 500 entries".into()));
    }
    let mut seen = BTreeSet::new();
    for p in &input.prices {
        let part = &p.sku_part_number;
        if part.is_empty() || part.len() > 64 || !part.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
            return Err(ApiError::BadRequest(format!("'{part}' is not a skuPartNumber")));
        }
        if !seen.insert(part.to_ascii_uppercase()) {
            return Err(ApiError::BadRequest(format!("{part} is listed twice")));
        }
        if !(0..=100_000_000).contains(&p.amount_minor) {
            return Err(ApiError::BadRequest(format!("{part}: amount_minor must be between 0 and 100000000")));
        }
        if p.currency.len() != 3 || !p.currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(ApiError::BadRequest(format!("{part}: currency must be an ISO 4217 code such as EUR")));
        }
    }
    Ok(())
}

/// Sets price overrides for the tenant (audited; findings are recomputed with them).
#[utoipa::path(
    tag = "prices",
    params(("tenant_id" = String, Path, description = "Customer tenant id")),
    request_body = PricesInput,
    responses((status = 200, description = "The price book after the change", body = Prices), Refusals),
    security(("bearer" = []))
)]
#[put("/tenants/{tenant_id}/prices")]
pub async fn put_prices(
    state: State,
    principal: Principal,
    path: web::Path<String>,
    body: web::Json<PricesInput>,
) -> ApiResult<HttpResponse> {
    let tenant = visible_tenant(&state, &principal, &path, true).await?;
    let input = body.into_inner();
    validate(&input)?;
    let body = state
        .pool
        .transaction(move |conn| -> Result<Prices, DbError> {
            for p in &input.prices {
                let part = p.sku_part_number.to_ascii_uppercase();
                let before = PriceOverrideRow::find(conn, &tenant.id, &part)?;
                let row = PriceOverrideRow {
                    tenant_id: tenant.id.clone(),
                    sku_part_number: part.clone(),
                    amount_minor: p.amount_minor,
                    currency: p.currency.clone(),
                    updated_at: sua_db::now(),
                    updated_by: principal.name.clone(),
                };
                PriceOverrideRow::put(conn, &row)?;
                let entry = audit(
                    &principal,
                    Some(&tenant.id),
                    "price.set",
                    &part,
                    before.map(|b| json!({"amount_minor": b.amount_minor, "currency": b.currency})),
                    Some(json!({"amount_minor": p.amount_minor, "currency": p.currency})),
                );
                AuditRow::append(conn, &entry)?;
            }
            load(conn, &tenant.id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// Removes the tenant's override of one SKU: sua's default price applies again (audited).
#[utoipa::path(
    tag = "prices",
    params(
        ("tenant_id" = String, Path, description = "Customer tenant id"),
        ("sku_part_number" = String, Path, description = "The SKU whose override to remove")
    ),
    responses((status = 200, description = "The price book after the change", body = Prices), Refusals),
    security(("bearer" = []))
)]
#[delete("/tenants/{tenant_id}/prices/{sku_part_number}")]
pub async fn delete_price(
    state: State,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (tenant_id, part) = path.into_inner();
    let tenant = visible_tenant(&state, &principal, &tenant_id, true).await?;
    let part = part.to_ascii_uppercase();
    let body = state
        .pool
        .transaction(move |conn| -> Result<Option<Prices>, DbError> {
            let Some(before) = PriceOverrideRow::find(conn, &tenant.id, &part)? else { return Ok(None) };
            PriceOverrideRow::delete(conn, &tenant.id, &part)?;
            let entry = audit(
                &principal,
                Some(&tenant.id),
                "price.delete",
                &part,
                Some(json!({"amount_minor": before.amount_minor, "currency": before.currency})),
                None,
            );
            AuditRow::append(conn, &entry)?;
            load(conn, &tenant.id).map(Some)
        })
        .await?;
    match body {
        Some(body) => Ok(HttpResponse::Ok().json(body)),
        None => Err(ApiError::NotFound("the tenant has no override for that SKU".into())),
    }
}

/// The thresholds the findings use.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// A licensed user without a successful sign-in for this many days is inactive.
    #[schema(minimum = 1, maximum = 3650)]
    pub inactive_days: i64,
    /// Accounts younger than this are never flagged.
    #[schema(minimum = 0, maximum = 3650)]
    pub new_account_grace_days: i64,
    /// A phone licence without a call for this many days is unused.
    #[schema(minimum = 1, maximum = 3650)]
    pub phone_idle_days: i64,
    /// User ids or principal names never flagged (service accounts, break-glass admins); at most 10,000.
    #[schema(max_items = 10_000)]
    pub excluded_users: Vec<String>,
}

fn settings_of(conn: &mut Conn<'_>, tenant_id: &str) -> Result<Settings, DbError> {
    let s = sua_domain::findings::Settings::from_row(TenantSettingsRow::find(conn, tenant_id)?.as_ref());
    Ok(Settings {
        inactive_days: s.inactive_days,
        new_account_grace_days: s.new_account_grace_days,
        phone_idle_days: s.phone_idle_days,
        excluded_users: s.excluded.into_iter().collect(),
    })
}

/// The tenant's finding thresholds.
#[utoipa::path(
    tag = "prices",
    params(("tenant_id" = String, Path, description = "Customer tenant id")),
    responses((status = 200, description = "Thresholds in force", body = Settings), Refusals),
    security(("bearer" = []))
)]
#[get("/tenants/{tenant_id}/settings")]
pub async fn get_settings(
    state: State,
    principal: Principal,
    path: web::Path<String>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let tenant = visible_tenant(&state, &principal, &path, false).await?;
    let body = state.pool.run(move |conn| settings_of(conn, &tenant.id)).await?;
    Ok(cached_json(&req, &body))
}

/// Sets the tenant's finding thresholds (audited; findings are recomputed with them).
#[utoipa::path(
    tag = "prices",
    params(("tenant_id" = String, Path, description = "Customer tenant id")),
    request_body = Settings,
    responses((status = 200, description = "Thresholds in force after the change", body = Settings), Refusals),
    security(("bearer" = []))
)]
#[put("/tenants/{tenant_id}/settings")]
pub async fn put_settings(
    state: State,
    principal: Principal,
    path: web::Path<String>,
    body: web::Json<Settings>,
) -> ApiResult<HttpResponse> {
    let tenant = visible_tenant(&state, &principal, &path, true).await?;
    let input = body.into_inner();
    let days_ok = |d: i64, min: i64| (min..=3650).contains(&d);
    if !days_ok(input.inactive_days, 1)
        || !days_ok(input.new_account_grace_days, 0)
        || !days_ok(input.phone_idle_days, 1)
    {
        return Err(ApiError::BadRequest(
            "inactive_days and phone_idle_days must be 1 to 3650, new_account_grace_days 0 to 3650".into(),
        ));
    }
    if input.excluded_users.len() > 10_000 || input.excluded_users.iter().any(|u| u.trim().is_empty() || u.len() > 256)
    {
        return Err(ApiError::BadRequest(
            "excluded_users: at most 10000 non-empty entries of up to 256 characters".into(),
        ));
    }
    let body = state
        .pool
        .transaction(move |conn| -> Result<Settings, DbError> {
            let before = settings_of(conn, &tenant.id)?;
            let excluded: Vec<String> = input.excluded_users.iter().map(|u| u.trim().to_ascii_lowercase()).collect();
            let row = TenantSettingsRow {
                tenant_id: tenant.id.clone(),
                inactive_days: input.inactive_days as i32,
                new_account_grace_days: input.new_account_grace_days as i32,
                phone_idle_days: input.phone_idle_days as i32,
                excluded_users: serde_json::to_string(&excluded).unwrap_or_else(|_| "[]".into()),
                updated_at: sua_db::now(),
                updated_by: principal.name.clone(),
            };
            TenantSettingsRow::put(conn, &row)?;
            let after = settings_of(conn, &tenant.id)?;
            let entry = audit(
                &principal,
                Some(&tenant.id),
                "settings.set",
                "thresholds",
                serde_json::to_value(&before).ok(),
                serde_json::to_value(&after).ok(),
            );
            AuditRow::append(conn, &entry)?;
            Ok(after)
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Page size (default 100).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    /// The customer tenant written to; absent for operator-wide writes (invitations).
    pub tenant_id: Option<String>,
    /// The signed-in user: tenant, object id and name as the token said.
    pub actor_tenant: String,
    pub actor_id: String,
    pub actor_name: String,
    /// `price.set`, `price.delete`, `settings.set` or `invitation.create`.
    pub action: String,
    pub target: String,
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct AuditLog {
    /// Absent for the operators' log of every tenant.
    pub tenant_id: Option<String>,
    /// Newest first.
    pub items: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

/// Who changed which price or threshold, when (`Portal.Admin` or operators).
#[utoipa::path(
    tag = "prices",
    params(("tenant_id" = String, Path, description = "Customer tenant id"), AuditQuery),
    responses((status = 200, description = "Audit entries, newest first", body = AuditLog), Refusals),
    security(("bearer" = []))
)]
#[get("/tenants/{tenant_id}/audit")]
pub async fn audit_log(
    state: State,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<AuditQuery>,
) -> ApiResult<HttpResponse> {
    let tenant = visible_tenant(&state, &principal, &path, true).await?;
    let log = audit_page(&state, Some(tenant.id), &query).await?;
    Ok(HttpResponse::Ok().json(log))
}

/// Every write through the portal, invitations included, across tenants (operators only).
#[utoipa::path(
    tag = "onboarding",
    params(AuditQuery),
    responses((status = 200, description = "Audit entries of every tenant, newest first", body = AuditLog), Refusals),
    security(("bearer" = []))
)]
#[get("/audit")]
pub async fn audit_log_all(
    state: State,
    principal: Principal,
    query: web::Query<AuditQuery>,
) -> ApiResult<HttpResponse> {
    if !principal.operator {
        return Err(ApiError::Forbidden("the audit log of every tenant is for operators (Portal.Operator)".into()));
    }
    let log = audit_page(&state, None, &query).await?;
    Ok(HttpResponse::Ok().json(log))
}

async fn audit_page(state: &super::State, tenant: Option<String>, query: &AuditQuery) -> ApiResult<AuditLog> {
    let limit = page_size(query.limit, 100, state.max_page)?;
    let before = match &query.cursor {
        Some(c) => Some(
            decode_cursor(c, 1)?
                .pop()
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(|| ApiError::BadRequest("cursor is not one this API returned".into()))?,
        ),
        None => None,
    };
    let lookup = tenant.clone();
    let rows = state.pool.run(move |conn| AuditRow::for_tenant(conn, lookup.as_deref(), before, limit)).await?;
    let next_cursor =
        (rows.len() as i64 == limit).then(|| rows.last().map(|r| encode_cursor(&[&r.seq.to_string()]))).flatten();
    let parse = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
    let items = rows
        .into_iter()
        .map(|r| AuditEntry {
            at: r.at.and_utc(),
            tenant_id: r.tenant_id,
            actor_tenant: r.actor_tenant,
            actor_id: r.actor_id,
            actor_name: r.actor_name,
            action: r.action,
            target: r.target,
            before: parse(r.before),
            after: parse(r.after),
        })
        .collect();
    Ok(AuditLog { tenant_id: tenant, items, next_cursor })
}
