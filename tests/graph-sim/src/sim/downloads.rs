//! Report downloads: the short-lived URLs a report request redirects to.

use super::*;

impl Sim {
    pub(crate) fn new_download(&self, download: Download) -> String {
        let token = uuid::Uuid::new_v4().simple().to_string();
        self.state().downloads.insert(token.clone(), download);
        token
    }

    pub(crate) fn download(&self, token: &str) -> Option<Download> {
        self.state().downloads.get(token).cloned()
    }
}
