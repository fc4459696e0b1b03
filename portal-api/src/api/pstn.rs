//! PSTN and Direct Routing calls: calls, minutes and charges by day, user or department over a date range, split
//! by source (Calling Plan, Direct Routing), from the PSTN and Direct Routing logs Graph keeps.
//!
//! These are the calls Microsoft's logs list, billed per call; `calls/usage` counts call records, where a call
//! is PSTN when a phone number took part.

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::NaiveDate;
use serde::Serialize;
use sua_db::models::TenantRow;
use sua_db::models::pstn_usage::{self, PstnGroupRow};
use sua_db::{Conn, DbError};
use utoipa::ToSchema;

use super::calls::{GroupBy, UsageQuery, current_run};
use super::{
    ApiResult, Money, Refusals, State, TenantRead, Totals, cached_json, date_range, decode_cursor, encode_cursor,
    page_size,
};
use crate::auth::Principal;

/// Calls of one source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize, ToSchema)]
pub struct PstnUse {
    pub calls: i64,
    /// Call time in seconds.
    pub seconds: i64,
    /// Call time in minutes (`seconds / 60`).
    pub minutes: f64,
    /// What Microsoft charged, per currency (never summed across currencies). Direct Routing calls have none:
    /// the customer's own carrier bills them.
    pub charges: Vec<Money>,
}

#[derive(Debug, Clone, Default)]
struct Accumulator {
    calls: i64,
    seconds: i64,
    charges: Totals,
}

impl Accumulator {
    fn add(&mut self, row: &PstnGroupRow) {
        self.calls += row.calls;
        self.seconds += row.seconds;
        self.charges.add(&row.currency, row.charge_minor);
    }

    fn done(&self) -> PstnUse {
        PstnUse {
            calls: self.calls,
            seconds: self.seconds,
            minutes: self.seconds as f64 / 60.0,
            charges: self.charges.monies(),
        }
    }
}

/// Calling Plan and Direct Routing side by side.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize, ToSchema)]
pub struct PstnSources {
    /// Calls through Microsoft's Calling Plans (`getPstnCalls`).
    pub pstn: PstnUse,
    /// Calls through the customer's own session border controllers (`getDirectRoutingCalls`).
    pub direct_routing: PstnUse,
}

#[derive(Debug, Clone, Default)]
struct SourcesAccumulator {
    pstn: Accumulator,
    direct_routing: Accumulator,
}

impl SourcesAccumulator {
    fn add(&mut self, row: &PstnGroupRow) {
        match row.source.as_str() {
            "direct_routing" => self.direct_routing.add(row),
            _ => self.pstn.add(row),
        }
    }

