//! Licence units and monthly cost per SKU, per tenant and day.

use chrono::NaiveDate;
use diesel::prelude::*;

use crate::schema::licence_cost_daily;
use crate::{Conn, DbError, with_conn};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = licence_cost_daily, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(treat_none_as_default_value = false)]
pub struct LicenceCostDayRow {
    pub tenant_id: String,
    pub day: NaiveDate,
    pub sku_id: String,
    pub sku_part_number: String,
    pub purchased: i64,
    pub assigned: i64,
    pub available: i64,
    /// `''` when sua knows no price for the SKU.
    pub currency: String,
    pub unit_price_minor: Option<i64>,
    /// Purchased units × unit price, per month.
    pub cost_minor: Option<i64>,
}

impl LicenceCostDayRow {
    /// Replaces the tenant's rows of `day`.
    pub fn replace(
        conn: &mut Conn<'_>,
        tenant_id: &str,
        day: NaiveDate,
        rows: &[LicenceCostDayRow],
    ) -> Result<(), DbError> {
        with_conn!(&mut *conn, |c| diesel::delete(
            licence_cost_daily::table
                .filter(licence_cost_daily::tenant_id.eq(tenant_id))
                .filter(licence_cost_daily::day.eq(day))
        )
        .execute(c))?;
        crate::insert_new!(conn, licence_cost_daily::table, rows, 10);
        Ok(())
    }

    /// The rows of `[from, to]`, by day and SKU part number.
    pub fn range(
        conn: &mut Conn<'_>,
        tenant_id: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<LicenceCostDayRow>, DbError> {
        Ok(with_conn!(conn, |c| licence_cost_daily::table
            .filter(licence_cost_daily::tenant_id.eq(tenant_id))
            .filter(licence_cost_daily::day.between(from, to))
            .order((licence_cost_daily::day, licence_cost_daily::sku_part_number, licence_cost_daily::sku_id))
            .select(LicenceCostDayRow::as_select())
            .load(c))?)
    }
}
