//! What portal-api reads: pages of a snapshot's users, findings and call usage with filters and keyset cursors,
//! aggregates for the dashboards, and the audit log of writes (portal-api's own table).
//!
//! Every list is paged by a keyset (the sort key and the row's id), never by OFFSET, so page 1,000 of a
//! 100,000-user tenant costs what page 1 does and an export can walk a whole list in constant memory.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Date, Nullable, Text};

use crate::models::{AssignmentRow, FindingRow, UserRow, sql_for};
use crate::schema::{assignments, audit_log, findings, users};
use crate::{Conn, DbError, with_conn};

// ---------------------------------------------------------------------------------------------------------------
// Users

/// Which users a page holds.
#[derive(Debug, Clone, Default)]
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
    /// The key as SQL text; NULLs sort first as ''. Timestamps as text sort chronologically on both backends.
    fn key(self) -> &'static str {
        match self {
            UserSort::DisplayName => "users.display_name",
            UserSort::UserPrincipalName => "users.user_principal_name",
            UserSort::Department => "COALESCE(users.department, '')",
            UserSort::LastSignIn => "COALESCE(CAST(users.last_successful_sign_in AS TEXT), '')",
        }
    }
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
    let ids: Vec<String> = rows.iter().map(|(u, _)| u.id.clone()).collect();
    let assignments = with_conn!(&mut *conn, |c| assignments::table
        .filter(assignments::run_id.eq(run_id))
        .filter(assignments::user_id.eq_any(&ids))
        .order((assignments::user_id, assignments::sku_id))
        .select(AssignmentRow::as_select())
        .load(c))?;
    Ok(UserPage { rows, assignments })
}

/// How many of a snapshot's users match `filter`.
pub fn users_count(conn: &mut Conn<'_>, run_id: &str, filter: &UserFilter) -> Result<i64, DbError> {
    Ok(with_conn!(conn, |c| {
        let query = user_filters!(users::table.into_boxed(), run_id, filter);
        query.count().get_result(c)
    })?)
}

// ---------------------------------------------------------------------------------------------------------------
// Findings

#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    pub kind: Option<String>,
    pub sku_id: Option<String>,
    /// A user id or principal name.
    pub user: Option<String>,
    pub department: Option<String>,
}

macro_rules! finding_filters {
    ($query:expr, $tenant_id:expr, $filter:expr) => {{
        let mut query = $query.filter(findings::tenant_id.eq($tenant_id.to_string()));
        if let Some(kind) = &$filter.kind {
            query = query.filter(findings::kind.eq(kind.clone()));
        }
        if let Some(sku) = &$filter.sku_id {
            query = query.filter(findings::sku_id.eq(sku.clone()));
        }
        if let Some(user) = &$filter.user {
            query = query.filter(
                findings::user_id.eq(user.clone()).or(findings::user_principal_name.eq(user.to_ascii_lowercase())),
            );
        }
        if let Some(department) = &$filter.department {
            query = query.filter(findings::department.eq(department.clone()));
        }
        query
    }};
}

/// One page of a tenant's findings in id order, after `after_id`.
pub fn findings_page(
    conn: &mut Conn<'_>,
    tenant_id: &str,
    filter: &FindingFilter,
    after_id: Option<&str>,
    limit: i64,
) -> Result<Vec<FindingRow>, DbError> {
    Ok(with_conn!(conn, |c| {
        let mut query = finding_filters!(findings::table.into_boxed(), tenant_id, filter);
        if let Some(after) = after_id {
            query = query.filter(findings::id.gt(after.to_string()));
        }
        query.order(findings::id).limit(limit).select(FindingRow::as_select()).load(c)
    })?)
}

pub fn findings_count(conn: &mut Conn<'_>, tenant_id: &str, filter: &FindingFilter) -> Result<i64, DbError> {
    Ok(with_conn!(conn, |c| {
        let query = finding_filters!(findings::table.into_boxed(), tenant_id, filter);
        query.count().get_result(c)
    })?)
}

/// Findings summed per kind, effect and currency (`''` when no price is known).
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct FindingTotal {
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub effect: String,
    #[diesel(sql_type = Text)]
    pub currency: String,
    #[diesel(sql_type = BigInt)]
    pub findings: i64,
    #[diesel(sql_type = BigInt)]
    pub units: i64,
    #[diesel(sql_type = BigInt)]
    pub amount_minor: i64,
}

pub fn finding_totals(conn: &mut Conn<'_>, tenant_id: &str) -> Result<Vec<FindingTotal>, DbError> {
    let sql = sql_for(
        conn,
        "SELECT kind, effect, COALESCE(currency, '') AS currency, CAST(COUNT(*) AS BIGINT) AS findings, \
         CAST(SUM(units) AS BIGINT) AS units, CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS amount_minor \
         FROM findings WHERE tenant_id = $1 GROUP BY kind, effect, COALESCE(currency, '') \
         ORDER BY kind, effect, currency",
    );
    Ok(with_conn!(conn, |c| diesel::sql_query(&sql).bind::<Text, _>(tenant_id).load(c))?)
}

