//! Licence finding kinds and the thresholds a tenant sets for them. analytics computes findings; portal-api lists
//! them, filters by kind and edits the thresholds.

use std::collections::BTreeSet;

use sua_db::models::TenantSettingsRow;

pub const DISABLED_ACCOUNT: &str = "disabled_account";
pub const NEVER_SIGNED_IN: &str = "never_signed_in";
pub const INACTIVE_USER: &str = "inactive_user";
pub const REDUNDANT_LICENCE: &str = "redundant_licence";
pub const UNUSED_PHONE_LICENCE: &str = "unused_phone_licence";
pub const DOWNGRADE_CANDIDATE: &str = "downgrade_candidate";
pub const UNASSIGNED_SEATS: &str = "unassigned_seats";
pub const OVER_ASSIGNED: &str = "over_assigned";

pub const KINDS: &[&str] = &[
    DISABLED_ACCOUNT,
    NEVER_SIGNED_IN,
    INACTIVE_USER,
    REDUNDANT_LICENCE,
    UNUSED_PHONE_LICENCE,
    DOWNGRADE_CANDIDATE,
    UNASSIGNED_SEATS,
    OVER_ASSIGNED,
];

/// A tenant's thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub inactive_days: i64,
    pub new_account_grace_days: i64,
    pub phone_idle_days: i64,
    /// User ids or principal names (lower-case) never flagged.
    pub excluded: BTreeSet<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self { inactive_days: 90, new_account_grace_days: 30, phone_idle_days: 90, excluded: BTreeSet::new() }
    }
}

impl Settings {
    pub fn from_row(row: Option<&TenantSettingsRow>) -> Self {
        let Some(row) = row else { return Self::default() };
        let excluded: Vec<String> = serde_json::from_str(&row.excluded_users).unwrap_or_default();
        Self {
            inactive_days: i64::from(row.inactive_days),
            new_account_grace_days: i64::from(row.new_account_grace_days),
            phone_idle_days: i64::from(row.phone_idle_days),
            excluded: excluded.into_iter().map(|s| s.to_ascii_lowercase()).collect(),
        }
    }
}
