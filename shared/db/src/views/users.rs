//! A snapshot's users a page at a time: filters, search, sort orders and keyset cursors, with their licence
//! assignments.

use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use crate::models::{AssignmentRow, UserRow};
use crate::schema::{assignments, users};
use crate::{Conn, DbError, with_conn};

/// Which users a page holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// `true`: users holding at least one licence; `false`: users holding none.
    pub licensed: Option<bool>,
    /// Users holding this SKU (by `skuId`).
    pub sku_id: Option<String>,
    pub department: Option<String>,
    /// Users whose last successful sign-in is before this instant, or who never signed in.
    pub inactive_before: Option<NaiveDateTime>,
    pub enabled: Option<bool>,
    /// Users whose display name, principal name or mail contains this text (any case).
    pub search: Option<String>,
}

/// `%text%` for `LIKE … ESCAPE '\'`, lowercased, with the pattern characters of `text` taken literally.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The order of a users page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSort {
    DisplayName,
    UserPrincipalName,
    Department,
    LastSignIn,
}

impl UserSort {
    /// The key as SQL text; NULLs sort first as ''. Not for `LastSignIn`, which compares the timestamp itself.
    fn key(self) -> &'static str {
        match self {
            UserSort::DisplayName => "users.display_name",
            UserSort::UserPrincipalName => "users.user_principal_name",
            UserSort::Department => "COALESCE(users.department, '')",
            UserSort::LastSignIn => "''",
        }
    }
}

/// A last sign-in as a keyset key: `''` for never, else the instant to the microsecond.
const SIGN_IN_KEY: &str = "%Y-%m-%dT%H:%M:%S%.6f";

/// The keyset key of a last sign-in.
pub fn sign_in_key(at: Option<NaiveDateTime>) -> String {
    at.map(|at| at.format(SIGN_IN_KEY).to_string()).unwrap_or_default()
}

/// A last sign-in read back from its keyset key (`Some(None)`: never signed in; `None`: not a key).
pub fn parse_sign_in_key(key: &str) -> Option<Option<NaiveDateTime>> {
    if key.is_empty() {
        return Some(None);
    }
    NaiveDateTime::parse_from_str(key, SIGN_IN_KEY).ok().map(Some)
}

/// Where the previous page ended: its last row's sort key and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyset {
    pub key: String,
    pub id: String,
}

pub struct UserPage {
    /// Each user with its sort key.
    pub rows: Vec<(UserRow, String)>,
    pub assignments: Vec<AssignmentRow>,
}

macro_rules! user_filters {
    ($query:expr, $run_id:expr, $filter:expr) => {{
        let mut query = $query.filter(users::run_id.eq($run_id.to_string()));
        if let Some(licensed) = $filter.licensed {
            query = if licensed { query.filter(users::licences.gt(0)) } else { query.filter(users::licences.eq(0)) };
        }
        if let Some(sku) = &$filter.sku_id {
            query = query.filter(
                sql::<Bool>(
                    "EXISTS (SELECT 1 FROM assignments a WHERE a.run_id = users.run_id AND a.user_id = users.id \
                     AND a.sku_id = ",
                )
                .bind::<Text, _>(sku.clone())
                .sql(")"),
            );
        }
        if let Some(department) = &$filter.department {
            query = query.filter(users::department.eq(department.clone()));
        }
        if let Some(before) = $filter.inactive_before {
            query =
                query.filter(users::last_successful_sign_in.is_null().or(users::last_successful_sign_in.lt(before)));
        }
        if let Some(enabled) = $filter.enabled {
            query = query.filter(users::account_enabled.eq(enabled));
        }
        if let Some(search) = &$filter.search {
            let pattern = contains_pattern(search);
            query = query.filter(
                sql::<Bool>("(LOWER(users.display_name) LIKE ")
                    .bind::<Text, _>(pattern.clone())
                    .sql(" ESCAPE '\\' OR LOWER(users.user_principal_name) LIKE ")
                    .bind::<Text, _>(pattern.clone())
                    .sql(" ESCAPE '\\' OR LOWER(COALESCE(users.mail, '')) LIKE ")
                    .bind::<Text, _>(pattern)
                    .sql(" ESCAPE '\\')"),
            );
        }
        query
    }};
}

