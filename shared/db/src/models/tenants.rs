use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::tenants;
use crate::states::{ConsentState, FeedState};
use crate::{Conn, DbError, with_conn};

/// A customer tenant and what its consent proved.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = tenants, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct TenantRow {
    pub id: String,
    pub display_name: String,
    /// `pending`, `granted`, `denied` or `revoked`.
    pub consent_state: ConsentState,
    /// JSON object: permission name → `granted` | `missing` | `unknown`.
    pub permissions: String,
    /// JSON object of prerequisites, e.g. `{"entra_id_p1": true}`.
    pub prerequisites: String,
    pub consented_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The invitation whose link this tenant consented through.
    pub invitation_id: Option<String>,
    /// Call-record feed: `healthy`, `degraded`, `down` or `not_collected`.
    pub feed_state: FeedState,
    pub feed_since: Option<NaiveDateTime>,
    pub feed_error: Option<String>,
}

impl TenantRow {
    /// Inserts the tenant, or updates everything but `created_at` when it exists.
    pub fn upsert(conn: &mut Conn<'_>, row: &TenantRow) -> Result<(), DbError> {
        with_conn!(conn, |c| diesel::insert_into(tenants::table)
            .values(row)
            .on_conflict(tenants::id)
            .do_update()
            .set((
                tenants::display_name.eq(&row.display_name),
                tenants::consent_state.eq(&row.consent_state),
                tenants::permissions.eq(&row.permissions),
                tenants::prerequisites.eq(&row.prerequisites),
                tenants::consented_at.eq(row.consented_at),
                tenants::updated_at.eq(row.updated_at),
                tenants::invitation_id.eq(&row.invitation_id),
            ))
            .execute(c))?;
        Ok(())
    }

    pub fn find(conn: &mut Conn<'_>, id: &str) -> Result<Option<TenantRow>, DbError> {
        Ok(with_conn!(conn, |c| tenants::table.find(id).select(TenantRow::as_select()).first(c).optional())?)
    }

    pub fn list(conn: &mut Conn<'_>) -> Result<Vec<TenantRow>, DbError> {
        Ok(with_conn!(conn, |c| tenants::table.order(tenants::id).select(TenantRow::as_select()).load(c))?)
    }
}

impl TenantRow {
    /// Tenants whose consent is granted, i.e. those sua collects from.
    pub fn consented(conn: &mut Conn<'_>) -> Result<Vec<TenantRow>, DbError> {
        Ok(with_conn!(conn, |c| tenants::table
            .filter(tenants::consent_state.eq(ConsentState::Granted))
            .order(tenants::id)
            .select(TenantRow::as_select())
            .load(c))?)
    }
}

impl TenantRow {
    /// Replaces the per-permission states (JSON) a probe or a sync proved.
    pub fn set_permissions(
        conn: &mut Conn<'_>,
        id: &str,
        permissions: &str,
        now: NaiveDateTime,
    ) -> Result<(), DbError> {
        with_conn!(conn, |c| diesel::update(tenants::table.find(id))
            .set((tenants::permissions.eq(permissions), tenants::updated_at.eq(now)))
            .execute(c))?;
        Ok(())
    }

    /// Records the call-record feed's state; `feed_since` moves only when the state changes.
    pub fn set_feed(
        conn: &mut Conn<'_>,
        id: &str,
        state: FeedState,
        error: Option<&str>,
        now: NaiveDateTime,
    ) -> Result<(), DbError> {
        with_conn!(&mut *conn, |c| diesel::update(tenants::table.find(id).filter(tenants::feed_state.ne(state)))
            .set((tenants::feed_state.eq(state), tenants::feed_since.eq(now)))
            .execute(c))?;
        with_conn!(conn, |c| diesel::update(tenants::table.find(id)).set(tenants::feed_error.eq(error)).execute(c))?;
        Ok(())
    }
}
