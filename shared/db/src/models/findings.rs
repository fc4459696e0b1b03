//! Licence findings, the per-tenant price overrides and thresholds they use, and their recompute marks.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::schema::{finding_totals, findings, findings_marks, price_overrides, tenant_settings};
use crate::{Conn, DbError, with_conn};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = findings, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(treat_none_as_default_value = false)]
pub struct FindingRow {
    pub tenant_id: String,
    /// `kind:user:sku`, stable across recomputes.
    pub id: String,
    pub run_id: String,
    pub kind: String,
    pub user_id: Option<String>,
    pub user_principal_name: Option<String>,
    pub department: Option<String>,
    pub sku_id: Option<String>,
    pub sku_part_number: Option<String>,
    pub units: i64,
    /// `saving` (money that can stop) or `cost` (money at risk, e.g. a true-up).
    pub effect: String,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    /// JSON object.
    pub evidence: String,
    pub computed_at: NaiveDateTime,
}

/// The tenant's findings summed per kind, effect, SKU and currency; written by [`FindingRow::replace`] with the
/// findings, so the portal reads these few rows instead of grouping every finding.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = finding_totals, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct FindingTotalRow {
    pub tenant_id: String,
    pub kind: String,
    pub effect: String,
    /// `''` for findings on no SKU.
    pub sku_id: String,
    /// `''` for findings on SKUs without a known price.
    pub currency: String,
    pub findings: i64,
    pub units: i64,
    /// Per month; 0 where the currency is `''`.
    pub amount_minor: i64,
}

impl FindingTotalRow {
    /// The totals of `rows` (one tenant's findings), in key order.
    pub fn sum(tenant_id: &str, rows: &[FindingRow]) -> Vec<FindingTotalRow> {
        // (kind, effect, SKU, currency) → (findings, units, amount)
        type Key<'r> = (&'r str, &'r str, &'r str, &'r str);
        let mut totals: std::collections::BTreeMap<Key<'_>, (i64, i64, i64)> = Default::default();
        for row in rows {
            let key = (
                row.kind.as_str(),
                row.effect.as_str(),
                row.sku_id.as_deref().unwrap_or_default(),
                row.currency.as_deref().unwrap_or_default(),
            );
            let total = totals.entry(key).or_default();
            total.0 += 1;
            total.1 += row.units;
            total.2 += row.amount_minor.unwrap_or_default();
        }
        totals
            .into_iter()
            .map(|((kind, effect, sku_id, currency), (findings, units, amount_minor))| FindingTotalRow {
                tenant_id: tenant_id.to_string(),
                kind: kind.to_string(),
                effect: effect.to_string(),
                sku_id: sku_id.to_string(),
                currency: currency.to_string(),
                findings,
                units,
                amount_minor,
            })
            .collect()
    }

