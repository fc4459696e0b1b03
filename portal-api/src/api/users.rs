//! The tenant's users from its current snapshot: filters, sort, cursor paging.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sua_db::models::{PriceOverrideRow, SnapshotRow};
use sua_db::views::{self, Keyset, UserFilter, UserSort};
use sua_db::{Conn, DbError};
use sua_domain::prices::PriceBook;
use utoipa::{IntoParams, ToSchema};

use super::{
    ApiResult, Money, Refusals, SnapshotInfo, State, Totals, cached_json, decode_cursor, encode_cursor, page_size,
};
use crate::auth::Principal;
use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    DisplayName,
    UserPrincipalName,
    Department,
    LastSignIn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    Asc,
    Desc,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsersQuery {
    /// `true`: users holding a licence; `false`: users holding none.
    pub licensed: Option<bool>,
    /// Users holding this SKU: its `sku_id` or `sku_part_number`.
    pub sku: Option<String>,
    pub department: Option<String>,
    /// Users without a successful sign-in in this many days (or ever).
    #[param(minimum = 0, maximum = 3650)]
    pub inactive_days: Option<i64>,
    /// Whether the account is enabled.
    pub enabled: Option<bool>,
    /// Users whose display name, principal name or mail contains this text (any case).
    #[param(max_length = 200)]
    pub search: Option<String>,
    #[param(inline)]
    pub sort: Option<SortKey>,
    #[param(inline)]
    pub order: Option<Order>,
    /// Page size (default 100).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct UserLicence {
    pub sku_id: String,
    pub sku_part_number: Option<String>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct User {
    pub id: String,
    pub user_principal_name: String,
    pub display_name: String,
    pub mail: Option<String>,
    pub department: Option<String>,
    pub job_title: Option<String>,
    pub country: Option<String>,
    pub account_enabled: Option<bool>,
    pub user_type: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    /// Last successful sign-in (absent when never, or when the tenant has no Entra ID P1).
    pub last_sign_in: Option<DateTime<Utc>>,
    pub licences: Vec<UserLicence>,
    /// What the user's licences cost per month, per currency.
    pub monthly_cost: Vec<Money>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct Users {
    pub tenant_id: String,
    pub snapshot: Option<SnapshotInfo>,
    /// Users matching the filters, on every page.
    pub total: i64,
    pub items: Vec<User>,
    pub next_cursor: Option<String>,
}

/// A parsed users query.
pub struct UsersRequest {
    pub filter: UserFilter,
    pub sort: UserSort,
    pub descending: bool,
    pub after: Option<Keyset>,
    pub limit: i64,
}

impl UsersRequest {
    pub fn parse(query: &UsersQuery, default_limit: i64, max: i64) -> ApiResult<(Self, Option<String>)> {
        if let Some(days) = query.inactive_days
            && !(0..=3650).contains(&days)
        {
            return Err(ApiError::BadRequest("inactive_days must be between 0 and 3650".into()));
        }
        if query.search.as_ref().is_some_and(|s| s.chars().count() > 200) {
            return Err(ApiError::BadRequest("search must be at most 200 characters".into()));
        }
        let sort = match query.sort.unwrap_or(SortKey::DisplayName) {
            SortKey::DisplayName => UserSort::DisplayName,
            SortKey::UserPrincipalName => UserSort::UserPrincipalName,
            SortKey::Department => UserSort::Department,
            SortKey::LastSignIn => UserSort::LastSignIn,
        };
        let after = match &query.cursor {
            Some(c) => {
                let mut parts = decode_cursor(c, 2)?;
                let id = parts.pop().unwrap_or_default();
                let key = parts.pop().unwrap_or_default();
                if sort == UserSort::LastSignIn && views::parse_sign_in_key(&key).is_none() {
                    return Err(ApiError::BadRequest("cursor is not from a page sorted by last_sign_in".into()));
                }
                Some(Keyset { key, id })
            }
            None => None,
        };
        let filter = UserFilter {
            licensed: query.licensed,
            sku_id: None,
            department: query.department.clone(),
            inactive_before: query
                .inactive_days
                .map(|d| (sua_core::clock::now() - chrono::Duration::days(d)).naive_utc()),
            enabled: query.enabled,
            search: query.search.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string),
        };
        Ok((
            Self {
                filter,
                sort,
                descending: query.order == Some(Order::Desc),
                after,
                limit: page_size(query.limit, default_limit, max)?,
            },
            query.sku.clone(),
        ))
    }
}

/// What a page needs besides the rows: the snapshot, SKU part numbers and prices.
pub struct UsersContext {
    pub snapshot: Option<SnapshotRow>,
    pub parts: BTreeMap<String, String>,
    pub book: PriceBook,
}

impl UsersContext {
    pub fn load(conn: &mut Conn<'_>, tenant_id: &str) -> Result<Self, DbError> {
        let snapshot = SnapshotRow::current(conn, tenant_id)?;
        let parts = match &snapshot {
            Some(s) => SnapshotRow::skus(conn, &s.run_id)?.into_iter().map(|s| (s.sku_id, s.sku_part_number)).collect(),
            None => BTreeMap::new(),
        };
        let book = PriceBook::for_tenant(&PriceOverrideRow::for_tenant(conn, tenant_id)?);
        Ok(Self { snapshot, parts, book })
    }

    /// A SKU given by id or part number, as its id (`None`: no such SKU in the snapshot).
    pub fn sku_id(&self, sku: &str) -> Option<String> {
        if self.parts.contains_key(sku) {
            return Some(sku.to_string());
        }
        self.parts.iter().find(|(_, part)| part.eq_ignore_ascii_case(sku)).map(|(id, _)| id.clone())
    }

    /// One page, and where the next starts when there may be one.
    pub fn page(&self, conn: &mut Conn<'_>, request: &UsersRequest) -> Result<(Vec<User>, Option<Keyset>), DbError> {
        let Some(snapshot) = &self.snapshot else { return Ok((Vec::new(), None)) };
        let page = views::users_page(
            conn,
            &snapshot.run_id,
            &request.filter,
            request.sort,
            request.descending,
            request.after.as_ref(),
            request.limit,
        )?;
        let mut licences: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for a in &page.assignments {
            licences.entry(a.user_id.as_str()).or_default().push(a.sku_id.as_str());
        }
        let next = (page.rows.len() as i64 == request.limit)
            .then(|| page.rows.last().map(|(u, key)| Keyset { key: key.clone(), id: u.id.clone() }))
            .flatten();
        let users = page
            .rows
            .iter()
            .map(|(u, _)| {
                let skus = licences.get(u.id.as_str()).cloned().unwrap_or_default();
                let mut cost = Totals::default();
                let licences = skus
                    .iter()
                    .map(|sku| {
                        let part = self.parts.get(*sku).cloned();
                        if let Some(price) = part.as_deref().and_then(|p| self.book.get(p)) {
                            cost.add(&price.currency, price.amount_minor);
                        }
                        UserLicence { sku_id: (*sku).to_string(), sku_part_number: part }
                    })
                    .collect();
                User {
                    id: u.id.clone(),
                    user_principal_name: u.user_principal_name.clone(),
                    display_name: u.display_name.clone(),
                    mail: u.mail.clone(),
                    department: u.department.clone(),
                    job_title: u.job_title.clone(),
                    country: u.country.clone(),
                    account_enabled: u.account_enabled,
                    user_type: u.user_type.clone(),
                    created_at: u.created_at.map(|t| t.and_utc()),
                    last_sign_in: u.last_successful_sign_in.map(|t| t.and_utc()),
                    licences,
                    monthly_cost: cost.monies(),
                }
            })
            .collect();
        Ok((users, next))
    }
}

/// Prepares a users query: the context, and the request with its SKU resolved (`None`: the SKU matches nobody).
pub fn prepare(
    conn: &mut Conn<'_>,
    tenant_id: &str,
    mut request: UsersRequest,
    sku: Option<String>,
) -> Result<(UsersContext, Option<UsersRequest>), DbError> {
    let context = UsersContext::load(conn, tenant_id)?;
    if let Some(sku) = sku {
        match context.sku_id(&sku) {
            Some(id) => request.filter.sku_id = Some(id),
            None => return Ok((context, None)),
        }
    }
    Ok((context, Some(request)))
}

/// Users with their licences: filter, sort and page through them.
#[utoipa::path(
    tag = "users",
    params(("tenant_id" = String, Path, description = "Customer tenant id"), UsersQuery),
    responses((status = 200, description = "A page of users", body = Users), Refusals),
    security(("bearer" = []))
)]
#[get("/tenants/{tenant_id}/users")]
pub async fn list_users(
    state: State,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<UsersQuery>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let read = super::TenantRead::open(&state, &principal, &path).await?;
    let (request, sku) = UsersRequest::parse(&query, 100, state.max_page)?;
    let body = read
        .load(move |conn, tenant| -> Result<Users, DbError> {
            let tenant_id = tenant.id.clone();
            let (context, request) = prepare(conn, &tenant_id, request, sku)?;
            let snapshot = context.snapshot.as_ref().map(SnapshotInfo::from);
            let Some(request) = request else {
                return Ok(Users { tenant_id, snapshot, total: 0, items: vec![], next_cursor: None });
            };
            let total = match &context.snapshot {
                Some(s) => views::users_total(conn, &tenant_id, &s.run_id, &request.filter)?,
                None => 0,
            };
            let (items, next) = context.page(conn, &request)?;
            let next_cursor = next.map(|k| encode_cursor(&[&k.key, &k.id]));
            Ok(Users { tenant_id, snapshot, total, items, next_cursor })
        })
        .await?;
    Ok(cached_json(&req, &body))
}

