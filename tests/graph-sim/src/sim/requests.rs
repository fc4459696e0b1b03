//! Faults to inject and the log of every request received.

use super::*;

impl Sim {
    pub fn add_fault(&self, fault: Fault) {
        self.state().faults.push(fault);
    }

    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    pub(crate) fn take_fault(&self, endpoint: Endpoint, tenant: Option<&str>) -> Option<FaultKind> {
        crate::faults::take(&mut self.state().faults, endpoint, tenant)
    }

    pub(crate) fn record(&self, mut record: RequestRecord) {
        let mut state = self.state();
        state.request_seq += 1;
        record.seq = state.request_seq;
        state.requests.push(record);
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state().requests.clone()
    }

    /// Requests to one endpoint.
    pub fn requests_to(&self, endpoint: Endpoint) -> Vec<RequestRecord> {
        self.state().requests.iter().filter(|r| r.endpoint == endpoint).cloned().collect()
    }
}
