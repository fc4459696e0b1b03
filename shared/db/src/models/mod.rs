//! One module per table: a row type, an insertable type where they differ, and queries as associated functions
//! taking a [`Conn`](crate::Conn), so the caller decides between a pooled connection and a transaction.

pub mod backfills;
pub mod call_records;
pub mod callrecord_fetches;
pub mod collection_cursors;
pub mod invitations;
pub mod rate_limits;
pub mod subscriptions;
pub mod sync_runs;
pub mod tenants;

pub use backfills::BackfillRow;
pub use call_records::CallRecordRow;
pub use callrecord_fetches::CallRecordFetchRow;
pub use invitations::InvitationRow;
pub use subscriptions::SubscriptionRow;
pub use sync_runs::{StartOutcome, SyncRunRow};
pub use tenants::TenantRow;
