//! Admin consent: what each tenant granted and what the consent page answers.

use super::*;

impl Sim {
    /// What the admin of `tenant` will do on the consent page (default: grant every permission).
    pub fn set_consent_outcome(&self, tenant: &str, outcome: ConsentOutcome) {
        self.state().consent_plans.insert(tenant.to_ascii_lowercase(), outcome);
    }

    /// Which tenant's admin answers a consent URL that names `organizations` or `common`.
    pub fn set_next_consenting_tenant(&self, tenant: &str) {
        self.state().next_consenting_tenant = Some(tenant.to_ascii_lowercase());
    }

    /// Runs the admin's decision for a consent URL naming `path_tenant`; returns the tenant and the outcome.
    pub fn consent(&self, path_tenant: &str) -> Option<(String, ConsentOutcome)> {
        let mut state = self.state();
        let tenant = match self.tenant(path_tenant) {
            Some(tenant) => tenant.id.clone(),
            None => match state.next_consenting_tenant.take() {
                Some(tenant) => tenant,
                None => self.tenants.iter().find(|t| !state.consent.contains_key(&t.id))?.id.clone(),
            },
        };
        let outcome = state
            .consent_plans
            .get(&tenant)
            .cloned()
            .unwrap_or_else(|| ConsentOutcome::Grant(catalog::APP_ROLES.iter().map(|r| r.to_string()).collect()));
        if let ConsentOutcome::Grant(roles) = &outcome {
            state.consent.insert(tenant.clone(), roles.clone());
        }
        Some((tenant, outcome))
    }

    /// The permissions `tenant` granted, if it consented.
    pub fn granted(&self, tenant: &str) -> Option<BTreeSet<String>> {
        self.state().consent.get(&tenant.to_ascii_lowercase()).cloned()
    }

    /// Grants `roles` directly, as if consent had happened.
    pub fn grant(&self, tenant: &str, roles: &[&str]) {
        self.state().consent.insert(tenant.to_ascii_lowercase(), roles.iter().map(|r| r.to_string()).collect());
    }

    /// Removes one permission (tokens issued later lack it).
    pub fn revoke(&self, tenant: &str, role: &str) {
        if let Some(roles) = self.state().consent.get_mut(&tenant.to_ascii_lowercase()) {
            roles.remove(role);
        }
    }
}
