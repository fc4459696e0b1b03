//! History: trends per day, savings realised, and the cost per department (chargeback), all read from the daily
//! aggregates analytics writes and the call rollups, never from raw rows.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use sua_db::models::{
    DepartmentCostDayRow, LicenceCostDayRow, RealisedSavingRow, SavingsDayRow, TenantDayRow, pstn_usage,
};
use sua_db::{Conn, DbError, views};
use utoipa::{IntoParams, ToSchema};

use super::licences::KindTotal;
use super::{ApiResult, Money, Refusals, State, TenantRead, Totals, cached_json};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::export::Cell;

/// The longest range trends and realised savings read.
pub const MAX_DAYS: i64 = 400;

/// Department name of users without one.
pub const UNASSIGNED: &str = "unassigned";

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    /// First day (UTC), inclusive; defaults to 89 days before `to`.
    pub from: Option<NaiveDate>,
    /// Last day (UTC), inclusive; defaults to today. At most 400 days after `from`.
    pub to: Option<NaiveDate>,
}

/// `[from, to]`: by default the last 90 days; at most [`MAX_DAYS`].
pub fn range(query: &RangeQuery) -> ApiResult<(NaiveDate, NaiveDate)> {
    let to = query.to.unwrap_or_else(sua_core::clock::today);
    let from = query.from.unwrap_or(to - Duration::days(89));
    if from > to {
        return Err(ApiError::BadRequest("from must not be after to".into()));
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(ApiError::BadRequest(format!("the range may span at most {MAX_DAYS} days")));
    }
    Ok((from, to))
}

/// One SKU's days in the range, as columns: `days[i]` had `purchased[i]`, `assigned[i]`, `available[i]` units
/// costing `monthly_cost_minor[i]` per month. One series per SKU and currency of its price (a SKU on days without
/// a known price has a series without `currency`, its costs null).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SkuSeries {
    pub sku_id: String,
    pub sku_part_number: String,
    /// ISO 4217; absent when sua knows no price for these days.
    pub currency: Option<String>,
    /// The days with a licence snapshot of this SKU, in day order.
    pub days: Vec<NaiveDate>,
    pub purchased: Vec<i64>,
    pub assigned: Vec<i64>,
    pub available: Vec<i64>,
    /// Purchased units × unit price, per month, in minor units of `currency`; null without a price.
    pub monthly_cost_minor: Vec<Option<i64>>,
}

/// One day of a tenant.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TrendPoint {
    pub day: NaiveDate,
    /// Users of the day's snapshot; absent on days without licence aggregates.
    pub users: Option<i64>,
    pub licensed_users: Option<i64>,
    /// Users who signed in within the tenant's inactivity threshold; absent when sign-in is not measured.
    pub active_users: Option<i64>,
    /// Per currency, per month.
    pub monthly_licence_cost: Vec<Money>,
    /// Savings the findings showed that day, per currency, per month.
    pub monthly_savings: Vec<Money>,
    /// The findings by kind that day.
    pub findings: Vec<KindTotal>,
    /// Units of every SKU that day (per SKU in [`Trends::skus`]); absent on days without licence aggregates.
    pub purchased_units: Option<i64>,
    pub assigned_units: Option<i64>,
    /// Calls of the day (call records) and their time in seconds.
    pub calls: i64,
    pub call_seconds: i64,
    /// PSTN and Direct Routing calls of the day, their time in seconds and their charges per currency.
    pub pstn_calls: i64,
    pub pstn_seconds: i64,
    pub pstn_charges: Vec<Money>,
}