/// The users list as a report: its filters and sort, every page.
pub struct UsersExport {
    request: Option<UsersRequest>,
    sku: Option<String>,
    context: Option<std::sync::Arc<UsersContext>>,
}

impl UsersExport {
    pub fn from_query(query: &str) -> ApiResult<Self> {
        let mut users: UsersQuery = super::reports::list_query(query)?;
        users.limit = Some(super::reports::PAGE);
        users.cursor = None;
        let (request, sku) = UsersRequest::parse(&users, super::reports::PAGE, super::reports::PAGE)?;
        Ok(Self { request: Some(request), sku, context: None })
    }
}

#[async_trait::async_trait]
impl super::reports::Export for UsersExport {
    fn sheet(&self) -> &'static str {
        "users"
    }

    fn columns(&self) -> &'static [&'static str] {
        &[
            "id",
            "user_principal_name",
            "display_name",
            "department",
            "job_title",
            "account_enabled",
            "created_at",
            "last_sign_in",
            "licences",
            "monthly_cost",
            "currency",
        ]
    }

    async fn next_page(
        &mut self,
        state: &crate::AppState,
        tenant: &str,
    ) -> anyhow::Result<Option<Vec<Vec<crate::export::Cell>>>> {
        let Some(mut request) = self.request.take() else { return Ok(None) };
        let context = match &self.context {
            Some(context) => context.clone(),
            None => {
                let (lookup, sku) = (tenant.to_string(), self.sku.take());
                let (context, prepared) = state.pool.run(move |conn| prepare(conn, &lookup, request, sku)).await?;
                let context = std::sync::Arc::new(context);
                self.context = Some(context.clone());
                // A SKU that matches nobody: an empty list.
                let Some(prepared) = prepared else { return Ok(None) };
                request = prepared;
                context
            }
        };
        let (users, next, mut request) = state
            .pool
            .run(move |conn| -> Result<_, DbError> {
                let (users, next) = context.page(conn, &request)?;
                Ok((users, next, request))
            })
            .await?;
        let rows = users
            .iter()
            .map(|u| {
                let parts: Vec<String> =
                    u.licences.iter().map(|l| l.sku_part_number.clone().unwrap_or_else(|| l.sku_id.clone())).collect();
                let [amount, currency] = super::reports::money_cells(u.monthly_cost.first());
                vec![
                    u.id.as_str().into(),
                    u.user_principal_name.as_str().into(),
                    u.display_name.as_str().into(),
                    u.department.clone().into(),
                    u.job_title.clone().into(),
                    u.account_enabled.into(),
                    u.created_at.into(),
                    u.last_sign_in.into(),
                    parts.join(" ").into(),
                    amount,
                    currency,
                ]
            })
            .collect();
        if next.is_some() {
            request.after = next;
            self.request = Some(request);
        }
        Ok(Some(rows))
    }
}