/// Savings per SKU and currency: the licence waste the findings found.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct SkuWaste {
    #[diesel(sql_type = Text)]
    pub sku_id: String,
    #[diesel(sql_type = Text)]
    pub currency: String,
    #[diesel(sql_type = BigInt)]
    pub units: i64,
    #[diesel(sql_type = BigInt)]
    pub amount_minor: i64,
}

pub fn waste_by_sku(conn: &mut Conn<'_>, tenant_id: &str) -> Result<Vec<SkuWaste>, DbError> {
    let sql = sql_for(
        conn,
        "SELECT sku_id, COALESCE(currency, '') AS currency, CAST(SUM(units) AS BIGINT) AS units, \
         CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS amount_minor \
         FROM findings WHERE tenant_id = $1 AND effect = 'saving' AND sku_id IS NOT NULL \
         GROUP BY sku_id, COALESCE(currency, '') ORDER BY sku_id, currency",
    );
    Ok(with_conn!(conn, |c| diesel::sql_query(&sql).bind::<Text, _>(tenant_id).load(c))?)
}

// ---------------------------------------------------------------------------------------------------------------
// Call usage

/// Call counts summed over a group (a day, a user or a department).
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct UsageGroup {
    /// The day (`YYYY-MM-DD`), user id or department (`''` for none).
    #[diesel(sql_type = Text)]
    pub key: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub user_principal_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub display_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub department: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub calls: i64,
    #[diesel(sql_type = BigInt)]
    pub group_calls: i64,
    #[diesel(sql_type = BigInt)]
    pub peer_calls: i64,
    #[diesel(sql_type = BigInt)]
    pub seconds: i64,
    #[diesel(sql_type = BigInt)]
    pub video_calls: i64,
    #[diesel(sql_type = BigInt)]
    pub pstn_calls: i64,
    #[diesel(sql_type = BigInt)]
    pub streams: i64,
    #[diesel(sql_type = BigInt)]
    pub poor_streams: i64,
}

const SUMS: &str = "CAST(SUM(d.calls) AS BIGINT) AS calls, CAST(SUM(d.group_calls) AS BIGINT) AS group_calls, \
    CAST(SUM(d.peer_calls) AS BIGINT) AS peer_calls, CAST(SUM(d.seconds) AS BIGINT) AS seconds, \
    CAST(SUM(d.video_calls) AS BIGINT) AS video_calls, CAST(SUM(d.pstn_calls) AS BIGINT) AS pstn_calls, \
    CAST(SUM(d.streams) AS BIGINT) AS streams, CAST(SUM(d.poor_streams) AS BIGINT) AS poor_streams";

