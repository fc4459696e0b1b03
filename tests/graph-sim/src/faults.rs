//! Fault injection, switchable per run, per endpoint and per tenant.

use serde::{Deserialize, Serialize};

/// The simulated endpoints a fault (or a request record) refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    Token,
    AdminConsent,
    Discovery,
    Organization,
    SubscribedSkus,
    Users,
    AuditLogs,
    Reports,
    ReportDownload,
    CallRecord,
    CallRecordsList,
    PstnCalls,
    DirectRoutingCalls,
    Subscriptions,
    Control,
    Other,
}

impl Endpoint {
    /// Classifies a request path.
    pub fn of(path: &str) -> Self {
        let lower = path.to_ascii_lowercase();
        if lower.starts_with("/_sim") {
            Endpoint::Control
        } else if lower.ends_with("/oauth2/v2.0/token") {
            Endpoint::Token
        } else if lower.ends_with("/v2.0/adminconsent") || lower.ends_with("/adminconsent") {
            Endpoint::AdminConsent
        } else if lower.contains("/discovery/") || lower.contains("/.well-known/") {
            Endpoint::Discovery
        } else if lower.starts_with("/_download/") {
            Endpoint::ReportDownload
        } else if lower.starts_with("/v1.0/organization") {
            Endpoint::Organization
        } else if lower.starts_with("/v1.0/subscribedskus") {
            Endpoint::SubscribedSkus
        } else if lower.starts_with("/v1.0/users") {
            Endpoint::Users
        } else if lower.starts_with("/v1.0/auditlogs") {
            Endpoint::AuditLogs
        } else if lower.starts_with("/v1.0/reports") {
            Endpoint::Reports
        } else if lower.contains("/getpstncalls") {
            Endpoint::PstnCalls
        } else if lower.contains("/getdirectroutingcalls") {
            Endpoint::DirectRoutingCalls
        } else if lower.trim_end_matches('/') == "/v1.0/communications/callrecords" {
            Endpoint::CallRecordsList
        } else if lower.starts_with("/v1.0/communications/callrecords/") {
            Endpoint::CallRecord
        } else if lower.starts_with("/v1.0/subscriptions") {
            Endpoint::Subscriptions
        } else {
            Endpoint::Other
        }
    }
}

/// What goes wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// `429 Too Many Requests` with `Retry-After: retry_after_secs`.
    Throttle { retry_after_secs: u64 },
    /// A 5xx (or any) status with a Graph error body.
    Status { status: u16 },
    /// Answers correctly, but only after `millis`.
    Slow { millis: u64 },
    /// Answers 200 with the body cut in half (as when a connection drops mid-page).
    Truncate,
    /// `403 Authorization_RequestDenied`, as when the admin removed the permission.
    Forbidden,
    /// The token endpoint refuses the client (`400 invalid_client`).
    TokenFailure,
}

/// One fault rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    pub endpoint: Endpoint,
    /// Only requests for this tenant (any tenant when absent).
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(flatten)]
    pub kind: FaultKind,
    /// How many matching requests it hits (forever when absent).
    #[serde(default)]
    pub times: Option<u32>,
    /// How many matching requests pass untouched first.
    #[serde(default)]
    pub skip: u32,
}

impl Fault {
    pub fn new(endpoint: Endpoint, kind: FaultKind) -> Self {
        Self { endpoint, tenant: None, kind, times: None, skip: 0 }
    }

    pub fn times(mut self, times: u32) -> Self {
        self.times = Some(times);
        self
    }

    pub fn skip(mut self, skip: u32) -> Self {
        self.skip = skip;
        self
    }

    pub fn for_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    fn matches(&self, endpoint: Endpoint, tenant: Option<&str>) -> bool {
        self.endpoint == endpoint && self.tenant.as_deref().is_none_or(|t| Some(t) == tenant)
    }
}

/// Picks the fault (if any) for a request, consuming `skip` and `times` counters.
pub fn take(faults: &mut Vec<Fault>, endpoint: Endpoint, tenant: Option<&str>) -> Option<FaultKind> {
    let mut hit = None;
    for fault in faults.iter_mut().filter(|f| f.matches(endpoint, tenant)) {
        if fault.skip > 0 {
            fault.skip -= 1;
            continue;
        }
        if let Some(times) = fault.times.as_mut() {
            *times -= 1;
        }
        hit = Some(fault.kind.clone());
        break;
    }
    faults.retain(|f| f.times != Some(0));
    hit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_endpoints() {
        assert_eq!(Endpoint::of("/abc/oauth2/v2.0/token"), Endpoint::Token);
        assert_eq!(Endpoint::of("/v1.0/users"), Endpoint::Users);
        assert_eq!(Endpoint::of("/v1.0/communications/callRecords"), Endpoint::CallRecordsList);
        assert_eq!(Endpoint::of("/v1.0/communications/callRecords/x/sessions"), Endpoint::CallRecord);
        assert_eq!(
            Endpoint::of(
                "/v1.0/communications/callRecords/getPstnCalls(fromDateTime=2026-01-01,toDateTime=2026-01-02)"
            ),
            Endpoint::PstnCalls
        );
        assert_eq!(Endpoint::of("/v1.0/reports/getTeamsUserActivityUserDetail(period='D7')"), Endpoint::Reports);
    }

    #[test]
    fn skip_and_times_count_down() {
        let mut faults = vec![Fault::new(Endpoint::Users, FaultKind::Forbidden).skip(1).times(2)];
        assert_eq!(take(&mut faults, Endpoint::Users, None), None);
        assert_eq!(take(&mut faults, Endpoint::Users, None), Some(FaultKind::Forbidden));
        assert_eq!(take(&mut faults, Endpoint::SubscribedSkus, None), None);
        assert_eq!(take(&mut faults, Endpoint::Users, None), Some(FaultKind::Forbidden));
        assert_eq!(take(&mut faults, Endpoint::Users, None), None);
        assert!(faults.is_empty());
    }
}
