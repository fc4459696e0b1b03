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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
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
    /// call records (get, sessions): shared across replicas, 1,500 per 20 s per tenant
    CallRecords,
    /// listing call records: 40 per 20 s
    CallRecordsList,
    /// getPstnCalls, getDirectRoutingCalls
    Pstn,
    /// subscriptions
    Subscriptions,
}

impl Api {
    pub const ALL: [Api; 7] = [
        Api::Directory,
        Api::SignInActivity,
        Api::Reports,
        Api::CallRecords,
        Api::CallRecordsList,
        Api::Pstn,
        Api::Subscriptions,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Api::Directory => "directory",
            Api::SignInActivity => "sign_in_activity",
            Api::Reports => "reports",
            Api::CallRecords => "call_records",
            Api::CallRecordsList => "call_records_list",
            Api::Pstn => "pstn",
            Api::Subscriptions => "subscriptions",
        }
    }

    /// `(requests, window)` allowed per tenant by this replica.
    fn budget(self) -> (usize, Duration) {
        match self {
            Api::Directory => (1_000, Duration::from_secs(10)),
            // Never limited locally: see `acquire` (one window shared across tenants and replicas).
            Api::SignInActivity => (usize::MAX, Duration::from_secs(60)),
            Api::Reports => (14, Duration::from_secs(600)),
            Api::CallRecords => (1_500, Duration::from_secs(20)),
            Api::CallRecordsList => (40, Duration::from_secs(20)),
            Api::Pstn => (200, Duration::from_secs(60)),
            Api::Subscriptions => (200, Duration::from_secs(60)),
        }
    }
}

/// Limits kept in the database, so every replica counts against the same budget.
#[derive(Clone)]
pub struct SharedLimit {
    pub pool: sua_db::Pool,
    /// `signInActivity` requests per minute across all tenants; 0 disables that limit.
    pub per_minute: u32,
}

/// Call records per tenant per 20 s (all replicas together): Microsoft's budget.
pub const CALL_RECORDS_PER_20S: u32 = 1_500;
/// The shared call-records bucket: at most this many tokens at once…
const CALL_RECORDS_BURST: u32 = 100;
/// …refilled at this rate. A token bucket grants up to `burst + 20 s × rate` in any 20 s, so these keep every
/// 20 s within 1,400 requests, 100 below the budget for requests granted in one window that reach Graph in the
/// next; a full bucket of 1,500 refilled at 75/s let ~2,900 through in the first 20 s after an idle spell, and
/// Graph answered hundreds of them 429. Steady fetching runs at 65 requests/s, 87 % of the budget. While a
/// tenant's bucket is spent its new fetch jobs give their place to other tenants' (`Fetcher::defer_while_spent`).
const CALL_RECORDS_PER_SECOND: f64 = 65.0;
const _: () = assert!(CALL_RECORDS_BURST + 20 * CALL_RECORDS_PER_SECOND as u32 <= CALL_RECORDS_PER_20S - 100);

pub struct Limits {
    local: Mutex<HashMap<(String, Api), VecDeque<Instant>>>,
    shared_sign_in: Option<SharedLimit>,
    leases: Mutex<HashMap<String, Arc<TenantLease>>>,
}

/// Tokens a replica took from a tenant's shared bucket and has not used yet.
#[derive(Default)]
struct TenantLease {
    tokens: tokio::sync::Mutex<Lease>,
    /// Requests queued for `tokens`: how many to take at the next round trip.
    waiting: AtomicUsize,
    /// Until when the bucket was found spent by this replica (its requests wait for tokens until then).
    spent_until: Mutex<Option<Instant>>,
}

struct Lease {
    count: u32,
    taken_at: Instant,
}

impl Default for Lease {
    fn default() -> Self {
        Self { count: 0, taken_at: Instant::now() }
    }
}

/// Unused tokens are dropped after this, so a replica cannot save tokens up and burst past the budget later.
const LEASE_LIFETIME: Duration = Duration::from_secs(1);
/// At most this many tokens per round trip.
const MAX_LEASE: u32 = 100;

/// Key of the shared signInActivity window.
pub const SIGN_IN_ACTIVITY_KEY: &str = "graph.signInActivity";

