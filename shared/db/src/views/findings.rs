//! A tenant's findings a page at a time, and their totals per kind, effect and currency.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::models::{FindingRow, sql_for};
use crate::schema::findings;
use crate::{Conn, DbError, with_conn};

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
        "SELECT kind, effect, currency, CAST(SUM(findings) AS BIGINT) AS findings, \
         CAST(SUM(units) AS BIGINT) AS units, CAST(SUM(amount_minor) AS BIGINT) AS amount_minor \
         FROM finding_totals WHERE tenant_id = $1 GROUP BY kind, effect, currency \
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
        "SELECT sku_id, currency, CAST(SUM(units) AS BIGINT) AS units, \
         CAST(SUM(amount_minor) AS BIGINT) AS amount_minor \
         FROM finding_totals WHERE tenant_id = $1 AND effect = 'saving' AND sku_id <> '' \
         GROUP BY sku_id, currency ORDER BY sku_id, currency",
    );
    Ok(with_conn!(conn, |c| diesel::sql_query(&sql).bind::<Text, _>(tenant_id).load(c))?)
}
