//! What sua knows about each customer tenant: consent, permissions, prerequisites, last sync.

use std::collections::BTreeMap;

use serde::Serialize;
use sua_core::messages::PermissionState;
use sua_db::Pool;
use sua_db::models::{BackfillRow, SubscriptionRow, SyncRunRow, TenantRow};

#[derive(Debug, Clone, Serialize)]
pub struct TenantStatus {
    pub tenant_id: String,
    pub display_name: String,
    pub consent_state: String,
    pub consented_at: Option<chrono::NaiveDateTime>,
    pub permissions: BTreeMap<String, PermissionState>,
    pub missing_permissions: Vec<String>,
    pub entra_id_p1: Option<bool>,
    pub last_sync: Option<SyncStatus>,
    /// Call-record feed: `healthy`, `degraded`, `down` or `not_collected`, since when, and why.
    pub feed_state: String,
    pub feed_since: Option<chrono::NaiveDateTime>,
    pub feed_error: Option<String>,
    pub subscription_expires_at: Option<chrono::NaiveDateTime>,
    pub last_backfill: Option<BackfillStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackfillStatus {
    pub id: String,
    pub reason: String,
    pub status: String,
    pub window_from: chrono::NaiveDateTime,
    pub window_to: chrono::NaiveDateTime,
    pub listed: i32,
    pub queued: i32,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SyncStatus {
    pub run_id: String,
    pub day: chrono::NaiveDate,
    pub status: String,
    pub attempt: i32,
    pub started_at: chrono::NaiveDateTime,
    pub finished_at: Option<chrono::NaiveDateTime>,
    pub error: Option<String>,
}

pub fn status_of(
    tenant: TenantRow,
    last: Option<SyncRunRow>,
    subscription: Option<SubscriptionRow>,
    backfill: Option<BackfillRow>,
) -> TenantStatus {
    let permissions: BTreeMap<String, PermissionState> = serde_json::from_str(&tenant.permissions).unwrap_or_default();
    let missing_permissions =
        permissions.iter().filter(|(_, s)| **s != PermissionState::Granted).map(|(p, _)| p.clone()).collect();
    let prerequisites: serde_json::Value = serde_json::from_str(&tenant.prerequisites).unwrap_or_default();
    TenantStatus {
        tenant_id: tenant.id,
        display_name: tenant.display_name,
        consent_state: tenant.consent_state,
        consented_at: tenant.consented_at,
        permissions,
        missing_permissions,
        entra_id_p1: prerequisites["entra_id_p1"].as_bool(),
        feed_state: tenant.feed_state,
        feed_since: tenant.feed_since,
        feed_error: tenant.feed_error,
        subscription_expires_at: subscription.map(|s| s.expires_at),
        last_backfill: backfill.map(|b| BackfillStatus {
            id: b.id,
            reason: b.reason,
            status: b.status,
            window_from: b.window_from,
            window_to: b.window_to,
            listed: b.listed,
            queued: b.queued,
            error: b.error,
        }),
        last_sync: last.map(|run| SyncStatus {
            run_id: run.id,
            day: run.day,
            status: run.status,
            attempt: run.attempt,
            started_at: run.started_at,
            finished_at: run.finished_at,
            error: run.error,
        }),
    }
}

/// One tenant's status.
pub fn status(conn: &mut sua_db::Conn<'_>, tenant: TenantRow) -> Result<TenantStatus, sua_db::DbError> {
    let last = SyncRunRow::latest(conn, &tenant.id, crate::sync::KIND)?;
    let subscription = SubscriptionRow::active_for_tenant(conn, &tenant.id)?;
    let backfill = BackfillRow::latest_for_tenant(conn, &tenant.id)?;
    Ok(status_of(tenant, last, subscription, backfill))
}

/// Every tenant with its latest licence sync.
pub async fn list(pool: &Pool) -> Result<Vec<TenantStatus>, sua_db::DbError> {
    pool.run(|conn| {
        let tenants = TenantRow::list(conn)?;
        tenants.into_iter().map(|tenant| status(conn, tenant)).collect()
    })
    .await
}
