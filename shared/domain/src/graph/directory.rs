//! `subscribedSkus` and `users` pages (subscribedsku-list.md, user-list.md, the signInActivity resource).

use serde::Deserialize;

use super::{Instant, instant_or_none};

/// A page of a Graph collection.
#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    pub value: Vec<T>,
    #[serde(rename = "@odata.nextLink")]
    pub next_link: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribedSku {
    pub sku_id: String,
    pub sku_part_number: String,
    /// `Enabled`, `Warning`, `Suspended`, `Deleted`, `LockedOut`
    pub capability_status: Option<String>,
    pub applies_to: Option<String>,
    #[serde(default)]
    pub consumed_units: i64,
    #[serde(default)]
    pub prepaid_units: PrepaidUnits,
    #[serde(default)]
    pub service_plans: Vec<ServicePlan>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PrepaidUnits {
    pub enabled: i64,
    pub warning: i64,
    pub suspended: i64,
    pub locked_out: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePlan {
    pub service_plan_id: String,
    pub service_plan_name: Option<String>,
    pub applies_to: Option<String>,
    pub provisioning_status: Option<String>,
}

/// A user as the licence sync selects it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    /// Selected by the sync (Microsoft's examples that select other fields leave it out).
    pub user_principal_name: Option<String>,
    pub display_name: Option<String>,
    pub mail: Option<String>,
    pub department: Option<String>,
    pub job_title: Option<String>,
    pub office_location: Option<String>,
    pub country: Option<String>,
    pub usage_location: Option<String>,
    pub account_enabled: Option<bool>,
    pub user_type: Option<String>,
    #[serde(default, deserialize_with = "instant_or_none")]
    pub created_date_time: Option<Instant>,
    #[serde(default)]
    pub assigned_licenses: Vec<AssignedLicense>,
    /// Only when selected; `null` for users without sign-in data.
    pub sign_in_activity: Option<SignInActivity>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignedLicense {
    pub sku_id: String,
    #[serde(default)]
    pub disabled_plans: Vec<String>,
}

/// Sign-in times; "never" is `""` or `0001-01-01T00:00:00Z`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInActivity {
    #[serde(default, deserialize_with = "instant_or_none")]
    pub last_sign_in_date_time: Option<Instant>,
    #[serde(default, deserialize_with = "instant_or_none")]
    pub last_non_interactive_sign_in_date_time: Option<Instant>,
    #[serde(default, deserialize_with = "instant_or_none")]
    pub last_successful_sign_in_date_time: Option<Instant>,
}

/// The organization (`GET /organization/{id}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    pub id: String,
    pub display_name: Option<String>,
}
