//! What sua knows about each customer tenant: consent, permissions, prerequisites, last sync, the call-record feed.
//! One type, shown by portal-api (`GET /tenants/{id}/status`) and `sua tenants`.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sua_core::messages::PermissionState;
use sua_db::Pool;
use sua_db::models::{BackfillRow, SubscriptionRow, SyncRunRow, TenantRow};
use sua_db::states::{ConsentState, FeedState, RunStatus};
use utoipa::ToSchema;

/// The sync-run kind of the daily licence sync (`collector.sync_runs.kind`).
pub const LICENCE_SYNC: &str = "licence";

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct TenantStatus {
    pub tenant_id: String,
    pub display_name: String,
    #[schema(value_type = String)]
    pub consent_state: ConsentState,
    pub consented_at: Option<DateTime<Utc>>,
    /// Each Graph permission sua needs: `granted`, `missing` or `unknown` (the probe could not tell).
    #[schema(value_type = BTreeMap<String, String>)]
    pub permissions: BTreeMap<String, PermissionState>,
    /// Permissions not proven granted.
    pub missing_permissions: Vec<String>,
    /// Whether the tenant has Entra ID P1 (needed for sign-in activity); absent when not known yet.
    pub entra_id_p1: Option<bool>,
    pub last_sync: Option<SyncStatus>,
    /// Call-record feed: `healthy`, `degraded`, `down` or `not_collected`, since when and why.
    #[schema(value_type = String)]
    pub feed_state: FeedState,
    pub feed_since: Option<DateTime<Utc>>,
    pub feed_error: Option<String>,
    /// When the call-record change notifications lapse unless renewed.
    pub subscription_expires_at: Option<DateTime<Utc>>,
    pub last_backfill: Option<BackfillStatus>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct SyncStatus {
    pub run_id: String,
    pub day: NaiveDate,
    /// `running`, `completed`, `failed` or `rerun_requested`.
    #[schema(value_type = String)]
    pub status: RunStatus,
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct BackfillStatus {
    /// `queued`, `running`, `completed` or `failed`.
    #[schema(value_type = String)]
    pub status: sua_db::states::BackfillStatus,
    /// `consent`, `gap` or `manual`.
    pub reason: String,
    pub window_from: DateTime<Utc>,
    pub window_to: DateTime<Utc>,
    pub listed: i32,
    pub queued: i32,
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
        consented_at: tenant.consented_at.map(|t| t.and_utc()),
        permissions,
        missing_permissions,
        entra_id_p1: prerequisites["entra_id_p1"].as_bool(),
        feed_state: tenant.feed_state,
        feed_since: tenant.feed_since.map(|t| t.and_utc()),
        feed_error: tenant.feed_error,
        subscription_expires_at: subscription.map(|s| s.expires_at.and_utc()),
        last_backfill: backfill.map(|b| BackfillStatus {
            reason: b.reason,
            status: b.status,
            window_from: b.window_from.and_utc(),
            window_to: b.window_to.and_utc(),
            listed: b.listed,
            queued: b.queued,
            error: b.error,
        }),
        last_sync: last.map(|run| SyncStatus {
            run_id: run.id,
            day: run.day,
            status: run.status,
            attempt: run.attempt,
            started_at: run.started_at.and_utc(),
            finished_at: run.finished_at.map(|t| t.and_utc()),
            error: run.error,
        }),
    }
}

/// One tenant's status.
pub fn status(conn: &mut sua_db::Conn<'_>, tenant: TenantRow) -> Result<TenantStatus, sua_db::DbError> {
    let last = SyncRunRow::latest(conn, &tenant.id, LICENCE_SYNC)?;
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
