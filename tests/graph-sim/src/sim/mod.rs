//! The simulator's model and state: generated tenants plus what changed at runtime (consent, subscriptions,
//! placed calls, versions, faults), the request log and the notification deliveries. HTTP handlers and tests use
//! the same methods.

mod callrecords;
mod consent;
mod deliveries;
mod downloads;
mod requests;
mod subscriptions;
mod throttles;
mod tokens;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::calls::{self, CallHeader};
use crate::catalog;
use crate::faults::{Endpoint, Fault, FaultKind};
use crate::ids::{IdKind, IdParts};
use crate::keys::Keys;
use crate::signin::{SignInConfig, SignIns};
use crate::tenant::{TenantModel, TenantSpec, day_number};

/// How the simulator is set up.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub tenants: Vec<TenantSpec>,
    /// Days of call history before today.
    pub days: u32,
    /// Call slots per user per weekday.
    pub calls_per_user: f64,
    /// sua's app registration as the simulated Entra ID knows it.
    pub client_id: String,
    pub client_secret: String,
    /// The simulated now at start: sign-in ages, call history, retention and subscription expiry count from it,
    /// and it runs on from there (tests may advance it). The system clock when unset. Token lifetimes stay on the
    /// system clock, as Entra ID's do.
    pub clock: Option<DateTime<Utc>>,
    /// Issuer base for portal user tokens: `{issuer_base}/{tid}/v2.0`.
    pub issuer_base: String,
    /// Every tenant has granted every permission from the start.
    pub consent_all: bool,
    /// Enforce Microsoft's documented per-app and per-tenant request budgets (graph-api.md §9) with 429 and
    /// `Retry-After`, as Graph does; off unless a test or benchmark is about the budgets.
    pub throttles: bool,
    /// The endpoint must echo the validation token within this time.
    pub validation_timeout: Duration,
    /// A notification POST not answered with 2xx within this time is retried.
    pub notification_timeout: Duration,
    pub notification_retries: u32,
    pub notification_retry_delay: Duration,
    /// Notification POSTs in flight at once.
    pub notification_concurrency: usize,
    /// Where the generated CA certificate is written (a temporary file when unset).
    pub ca_file: Option<PathBuf>,
    /// Portal sign-in (authorization code with PKCE).
    pub sign_in: SignInConfig,
}

pub const DEFAULT_CLIENT_ID: &str = "5f0b7c2a-6e1d-4c38-9a3b-2d4e6f8a1b2c";
pub const DEFAULT_CLIENT_SECRET: &str = "sim-client-secret";

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            tenants: vec![TenantSpec { users: 200, entra_p1: true, concealed_names: true }],
            days: 14,
            calls_per_user: 0.5,
            client_id: DEFAULT_CLIENT_ID.into(),
            client_secret: DEFAULT_CLIENT_SECRET.into(),
            clock: None,
            issuer_base: "https://login.microsoftonline.com".into(),
            consent_all: false,
            throttles: false,
            validation_timeout: Duration::from_secs(10),
            notification_timeout: Duration::from_secs(3),
            notification_retries: 3,
            notification_retry_delay: Duration::from_secs(1),
            notification_concurrency: 32,
            ca_file: None,
            sign_in: SignInConfig::default(),
        }
    }
}

/// What an admin does on the consent page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentOutcome {
    /// Grants these application permissions.
    Grant(BTreeSet<String>),
    /// Cancels (`error=consent_required`, AADSTS65004).
    Deny,
}

/// A subscription as the simulator holds it.
#[derive(Debug, Clone, Serialize)]
pub struct SimSubscription {
    pub id: String,
    pub tenant_id: String,
    pub resource: String,
    pub change_type: String,
    pub notification_url: String,
    pub lifecycle_notification_url: Option<String>,
    pub client_state: Option<String>,
    pub expiration: DateTime<Utc>,
    pub created: DateTime<Utc>,
}

/// One request the simulator received.
#[derive(Debug, Clone, Serialize)]
pub struct RequestRecord {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub method: String,
    pub path: String,
    pub query: String,
    pub endpoint: Endpoint,
    pub tenant: Option<String>,
    pub status: u16,
    /// `Retry-After` seconds the simulator answered with.
    pub retry_after: Option<u64>,
}

/// One POST the simulator made to a client (validation, notification or lifecycle event).
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub kind: &'static str,
    pub subscription_id: String,
    pub url: String,
    pub resources: Vec<String>,
    pub attempt: u32,
    pub status: Option<u16>,
    pub millis: u64,
    pub at: DateTime<Utc>,
}

/// A call placed at runtime: `(slot, ended_at)`, keyed by `(tenant, day)` in [`State::placed`].
type PlacedCall = (u32, DateTime<Utc>);

