//! Rate limiters in front of Graph, so that sua stays inside Microsoft's budgets instead of collecting 429s.
//!
//! * Per tenant and API, in memory: each replica keeps a sliding window per `(tenant, api)`.
//! * `signInActivity`, shared: Microsoft allows 10 requests per minute per app **across all tenants**, so every
//!   collector replica takes its grants from one database-backed window (`collector.rate_limit_grants`).
//!
//! Budgets (graph-api.md §9): identity & access reads ~8,000 resource units per 10 s per tenant (we stay far
//! below); reports 14 requests per 10 minutes per report per tenant; call records 1,500 per 20 s per tenant;
//! PSTN logs 200 per 60 s per tenant.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::GraphError;

/// The Graph API families, each with its own budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// users, subscribedSkus, organization, auditLogs
    Directory,
    /// users with `signInActivity` (shared across tenants and replicas)
    SignInActivity,
    /// usage reports
    Reports,
    /// call records (get, list, sessions)
    CallRecords,
    /// getPstnCalls, getDirectRoutingCalls
    Pstn,
    /// subscriptions
    Subscriptions,
}

impl Api {
    pub fn as_str(self) -> &'static str {
        match self {
            Api::Directory => "directory",
            Api::SignInActivity => "sign_in_activity",
            Api::Reports => "reports",
            Api::CallRecords => "call_records",
            Api::Pstn => "pstn",
            Api::Subscriptions => "subscriptions",
        }
    }

    /// `(requests, window)` allowed per tenant by this replica.
    fn budget(self) -> (usize, Duration) {
        match self {
            Api::Directory => (1_000, Duration::from_secs(10)),
            Api::SignInActivity => (10, Duration::from_secs(60)),
            Api::Reports => (14, Duration::from_secs(600)),
            Api::CallRecords => (1_500, Duration::from_secs(20)),
            Api::Pstn => (200, Duration::from_secs(60)),
            Api::Subscriptions => (200, Duration::from_secs(60)),
        }
    }
}

/// The database-backed window for `signInActivity`.
#[derive(Clone)]
pub struct SharedLimit {
    pub pool: sua_db::Pool,
    pub per_minute: u32,
}

pub struct Limits {
    local: Mutex<HashMap<(String, Api), VecDeque<Instant>>>,
    shared_sign_in: Option<SharedLimit>,
}

/// Key of the shared signInActivity window.
pub const SIGN_IN_ACTIVITY_KEY: &str = "graph.signInActivity";

impl Limits {
    /// `shared_sign_in: None` disables the cross-replica limit (simulators that do not enforce it).
    pub fn new(shared_sign_in: Option<SharedLimit>) -> Self {
        Self { local: Mutex::new(HashMap::new()), shared_sign_in }
    }

    /// Waits until a request to `api` for `tenant` fits every budget.
    pub async fn acquire(&self, tenant: &str, api: Api) -> Result<(), GraphError> {
        if api == Api::SignInActivity
            && let Some(shared) = &self.shared_sign_in
        {
            self.acquire_shared(shared).await?;
        } else {
            self.acquire_local(tenant, api).await;
        }
        Ok(())
    }

    async fn acquire_local(&self, tenant: &str, api: Api) {
        let (limit, window) = api.budget();
        loop {
            let wait = {
                let mut map = self.local.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let grants = map.entry((tenant.to_string(), api)).or_default();
                let now = Instant::now();
                while grants.front().is_some_and(|t| now.duration_since(*t) >= window) {
                    grants.pop_front();
                }
                if grants.len() < limit {
                    grants.push_back(now);
                    return;
                }
                grants.front().map_or(Duration::ZERO, |oldest| window.saturating_sub(now.duration_since(*oldest)))
            };
            tracing::debug!(
                tenant,
                api = api.as_str(),
                wait_ms = wait.as_millis() as u64,
                "waiting for the local rate limit"
            );
            tokio::time::sleep(wait).await;
        }
    }

    async fn acquire_shared(&self, shared: &SharedLimit) -> Result<(), GraphError> {
        if shared.per_minute == 0 {
            return Ok(());
        }
        loop {
            let per_minute = shared.per_minute;
            let outcome = shared
                .pool
                .transaction(move |conn| {
                    sua_db::models::rate_limits::try_acquire(
                        conn,
                        SIGN_IN_ACTIVITY_KEY,
                        per_minute,
                        chrono::Duration::seconds(60),
                        sua_db::now(),
                    )
                })
                .await
                .map_err(|e| GraphError::Limiter(e.to_string()))?;
            match outcome {
                Ok(()) => return Ok(()),
                Err(next) => {
                    let wait = (next - sua_db::now()).to_std().unwrap_or(Duration::from_millis(50));
                    tracing::debug!(wait_ms = wait.as_millis() as u64, "waiting for the shared signInActivity limit");
                    tokio::time::sleep(wait + Duration::from_millis(5)).await;
                }
            }
        }
    }
}
