use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::subscriptions;
use crate::{Conn, DbError, with_conn};

/// A Graph change-notification subscription sua created in a customer tenant.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = subscriptions, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct SubscriptionRow {
    pub id: String,
    pub tenant_id: String,
    pub resource: String,
    /// SHA-256 (hex) of the subscription's clientState.
    pub client_state_hash: String,
    /// `active`, `expired` or `deleted`.
    pub status: String,
    pub expires_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl SubscriptionRow {
    pub fn insert(conn: &mut Conn<'_>, row: &SubscriptionRow) -> Result<(), DbError> {
        with_conn!(conn, |c| diesel::insert_into(subscriptions::table).values(row).execute(c))?;
        Ok(())
    }

    pub fn find(conn: &mut Conn<'_>, id: &str) -> Result<Option<SubscriptionRow>, DbError> {
        Ok(with_conn!(conn, |c| subscriptions::table
            .find(id)
            .select(SubscriptionRow::as_select())
            .first(c)
            .optional())?)
    }

    pub fn for_tenant(conn: &mut Conn<'_>, tenant_id: &str) -> Result<Vec<SubscriptionRow>, DbError> {
        Ok(with_conn!(conn, |c| subscriptions::table
            .filter(subscriptions::tenant_id.eq(tenant_id))
            .order(subscriptions::created_at.desc())
            .select(SubscriptionRow::as_select())
            .load(c))?)
    }
}