    fn done(&self) -> PstnSources {
        PstnSources { pstn: self.pstn.done(), direct_routing: self.direct_routing.done() }
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct PstnItem {
    /// The day (`YYYY-MM-DD`), user id (`""` for calls the logs name no user for), or department (`""` for none).
    pub key: String,
    pub user_principal_name: Option<String>,
    pub display_name: Option<String>,
    pub department: Option<String>,
    #[serde(flatten)]
    pub sources: PstnSources,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct PstnUsage {
    pub tenant_id: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub group_by: GroupBy,
    pub items: Vec<PstnItem>,
    /// Over the whole range.
    pub totals: PstnSources,
    /// More users follow (`group_by=user`).
    pub next_cursor: Option<String>,
}

/// Rows (ordered by key) folded into one item per key.
fn items(rows: &[PstnGroupRow]) -> Vec<PstnItem> {
    let mut out: Vec<(PstnItem, SourcesAccumulator)> = Vec::new();
    for row in rows {
        if out.last().is_none_or(|(item, _)| item.key != row.key) {
            let item = PstnItem {
                key: row.key.clone(),
                user_principal_name: row.user_principal_name.clone(),
                display_name: row.display_name.clone(),
                department: row.department.clone(),
                sources: PstnSources::default(),
            };
            out.push((item, SourcesAccumulator::default()));
        }
        if let Some((_, sums)) = out.last_mut() {
            sums.add(row);
        }
    }
    out.into_iter().map(|(item, sums)| PstnItem { sources: sums.done(), ..item }).collect()
}

/// One page of a grouping's rows (every group for days and departments; `limit` users after `after_user`).
pub fn rows(
    conn: &mut Conn<'_>,
    tenant_id: &str,
    (from, to): (NaiveDate, NaiveDate),
    group_by: GroupBy,
    after_user: Option<&str>,
    limit: i64,
) -> Result<Vec<PstnGroupRow>, DbError> {
    match group_by {
        GroupBy::Day => pstn_usage::by_day(conn, tenant_id, from, to),
        GroupBy::User => {
            let run = current_run(conn, tenant_id)?;
            pstn_usage::by_user(conn, tenant_id, &run, from, to, after_user, limit)
        }
        GroupBy::Department => {
            let run = current_run(conn, tenant_id)?;
            pstn_usage::by_department(conn, tenant_id, &run, from, to)
        }
    }
}

pub fn load(
    conn: &mut Conn<'_>,
    tenant_id: &str,
    range: (NaiveDate, NaiveDate),
    group_by: GroupBy,
    after_user: Option<&str>,
    limit: i64,
) -> Result<PstnUsage, DbError> {
    let days = pstn_usage::by_day(conn, tenant_id, range.0, range.1)?;
    let mut totals = SourcesAccumulator::default();
    days.iter().for_each(|row| totals.add(row));
    let grouped = match group_by {
        GroupBy::Day => days,
        _ => rows(conn, tenant_id, range, group_by, after_user, limit)?,
    };
    let items = items(&grouped);
    let next_cursor = match group_by {
        GroupBy::User if items.len() as i64 == limit => items.last().map(|i| encode_cursor(&[&i.key])),
        _ => None,
    };
    Ok(PstnUsage {
        tenant_id: tenant_id.to_string(),
        from: range.0,
        to: range.1,
        group_by,
        items,
        totals: totals.done(),
        next_cursor,
    })
}

/// PSTN and Direct Routing calls, minutes and charges over a date range, by day, user or department.
#[utoipa::path(
    tag = "calls",
    params(("tenant_id" = String, Path, description = "Customer tenant id"), UsageQuery),
    responses(
        (status = 200, description = "Calls, minutes and charges per group and source, with the range's totals",
         body = PstnUsage),
        Refusals
    ),
    security(("bearer" = []))
)]
#[get("/tenants/{tenant_id}/calls/pstn")]
pub async fn get_pstn(
    state: State,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<UsageQuery>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let read = TenantRead::open(&state, &principal, &path).await?;
    let query = query.into_inner();
    let range = date_range(query.from, query.to)?;
    let limit = page_size(query.limit, 500, state.max_page)?;
    let after = match &query.cursor {
        Some(c) => Some(decode_cursor(c, 1)?.remove(0)),
        None => None,
    };
    let group_by = query.group_by.unwrap_or_default();
    let load =
        move |conn: &mut Conn<'_>, tenant: &TenantRow| load(conn, &tenant.id, range, group_by, after.as_deref(), limit);
    let body = match group_by {
        // Departments aggregate every user's days of the range: reuse the answer while the data stands.
        GroupBy::Department => read.aggregate(&format!("pstn/department/{}/{}", range.0, range.1), load).await?,
        GroupBy::Day | GroupBy::User => std::sync::Arc::new(read.load(load).await?),
    };
    Ok(cached_json(&req, &*body))
}

/// PSTN and Direct Routing use as a report: a row per group, source and currency (users page after page).
pub struct PstnExport {
    range: (NaiveDate, NaiveDate),
    group_by: GroupBy,
    after_user: Option<Option<String>>,
}

impl PstnExport {
    pub fn from_query(query: &str) -> ApiResult<Self> {
        let usage: UsageQuery = super::reports::list_query(query)?;
        let range = date_range(usage.from, usage.to)?;
        Ok(Self { range, group_by: usage.group_by.unwrap_or_default(), after_user: Some(None) })
    }
}

#[async_trait::async_trait]
impl super::reports::Export for PstnExport {
    fn sheet(&self) -> &'static str {
        "pstn-usage"
    }

    fn columns(&self) -> &'static [&'static str] {
        &[
            "key",
            "user_principal_name",
            "display_name",
            "department",
            "source",
            "calls",
            "seconds",
            "minutes",
            "charge",
            "currency",
        ]
    }

    async fn next_page(
        &mut self,
        state: &crate::AppState,
        tenant: &str,
    ) -> anyhow::Result<Option<Vec<Vec<crate::export::Cell>>>> {
        use crate::export::Cell;
        let Some(after) = self.after_user.take() else { return Ok(None) };
        let (lookup, range, group_by, page) = (tenant.to_string(), self.range, self.group_by, super::reports::PAGE);
        let found = state.pool.run(move |conn| rows(conn, &lookup, range, group_by, after.as_deref(), page)).await?;
        let mut users: Vec<&str> = found.iter().map(|r| r.key.as_str()).collect();
        users.dedup();
        if let (GroupBy::User, Some(last)) = (group_by, users.last())
            && users.len() as i64 == page
        {
            self.after_user = Some(Some((*last).to_string()));
        }
        Ok(Some(
            found
                .iter()
                .map(|r| {
                    vec![
                        super::reports::key_cell(group_by, &r.key),
                        r.user_principal_name.clone().into(),
                        r.display_name.clone().into(),
                        r.department.clone().into(),
                        r.source.as_str().into(),
                        r.calls.into(),
                        r.seconds.into(),
                        (r.seconds as f64 / 60.0).into(),
                        if r.currency.is_empty() {
                            Cell::Empty
                        } else {
                            super::reports::money(r.charge_minor, &r.currency)
                        },
                        r.currency.as_str().into(),
                    ]
                })
                .collect(),
        ))
    }
}
