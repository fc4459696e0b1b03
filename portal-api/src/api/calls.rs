//! How people call: usage by day, user or department over a date range, and call quality.

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sua_db::models::{SnapshotRow, TenantRow, quality_windows};
use sua_db::views::{self, UsageGroup};
use sua_db::{Conn, DbError};
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, Refusals, State, TenantRead, cached_json, date_range, decode_cursor, encode_cursor, page_size};
use crate::auth::Principal;
use crate::error::ApiError;

/// Call counts over a group or a whole range.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct UsageCounts {
    /// Calls (a call with several of the tenant's users counts once per user when grouped by user or department).
    pub calls: i64,
    pub group_calls: i64,
    pub peer_calls: i64,
    /// Call time in seconds.
    pub seconds: i64,
    pub video_calls: i64,
    /// Call records with a phone number taking part (the billed PSTN and Direct Routing logs, with minutes and
    /// charges, are at `calls/pstn`).
    pub pstn_calls: i64,
    /// Media streams measured, and those Microsoft's thresholds call poor.
    pub streams: i64,
    pub poor_streams: i64,
}

impl UsageCounts {
    pub fn add(&mut self, g: &UsageGroup) {
        self.calls += g.calls;
        self.group_calls += g.group_calls;
        self.peer_calls += g.peer_calls;
        self.seconds += g.seconds;
        self.video_calls += g.video_calls;
        self.pstn_calls += g.pstn_calls;
        self.streams += g.streams;
        self.poor_streams += g.poor_streams;
    }