impl TrendPoint {
    fn empty(day: NaiveDate) -> Self {
        Self {
            day,
            users: None,
            licensed_users: None,
            active_users: None,
            monthly_licence_cost: vec![],
            monthly_savings: vec![],
            findings: vec![],
            purchased_units: None,
            assigned_units: None,
            calls: 0,
            call_seconds: 0,
            pstn_calls: 0,
            pstn_seconds: 0,
            pstn_charges: vec![],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Trends {
    pub tenant_id: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Days with licence aggregates or calls, in day order.
    pub points: Vec<TrendPoint>,
    /// Units and cost per SKU and day, in SKU part number order.
    pub skus: Vec<SkuSeries>,
}

fn money(currency: &str, amount_minor: i64) -> Option<Money> {
    (!currency.is_empty()).then(|| Money { amount_minor, currency: currency.to_string() })
}

/// The tenant's days in `[from, to]`.
pub fn trends(conn: &mut Conn<'_>, tenant_id: &str, from: NaiveDate, to: NaiveDate) -> Result<Trends, DbError> {
    let mut days: BTreeMap<NaiveDate, TrendPoint> = BTreeMap::new();
    let mut totals: BTreeMap<NaiveDate, (Totals, Totals, Totals)> = BTreeMap::new();
    for row in TenantDayRow::range(conn, tenant_id, from, to)? {
        let point = days.entry(row.day).or_insert_with(|| TrendPoint::empty(row.day));
        point.users = Some(row.users);
        point.licensed_users = Some(row.licensed_users);
        point.active_users = row.active_users;
    }
    let mut skus: BTreeMap<(String, String, String), SkuSeries> = BTreeMap::new();
    for row in LicenceCostDayRow::range(conn, tenant_id, from, to)? {
        let point = days.entry(row.day).or_insert_with(|| TrendPoint::empty(row.day));
        *point.purchased_units.get_or_insert(0) += row.purchased;
        *point.assigned_units.get_or_insert(0) += row.assigned;
        if let Some(cost) = row.cost_minor {
            totals.entry(row.day).or_default().0.add(&row.currency, cost);
        }
        // A cost without a currency is no price: such days go with the SKU's unpriced series.
        let cost = row.cost_minor.filter(|_| !row.currency.is_empty());
        let currency = if cost.is_some() { row.currency } else { String::new() };
        let series =
            skus.entry((row.sku_part_number.clone(), row.sku_id.clone(), currency.clone())).or_insert_with(|| {
                SkuSeries {
                    sku_id: row.sku_id,
                    sku_part_number: row.sku_part_number,
                    currency: (!currency.is_empty()).then_some(currency),
                    days: vec![],
                    purchased: vec![],
                    assigned: vec![],
                    available: vec![],
                    monthly_cost_minor: vec![],
                }
            });
        series.days.push(row.day);
        series.purchased.push(row.purchased);
        series.assigned.push(row.assigned);
        series.available.push(row.available);
        series.monthly_cost_minor.push(cost);
    }
    let mut findings: BTreeMap<NaiveDate, Vec<views::FindingTotal>> = BTreeMap::new();
    for row in SavingsDayRow::range(conn, tenant_id, from, to)? {
        days.entry(row.day).or_insert_with(|| TrendPoint::empty(row.day));
        if row.effect == "saving" {
            totals.entry(row.day).or_default().1.add(&row.currency, row.amount_minor);
        }
        findings.entry(row.day).or_default().push(views::FindingTotal {
            kind: row.kind,
            effect: row.effect,
            currency: row.currency,
            findings: row.findings,
            units: row.units,
            amount_minor: row.amount_minor,
        });
    }
    for row in views::usage_by_day(conn, tenant_id, from, to)? {
        let Ok(day) = row.key.parse::<NaiveDate>() else { continue };
        let point = days.entry(day).or_insert_with(|| TrendPoint::empty(day));
        point.calls = row.calls;
        point.call_seconds = row.seconds;
    }
    for row in pstn_usage::by_day(conn, tenant_id, from, to)? {
        let Ok(day) = row.key.parse::<NaiveDate>() else { continue };
        let point = days.entry(day).or_insert_with(|| TrendPoint::empty(day));
        point.pstn_calls += row.calls;
        point.pstn_seconds += row.seconds;
        totals.entry(day).or_default().2.add(&row.currency, row.charge_minor);
    }
    for (day, point) in &mut days {
        if let Some((cost, savings, charges)) = totals.remove(day) {
            point.monthly_licence_cost = cost.monies();
            point.monthly_savings = savings.monies();
            point.pstn_charges = charges.monies();
        }
        if let Some(rows) = findings.remove(day) {
            point.findings = super::licences::kind_totals(rows);
        }
    }
    Ok(Trends {
        tenant_id: tenant_id.to_string(),
        from,
        to,
        points: days.into_values().collect(),
        skus: skus.into_values().collect(),
    })
}

/// Per day: users, licence cost and units per SKU, savings available by kind, calls, PSTN minutes and charges.
#[utoipa::path(
    tag = "history",
    params(("tenant_id" = String, Path, description = "Customer tenant id"), RangeQuery),
    responses((status = 200, description = "The tenant's days in the range", body = Trends), Refusals),
    security(("bearer" = []))
)]
#[get("/tenants/{tenant_id}/trends")]
pub async fn get_trends(
    state: State,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<RangeQuery>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let read = TenantRead::open(&state, &principal, &path).await?;
    let (from, to) = range(&query)?;
    let body = read.load(move |conn, tenant| trends(conn, &tenant.id, from, to)).await?;
    Ok(cached_json(&req, &body))
}

/// Money that stopped: a licence removed, a seat count lowered, an idle seat given to a new user.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RealisedSaving {
    /// The day of the licence sync that showed the change.
    pub day: NaiveDate,
    pub sku_id: String,
    pub sku_part_number: String,
    /// The finding kind the saving settles.
    pub kind: String,
    pub units: i64,
    /// Per month, at the SKU's unit price when the change was seen.
    pub monthly_amount: Money,
    /// What changed.
    pub description: String,
}