#[derive(Default)]
struct State {
    consent: HashMap<String, BTreeSet<String>>,
    consent_plans: HashMap<String, ConsentOutcome>,
    next_consenting_tenant: Option<String>,
    subscriptions: HashMap<String, SimSubscription>,
    subscription_seq: u32,
    faults: Vec<Fault>,
    requests: Vec<RequestRecord>,
    request_seq: u64,
    placed: HashMap<(u8, u32), Vec<PlacedCall>>,
    versions: HashMap<String, i64>,
    deliveries: Vec<Delivery>,
    downloads: HashMap<String, Download>,
    active_key: usize,
    /// Requests admitted per budget, oldest first (see `throttles`).
    budgets: HashMap<String, std::collections::VecDeque<DateTime<Utc>>>,
    published_keys: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Download {
    pub tenant: String,
    pub report: String,
    pub period_days: i64,
    pub expires: DateTime<Utc>,
}

/// The simulator.
pub struct Sim {
    pub config: SimConfig,
    pub tenants: Vec<TenantModel>,
    pub keys: Keys,
    pub(crate) http: reqwest::Client,
    notify_slots: Arc<tokio::sync::Semaphore>,
    state: Mutex<State>,
    /// Microseconds the simulated clock runs ahead of the system clock.
    clock_offset: AtomicI64,
    /// Distinguishes this start's subscription ids from an earlier start's (Graph never reuses one).
    subscription_epoch: u32,
    pub(crate) sign_ins: SignIns,
}

/// Retention of call records in Graph.
pub const RETENTION_DAYS: i64 = 30;
/// Longest a callRecords subscription may live.
pub const MAX_SUBSCRIPTION_MINUTES: i64 = 4230;

impl Sim {
    pub fn new(config: SimConfig) -> anyhow::Result<Self> {
        let clock = config.clock.unwrap_or_else(Utc::now);
        let clock_offset = AtomicI64::new((clock - Utc::now()).num_microseconds().unwrap_or(0));
        anyhow::ensure!(config.tenants.len() <= 200, "at most 200 tenants");
        let tenants: Vec<TenantModel> = config
            .tenants
            .iter()
            .enumerate()
            .map(|(i, spec)| TenantModel::new(config.seed, u8::try_from(i).unwrap_or(0), spec.clone(), clock))
            .collect();
        let mut state = State { published_keys: vec![0], ..State::default() };
        if config.consent_all {
            for tenant in &tenants {
                state.consent.insert(tenant.id.clone(), catalog::APP_ROLES.iter().map(|r| r.to_string()).collect());
            }
        }
        let http =
            reqwest::Client::builder().timeout(config.notification_timeout.max(config.validation_timeout)).build()?;
        Ok(Self {
            notify_slots: Arc::new(tokio::sync::Semaphore::new(config.notification_concurrency.max(1))),
            config,
            tenants,
            keys: Keys::load()?,
            http,
            state: Mutex::new(state),
            clock_offset,
            subscription_epoch: rand::random::<u32>() % (1 << 20),
            sign_ins: SignIns::default(),
        })
    }

    /// Now on the simulated clock.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::microseconds(self.clock_offset.load(Ordering::Relaxed))
    }

    /// Moves the simulated clock forward (days pass for Graph: new call days, ageing records and subscriptions).
    pub fn advance_clock(&self, by: chrono::Duration) {
        self.clock_offset.fetch_add(by.num_microseconds().unwrap_or(0), Ordering::Relaxed);
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn tenant(&self, id: &str) -> Option<&TenantModel> {
        let id = id.to_ascii_lowercase();
        self.tenants.iter().find(|t| t.id == id || t.domain == id)
    }

    pub fn tenant_ids(&self) -> Vec<String> {
        self.tenants.iter().map(|t| t.id.clone()).collect()
    }
}

/// What a portal user token should say (tests mint valid and deliberately broken ones).
#[derive(Debug, Clone)]
pub struct UserTokenSpec {
    pub tenant_id: String,
    pub object_id: String,
    pub audience: String,
    pub roles: Vec<String>,
    pub name: String,
    pub username: String,
    /// Overrides `{issuer_base}/{tid}/v2.0`.
    pub issuer: Option<String>,
    /// Seconds from now to the token's issue time (negative: issued in the past).
    pub issued_offset_secs: i64,
    pub lifetime_secs: i64,
    /// Signing key index (the active one when unset).
    pub key: Option<usize>,
}

impl UserTokenSpec {
    pub fn new(tenant_id: &str, audience: &str, roles: &[&str]) -> Self {
        Self {
            tenant_id: tenant_id.to_string(),
            object_id: uuid::Uuid::new_v4().to_string(),
            audience: audience.to_string(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            name: "Portal User".into(),
            username: "portal.user@contoso.example".into(),
            issuer: None,
            issued_offset_secs: 0,
            lifetime_secs: 3600,
            key: None,
        }
    }
}