/// A tenant's calls per day in `[from, to]` (days without calls are absent).
pub fn usage_by_day(
    conn: &mut Conn<'_>,
    tenant_id: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<UsageGroup>, DbError> {
    let sql = sql_for(
        conn,
        &format!(
            "SELECT CAST(d.day AS TEXT) AS key, CAST(NULL AS TEXT) AS user_principal_name, \
             CAST(NULL AS TEXT) AS display_name, CAST(NULL AS TEXT) AS department, {SUMS} \
             FROM call_usage_tenant_daily d WHERE d.tenant_id = $1 AND d.day >= $2 AND d.day <= $3 \
             GROUP BY d.day ORDER BY d.day"
        ),
    );
    Ok(with_conn!(conn, |c| diesel::sql_query(&sql)
        .bind::<Text, _>(tenant_id)
        .bind::<Date, _>(from)
        .bind::<Date, _>(to)
        .load(c))?)
}

/// A tenant's calls per user in `[from, to]`, by user id, after `after_user` (a page of `limit`); names and
/// departments from the snapshot `run_id`.
pub fn usage_by_user(
    conn: &mut Conn<'_>,
    tenant_id: &str,
    run_id: &str,
    from: NaiveDate,
    to: NaiveDate,
    after_user: &str,
    limit: i64,
) -> Result<Vec<UsageGroup>, DbError> {
    let sql = sql_for(
        conn,
        &format!(
            "SELECT d.user_id AS key, MAX(u.user_principal_name) AS user_principal_name, \
             MAX(u.display_name) AS display_name, MAX(u.department) AS department, {SUMS} \
             FROM call_usage_daily d LEFT JOIN users u ON u.run_id = $4 AND u.id = d.user_id \
             WHERE d.tenant_id = $1 AND d.day >= $2 AND d.day <= $3 AND d.user_id > $5 \
             GROUP BY d.user_id ORDER BY d.user_id LIMIT $6"
        ),
    );
    Ok(with_conn!(conn, |c| diesel::sql_query(&sql)
        .bind::<Text, _>(tenant_id)
        .bind::<Date, _>(from)
        .bind::<Date, _>(to)
        .bind::<Text, _>(run_id)
        .bind::<Text, _>(after_user)
        .bind::<BigInt, _>(limit)
        .load(c))?)
}

/// A tenant's calls per department (of the snapshot `run_id`; `''` for users without one or not in it). A call
/// with two users of one department counts once for each, as it does per user.
pub fn usage_by_department(
    conn: &mut Conn<'_>,
    tenant_id: &str,
    run_id: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<UsageGroup>, DbError> {
    let sql = sql_for(
        conn,
        &format!(
            "SELECT COALESCE(u.department, '') AS key, CAST(NULL AS TEXT) AS user_principal_name, \
             CAST(NULL AS TEXT) AS display_name, COALESCE(u.department, '') AS department, {SUMS} \
             FROM (SELECT user_id, SUM(calls) AS calls, SUM(group_calls) AS group_calls, SUM(peer_calls) AS peer_calls, \
                   SUM(seconds) AS seconds, SUM(video_calls) AS video_calls, SUM(pstn_calls) AS pstn_calls, \
                   SUM(streams) AS streams, SUM(poor_streams) AS poor_streams \
                   FROM call_usage_daily WHERE tenant_id = $1 AND day >= $2 AND day <= $3 GROUP BY user_id) d \
             LEFT JOIN users u ON u.run_id = $4 AND u.id = d.user_id \
             GROUP BY COALESCE(u.department, '') ORDER BY 1"
        ),
    );
    Ok(with_conn!(conn, |c| diesel::sql_query(&sql)
        .bind::<Text, _>(tenant_id)
        .bind::<Date, _>(from)
        .bind::<Date, _>(to)
        .bind::<Text, _>(run_id)
        .load(c))?)
}

/// Users with the most poor streams in `[from, to]`.
pub fn worst_quality_users(
    conn: &mut Conn<'_>,
    tenant_id: &str,
    run_id: &str,
    from: NaiveDate,
    to: NaiveDate,
    limit: i64,
) -> Result<Vec<UsageGroup>, DbError> {
    let sql = sql_for(
        conn,
        &format!(
            "SELECT d.key, u.user_principal_name, u.display_name, u.department, d.calls, d.group_calls, d.peer_calls, \
             d.seconds, d.video_calls, d.pstn_calls, d.streams, d.poor_streams \
             FROM (SELECT d.user_id AS key, {SUMS} FROM call_usage_daily d \
                   WHERE d.tenant_id = $1 AND d.day >= $2 AND d.day <= $3 AND d.poor_streams > 0 \
                   GROUP BY d.user_id ORDER BY SUM(d.poor_streams) DESC, d.user_id LIMIT $5) d \
             LEFT JOIN users u ON u.run_id = $4 AND u.id = d.key \
             ORDER BY d.poor_streams DESC, d.key"
        ),
    );
    Ok(with_conn!(conn, |c| diesel::sql_query(&sql)
        .bind::<Text, _>(tenant_id)
        .bind::<Date, _>(from)
        .bind::<Date, _>(to)
        .bind::<Text, _>(run_id)
        .bind::<BigInt, _>(limit)
        .load(c))?)
}

// ---------------------------------------------------------------------------------------------------------------
// Audit log

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = audit_log, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct AuditRow {
    pub seq: i64,
    pub at: NaiveDateTime,
    pub tenant_id: Option<String>,
    pub actor_tenant: String,
    pub actor_id: String,
    pub actor_name: String,
    pub action: String,
    pub target: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = audit_log)]
#[diesel(treat_none_as_default_value = false)]
pub struct NewAudit {
    pub at: NaiveDateTime,
    pub tenant_id: Option<String>,
    pub actor_tenant: String,
    pub actor_id: String,
    pub actor_name: String,
    pub action: String,
    pub target: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl AuditRow {
    /// Appends an entry; call in the transaction of the write it records.
    pub fn append(conn: &mut Conn<'_>, entry: &NewAudit) -> Result<(), DbError> {
        with_conn!(conn, |c| diesel::insert_into(audit_log::table).values(entry).execute(c))?;
        Ok(())
    }

    /// The tenant's entries (every entry when `None`), newest first, before `before_seq`.
    pub fn for_tenant(
        conn: &mut Conn<'_>,
        tenant_id: Option<&str>,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRow>, DbError> {
        Ok(with_conn!(conn, |c| {
            let mut query = audit_log::table.into_boxed();
            if let Some(tenant_id) = tenant_id {
                query = query.filter(audit_log::tenant_id.eq(tenant_id.to_string()));
            }
            if let Some(seq) = before_seq {
                query = query.filter(audit_log::seq.lt(seq));
            }
            query.order(audit_log::seq.desc()).limit(limit).select(AuditRow::as_select()).load(c)
        })?)
    }
}