impl Limits {
    /// `shared_sign_in: None` disables the cross-replica limit (simulators that do not enforce it).
    pub fn new(shared_sign_in: Option<SharedLimit>) -> Self {
        Self { local: Mutex::new(HashMap::new()), shared_sign_in, leases: Mutex::new(HashMap::new()) }
    }

    /// Until when this replica's call-record requests for `tenant` wait for the shared budget (it found the
    /// bucket spent and the tokens wanted are not there yet); `None` when they do not.
    fn call_records_spent_until(&self, tenant: &str) -> Option<Instant> {
        let lease = self.leases.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(tenant).cloned()?;
        let until = *lease.spent_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        until.filter(|until| *until > Instant::now())
    }

    /// Whether this replica's call-record requests for `tenant` are waiting for the shared budget now: more of
    /// them would only wait too.
    pub fn call_records_spent(&self, tenant: &str) -> bool {
        self.call_records_spent_until(tenant).is_some()
    }

    /// Returns once `tenant`'s call-record requests are not waiting for the shared budget, so that a fetch takes
    /// one of the replica's fetch slots only when its requests can go out, instead of holding the slot, and
    /// keeping other tenants' fetches out, while it waits for tokens.
    pub async fn call_records_ready(&self, tenant: &str) {
        while let Some(until) = self.call_records_spent_until(tenant) {
            tokio::time::sleep_until(until).await;
        }
    }

    /// Waits until a request to `api` for `tenant` fits every budget.
    pub async fn acquire(&self, tenant: &str, api: Api) -> Result<(), GraphError> {
        match (api, &self.shared_sign_in) {
            // signInActivity is limited per app across tenants, so only the shared window applies; without one
            // (`sign_in_activity_per_minute = 0`) it is not limited at all.
            (Api::SignInActivity, Some(shared)) if shared.per_minute > 0 => self.acquire_shared(shared).await,
            (Api::SignInActivity, _) => Ok(()),
            (Api::CallRecords, Some(shared)) => self.acquire_bucket(shared, tenant).await,
            _ => {
                self.acquire_local(tenant, api).await;
                Ok(())
            }
        }
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

    /// Takes a call-records token for `tenant`. Requests waiting in this replica queue behind one per-tenant lock;
    /// whoever holds it takes tokens for all of them in one transaction and hands them out, so a burst of fetches
    /// costs a few round trips to the shared bucket instead of a stampede of them.
    async fn acquire_bucket(&self, shared: &SharedLimit, tenant: &str) -> Result<(), GraphError> {
        let lease = {
            let mut leases = self.leases.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            leases.entry(tenant.to_string()).or_default().clone()
        };
        lease.waiting.fetch_add(1, Ordering::SeqCst);
        let mut held = lease.tokens.lock().await;
        lease.waiting.fetch_sub(1, Ordering::SeqCst);
        let key = format!("graph.callRecords.{tenant}");
        loop {
            if held.count > 0 && held.taken_at.elapsed() < LEASE_LIFETIME {
                held.count -= 1;
                return Ok(());
            }
            let want = (lease.waiting.load(Ordering::SeqCst) as u32).saturating_add(1).min(MAX_LEASE);
            let key = key.clone();
            let outcome = shared
                .pool
                .transaction(move |conn| {
                    sua_db::models::rate_limits::try_take_tokens(
                        conn,
                        &key,
                        CALL_RECORDS_BURST,
                        CALL_RECORDS_PER_SECOND,
                        sua_db::now(),
                        want,
                    )
                })
                .await
                .map_err(|e| GraphError::Limiter(e.to_string()))?;
            match outcome {
                Ok(granted) => *held = Lease { count: granted, taken_at: Instant::now() },
                Err(next) => {
                    let wait = (next - sua_db::now()).to_std().unwrap_or(Duration::from_millis(10));
                    tracing::debug!(
                        tenant,
                        wait_ms = wait.as_millis() as u64,
                        "waiting for the shared call-records budget"
                    );
                    *lease.spent_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                        Some(Instant::now() + wait);
                    tokio::time::sleep(wait).await;
                }
            }
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
