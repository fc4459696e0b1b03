//! Who am I, which tenants may I see, how is each doing, and (operators) every tenant's money at a glance.

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::NaiveDate;
use serde::Serialize;
use sua_db::DbError;
use sua_db::models::{DataVersion, TenantRow};
use sua_db::views;
use utoipa::ToSchema;

use super::{ApiResult, Money, Refusals, State, Totals, cached_json};
use crate::auth::Principal;
use crate::error::ApiError;

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct Me {
    pub tenant_id: String,
    pub user_id: String,
    pub name: String,
    pub roles: Vec<String>,
    /// Sees every tenant and the all-tenants summary.
    pub operator: bool,
}

/// The signed-in user as the portal sees it.
#[utoipa::path(
    tag = "tenants",
    responses((status = 200, description = "The caller", body = Me), Refusals),
    security(("bearer" = []))
)]
#[get("/me")]
pub async fn get_me(principal: Principal) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(Me {
        tenant_id: principal.tenant_id,
        user_id: principal.object_id,
        name: principal.name,
        roles: principal.roles.into_iter().collect(),
        operator: principal.operator,
    }))
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct TenantSummary {
    pub tenant_id: String,
    pub display_name: String,
    /// `granted`, `partial`, `revoked`, …
    pub consent_state: String,
    /// Call-record feed: `healthy`, `degraded`, `down` or `not_collected`.
    pub feed_state: String,
}

impl From<&TenantRow> for TenantSummary {
    fn from(t: &TenantRow) -> Self {
        Self {
            tenant_id: t.id.clone(),
            display_name: t.display_name.clone(),
            consent_state: t.consent_state.to_string(),
            feed_state: t.feed_state.to_string(),
        }
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct TenantList {
    pub items: Vec<TenantSummary>,
}

/// The tenants the caller may see: its own, or every one for operators.
#[utoipa::path(
    tag = "tenants",
    responses((status = 200, description = "Visible tenants", body = TenantList), Refusals),
    security(("bearer" = []))
)]
#[get("/tenants")]
pub async fn list_tenants(state: State, principal: Principal, req: HttpRequest) -> ApiResult<HttpResponse> {
    let tenants = state.pool.run(TenantRow::list).await?;
    let items = tenants.iter().filter(|t| principal.can_read(&t.id)).map(TenantSummary::from).collect();
    Ok(cached_json(&req, &TenantList { items }))
}

pub use sua_domain::tenants::{BackfillStatus, SyncStatus, TenantStatus};

/// Consent, permissions, prerequisites, last sync and call-record feed health.
#[utoipa::path(
    tag = "tenants",
    params(("tenant_id" = String, Path, description = "Customer tenant id")),
    responses((status = 200, description = "The tenant's collection status", body = TenantStatus), Refusals),
    security(("bearer" = []))
)]
#[get("/tenants/{tenant_id}/status")]
pub async fn get_status(
    state: State,
    principal: Principal,
    path: web::Path<String>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let read = super::TenantRead::open(&state, &principal, &path).await?;
    let status = read.load(|conn, tenant| sua_domain::tenants::status(conn, tenant.clone())).await?;
    Ok(cached_json(&req, &status))
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct TenantMoney {
    pub tenant_id: String,
    pub display_name: String,
    pub consent_state: String,
    pub feed_state: String,
    pub last_sync_day: Option<NaiveDate>,
    pub monthly_licence_cost: Vec<Money>,
    pub monthly_savings: Vec<Money>,
    pub monthly_costs_at_risk: Vec<Money>,
    pub findings: i64,
    /// Savings realised this month and in total, per month, per currency.
    pub realised_savings_this_month: Vec<Money>,
    pub realised_savings_total: Vec<Money>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct AllTenants {
    pub tenants: Vec<TenantMoney>,
    /// Per currency over every tenant (never across currencies).
    pub monthly_licence_cost: Vec<Money>,
    pub monthly_savings: Vec<Money>,
    pub monthly_costs_at_risk: Vec<Money>,
    pub realised_savings_this_month: Vec<Money>,
    pub realised_savings_total: Vec<Money>,
}

/// A tenant's money from its current snapshot and findings (the collector's fields left empty).
fn money_of(conn: &mut sua_db::Conn<'_>, tenant_id: &str) -> Result<TenantMoney, DbError> {
    let licences = super::licences::load(conn, tenant_id)?;
    let totals = views::finding_totals(conn, tenant_id)?;
    let (savings, risk) = super::money_by_effect(&totals);
    let (realised_month, realised_total) = super::history::realised_totals(conn, Some(tenant_id))?;
    Ok(TenantMoney {
        realised_savings_this_month: realised_month,
        realised_savings_total: realised_total,
        tenant_id: tenant_id.to_string(),
        display_name: String::new(),
        consent_state: String::new(),
        feed_state: String::new(),
        last_sync_day: licences.snapshot.as_ref().map(|s| s.day),
        monthly_licence_cost: licences.monthly_cost,
        monthly_savings: savings.monies(),
        monthly_costs_at_risk: risk.monies(),
        findings: totals.iter().map(|t| t.findings).sum(),
    })
}

/// Every tenant's licence cost, savings and risk, per currency (operators only).
#[utoipa::path(
    tag = "tenants",
    responses((status = 200, description = "Money per tenant and per currency", body = AllTenants), Refusals),
    security(("bearer" = []))
)]
#[get("/summary")]
pub async fn get_summary(state: State, principal: Principal, req: HttpRequest) -> ApiResult<HttpResponse> {
    if !principal.operator {
        return Err(ApiError::Forbidden("the all-tenants summary is for operators (Portal.Operator)".into()));
    }
    // Each tenant's money is cached under its own data version; names and states are the collector's, read fresh.
    let (tenants, versions) =
        state.pool.run(|conn| -> Result<_, DbError> { Ok((TenantRow::list(conn)?, DataVersion::all(conn)?)) }).await?;
    let mut all = (Totals::default(), Totals::default(), Totals::default());
    let mut realised = (Totals::default(), Totals::default());
    let mut items = Vec::with_capacity(tenants.len());
    for tenant in tenants {
        let version = versions.get(&tenant.id).copied().unwrap_or(0);
        let id = tenant.id.clone();
        let compute = || state.pool.run(move |conn| money_of(conn, &id));
        let money = state.cache.get_or(&tenant.id, "money", version, compute).await?;
        all.0.add_all(&money.monthly_licence_cost);
        all.1.add_all(&money.monthly_savings);
        all.2.add_all(&money.monthly_costs_at_risk);
        realised.0.add_all(&money.realised_savings_this_month);
        realised.1.add_all(&money.realised_savings_total);
        items.push(TenantMoney {
            tenant_id: tenant.id,
            display_name: tenant.display_name,
            consent_state: tenant.consent_state.to_string(),
            feed_state: tenant.feed_state.to_string(),
            ..(*money).clone()
        });
    }
    let body = AllTenants {
        tenants: items,
        monthly_licence_cost: all.0.monies(),
        monthly_savings: all.1.monies(),
        monthly_costs_at_risk: all.2.monies(),
        realised_savings_this_month: realised.0.monies(),
        realised_savings_total: realised.1.monies(),
    };
    Ok(cached_json(&req, &body))
}