    fn of(g: &UsageGroup) -> Self {
        let mut c = Self::default();
        c.add(g);
        c
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    #[default]
    Day,
    User,
    Department,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// First day (UTC), inclusive; defaults to 29 days before `to`.
    pub from: Option<NaiveDate>,
    /// Last day (UTC), inclusive; defaults to today.
    pub to: Option<NaiveDate>,
    #[param(inline)]
    pub group_by: Option<GroupBy>,
    /// Page size for `group_by=user` (default 500).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (`group_by=user`).
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct UsageItem {
    /// The day (`YYYY-MM-DD`), user id, or department (`""` for users without one).
    pub key: String,
    pub user_principal_name: Option<String>,
    pub display_name: Option<String>,
    pub department: Option<String>,
    #[serde(flatten)]
    pub counts: UsageCounts,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct Usage {
    pub tenant_id: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub group_by: GroupBy,
    pub items: Vec<UsageItem>,
    /// Totals of the tenant's calls per day over the range (each call once).
    pub totals: UsageCounts,
    /// More users follow (`group_by=user`).
    pub next_cursor: Option<String>,
}

fn item(g: UsageGroup) -> UsageItem {
    UsageItem {
        counts: UsageCounts::of(&g),
        key: g.key,
        user_principal_name: g.user_principal_name,
        display_name: g.display_name,
        department: g.department,
    }
}

pub fn current_run(conn: &mut Conn<'_>, tenant_id: &str) -> Result<String, DbError> {
    Ok(SnapshotRow::current(conn, tenant_id)?.map(|s| s.run_id).unwrap_or_default())
}

/// One page of usage (every group for days and departments).
pub fn load(
    conn: &mut Conn<'_>,
    tenant_id: &str,
    from: NaiveDate,
    to: NaiveDate,
    group_by: GroupBy,
    after_user: &str,
    limit: i64,
) -> Result<Usage, DbError> {
    let days = views::usage_by_day(conn, tenant_id, from, to)?;
    let mut totals = UsageCounts::default();
    for d in &days {
        totals.add(d);
    }
    let mut next_cursor = None;
    let items = match group_by {
        GroupBy::Day => days.into_iter().map(item).collect(),
        GroupBy::User => {
            let run = current_run(conn, tenant_id)?;
            let rows = views::usage_by_user(conn, tenant_id, &run, from, to, after_user, limit)?;
            if rows.len() as i64 == limit {
                next_cursor = rows.last().map(|r| encode_cursor(&[&r.key]));
            }
            rows.into_iter().map(item).collect()
        }
        GroupBy::Department => views::usage_by_department(conn, tenant_id, from, to)?.into_iter().map(item).collect(),
    };
    Ok(Usage { tenant_id: tenant_id.to_string(), from, to, group_by, items, totals, next_cursor })
}

/// Call usage over a date range, by day, user or department.
#[utoipa::path(
    tag = "calls",
    params(("tenant_id" = String, Path, description = "Customer tenant id"), UsageQuery),
    responses((status = 200, description = "Usage per group, with the range's totals", body = Usage), Refusals),
    security(("bearer" = []))
)]
#[get("/tenants/{tenant_id}/calls/usage")]
pub async fn get_usage(
    state: State,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<UsageQuery>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let read = TenantRead::open(&state, &principal, &path).await?;
    let query = query.into_inner();
    let (from, to) = date_range(query.from, query.to)?;
    let limit = page_size(query.limit, 500, state.max_page)?;
    let after = match &query.cursor {
        Some(c) => decode_cursor(c, 1)?.remove(0),
        None => String::new(),
    };
    let group_by = query.group_by.unwrap_or_default();
    let load = move |conn: &mut Conn<'_>, tenant: &TenantRow| load(conn, &tenant.id, from, to, group_by, &after, limit);
    let body = match group_by {
        // Departments aggregate every user's days of the range: reuse the answer while the data stands.
        GroupBy::Department => read.aggregate(&format!("usage/department/{from}/{to}"), load).await?,
        GroupBy::Day | GroupBy::User => std::sync::Arc::new(read.load(load).await?),
    };
    Ok(cached_json(&req, &*body))
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    /// First day (UTC), inclusive; defaults to 29 days before `to`.
    pub from: Option<NaiveDate>,
    /// Last day (UTC), inclusive; defaults to today.
    pub to: Option<NaiveDate>,
}

/// The most worst users a quality answer lists.
pub const MAX_WORST_USERS: i64 = 100;

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QualityQuery {
    /// First day (UTC), inclusive; defaults to 29 days before `to`.
    pub from: Option<NaiveDate>,
    /// Last day (UTC), inclusive; defaults to today.
    pub to: Option<NaiveDate>,
    /// How many of the users with the most poor streams to list, 0 to 100 (default 20). Summing every user's days
    /// of the range is the costly part of the answer: 0 gives the days and totals alone.
    pub worst_users: Option<i64>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct QualityDay {
    pub day: NaiveDate,
    pub calls: i64,
    pub streams: i64,
    pub poor_streams: i64,
    /// `poor_streams / streams`, 0 when no stream was measured.
    pub poor_ratio: f64,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct QualityUser {
    pub user_id: String,
    pub user_principal_name: Option<String>,
    pub display_name: Option<String>,
    pub department: Option<String>,
    pub calls: i64,
    pub streams: i64,
    pub poor_streams: i64,
    pub poor_ratio: f64,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct Quality {
    pub tenant_id: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub days: Vec<QualityDay>,
    pub streams: i64,
    pub poor_streams: i64,
    pub poor_ratio: f64,
    /// The users with the most poor streams, most first (at most `worst_users`, default 20).
    pub worst_users: Vec<QualityUser>,
    /// When the worst users were ranked, for the last 7, 30 or 90 days (analytics keeps those rankings, recomputed
    /// within a minute of new calls); absent when they were summed for this answer.
    pub worst_users_as_of: Option<chrono::DateTime<chrono::Utc>>,
}

fn ratio(poor: i64, all: i64) -> f64 {
    if all == 0 { 0.0 } else { poor as f64 / all as f64 }
}

/// Quality per day and in total over `[from, to]`, with the `worst` users with the most poor streams.
pub fn quality_of(
    conn: &mut Conn<'_>,
    tenant_id: &str,
    from: NaiveDate,
    to: NaiveDate,
    worst: i64,
) -> Result<Quality, DbError> {
    let days = views::usage_by_day(conn, tenant_id, from, to)?;
    let (worst, worst_as_of) = if worst > 0 {
        let run = current_run(conn, tenant_id)?;
        match quality_windows::worst_users(conn, tenant_id, &run, from, to, worst)? {
            Some((at, users)) => (users, Some(at.and_utc())),
            None => (views::worst_quality_users(conn, tenant_id, &run, from, to, worst)?, None),
        }
    } else {
        (vec![], None)
    };
    let streams = days.iter().map(|d| d.streams).sum();
    let poor = days.iter().map(|d| d.poor_streams).sum();
    Ok(Quality {
        tenant_id: tenant_id.to_string(),
        from,
        to,
        days: days
            .iter()
            .map(|d| QualityDay {
                day: d.key.parse().unwrap_or(from),
                calls: d.calls,
                streams: d.streams,
                poor_streams: d.poor_streams,
                poor_ratio: ratio(d.poor_streams, d.streams),
            })
            .collect(),
        streams,
        poor_streams: poor,
        poor_ratio: ratio(poor, streams),
        worst_users: worst
            .into_iter()
            .map(|u| QualityUser {
                poor_ratio: ratio(u.poor_streams, u.streams),
                user_id: u.key,
                user_principal_name: u.user_principal_name,
                display_name: u.display_name,
                department: u.department,
                calls: u.calls,
                streams: u.streams,
                poor_streams: u.poor_streams,
            })
            .collect(),
        worst_users_as_of: worst_as_of,
    })
}

/// Call quality over a date range: poor streams per day and the users most affected.
#[utoipa::path(
    tag = "calls",
    params(("tenant_id" = String, Path, description = "Customer tenant id"), QualityQuery),
    responses((status = 200, description = "Stream quality per day", body = Quality), Refusals),
    security(("bearer" = []))
)]
#[get("/tenants/{tenant_id}/calls/quality")]
pub async fn get_quality(
    state: State,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<QualityQuery>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let read = TenantRead::open(&state, &principal, &path).await?;
    let (from, to) = date_range(query.from, query.to)?;
    let worst = match query.worst_users {
        None => 20,
        Some(n) if (0..=MAX_WORST_USERS).contains(&n) => n,
        Some(_) => return Err(ApiError::BadRequest(format!("worst_users must be between 0 and {MAX_WORST_USERS}"))),
    };
    let body = read
        .aggregate(&format!("quality/{from}/{to}/{worst}"), move |conn, t| quality_of(conn, &t.id, from, to, worst))
        .await?;
    Ok(cached_json(&req, &*body))
}

/// Call usage as a report: every group of the range (users page after page).
pub struct UsageExport {
    from: NaiveDate,
    to: NaiveDate,
    group_by: GroupBy,
    after_user: Option<String>,
}

impl UsageExport {
    pub fn from_query(query: &str) -> ApiResult<Self> {
        let usage: UsageQuery = super::reports::list_query(query)?;
        let (from, to) = date_range(usage.from, usage.to)?;
        Ok(Self { from, to, group_by: usage.group_by.unwrap_or_default(), after_user: Some(String::new()) })
    }
}

#[async_trait::async_trait]
impl super::reports::Export for UsageExport {
    fn sheet(&self) -> &'static str {
        "call-usage"
    }

    fn columns(&self) -> &'static [&'static str] {
        &[
            "key",
            "user_principal_name",
            "display_name",
            "department",
            "calls",
            "group_calls",
            "peer_calls",
            "seconds",
            "video_calls",
            "pstn_calls",
            "streams",
            "poor_streams",
        ]
    }

