//! Microsoft's documented request budgets (graph-api.md §9), enforced when `SimConfig::throttles` is on: a
//! request over a budget is answered 429 with the seconds until the budget has room again.

use super::*;

/// `(budget key, requests, window in seconds)` a request counts against.
fn budgets(endpoint: Endpoint, tenant: &str, path: &str, query: &str) -> Vec<(String, usize, i64)> {
    let query = query.to_ascii_lowercase();
    match endpoint {
        // GET signInActivity: 10 a minute per app across all tenants, and per app per tenant.
        Endpoint::Users if query.contains("signinactivity") => {
            vec![("signInActivity".into(), 10, 60), (format!("signInActivity/{tenant}"), 10, 60)]
        }
        // Identity and access reports: 5 per 10 s per app per tenant.
        Endpoint::AuditLogs => vec![(format!("auditLogs/{tenant}"), 5, 10)],
        // Call records (record, sessions, participants): 1,500 per 20 s per app per tenant.
        Endpoint::CallRecord => vec![(format!("callRecords/{tenant}"), 1_500, 20)],
        Endpoint::CallRecordsList => vec![(format!("callRecordsList/{tenant}"), 40, 20)],
        // PSTN and Direct Routing logs: 200 per 60 s per app per tenant.
        Endpoint::PstnCalls | Endpoint::DirectRoutingCalls => vec![(format!("pstn/{tenant}"), 200, 60)],
        // Reports as CSV: 14 per 10 minutes per app per tenant, for each report API.
        Endpoint::Reports => {
            let report = path.rsplit('/').next().unwrap_or_default().split('(').next().unwrap_or_default();
            vec![(format!("reports/{report}/{tenant}"), 14, 600)]
        }
        _ => Vec::new(),
    }
}

impl Sim {
    /// Counts a request against its budgets; `Some(seconds to wait)` when one of them is spent (the request is
    /// then refused and not counted).
    pub(crate) fn throttle(&self, endpoint: Endpoint, tenant: Option<&str>, path: &str, query: &str) -> Option<u64> {
        if !self.config.throttles {
            return None;
        }
        let budgets = budgets(endpoint, tenant.unwrap_or("-"), path, query);
        let now = self.now();
        let mut state = self.state();
        let mut wait = 0i64;
        for (key, limit, window) in &budgets {
            let admitted = state.budgets.entry(key.clone()).or_default();
            while admitted.front().is_some_and(|at| (now - *at).num_seconds() >= *window) {
                admitted.pop_front();
            }
            if admitted.len() >= *limit
                && let Some(oldest) = admitted.front()
            {
                let room_in = *window - (now - *oldest).num_seconds();
                wait = wait.max(room_in.max(1));
            }
        }
        if wait > 0 {
            return Some(wait as u64);
        }
        for (key, _, _) in budgets {
            state.budgets.entry(key).or_default().push_back(now);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_activity_is_ten_a_minute_across_tenants_and_the_wait_is_named() {
        let sim = Sim::new(SimConfig { throttles: true, tenants: vec![], ..SimConfig::default() }).unwrap();
        let query = "$select=id,signInActivity&$top=500";
        for n in 0..10 {
            let tenant = format!("t{}", n % 3);
            assert_eq!(sim.throttle(Endpoint::Users, Some(&tenant), "/v1.0/users", query), None, "request {n}");
        }
        let wait = sim.throttle(Endpoint::Users, Some("t9"), "/v1.0/users", query);
        assert!(wait.is_some_and(|s| (1..=60).contains(&s)), "{wait:?}");
        assert_eq!(sim.throttle(Endpoint::Users, Some("t9"), "/v1.0/users", "$select=id"), None, "plain users pass");
        sim.advance_clock(chrono::Duration::seconds(61));
        assert_eq!(sim.throttle(Endpoint::Users, Some("t9"), "/v1.0/users", query), None, "a minute later");
    }
}
