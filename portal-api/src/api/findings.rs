//! Licence findings: each with its user, SKU, monthly money and evidence, and totals by kind.

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sua_db::DbError;
use sua_db::models::FindingRow;
use sua_db::views::{self, FindingFilter};
use utoipa::{IntoParams, ToSchema};

use super::licences::{KindTotal, kind_totals};
use super::{ApiResult, Money, Refusals, State, cached_json, decode_cursor, encode_cursor, money_by_effect, page_size};
use crate::auth::Principal;
use crate::error::ApiError;

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FindingsQuery {
    /// `disabled_account`, `never_signed_in`, `inactive_user`, `redundant_licence`, `unused_phone_licence`,
    /// `downgrade_candidate`, `unassigned_seats` or `over_assigned`.
    pub kind: Option<String>,
    /// A `sku_id`.
    pub sku: Option<String>,
    /// A user id or principal name.
    pub user: Option<String>,
    pub department: Option<String>,
    /// Page size (default 100).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl FindingsQuery {
    pub fn filter(&self) -> ApiResult<FindingFilter> {
        if let Some(kind) = &self.kind
            && !sua_domain::findings::KINDS.contains(&kind.as_str())
        {
            return Err(ApiError::BadRequest(format!(
                "kind must be one of {}",
                sua_domain::findings::KINDS.join(", ")
            )));
        }
        Ok(FindingFilter {
            kind: self.kind.clone(),
            sku_id: self.sku.clone(),
            user: self.user.clone(),
            department: self.department.clone(),
        })
    }

    pub fn after(&self) -> ApiResult<Option<String>> {
        match &self.cursor {
            Some(c) => Ok(decode_cursor(c, 1)?.pop()),
            None => Ok(None),
        }
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct Finding {
    /// `kind:user:sku`, stable across recomputes.
    pub id: String,
    pub kind: String,
    pub user_id: Option<String>,
    pub user_principal_name: Option<String>,
    pub department: Option<String>,
    pub sku_id: Option<String>,
    pub sku_part_number: Option<String>,
    pub units: i64,
    /// `saving` (money that can stop) or `cost` (money at risk).
    pub effect: String,
    /// Per month; absent when no price is known for the SKU.
    pub monthly_amount: Option<Money>,
    /// Why: the facts the finding rests on.
    #[schema(value_type = Object)]
    pub evidence: serde_json::Value,
    pub computed_at: DateTime<Utc>,
}

impl From<FindingRow> for Finding {
    fn from(row: FindingRow) -> Self {
        Self {
            monthly_amount: match (row.amount_minor, row.currency) {
                (Some(amount_minor), Some(currency)) => Some(Money { amount_minor, currency }),
                _ => None,
            },
            evidence: serde_json::from_str(&row.evidence).unwrap_or(serde_json::Value::Null),
            id: row.id,
            kind: row.kind,
            user_id: row.user_id,
            user_principal_name: row.user_principal_name,
            department: row.department,
            sku_id: row.sku_id,
            sku_part_number: row.sku_part_number,
            units: row.units,
            effect: row.effect,
            computed_at: row.computed_at.and_utc(),
        }
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct Findings {
    pub tenant_id: String,
    /// Findings matching the filters, on every page.
    pub total: i64,
    pub items: Vec<Finding>,
    pub next_cursor: Option<String>,
    /// Every finding of the tenant (filters aside), summed by kind.
    pub totals: Vec<KindTotal>,
    /// Monthly savings over every kind, per currency.
    pub monthly_savings: Vec<Money>,
    /// Monthly money at risk, per currency.
    pub monthly_costs_at_risk: Vec<Money>,
}

/// Findings with money and evidence, with totals by kind.
#[utoipa::path(
    tag = "findings",
    params(("tenant_id" = String, Path, description = "Customer tenant id"), FindingsQuery),
    responses((status = 200, description = "A page of findings and the tenant's totals", body = Findings), Refusals),
    security(("bearer" = []))
)]
#[get("/tenants/{tenant_id}/findings")]
pub async fn list_findings(
    state: State,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<FindingsQuery>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let read = super::TenantRead::open(&state, &principal, &path).await?;
    let filter = query.filter()?;
    let after = query.after()?;
    let limit = page_size(query.limit, 100, state.max_page)?;
    let body = read
        .load(move |conn, tenant| -> Result<Findings, DbError> {
            let rows = views::findings_page(conn, &tenant.id, &filter, after.as_deref(), limit)?;
            let total = views::findings_count(conn, &tenant.id, &filter)?;
            let totals = views::finding_totals(conn, &tenant.id)?;
            let (savings, risk) = money_by_effect(&totals);
            let next_cursor =
                (rows.len() as i64 == limit).then(|| rows.last().map(|r| encode_cursor(&[&r.id]))).flatten();
            Ok(Findings {
                tenant_id: tenant.id.clone(),
                total,
                items: rows.into_iter().map(Finding::from).collect(),
                next_cursor,
                totals: kind_totals(totals),
                monthly_savings: savings.monies(),
                monthly_costs_at_risk: risk.monies(),
            })
        })
        .await?;
    Ok(cached_json(&req, &body))
}

/// The findings list as a report: its filters, every page.
pub struct FindingsExport {
    filter: std::sync::Arc<FindingFilter>,
    after: Option<String>,
    done: bool,
}

impl FindingsExport {
    pub fn from_query(query: &str) -> ApiResult<Self> {
        let findings: FindingsQuery = super::reports::list_query(query)?;
        Ok(Self { filter: std::sync::Arc::new(findings.filter()?), after: None, done: false })
    }
}

#[async_trait::async_trait]
impl super::reports::Export for FindingsExport {
    fn sheet(&self) -> &'static str {
        "findings"
    }

    fn columns(&self) -> &'static [&'static str] {
        &[
            "id",
            "kind",
            "effect",
            "user_id",
            "user_principal_name",
            "department",
            "sku_id",
            "sku_part_number",
            "units",
            "monthly_amount",
            "currency",
            "evidence",
        ]
    }

    async fn next_page(
        &mut self,
        state: &crate::AppState,
        tenant: &str,
    ) -> anyhow::Result<Option<Vec<Vec<crate::export::Cell>>>> {
        use crate::export::Cell;
        if self.done {
            return Ok(None);
        }
        let page = super::reports::PAGE;
        let (lookup, filter, after) = (tenant.to_string(), self.filter.clone(), self.after.take());
        let rows =
            state.pool.run(move |conn| views::findings_page(conn, &lookup, &filter, after.as_deref(), page)).await?;
        self.done = (rows.len() as i64) < page;
        self.after = rows.last().map(|r| r.id.clone());
        Ok(Some(
            rows.iter()
                .map(|r| {
                    vec![
                        r.id.as_str().into(),
                        r.kind.as_str().into(),
                        r.effect.as_str().into(),
                        r.user_id.clone().into(),
                        r.user_principal_name.clone().into(),
                        r.department.clone().into(),
                        r.sku_id.clone().into(),
                        r.sku_part_number.clone().into(),
                        r.units.into(),
                        r.amount_minor
                            .map_or(Cell::Empty, |a| super::reports::money(a, r.currency.as_deref().unwrap_or(""))),
                        r.currency.clone().into(),
                        r.evidence.as_str().into(),
                    ]
                })
                .collect(),
        ))
    }
}
