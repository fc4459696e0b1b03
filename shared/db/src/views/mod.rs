//! What portal-api reads, one module per resource: pages of a snapshot's users, findings and call usage with
//! filters and keyset cursors, and the aggregates the dashboards show.
//!
//! Every list is paged by a keyset (the sort key and the row's id), never by OFFSET, so page 1,000 of a
//! 100,000-user tenant costs what page 1 does and an export can walk a whole list in constant memory.

pub mod calls;
pub mod findings;
pub mod users;

pub use calls::{UsageGroup, usage_by_day, usage_by_department, usage_by_user, worst_quality_users};
pub use findings::{
    FindingFilter, FindingTotal, SkuWaste, finding_totals, findings_count, findings_page, waste_by_sku,
};
pub use users::{
    Keyset, UserFilter, UserPage, UserSort, parse_sign_in_key, sign_in_key, user_totals, users_count, users_page,
    users_total,
};