/// Savings realised in one month, of one kind.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RealisedTotal {
    /// `YYYY-MM`.
    pub month: String,
    pub kind: String,
    pub units: i64,
    /// Per month, per currency.
    pub monthly_amount: Vec<Money>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RealisedSavings {
    pub tenant_id: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub items: Vec<RealisedSaving>,
    /// Per month and kind, in month and kind order.
    pub totals: Vec<RealisedTotal>,
    /// Over the range, per currency.
    pub total: Vec<Money>,
}

pub fn realised(
    conn: &mut Conn<'_>,
    tenant_id: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<RealisedSavings, DbError> {
    let rows = RealisedSavingRow::range(conn, tenant_id, from, to)?;
    let mut totals: BTreeMap<(String, String), (i64, Totals)> = BTreeMap::new();
    let mut total = Totals::default();
    for row in &rows {
        let entry = totals.entry((row.day.format("%Y-%m").to_string(), row.kind.clone())).or_default();
        entry.0 += row.units;
        entry.1.add(&row.currency, row.amount_minor);
        total.add(&row.currency, row.amount_minor);
    }
    Ok(RealisedSavings {
        tenant_id: tenant_id.to_string(),
        from,
        to,
        items: rows
            .into_iter()
            .map(|r| RealisedSaving {
                day: r.day,
                sku_id: r.sku_id,
                sku_part_number: r.sku_part_number,
                kind: r.kind,
                units: r.units,
                monthly_amount: Money { amount_minor: r.amount_minor, currency: r.currency },
                description: r.description,
            })
            .collect(),
        totals: totals
            .into_iter()
            .map(|((month, kind), (units, amount))| RealisedTotal {
                month,
                kind,
                units,
                monthly_amount: amount.monies(),
            })
            .collect(),
        total: total.monies(),
    })
}

/// Savings realised in the range, with totals per month and kind.
#[utoipa::path(
    tag = "history",
    params(("tenant_id" = String, Path, description = "Customer tenant id"), RangeQuery),
    responses((status = 200, description = "Savings realised in the range", body = RealisedSavings), Refusals),
    security(("bearer" = []))
)]
#[get("/tenants/{tenant_id}/savings/realised")]
pub async fn get_realised(
    state: State,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<RangeQuery>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let read = TenantRead::open(&state, &principal, &path).await?;
    let (from, to) = range(&query)?;
    let body = read.load(move |conn, tenant| realised(conn, &tenant.id, from, to)).await?;
    Ok(cached_json(&req, &body))
}

