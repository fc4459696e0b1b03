//! Proves what a consent granted: for each permission one cheap request that sua's collection really depends on
//! and that needs nothing beyond the five permissions sua asks for, where Graph's `403` means the permission is
//! missing (graph-api.md §1.4: the token's `roles` are only a hint; Microsoft says not to read tokens for its APIs).
//! The Entra ID P1 prerequisite is read from the tenant's subscribed SKUs.
//!
//! | permission | probe (the request the collection makes) | Microsoft's permission table |
//! |---|---|---|
//! | Organization.Read.All | `GET /subscribedSkus` | Organization.Read.All |
//! | User.Read.All | `GET /users?$select=id` | User.Read.All |
//! | AuditLog.Read.All | `GET /users?$select=id,signInActivity` | User.Read.All and AuditLog.Read.All (and Entra ID P1) |
//! | Reports.Read.All | `GET /reports/getTeamsUserActivityUserDetail(period='D7')` (its redirect, not the file) | Reports.Read.All |
//! | CallRecords.Read.All | `GET /communications/callRecords` (one record a page) | CallRecords.Read.All |
//!
//! The sign-in probe depends on User.Read.All too: when that is missing, or the tenant has no Entra ID P1 (Graph
//! refuses sign-in data before it looks at permissions), AuditLog.Read.All is `unknown`, not missing.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use sua_core::messages::PermissionState;
use sua_domain::graph::directory::{Organization, Page, SubscribedSku};

use crate::graph::{Api, GraphClient, GraphError};

/// The application permissions sua asks for, in the brief's order.
pub const PERMISSIONS: [&str; 5] =
    ["AuditLog.Read.All", "CallRecords.Read.All", "Organization.Read.All", "Reports.Read.All", "User.Read.All"];

/// Longest the consent page waits for a turn in the shared sign-in activity budget.
const SIGN_IN_PROBE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Entra ID P1 and P2 service plans (licensing-service-plan-reference); either one enables sign-in activity.
pub const ENTRA_PREMIUM_PLANS: [&str; 2] =
    ["41781fb2-bc02-4b7c-bd55-b576c07bb09d", "eec0eb4f-6444-4f95-aba0-50c24d67f998"];

#[derive(Debug, Clone)]
pub struct ProbeReport {
    pub tenant_id: String,
    pub display_name: Option<String>,
    pub permissions: BTreeMap<&'static str, PermissionState>,
    /// Unknown when the SKUs could not be read.
    pub entra_id_p1: Option<bool>,
}

impl ProbeReport {
    pub fn missing(&self) -> Vec<&'static str> {
        self.permissions.iter().filter(|(_, s)| **s == PermissionState::Missing).map(|(p, _)| *p).collect()
    }
}

fn state_of<T>(result: &Result<T, GraphError>) -> PermissionState {
    match result {
        Ok(_) => PermissionState::Granted,
        Err(error) if error.is_forbidden() => PermissionState::Missing,
        Err(_) => PermissionState::Unknown,
    }
}

/// Whether any subscribed SKU with usable units carries an Entra ID P1 or P2 service plan.
pub fn has_entra_premium(skus: &Value) -> bool {
    let Ok(skus) = Page::<SubscribedSku>::deserialize(skus) else { return false };
    skus.value.iter().any(|sku| {
        let units = sku.prepaid_units.enabled + sku.prepaid_units.warning;
        let active = !matches!(sku.capability_status.as_deref(), Some("Suspended" | "Deleted" | "LockedOut"));
        let premium = sku
            .service_plans
            .iter()
            .any(|p| ENTRA_PREMIUM_PLANS.iter().any(|premium| premium.eq_ignore_ascii_case(&p.service_plan_id)));
        units > 0 && active && premium
    })
}

/// What the sign-in probe says about AuditLog.Read.All, given what the plain users probe said.
fn sign_in_state(sign_ins: &Result<Value, GraphError>, users: PermissionState) -> PermissionState {
    match sign_ins {
        Ok(_) => PermissionState::Granted,
        Err(error) if error.is_missing_premium_licence() => PermissionState::Unknown,
        Err(error) if error.is_forbidden() && users == PermissionState::Granted => PermissionState::Missing,
        Err(_) => PermissionState::Unknown,
    }
}

