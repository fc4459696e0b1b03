//! What a simulated tenant should come to, computed from the generator's own model (profiles, sign-in ages,
//! subscriptions, calls), never from sua's code: the end-to-end tests of analytics and portal-api compare with it.

use std::collections::BTreeSet;

use sua_graph_sim::calls::{self, CallHeader, Party};
use sua_graph_sim::catalog;
use sua_graph_sim::tenant::{LicenceProfile, SignIn, TenantModel};

use crate::stack::Stack;

/// Every call of the generated history (all of it lies in the backfill and PSTN windows).
pub fn history(model: &TenantModel, stack: &Stack) -> Vec<CallHeader> {
    let sim = &stack.sim.sim.sim;
    let to = sim.now();
    sim.calls_starting(model, to - chrono::Duration::days(5), to)
}

pub fn party_users(model: &TenantModel, call: &CallHeader) -> BTreeSet<String> {
    calls::parties(model, call)
        .into_iter()
        .filter_map(|p| match p {
            Party::User(user) => Some(user.id.clone()),
            Party::Phone(_) => None,
        })
        .collect()
}

/// What the generator built each user to trigger, as `(kind, user, sku)`; seat findings as `(kind, "-", sku)`.
pub fn expected_findings(model: &TenantModel, dialled: &BTreeSet<String>) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    let mut add = |kind: &str, user: &str, sku: &str| out.insert((kind.to_string(), user.to_string(), sku.to_string()));
    let phone_skus = [catalog::MCOEV_SKU.id, catalog::MCOPSTN1_SKU.id, catalog::MCOPSTN2_SKU.id];
    let suites_with_phone = [catalog::SPE_E5.id, catalog::ENTERPRISEPREMIUM.id];
    for index in 0..model.spec.users {
        let user = model.user(index);
        if user.licences.is_empty() {
            continue;
        }
        let skus: Vec<&str> = user.licences.iter().map(|(sku, _)| sku.id).collect();
        if !user.account_enabled {
            skus.iter().for_each(|sku| {
                add("disabled_account", &user.id, sku);
            });
            continue;
        }
        let new_account = user.created > model.clock - chrono::Duration::days(30);
        if !new_account {
            let kind = match user.sign_in {
                SignIn::Never => Some("never_signed_in"),
                SignIn::DaysAgo(days) if days > 90 => Some("inactive_user"),
                SignIn::DaysAgo(_) => None,
            };
            if let Some(kind) = kind {
                skus.iter().for_each(|sku| {
                    add(kind, &user.id, sku);
                });
                continue;
            }
        }
        let redundant = match user.profile {
            LicenceProfile::E5RedundantPhone => Some(catalog::MCOEV_SKU.id),
            LicenceProfile::E5RedundantP1 if model.spec.entra_p1 => Some(catalog::AAD_PREMIUM_SKU.id),
            _ => None,
        };
        if let Some(sku) = redundant {
            add("redundant_licence", &user.id, sku);
        }
        if dialled.contains(&user.id) {
            continue;
        }
        for sku in &skus {
            if Some(*sku) != redundant && phone_skus.contains(sku) {
                add("unused_phone_licence", &user.id, sku);
            }
            if suites_with_phone.contains(sku) {
                add("downgrade_candidate", &user.id, sku);
            }
        }
    }
    for sub in model.subscriptions() {
        if sub.enabled > sub.consumed {
            add("unassigned_seats", "-", sub.sku.id);
        }
        if sub.consumed > sub.enabled + sub.warning {
            add("over_assigned", "-", sub.sku.id);
        }
    }
    out
}