/// Realised savings per currency: `(this month, all time)`.
pub fn realised_totals(conn: &mut Conn<'_>, tenant_id: Option<&str>) -> Result<(Vec<Money>, Vec<Money>), DbError> {
    let today = sua_core::clock::today();
    let month_start = today.with_day(1).unwrap_or(today);
    let mut month = Totals::default();
    let mut all = Totals::default();
    for (currency, this_month, total) in RealisedSavingRow::totals(conn, tenant_id, month_start)? {
        month.add(&currency, this_month);
        all.add(&currency, total);
    }
    Ok((month.monies(), all.monies()))
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MonthQuery {
    /// `YYYY-MM`; defaults to this month.
    pub month: Option<String>,
}

/// The first and last day of `YYYY-MM` (this month by default).
pub fn month(query: &MonthQuery) -> ApiResult<(String, NaiveDate, NaiveDate)> {
    let first = match &query.month {
        None => sua_core::clock::today().with_day(1),
        Some(m) => {
            NaiveDate::parse_from_str(&format!("{}-01", m.trim()), "%Y-%m-%d").ok().filter(|_| m.trim().len() == 7)
        }
    }
    .ok_or_else(|| ApiError::BadRequest("month must be YYYY-MM".into()))?;
    let next = first
        .checked_add_months(chrono::Months::new(1))
        .ok_or_else(|| ApiError::BadRequest("month out of range".into()))?;
    Ok((first.format("%Y-%m").to_string(), first, next - Duration::days(1)))
}

/// A department's licences of one SKU.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChargebackLicence {
    pub sku_id: String,
    pub sku_part_number: String,
    /// Whether the SKU gives a Teams Calling Plan (its cost is counted in `calling_plan_cost`).
    pub calling_plan: bool,
    pub units: i64,
    /// Units × unit price, per month; absent when sua knows no price.
    pub monthly_cost: Option<Money>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DepartmentCharge {
    /// The department, `unassigned` for users without one.
    pub department: String,
    pub licences: Vec<ChargebackLicence>,
    /// Licences but calling plans, per currency.
    pub licence_cost: Vec<Money>,
    /// Calling plan licences, per currency.
    pub calling_plan_cost: Vec<Money>,
    /// PSTN charges of the month's calls by the department's users, per currency.
    pub pstn_charges: Vec<Money>,
    /// All three, per currency.
    pub total: Vec<Money>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Chargeback {
    pub tenant_id: String,
    /// `YYYY-MM`.
    pub month: String,
    /// The day whose licences the month is charged for (the month's last with aggregates); absent without one.
    pub licences_day: Option<NaiveDate>,
    pub departments: Vec<DepartmentCharge>,
    pub licence_cost: Vec<Money>,
    pub calling_plan_cost: Vec<Money>,
    pub pstn_charges: Vec<Money>,
    pub total: Vec<Money>,
}

#[derive(Default)]
struct Charges {
    licences: Vec<ChargebackLicence>,
    licence: Totals,
    calling: Totals,
    pstn: Totals,
}

pub fn chargeback(
    conn: &mut Conn<'_>,
    tenant_id: &str,
    month: String,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<Chargeback, DbError> {
    let day = TenantDayRow::last_day(conn, tenant_id, first, last)?;
    let mut departments: BTreeMap<String, Charges> = BTreeMap::new();
    let name = |d: &str| if d.is_empty() { UNASSIGNED.to_string() } else { d.to_string() };
    if let Some(day) = day {
        for row in DepartmentCostDayRow::of_day(conn, tenant_id, day)? {
            let charges = departments.entry(name(&row.department)).or_default();
            if let Some(cost) = row.cost_minor {
                let side = if row.calling_plan { &mut charges.calling } else { &mut charges.licence };
                side.add(&row.currency, cost);
            }
            charges.licences.push(ChargebackLicence {
                monthly_cost: row.cost_minor.and_then(|c| money(&row.currency, c)),
                sku_id: row.sku_id,
                sku_part_number: row.sku_part_number,
                calling_plan: row.calling_plan,
                units: row.units,
            });
        }
    }
    // Calls are charged to the departments of the month's latest snapshot (analytics attributes each day when it
    // counts it, and again for the current month when a new snapshot becomes current).
    for row in pstn_usage::by_charged_department(conn, tenant_id, first, last)? {
        departments.entry(name(&row.key)).or_default().pstn.add(&row.currency, row.charge_minor);
    }
    let (mut licence, mut calling, mut pstn, mut total) =
        (Totals::default(), Totals::default(), Totals::default(), Totals::default());
    let departments = departments
        .into_iter()
        .map(|(department, c)| {
            let mut sum = Totals::default();
            for t in [&c.licence, &c.calling, &c.pstn] {
                sum.add_all(&t.monies());
            }
            licence.add_all(&c.licence.monies());
            calling.add_all(&c.calling.monies());
            pstn.add_all(&c.pstn.monies());
            total.add_all(&sum.monies());
            DepartmentCharge {
                department,
                licences: c.licences,
                licence_cost: c.licence.monies(),
                calling_plan_cost: c.calling.monies(),
                pstn_charges: c.pstn.monies(),
                total: sum.monies(),
            }
        })
        .collect();
    Ok(Chargeback {
        tenant_id: tenant_id.to_string(),
        month,
        licences_day: day,
        departments,
        licence_cost: licence.monies(),
        calling_plan_cost: calling.monies(),
        pstn_charges: pstn.monies(),
        total: total.monies(),
    })
}

/// Cost per department for a month: licences per SKU (calling plans apart) and PSTN charges.
#[utoipa::path(
    tag = "history",
    params(("tenant_id" = String, Path, description = "Customer tenant id"), MonthQuery),
    responses((status = 200, description = "The month's cost per department", body = Chargeback), Refusals),
    security(("bearer" = []))
)]
#[get("/tenants/{tenant_id}/chargeback")]
pub async fn get_chargeback(
    state: State,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<MonthQuery>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let read = TenantRead::open(&state, &principal, &path).await?;
    let (name, first, last) = month(&query)?;
    let body = read.load(move |conn, tenant| chargeback(conn, &tenant.id, name, first, last)).await?;
    Ok(cached_json(&req, &body))
}

/// Trends as a report: a row per day and currency.
pub struct TrendsExport {
    range: Option<(NaiveDate, NaiveDate)>,
}

impl TrendsExport {
    pub fn from_query(query: &str) -> ApiResult<Self> {
        let q: RangeQuery = super::reports::list_query(query)?;
        Ok(Self { range: Some(range(&q)?) })
    }
}

fn amount_in(monies: &[Money], currency: &str) -> Cell {
    monies
        .iter()
        .find(|m| m.currency == currency)
        .map_or(Cell::Empty, |m| super::reports::money(m.amount_minor, currency))
}

fn currencies<'m>(lists: &[&'m [Money]]) -> Vec<&'m str> {
    let mut out: Vec<&str> = lists.iter().flat_map(|l| l.iter().map(|m| m.currency.as_str())).collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[async_trait::async_trait]
