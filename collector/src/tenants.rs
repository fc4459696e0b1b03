//! What sua knows about each customer tenant: consent, permissions, prerequisites, last sync.

use std::collections::BTreeMap;

use serde::Serialize;
use sua_core::messages::PermissionState;
use sua_db::Pool;
use sua_db::models::{SyncRunRow, TenantRow};

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

pub fn status_of(tenant: TenantRow, last: Option<SyncRunRow>) -> TenantStatus {
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

/// Every tenant with its latest licence sync.
pub async fn list(pool: &Pool) -> Result<Vec<TenantStatus>, sua_db::DbError> {
    pool.run(|conn| {
        let tenants = TenantRow::list(conn)?;
        tenants
            .into_iter()
            .map(|tenant| {
                let last = SyncRunRow::latest(conn, &tenant.id, crate::sync::KIND)?;
                Ok(status_of(tenant, last))
            })
            .collect()
    })
    .await
}
