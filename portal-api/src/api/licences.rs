//! Licences per SKU with money, and the tenant dashboard.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Serialize;
use sua_db::models::{PriceOverrideRow, SkuRow, SnapshotRow};
use sua_db::views::{self, FindingTotal};
use sua_db::{Conn, DbError};
use sua_domain::prices::PriceBook;
use utoipa::ToSchema;

use super::{ApiResult, Money, Refusals, SnapshotInfo, State, TenantRead, Totals, cached_json};
use crate::auth::Principal;
use crate::export::Cell;

/// One SKU the tenant buys.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct LicenceSku {
    pub sku_id: String,
    pub sku_part_number: String,
    /// `Enabled`, `Warning`, `Suspended`, `Deleted` or `LockedOut`.
    pub capability_status: String,
    /// Paid units in force (`prepaidUnits.enabled`).
    pub purchased: i64,
    /// Units past their term, in the grace period (`prepaidUnits.warning`).
    pub warning: i64,
    pub suspended: i64,
    /// Units assigned to users (`consumedUnits`).
    pub assigned: i64,
    /// Purchased units nobody holds.
    pub available: i64,
    /// Units assigned beyond what is purchased or in grace (a true-up at renewal).
    pub over_assigned: i64,
    /// Monthly list price per unit, or the tenant's override; absent when sua knows no price.
    pub unit_price: Option<Money>,
    /// `default` or `override`.
    pub price_source: Option<String>,
    /// Purchased units × unit price, per month.
    pub monthly_cost: Option<Money>,
    /// Savings the findings found on this SKU, per month, per currency.
    pub monthly_waste: Vec<Money>,
    /// Units those findings free.
    pub wasted_units: i64,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct Licences {
    pub tenant_id: String,
    /// Absent until the tenant's first licence sync is complete.
    pub snapshot: Option<SnapshotInfo>,
    pub skus: Vec<LicenceSku>,
    /// Per currency, over every SKU with a known price.
    pub monthly_cost: Vec<Money>,
    pub monthly_waste: Vec<Money>,
}

/// The tenant's licences from its current snapshot, priced with its price book.
pub fn load(conn: &mut Conn<'_>, tenant_id: &str) -> Result<Licences, DbError> {
    let snapshot = SnapshotRow::current(conn, tenant_id)?;
    let mut skus: Vec<SkuRow> = match &snapshot {
        Some(s) => SnapshotRow::skus(conn, &s.run_id)?,
        None => Vec::new(),
    };
    skus.sort_by(|a, b| a.sku_part_number.cmp(&b.sku_part_number));
    let book = PriceBook::for_tenant(&PriceOverrideRow::for_tenant(conn, tenant_id)?);
    let mut waste: BTreeMap<String, (i64, Totals)> = BTreeMap::new();
    for row in views::waste_by_sku(conn, tenant_id)? {
        let entry = waste.entry(row.sku_id).or_default();
        entry.0 += row.units;
        entry.1.add(&row.currency, row.amount_minor);
    }
    let mut cost = Totals::default();
    let mut wasted = Totals::default();
    let skus = skus
        .into_iter()
        .map(|sku| {
            let price = book.get(&sku.sku_part_number).cloned();
            let monthly_cost = price
                .as_ref()
                .map(|p| Money { amount_minor: p.amount_minor * sku.enabled, currency: p.currency.clone() });
            if let Some(m) = &monthly_cost {
                cost.add(&m.currency, m.amount_minor);
            }
            let (wasted_units, sku_waste) = waste.remove(&sku.sku_id).unwrap_or_default();
            wasted.add_all(&sku_waste.monies());
            LicenceSku {
                available: (sku.enabled - sku.consumed).max(0),
                over_assigned: (sku.consumed - sku.enabled - sku.warning).max(0),
                purchased: sku.enabled,
                warning: sku.warning,
                suspended: sku.suspended,
                assigned: sku.consumed,
                unit_price: price
                    .as_ref()
                    .map(|p| Money { amount_minor: p.amount_minor, currency: p.currency.clone() }),
                price_source: price.as_ref().map(|p| p.origin.to_string()),
                monthly_cost,
                monthly_waste: sku_waste.monies(),
                wasted_units,
                sku_id: sku.sku_id,
                sku_part_number: sku.sku_part_number,
                capability_status: sku.capability_status,
            }
        })
        .collect();
    Ok(Licences {
        tenant_id: tenant_id.to_string(),
        snapshot: snapshot.as_ref().map(SnapshotInfo::from),
        skus,
        monthly_cost: cost.monies(),
        monthly_waste: wasted.monies(),
    })
}