    pub fn for_tenant(conn: &mut Conn<'_>, tenant_id: &str) -> Result<Vec<FindingTotalRow>, DbError> {
        Ok(with_conn!(conn, |c| finding_totals::table
            .filter(finding_totals::tenant_id.eq(tenant_id))
            .order((finding_totals::kind, finding_totals::effect, finding_totals::sku_id, finding_totals::currency,))
            .select(FindingTotalRow::as_select())
            .load(c))?)
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = price_overrides, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct PriceOverrideRow {
    pub tenant_id: String,
    pub sku_part_number: String,
    pub amount_minor: i64,
    pub currency: String,
    pub updated_at: NaiveDateTime,
    pub updated_by: String,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = tenant_settings, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct TenantSettingsRow {
    pub tenant_id: String,
    pub inactive_days: i32,
    pub new_account_grace_days: i32,
    pub phone_idle_days: i32,
    /// JSON array of user ids or principal names.
    pub excluded_users: String,
    pub updated_at: NaiveDateTime,
    pub updated_by: String,
}

impl FindingRow {
    /// Replaces the tenant's findings and their totals, and bumps its data version; call inside a transaction.
    pub fn replace(conn: &mut Conn<'_>, tenant_id: &str, rows: &[FindingRow]) -> Result<(), DbError> {
        with_conn!(&mut *conn, |c| diesel::delete(findings::table.filter(findings::tenant_id.eq(tenant_id)))
            .execute(c))?;
        crate::insert_new!(conn, findings::table, rows, 15);
        with_conn!(&mut *conn, |c| diesel::delete(
            finding_totals::table.filter(finding_totals::tenant_id.eq(tenant_id))
        )
        .execute(c))?;
        let totals = FindingTotalRow::sum(tenant_id, rows);
        crate::insert_new!(conn, finding_totals::table, &totals, 8);
        super::DataVersion::bump(conn, tenant_id)
    }

    pub fn for_tenant(conn: &mut Conn<'_>, tenant_id: &str) -> Result<Vec<FindingRow>, DbError> {
        Ok(with_conn!(conn, |c| findings::table
            .filter(findings::tenant_id.eq(tenant_id))
            .order(findings::id)
            .select(FindingRow::as_select())
            .load(c))?)
    }
}

/// Queues a findings recompute of the tenant (e.g. after a price or threshold change).
pub fn mark(conn: &mut Conn<'_>, tenant_id: &str) -> Result<(), DbError> {
    with_conn!(conn, |c| diesel::insert_into(findings_marks::table)
        .values(findings_marks::tenant_id.eq(tenant_id))
        .execute(c))?;
    Ok(())
}

/// Up to `limit` tenants with a findings recompute queued, oldest mark first.
pub fn pending(conn: &mut Conn<'_>, limit: i64) -> Result<Vec<String>, DbError> {
    let rows: Vec<(String, Option<i64>)> = with_conn!(conn, |c| findings_marks::table
        .group_by(findings_marks::tenant_id)
        .select((findings_marks::tenant_id, diesel::dsl::min(findings_marks::seq)))
        .order(diesel::dsl::min(findings_marks::seq))
        .limit(limit)
        .load(c))?;
    Ok(rows.into_iter().map(|(t, _)| t).collect())
}

/// Takes the tenant's marks (inside the recompute's transaction; PostgreSQL replicas queue on an advisory lock).
pub fn take_marks(conn: &mut Conn<'_>, tenant_id: &str) -> Result<usize, DbError> {
    if let Conn::Pg(c) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext('findings/' || $1))")
            .bind::<Text, _>(tenant_id)
            .execute(&mut **c)?;
    }
    Ok(with_conn!(conn, |c| diesel::delete(findings_marks::table.filter(findings_marks::tenant_id.eq(tenant_id)))
        .execute(c))?)
}

impl PriceOverrideRow {
    pub fn for_tenant(conn: &mut Conn<'_>, tenant_id: &str) -> Result<Vec<PriceOverrideRow>, DbError> {
        Ok(with_conn!(conn, |c| price_overrides::table
            .filter(price_overrides::tenant_id.eq(tenant_id))
            .order(price_overrides::sku_part_number)
            .select(PriceOverrideRow::as_select())
            .load(c))?)
    }

    /// Sets a price, queues a findings recompute and bumps the tenant's data version (prices show at once).
    pub fn put(conn: &mut Conn<'_>, row: &PriceOverrideRow) -> Result<(), DbError> {
        with_conn!(&mut *conn, |c| diesel::insert_into(price_overrides::table)
            .values(row)
            .on_conflict((price_overrides::tenant_id, price_overrides::sku_part_number))
            .do_update()
            .set(row)
            .execute(c))?;
        mark(conn, &row.tenant_id)?;
        super::DataVersion::bump(conn, &row.tenant_id)
    }
}

impl PriceOverrideRow {
    pub fn find(
        conn: &mut Conn<'_>,
        tenant_id: &str,
        sku_part_number: &str,
    ) -> Result<Option<PriceOverrideRow>, DbError> {
        Ok(with_conn!(conn, |c| price_overrides::table
            .find((tenant_id, sku_part_number))
            .select(PriceOverrideRow::as_select())
            .first(c)
            .optional())?)
    }

    /// Removes an override (the default price applies again), queues a findings recompute and bumps the tenant's
    /// data version; false when there was none.
    pub fn delete(conn: &mut Conn<'_>, tenant_id: &str, sku_part_number: &str) -> Result<bool, DbError> {
        let removed =
            with_conn!(&mut *conn, |c| diesel::delete(price_overrides::table.find((tenant_id, sku_part_number)))
                .execute(c))?;
        if removed > 0 {
            mark(conn, tenant_id)?;
            super::DataVersion::bump(conn, tenant_id)?;
        }
        Ok(removed > 0)
    }
}

impl TenantSettingsRow {
    pub fn find(conn: &mut Conn<'_>, tenant_id: &str) -> Result<Option<TenantSettingsRow>, DbError> {
        Ok(with_conn!(conn, |c| tenant_settings::table
            .find(tenant_id)
            .select(TenantSettingsRow::as_select())
            .first(c)
            .optional())?)
    }

    /// Sets the tenant's thresholds, queues a findings recompute and bumps the tenant's data version.
    pub fn put(conn: &mut Conn<'_>, row: &TenantSettingsRow) -> Result<(), DbError> {
        with_conn!(&mut *conn, |c| diesel::insert_into(tenant_settings::table)
            .values(row)
            .on_conflict(tenant_settings::tenant_id)
            .do_update()
            .set(row)
            .execute(c))?;
        mark(conn, &row.tenant_id)?;
        super::DataVersion::bump(conn, &row.tenant_id)
    }
}
