use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::subscriptions;
use crate::states::SubscriptionStatus;
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
    pub status: SubscriptionStatus,
    pub expires_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// When Graph last confirmed the subscription exists (creation, renewal, read-back).
    pub verified_at: Option<NaiveDateTime>,
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

impl SubscriptionRow {
    /// The tenant's subscription marked active (expired or not), newest first.
    pub fn active_for_tenant(conn: &mut Conn<'_>, tenant_id: &str) -> Result<Option<SubscriptionRow>, DbError> {
        Ok(with_conn!(conn, |c| subscriptions::table
            .filter(subscriptions::tenant_id.eq(tenant_id).and(subscriptions::status.eq(SubscriptionStatus::Active)))
            .order(subscriptions::created_at.desc())
            .select(SubscriptionRow::as_select())
            .first(c)
            .optional())?)
    }

    /// Graph confirmed the subscription (and its expiry) at `now`.
    pub fn verified(
        conn: &mut Conn<'_>,
        id: &str,
        expires_at: NaiveDateTime,
        now: NaiveDateTime,
    ) -> Result<(), DbError> {
        with_conn!(conn, |c| diesel::update(subscriptions::table.find(id))
            .set((
                subscriptions::expires_at.eq(expires_at),
                subscriptions::verified_at.eq(now),
                subscriptions::updated_at.eq(now)
            ))
            .execute(c))?;
        Ok(())
    }

    /// The subscription no longer exists at Graph (expired, deleted, or replaced).
    pub fn mark_gone(conn: &mut Conn<'_>, id: &str, now: NaiveDateTime) -> Result<(), DbError> {
        with_conn!(conn, |c| diesel::update(subscriptions::table.find(id))
            .set((subscriptions::status.eq(SubscriptionStatus::Gone), subscriptions::updated_at.eq(now)))
            .execute(c))?;
        Ok(())
    }

    /// Every subscription marked active (for the webhook's cache and the renewal sweep).
    pub fn all_active(conn: &mut Conn<'_>) -> Result<Vec<SubscriptionRow>, DbError> {
        Ok(with_conn!(conn, |c| subscriptions::table
            .filter(subscriptions::status.eq(SubscriptionStatus::Active))
            .select(SubscriptionRow::as_select())
            .load(c))?)
    }
}
