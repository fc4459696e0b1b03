//! One module per table: a row type, an insertable type where they differ, and queries as associated functions
//! taking a [`Conn`](crate::Conn), so the caller decides between a pooled connection and a transaction.

pub mod backfills;
pub mod call_records;
pub mod callrecord_fetches;
pub mod collection_cursors;
pub mod findings;
pub mod invitations;
pub mod pstn_calls;
pub mod rate_limits;
pub mod rollups;
pub mod snapshots;
pub mod subscriptions;
pub mod sync_runs;
pub mod tenants;

pub use backfills::BackfillRow;
pub use call_records::{
    CallParticipantRow, CallRecordRow, CallSegmentRow, CallSessionRow, CallStreamRow, CallUserFactRow, NormalisedCall,
};
pub use callrecord_fetches::CallRecordFetchRow;
pub use findings::{FindingRow, PriceOverrideRow, TenantSettingsRow};
pub use invitations::InvitationRow;
pub use pstn_calls::PstnCallRow;
pub use snapshots::{
    AssignmentRow, SkuPlanRow, SkuRow, SnapshotData, SnapshotPartRow, SnapshotRow, TeamsActivityRow, UserRow,
};
pub use subscriptions::SubscriptionRow;
pub use sync_runs::{StartOutcome, SyncRunRow};
pub use tenants::TenantRow;