    async fn next_page(
        &mut self,
        state: &crate::AppState,
        tenant: &str,
    ) -> anyhow::Result<Option<Vec<Vec<crate::export::Cell>>>> {
        let Some(after) = self.after_user.take() else { return Ok(None) };
        let (lookup, from, to, group_by) = (tenant.to_string(), self.from, self.to, self.group_by);
        let page = super::reports::PAGE;
        let usage = state.pool.run(move |conn| load(conn, &lookup, from, to, group_by, &after, page)).await?;
        if let (GroupBy::User, Some(last), Some(_)) = (group_by, usage.items.last(), &usage.next_cursor) {
            self.after_user = Some(last.key.clone());
        }
        Ok(Some(
            usage
                .items
                .iter()
                .map(|i| {
                    let c = &i.counts;
                    vec![
                        super::reports::key_cell(group_by, &i.key),
                        i.user_principal_name.clone().into(),
                        i.display_name.clone().into(),
                        i.department.clone().into(),
                        c.calls.into(),
                        c.group_calls.into(),
                        c.peer_calls.into(),
                        c.seconds.into(),
                        c.video_calls.into(),
                        c.pstn_calls.into(),
                        c.streams.into(),
                        c.poor_streams.into(),
                    ]
                })
                .collect(),
        ))
    }
}

/// Call quality as a report: a row per day of the range.
pub struct QualityExport {
    range: Option<(NaiveDate, NaiveDate)>,
}

impl QualityExport {
    pub fn from_query(query: &str) -> ApiResult<Self> {
        let range: RangeQuery = super::reports::list_query(query)?;
        Ok(Self { range: Some(date_range(range.from, range.to)?) })
    }
}

#[async_trait::async_trait]
impl super::reports::Export for QualityExport {
    fn sheet(&self) -> &'static str {
        "call-quality"
    }

    fn columns(&self) -> &'static [&'static str] {
        &["day", "calls", "streams", "poor_streams", "poor_ratio"]
    }

    async fn next_page(
        &mut self,
        state: &crate::AppState,
        tenant: &str,
    ) -> anyhow::Result<Option<Vec<Vec<crate::export::Cell>>>> {
        let Some((from, to)) = self.range.take() else { return Ok(None) };
        let tenant = tenant.to_string();
        let quality = state.pool.run(move |conn| quality_of(conn, &tenant, from, to, 0)).await?;
        Ok(Some(
            quality
                .days
                .iter()
                .map(|d| {
                    vec![d.day.into(), d.calls.into(), d.streams.into(), d.poor_streams.into(), d.poor_ratio.into()]
                })
                .collect(),
        ))
    }
}