/// Licences per SKU: purchased, assigned, available, unit price, monthly cost and waste.
#[utoipa::path(
    tag = "licences",
    params(("tenant_id" = String, Path, description = "Customer tenant id")),
    responses((status = 200, description = "The tenant's SKUs from its current snapshot", body = Licences), Refusals),
    security(("bearer" = []))
)]
#[get("/tenants/{tenant_id}/licences")]
pub async fn get_licences(
    state: State,
    principal: Principal,
    path: web::Path<String>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let read = TenantRead::open(&state, &principal, &path).await?;
    let body = read.aggregate("licences", |conn, tenant| load(conn, &tenant.id)).await?;
    Ok(cached_json(&req, &*body))
}

/// Findings summed for one kind.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct KindTotal {
    pub kind: String,
    /// `saving` or `cost`.
    pub effect: String,
    pub findings: i64,
    pub units: i64,
    /// Per month, per currency (findings on SKUs without a known price add none).
    pub amount: Vec<Money>,
}

pub fn kind_totals(rows: Vec<FindingTotal>) -> Vec<KindTotal> {
    // `finding_totals` orders its rows by kind, effect and currency: one kind's rows are adjacent.
    let mut out: Vec<KindTotal> = Vec::new();
    for row in rows {
        if out.last().is_none_or(|k| k.kind != row.kind || k.effect != row.effect) {
            out.push(KindTotal { kind: row.kind, effect: row.effect, findings: 0, units: 0, amount: vec![] });
        }
        let Some(total) = out.last_mut() else { continue };
        total.findings += row.findings;
        total.units += row.units;
        if !row.currency.is_empty() {
            total.amount.push(Money { amount_minor: row.amount_minor, currency: row.currency });
        }
    }
    out
}

/// The tenant's dashboard: money, findings by kind, users and the last 30 days of calls.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct Dashboard {
    pub tenant_id: String,
    pub display_name: String,
    pub snapshot: Option<SnapshotInfo>,
    pub monthly_licence_cost: Vec<Money>,
    /// Savings the findings found, per month.
    pub monthly_savings: Vec<Money>,
    /// Money at risk (over-assignment true-ups), per month.
    pub monthly_costs_at_risk: Vec<Money>,
    pub findings: Vec<KindTotal>,
    pub users: i64,
    pub licensed_users: i64,
    pub purchased_units: i64,
    pub assigned_units: i64,
    pub calls_last_30_days: super::calls::UsageCounts,
    pub feed_state: String,
    /// Savings realised (licences removed, seat counts lowered) this month, per month, per currency.
    pub realised_savings_this_month: Vec<Money>,
    /// Every saving realised so far, per month, per currency.
    pub realised_savings_total: Vec<Money>,
}