/// One page of a snapshot's users, and their licence assignments.
pub fn users_page(
    conn: &mut Conn<'_>,
    run_id: &str,
    filter: &UserFilter,
    sort: UserSort,
    descending: bool,
    after: Option<&Keyset>,
    limit: i64,
) -> Result<UserPage, DbError> {
    if sort == UserSort::LastSignIn {
        return users_page_by_sign_in(conn, run_id, filter, descending, after, limit);
    }
    let key = sort.key();
    let (cmp, dir) = if descending { ("<", "DESC") } else { (">", "ASC") };
    let rows: Vec<(UserRow, String)> = with_conn!(&mut *conn, |c| {
        let mut query = user_filters!(users::table.into_boxed(), run_id, filter);
        if let Some(after) = after {
            query = query.filter(
                sql::<Bool>(&format!("({key}, users.id) {cmp} ("))
                    .bind::<Text, _>(after.key.clone())
                    .sql(", ")
                    .bind::<Text, _>(after.id.clone())
                    .sql(")"),
            );
        }
        query
            .order_by(sql::<Text>(&format!("{key} {dir}, users.id {dir}")))
            .limit(limit)
            .select((UserRow::as_select(), sql::<Text>(key)))
            .load(c)
    })?;
    with_assignments(conn, run_id, rows)
}

/// A page by last sign-in, never-signed-in first ascending (last descending), walking the index
/// `(run_id, last_successful_sign_in, id)`: the never-signed-in users and the signed-in ones are read as two
/// ranges, each from its cursor by a row comparison on the timestamp itself, so a deep page costs what the first
/// does.
fn users_page_by_sign_in(
    conn: &mut Conn<'_>,
    run_id: &str,
    filter: &UserFilter,
    descending: bool,
    after: Option<&Keyset>,
    limit: i64,
) -> Result<UserPage, DbError> {
    let after = match after {
        Some(k) => Some((
            // portal-api refuses such a cursor before it gets here.
            parse_sign_in_key(&k.key).ok_or_else(|| {
                DbError::Query(diesel::result::Error::QueryBuilderError(
                    format!("not a sign-in cursor key: {:?}", k.key).into(),
                ))
            })?,
            k.id.clone(),
        )),
        None => None,
    };
    // The ranges in page order, each with where it starts.
    let parts: Vec<SignInRange> = match (after, descending) {
        (None, false) => vec![SignInRange::Never(None), SignInRange::SignedIn(None)],
        (Some((None, id)), false) => vec![SignInRange::Never(Some(id)), SignInRange::SignedIn(None)],
        (Some((Some(at), id)), false) => vec![SignInRange::SignedIn(Some((at, id)))],
        (None, true) => vec![SignInRange::SignedIn(None), SignInRange::Never(None)],
        (Some((Some(at), id)), true) => vec![SignInRange::SignedIn(Some((at, id))), SignInRange::Never(None)],
        (Some((None, id)), true) => vec![SignInRange::Never(Some(id))],
    };
    let mut users: Vec<UserRow> = Vec::new();
    for part in parts {
        let left = limit - users.len() as i64;
        if left <= 0 {
            break;
        }
        users.extend(sign_in_range(conn, run_id, filter, &part, descending, left)?);
    }
    let rows = users
        .into_iter()
        .map(|u| {
            let key = sign_in_key(u.last_successful_sign_in);
            (u, key)
        })
        .collect();
    with_assignments(conn, run_id, rows)
}

/// Users who never signed in (after an id), or who did (after a sign-in and id).
enum SignInRange {
    Never(Option<String>),
    SignedIn(Option<(NaiveDateTime, String)>),
}