impl super::reports::Export for TrendsExport {
    fn sheet(&self) -> &'static str {
        "trends"
    }

    fn columns(&self) -> &'static [&'static str] {
        &[
            "day",
            "users",
            "licensed_users",
            "active_users",
            "purchased_units",
            "assigned_units",
            "calls",
            "call_seconds",
            "pstn_calls",
            "pstn_seconds",
            "currency",
            "monthly_licence_cost",
            "monthly_savings",
            "pstn_charges",
        ]
    }

    async fn next_page(&mut self, state: &crate::AppState, tenant: &str) -> anyhow::Result<Option<Vec<Vec<Cell>>>> {
        let Some((from, to)) = self.range.take() else { return Ok(None) };
        let tenant = tenant.to_string();
        let trends = state.pool.run(move |conn| trends(conn, &tenant, from, to)).await?;
        let mut rows = Vec::new();
        for p in &trends.points {
            let mut list = currencies(&[&p.monthly_licence_cost, &p.monthly_savings, &p.pstn_charges]);
            if list.is_empty() {
                list.push("");
            }
            for currency in list {
                rows.push(vec![
                    Cell::Date(p.day),
                    p.users.into(),
                    p.licensed_users.into(),
                    p.active_users.into(),
                    p.purchased_units.into(),
                    p.assigned_units.into(),
                    p.calls.into(),
                    p.call_seconds.into(),
                    p.pstn_calls.into(),
                    p.pstn_seconds.into(),
                    currency.into(),
                    amount_in(&p.monthly_licence_cost, currency),
                    amount_in(&p.monthly_savings, currency),
                    amount_in(&p.pstn_charges, currency),
                ]);
            }
        }
        Ok(Some(rows))
    }
}

/// Chargeback as a report: a row per department and SKU, then a row per department and currency of PSTN charges.
pub struct ChargebackExport {
    month: Option<(String, NaiveDate, NaiveDate)>,
}

impl ChargebackExport {
    pub fn from_query(query: &str) -> ApiResult<Self> {
        let q: MonthQuery = super::reports::list_query(query)?;
        Ok(Self { month: Some(month(&q)?) })
    }
}

