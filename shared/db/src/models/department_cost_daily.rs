//! Assigned licences per department and SKU with their monthly cost, per tenant and day: the chargeback's
//! licence side.

use chrono::NaiveDate;
use diesel::prelude::*;

use crate::schema::department_cost_daily;
use crate::{Conn, DbError, with_conn};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = department_cost_daily, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(treat_none_as_default_value = false)]
pub struct DepartmentCostDayRow {
    pub tenant_id: String,
    pub day: NaiveDate,
    /// `''` for users without a department.
    pub department: String,
    pub sku_id: String,
    pub sku_part_number: String,
    /// Whether the SKU gives a Teams Calling Plan (its cost is shown apart).
    pub calling_plan: bool,
    /// Licences of the SKU the department's users hold.
    pub units: i64,
    /// `''` when sua knows no price for the SKU.
    pub currency: String,
    /// Units × unit price, per month.
    pub cost_minor: Option<i64>,
}

impl DepartmentCostDayRow {
    /// Replaces the tenant's rows of `day`.
    pub fn replace(
        conn: &mut Conn<'_>,
        tenant_id: &str,
        day: NaiveDate,
        rows: &[DepartmentCostDayRow],
    ) -> Result<(), DbError> {
        with_conn!(&mut *conn, |c| diesel::delete(
            department_cost_daily::table
                .filter(department_cost_daily::tenant_id.eq(tenant_id))
                .filter(department_cost_daily::day.eq(day))
        )
        .execute(c))?;
        crate::insert_new!(conn, department_cost_daily::table, rows, 9);
        Ok(())
    }

    /// The rows of one day, by department and SKU part number.
    pub fn of_day(conn: &mut Conn<'_>, tenant_id: &str, day: NaiveDate) -> Result<Vec<DepartmentCostDayRow>, DbError> {
        Ok(with_conn!(conn, |c| department_cost_daily::table
            .filter(department_cost_daily::tenant_id.eq(tenant_id))
            .filter(department_cost_daily::day.eq(day))
            .order((
                department_cost_daily::department,
                department_cost_daily::sku_part_number,
                department_cost_daily::sku_id,
            ))
            .select(DepartmentCostDayRow::as_select())
            .load(c))?)
    }
}