pub fn dashboard_of(conn: &mut Conn<'_>, tenant: &sua_db::models::TenantRow) -> Result<Dashboard, DbError> {
    let licences = load(conn, &tenant.id)?;
    let totals = views::finding_totals(conn, &tenant.id)?;
    let (savings, risk) = super::money_by_effect(&totals);
    let (users, licensed_users) = match &licences.snapshot {
        Some(s) => views::user_totals(conn, &tenant.id, &s.run_id)?,
        None => (0, 0),
    };
    let to = sua_core::clock::today();
    let days = views::usage_by_day(conn, &tenant.id, to - chrono::Duration::days(29), to)?;
    let mut calls = super::calls::UsageCounts::default();
    for d in &days {
        calls.add(d);
    }
    let (realised_month, realised_total) = super::history::realised_totals(conn, Some(&tenant.id))?;
    Ok(Dashboard {
        realised_savings_this_month: realised_month,
        realised_savings_total: realised_total,
        tenant_id: tenant.id.clone(),
        display_name: tenant.display_name.clone(),
        purchased_units: licences.skus.iter().map(|s| s.purchased).sum(),
        assigned_units: licences.skus.iter().map(|s| s.assigned).sum(),
        snapshot: licences.snapshot,
        monthly_licence_cost: licences.monthly_cost,
        monthly_savings: savings.monies(),
        monthly_costs_at_risk: risk.monies(),
        findings: kind_totals(totals),
        users,
        licensed_users,
        calls_last_30_days: calls,
        feed_state: tenant.feed_state.to_string(),
    })
}

/// The tenant's dashboard in one call.
#[utoipa::path(
    tag = "licences",
    params(("tenant_id" = String, Path, description = "Customer tenant id")),
    responses((status = 200, description = "Money, findings, users and calls at a glance", body = Dashboard), Refusals),
    security(("bearer" = []))
)]
#[get("/tenants/{tenant_id}/dashboard")]
pub async fn get_dashboard(
    state: State,
    principal: Principal,
    path: web::Path<String>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let read = TenantRead::open(&state, &principal, &path).await?;
    let cached = read.aggregate("dashboard", dashboard_of).await?;
    // The tenant's name and feed are the collector's, read fresh with every request.
    let tenant = read.tenant;
    let body =
        Dashboard { display_name: tenant.display_name, feed_state: tenant.feed_state.to_string(), ..(*cached).clone() };
    Ok(cached_json(&req, &body))
}

/// The licences list as a report (one page: every SKU).
pub struct LicencesExport {
    done: bool,
}

impl LicencesExport {
    pub fn from_query(query: &str) -> ApiResult<Self> {
        let _: super::NoQuery = super::reports::list_query(query)?;
        Ok(Self { done: false })
    }
}

#[async_trait::async_trait]
impl super::reports::Export for LicencesExport {
    fn sheet(&self) -> &'static str {
        "licences"
    }

    fn columns(&self) -> &'static [&'static str] {
        &[
            "sku_id",
            "sku_part_number",
            "capability_status",
            "purchased",
            "warning",
            "assigned",
            "available",
            "over_assigned",
            "unit_price",
            "currency",
            "price_origin",
            "monthly_cost",
            "monthly_waste",
            "wasted_units",
        ]
    }

    async fn next_page(&mut self, state: &crate::AppState, tenant: &str) -> anyhow::Result<Option<Vec<Vec<Cell>>>> {
        use super::reports::{money, money_cells};
        if std::mem::replace(&mut self.done, true) {
            return Ok(None);
        }
        let tenant = tenant.to_string();
        let licences = state.pool.run(move |conn| load(conn, &tenant)).await?;
        let rows = licences
            .skus
            .iter()
            .map(|s| {
                let [price, currency] = money_cells(s.unit_price.as_ref());
                let waste =
                    s.monthly_waste.iter().find(|w| Some(&w.currency) == s.unit_price.as_ref().map(|p| &p.currency));
                vec![
                    s.sku_id.as_str().into(),
                    s.sku_part_number.as_str().into(),
                    s.capability_status.as_str().into(),
                    s.purchased.into(),
                    s.warning.into(),
                    s.assigned.into(),
                    s.available.into(),
                    s.over_assigned.into(),
                    price,
                    currency,
                    s.price_source.clone().into(),
                    s.monthly_cost.as_ref().map_or(Cell::Empty, |m| money(m.amount_minor, &m.currency)),
                    waste.map_or(Cell::Empty, |w| money(w.amount_minor, &w.currency)),
                    s.wasted_units.into(),
                ]
            })
            .collect();
        Ok(Some(rows))
    }
}