#[async_trait::async_trait]
impl super::reports::Export for ChargebackExport {
    fn sheet(&self) -> &'static str {
        "chargeback"
    }

    fn columns(&self) -> &'static [&'static str] {
        &["month", "department", "item", "sku_part_number", "units", "monthly_amount", "currency"]
    }

    async fn next_page(&mut self, state: &crate::AppState, tenant: &str) -> anyhow::Result<Option<Vec<Vec<Cell>>>> {
        let Some((name, first, last)) = self.month.take() else { return Ok(None) };
        let tenant = tenant.to_string();
        let charges = state.pool.run(move |conn| chargeback(conn, &tenant, name, first, last)).await?;
        let mut rows = Vec::new();
        for d in &charges.departments {
            for l in &d.licences {
                let [amount, currency] = super::reports::money_cells(l.monthly_cost.as_ref());
                rows.push(vec![
                    charges.month.as_str().into(),
                    d.department.as_str().into(),
                    (if l.calling_plan { "calling_plan" } else { "licence" }).into(),
                    l.sku_part_number.as_str().into(),
                    l.units.into(),
                    amount,
                    currency,
                ]);
            }
            for m in &d.pstn_charges {
                rows.push(vec![
                    charges.month.as_str().into(),
                    d.department.as_str().into(),
                    "pstn_charges".into(),
                    Cell::Empty,
                    Cell::Empty,
                    super::reports::money(m.amount_minor, &m.currency),
                    m.currency.as_str().into(),
                ]);
            }
        }
        Ok(Some(rows))
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use sua_db::models::LicenceCostDayRow;
    use sua_db::testing::TestDatabase;

    fn row(day: NaiveDate, sku: &str, purchased: i64, price: Option<(i64, &str)>) -> LicenceCostDayRow {
        LicenceCostDayRow {
            tenant_id: "t".into(),
            day,
            sku_id: format!("id-{sku}"),
            sku_part_number: sku.into(),
            purchased,
            assigned: purchased - 1,
            available: 1,
            currency: price.map_or(String::new(), |(_, c)| c.to_string()),
            unit_price_minor: price.map(|(p, _)| p),
            cost_minor: price.map(|(p, _)| p * purchased),
        }
    }

    /// A SKU is one column series per currency of its price; the points sum every SKU's units of the day.
    #[test]
    fn sku_series_are_columns_per_sku_and_currency_and_points_sum_the_units() {
        for db in [TestDatabase::sqlite().unwrap(), TestDatabase::postgres().unwrap()] {
            let pool = db.pool().unwrap();
            let mut pooled = pool.get().unwrap();
            let conn = &mut pooled.conn();
            let day = |d| NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
            // E3 priced throughout; Copilot has no price on day 1, a USD price from day 2; E5 appears on day 3.
            for (d, rows) in [
                (1, vec![row(day(1), "SPE_E3", 10, Some((3600, "USD"))), row(day(1), "COPILOT", 5, None)]),
                (
                    2,
                    vec![row(day(2), "SPE_E3", 9, Some((3600, "USD"))), row(day(2), "COPILOT", 5, Some((3000, "USD")))],
                ),
                (
                    3,
                    vec![
                        row(day(3), "SPE_E3", 9, Some((3600, "USD"))),
                        row(day(3), "COPILOT", 4, Some((3000, "USD"))),
                        row(day(3), "SPE_E5", 2, Some((5700, "USD"))),
                    ],
                ),
            ] {
                LicenceCostDayRow::replace(conn, "t", day(d), &rows).unwrap();
            }
            let trends = super::trends(conn, "t", day(1), day(3)).unwrap();
            let series: Vec<_> = trends
                .skus
                .iter()
                .map(|s| (s.sku_part_number.as_str(), s.currency.as_deref(), s.days.clone(), s.purchased.clone()))
                .collect();
            assert_eq!(
                series,
                vec![
                    ("COPILOT", None, vec![day(1)], vec![5]),
                    ("COPILOT", Some("USD"), vec![day(2), day(3)], vec![5, 4]),
                    ("SPE_E3", Some("USD"), vec![day(1), day(2), day(3)], vec![10, 9, 9]),
                    ("SPE_E5", Some("USD"), vec![day(3)], vec![2]),
                ]
            );
            assert_eq!(trends.skus[0].monthly_cost_minor, vec![None]);
            assert_eq!(trends.skus[1].monthly_cost_minor, vec![Some(15_000), Some(12_000)]);
            assert_eq!(trends.skus[2].assigned, vec![9, 8, 8]);
            let units: Vec<_> = trends.points.iter().map(|p| (p.day, p.purchased_units, p.assigned_units)).collect();
            assert_eq!(
                units,
                vec![(day(1), Some(15), Some(13)), (day(2), Some(14), Some(12)), (day(3), Some(15), Some(12))]
            );
            let cost: Vec<_> = trends.points.iter().map(|p| p.monthly_licence_cost.clone()).collect();
            let usd = |amount_minor| vec![super::Money { amount_minor, currency: "USD".into() }];
            assert_eq!(cost, vec![usd(36_000), usd(47_400), usd(55_800)]);
        }
    }
}