fn sign_in_range(
    conn: &mut Conn<'_>,
    run_id: &str,
    filter: &UserFilter,
    range: &SignInRange,
    descending: bool,
    limit: i64,
) -> Result<Vec<UserRow>, DbError> {
    use diesel::sql_types::Timestamp;
    use users::{id, last_successful_sign_in as at};
    let (cmp, dir) = if descending { ("<", "DESC") } else { (">", "ASC") };
    Ok(with_conn!(&mut *conn, |c| {
        let mut query = user_filters!(users::table.into_boxed(), run_id, filter);
        query = match range {
            SignInRange::Never(after) => {
                query = query.filter(at.is_null());
                match after {
                    Some(last) if descending => query.filter(id.lt(last.clone())),
                    Some(last) => query.filter(id.gt(last.clone())),
                    None => query,
                }
            }
            SignInRange::SignedIn(None) => query.filter(at.is_not_null()),
            // A row comparison: an index condition, where `a < t OR (a = t AND …)` would be a filter.
            SignInRange::SignedIn(Some((t, last))) => query.filter(
                sql::<Bool>(&format!("(users.last_successful_sign_in, users.id) {cmp} ("))
                    .bind::<Timestamp, _>(*t)
                    .sql(", ")
                    .bind::<Text, _>(last.clone())
                    .sql(")"),
            ),
        };
        let order = match range {
            SignInRange::Never(_) => format!("users.id {dir}"),
            // As the index orders them (NULLS FIRST ascending), so PostgreSQL reads it instead of sorting.
            SignInRange::SignedIn(_) => {
                let nulls = if descending { "NULLS LAST" } else { "NULLS FIRST" };
                format!("users.last_successful_sign_in {dir} {nulls}, users.id {dir}")
            }
        };
        query.order_by(sql::<Text>(&order)).limit(limit).select(UserRow::as_select()).load(c)
    })?)
}

/// The page's rows with their licence assignments.
fn with_assignments(conn: &mut Conn<'_>, run_id: &str, rows: Vec<(UserRow, String)>) -> Result<UserPage, DbError> {
    let ids: Vec<String> = rows.iter().map(|(u, _)| u.id.clone()).collect();
    let assignments = with_conn!(&mut *conn, |c| assignments::table
        .filter(assignments::run_id.eq(run_id))
        .filter(assignments::user_id.eq_any(&ids))
        .order((assignments::user_id, assignments::sku_id))
        .select(AssignmentRow::as_select())
        .load(c))?;
    Ok(UserPage { rows, assignments })
}

/// A snapshot's users and licensed users, as analytics counted them when it computed the snapshot's findings (the
/// tenant's daily aggregate), or counted here in the moment before that.
pub fn user_totals(conn: &mut Conn<'_>, tenant_id: &str, run_id: &str) -> Result<(i64, i64), DbError> {
    if let Some(day) = crate::models::TenantDayRow::latest_of_run(conn, tenant_id, run_id)? {
        return Ok((day.users, day.licensed_users));
    }
    let licensed = UserFilter { licensed: Some(true), ..Default::default() };
    Ok((users_count(conn, run_id, &UserFilter::default())?, users_count(conn, run_id, &licensed)?))
}

/// How many users match `filter`: from [`user_totals`] when it filters by licensed alone (or not at all), else
/// counted.
pub fn users_total(conn: &mut Conn<'_>, tenant_id: &str, run_id: &str, filter: &UserFilter) -> Result<i64, DbError> {
    if *filter != (UserFilter { licensed: filter.licensed, ..Default::default() }) {
        return users_count(conn, run_id, filter);
    }
    let (users, licensed) = user_totals(conn, tenant_id, run_id)?;
    Ok(match filter.licensed {
        None => users,
        Some(true) => licensed,
        Some(false) => users - licensed,
    })
}

/// How many of a snapshot's users match `filter`.
pub fn users_count(conn: &mut Conn<'_>, run_id: &str, filter: &UserFilter) -> Result<i64, DbError> {
    Ok(with_conn!(conn, |c| {
        let query = user_filters!(users::table.into_boxed(), run_id, filter);
        query.count().get_result(c)
    })?)
}
