//! One module per table: a row type, an insertable type where they differ, and queries as associated functions
//! taking a [`Conn`](crate::Conn), so the caller decides between a pooled connection and a transaction.

/// `$n` placeholders as the backend writes them (SQLite numbers them `?n`).
pub(crate) fn sql_for(conn: &crate::Conn<'_>, sql: &str) -> String {
    match conn {
        crate::Conn::Pg(_) => sql.to_string(),
        crate::Conn::Sqlite(_) => sql.replace('$', "?"),
    }
}

#[doc(hidden)]
/// Rows per INSERT statement: keeps every statement under PostgreSQL's 65,535 and SQLite's 32,766 bind limits.
pub fn rows_per_insert(columns: usize) -> usize {
    (30_000 / columns.max(1)).max(1)
}

/// Inserts `rows`, skipping rows whose key exists; returns how many were new. PostgreSQL gets multi-row INSERTs
/// in chunks; SQLite (no multi-row INSERT with ON CONFLICT in diesel) one cached statement per row, which inside
/// its write transaction costs little.
#[macro_export]
#[doc(hidden)]
macro_rules! insert_new {
    ($conn:expr, $table:path, $rows:expr, $columns:expr) => {{
        let mut inserted = 0usize;
        match &mut *$conn {
            $crate::Conn::Pg(c) => {
                for chunk in $rows.chunks($crate::models::rows_per_insert($columns)) {
                    inserted +=
                        $crate::diesel::insert_into($table).values(chunk).on_conflict_do_nothing().execute(&mut **c)?;
                }
            }
            $crate::Conn::Sqlite(c) => {
                for row in $rows.iter() {
                    inserted +=
                        $crate::diesel::insert_into($table).values(row).on_conflict_do_nothing().execute(&mut **c)?;
                }
            }
        }
        inserted
    }};
}

pub mod audit_log;
pub mod backfills;
pub mod call_records;
pub mod callrecord_fetches;
pub mod collection_cursors;
pub mod data_versions;
pub mod department_cost_daily;
pub mod findings;
pub mod installation;
pub mod invitations;
pub mod licence_cost_daily;
pub mod pstn_calls;
pub mod pstn_usage;
pub mod quality_windows;
pub mod rate_limits;
pub mod realised_savings;
pub mod retention;
pub mod rollups;
pub mod savings_daily;
pub mod snapshots;
pub mod subscriptions;
pub mod sync_runs;
pub mod tenant_daily;
pub mod tenants;

pub use audit_log::{AuditRow, NewAudit};
pub use backfills::BackfillRow;
pub use call_records::{
    CallParticipantRow, CallRecordRow, CallSegmentRow, CallSessionRow, CallStreamRow, CallUserFactRow, NormalisedCall,
};
pub use callrecord_fetches::CallRecordFetchRow;
pub use data_versions::DataVersion;
pub use department_cost_daily::DepartmentCostDayRow;
pub use findings::{FindingRow, FindingTotalRow, PriceOverrideRow, TenantSettingsRow};
pub use invitations::InvitationRow;
pub use licence_cost_daily::LicenceCostDayRow;
pub use pstn_calls::PstnCallRow;
pub use realised_savings::RealisedSavingRow;
pub use savings_daily::SavingsDayRow;
pub use snapshots::{
    AssignmentRow, SkuPlanRow, SkuRow, SnapshotData, SnapshotPartRow, SnapshotRow, TeamsActivityRow, UserRow,
};
pub use subscriptions::SubscriptionRow;
pub use sync_runs::{StartOutcome, SyncRunRow};
pub use tenant_daily::TenantDayRow;
pub use tenants::TenantRow;