pub async fn probe(graph: &GraphClient, tenant: &str) -> ProbeReport {
    let skus = graph.get_json(tenant, Api::Directory, &graph.url("/subscribedSkus")).await;
    let users = graph.get_json(tenant, Api::Directory, &graph.url("/users?$top=1&$select=id")).await;
    // Sign-in requests share Microsoft's budget of 10 a minute across every tenant: when onboarding many tenants at
    // once the admin is not kept waiting for it; the permission stays `unknown` and the first sync settles it.
    let sign_ins = tokio::time::timeout(
        SIGN_IN_PROBE_WAIT,
        graph.get_json(tenant, Api::SignInActivity, &graph.url("/users?$top=1&$select=id,signInActivity")),
    )
    .await
    .unwrap_or_else(|_| {
        Err(GraphError::Limiter("the sign-in activity budget is busy; the first sync verifies it".into()))
    });
    let reports = graph
        .redirect_location(tenant, Api::Reports, &graph.url("/reports/getTeamsUserActivityUserDetail(period='D7')"))
        .await;
    let calls = graph
        .get_json_with(
            tenant,
            Api::CallRecords,
            &graph.url("/communications/callRecords"),
            &[("Prefer", "odata.maxpagesize=1")],
        )
        .await;
    let mut permissions = BTreeMap::new();
    permissions.insert("Organization.Read.All", state_of(&skus));
    permissions.insert("User.Read.All", state_of(&users));
    permissions.insert("AuditLog.Read.All", sign_in_state(&sign_ins, state_of(&users)));
    permissions.insert("Reports.Read.All", state_of(&reports));
    permissions.insert("CallRecords.Read.All", state_of(&calls));
    for (permission, result) in [
        ("Organization.Read.All", skus.as_ref().err()),
        ("User.Read.All", users.as_ref().err()),
        ("AuditLog.Read.All", sign_ins.as_ref().err()),
        ("Reports.Read.All", reports.as_ref().err()),
        ("CallRecords.Read.All", calls.as_ref().err()),
    ] {
        if let Some(error) = result.filter(|e| !e.is_forbidden()) {
            tracing::warn!(tenant, permission, %error, "permission probe inconclusive");
        }
    }
    let organization = graph.url_with(&["organization", tenant], "?$select=id,displayName");
    let display_name = match (&skus, organization) {
        (Ok(_), Ok(url)) => graph
            .get_json(tenant, Api::Directory, &url)
            .await
            .ok()
            .and_then(|org| Organization::deserialize(&org).ok())
            .and_then(|org| org.display_name),
        _ => None,
    };
    ProbeReport {
        tenant_id: tenant.to_string(),
        display_name,
        permissions,
        entra_id_p1: skus.ok().map(|s| has_entra_premium(&s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn p1_needs_an_active_sku_with_a_premium_plan_and_units() {
        let sku = |status: &str, enabled: i64, plan: &str| {
            json!({ "value": [{ "skuId": "c7df2760-2c81-4ef7-b578-5b5392b571df", "skuPartNumber": "ENTERPRISEPREMIUM",
                                "capabilityStatus": status, "prepaidUnits": { "enabled": enabled, "warning": 0 },
                                "servicePlans": [{ "servicePlanId": plan }] }] })
        };
        assert!(has_entra_premium(&sku("Enabled", 5, ENTRA_PREMIUM_PLANS[0])));
        assert!(has_entra_premium(&sku("Enabled", 5, ENTRA_PREMIUM_PLANS[1])));
        assert!(!has_entra_premium(&sku("Enabled", 0, ENTRA_PREMIUM_PLANS[0])));
        assert!(!has_entra_premium(&sku("Suspended", 5, ENTRA_PREMIUM_PLANS[0])));
        assert!(!has_entra_premium(&sku("Enabled", 5, "57ff2da0-773e-42df-b2af-ffb7a2317929")));
    }
}
