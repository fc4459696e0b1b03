//! The simulator's model and state: generated tenants plus what changed at runtime (consent, subscriptions,
//! placed calls, versions, faults), the request log and the notification deliveries. HTTP handlers and tests use
//! the same methods.

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

    // ---- consent -------------------------------------------------------------------------------------------

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

    // ---- tokens --------------------------------------------------------------------------------------------

    /// An app-only Graph access token for `tenant` carrying `roles` (v1 format, as Graph tokens are).
    pub fn app_token(&self, tenant: &TenantModel, roles: &BTreeSet<String>) -> anyhow::Result<String> {
        let now = Utc::now().timestamp();
        let claims = json!({
            "aud": "https://graph.microsoft.com",
            "iss": format!("https://sts.windows.net/{}/", tenant.id),
            "iat": now, "nbf": now, "exp": now + 3599,
            "appid": self.config.client_id,
            "app_displayname": "sua",
            "idtyp": "app",
            "oid": tenant.codec.encode(IdParts { kind: IdKind::User, tenant: tenant.index, day: 1, index: 0 }),
            "roles": roles.iter().collect::<Vec<_>>(),
            "sub": self.config.client_id,
            "tid": tenant.id,
            "uti": uuid::Uuid::new_v4().simple().to_string(),
            "ver": "1.0"
        });
        let active = self.state().active_key;
        self.keys.sign(active, &claims)
    }

    /// A portal user's token as Entra ID would issue it for sua's portal app.
    pub fn user_token(&self, spec: &UserTokenSpec) -> anyhow::Result<String> {
        let now = Utc::now().timestamp();
        let issued = now + spec.issued_offset_secs;
        let claims = json!({
            "aud": spec.audience,
            "iss": spec.issuer.clone().unwrap_or_else(|| format!("{}/{}/v2.0", self.config.issuer_base, spec.tenant_id)),
            "iat": issued, "nbf": issued, "exp": issued + spec.lifetime_secs,
            "tid": spec.tenant_id,
            "oid": spec.object_id,
            "sub": spec.object_id,
            "name": spec.name,
            "preferred_username": spec.username,
            "roles": spec.roles,
            "azp": spec.audience,
            "ver": "2.0"
        });
        let key = spec.key.unwrap_or_else(|| self.state().active_key);
        self.keys.sign(key, &claims)
    }

    /// Signs `claims` with the active key, as every token the simulator issues.
    pub fn sign_claims(&self, claims: &Value) -> anyhow::Result<String> {
        let active = self.state().active_key;
        self.keys.sign(active, claims)
    }

    /// Starts signing with the second key and publishes both (key rollover).
    pub fn rotate_signing_key(&self) {
        let mut state = self.state();
        state.active_key = 1;
        state.published_keys = vec![0, 1];
    }

    pub fn jwks(&self) -> Value {
        let published = self.state().published_keys.clone();
        self.keys.jwks(&published)
    }

    /// Verifies a Graph bearer token this simulator issued; returns `(tenant, roles)`.
    pub fn verify_app_token(&self, token: &str) -> Result<(&TenantModel, BTreeSet<String>), &'static str> {
        use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
        let header = decode_header(token).map_err(|_| "Access token validation failure. Invalid audience.")?;
        let jwks = self.keys.jwks(&[0, 1]);
        let jwk = jwks["keys"]
            .as_array()
            .and_then(|keys| keys.iter().find(|k| Some(k["kid"].as_str().unwrap_or_default()) == header.kid.as_deref()))
            .ok_or("Access token validation failure.")?;
        let key = DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap_or_default(), "AQAB")
            .map_err(|_| "Access token validation failure.")?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&["https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000"]);
        validation.leeway = 30;
        let claims = decode::<Value>(token, &key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    "Lifetime validation failed, the token is expired."
                }
                jsonwebtoken::errors::ErrorKind::InvalidAudience => {
                    "Access token validation failure. Invalid audience."
                }
                _ => "Access token validation failure.",
            })?
            .claims;
        let tenant =
            self.tenant(claims["tid"].as_str().unwrap_or_default()).ok_or("Access token validation failure.")?;
        let roles = claims["roles"].as_array().map(|r| r.iter().filter_map(|v| v.as_str().map(String::from)).collect());
        Ok((tenant, roles.unwrap_or_default()))
    }

    // ---- faults and the request log ------------------------------------------------------------------------

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

    // ---- call records --------------------------------------------------------------------------------------

    fn history(&self, tenant: &TenantModel) -> (u32, u32) {
        tenant.history_days(self.config.days)
    }

    /// Generated slots of a day (0 outside the history).
    fn generated_slots(&self, tenant: &TenantModel, day: u32) -> u32 {
        let (first, end) = self.history(tenant);
        if day >= first && day < end { calls::slots_on_day(tenant, day, self.config.calls_per_user) } else { 0 }
    }

    /// Whether Graph would still serve a call record that ended at `end`.
    pub fn retained(&self, end: DateTime<Utc>) -> bool {
        let now = self.now();
        end <= now && end > now - chrono::Duration::days(RETENTION_DAYS)
    }

    /// The call in `slot` of `day`, when it exists and is still retained.
    pub fn call(&self, tenant: &TenantModel, day: u32, slot: u32) -> Option<CallHeader> {
        let header = if slot < self.generated_slots(tenant, day) {
            calls::header(tenant, day, slot, None)
        } else {
            let placed_at = self
                .state()
                .placed
                .get(&(tenant.index, day))
                .and_then(|calls| calls.iter().find(|(s, _)| *s == slot).map(|(_, at)| *at))?;
            calls::header(tenant, day, slot, Some(placed_at))
        }?;
        self.retained(header.end).then_some(header)
    }

    /// The call an id names, if it belongs to `tenant` and exists.
    pub fn call_by_id(&self, tenant: &TenantModel, id: &str) -> Option<CallHeader> {
        let parts = tenant.codec.decode(&id.to_ascii_lowercase())?;
        if parts.kind != IdKind::CallRecord || parts.tenant != tenant.index {
            return None;
        }
        self.call(tenant, parts.day, parts.index)
    }

    /// How many slots of a day may hold a call (generated and placed).
    pub fn slot_count(&self, tenant: &TenantModel, day: u32) -> usize {
        let placed = self.state().placed.get(&(tenant.index, day)).map_or(0, Vec::len);
        self.generated_slots(tenant, day) as usize + placed
    }

    /// The slot at `position` among a day's slots (generated first, then placed).
    pub fn slot_at(&self, tenant: &TenantModel, day: u32, position: usize) -> Option<u32> {
        let generated = self.generated_slots(tenant, day) as usize;
        if position < generated {
            return u32::try_from(position).ok();
        }
        self.state().placed.get(&(tenant.index, day)).and_then(|p| p.get(position - generated)).map(|(slot, _)| *slot)
    }

    /// All slots of a day that may hold a call, generated and placed.
    pub fn slots(&self, tenant: &TenantModel, day: u32) -> Vec<u32> {
        let mut slots: Vec<u32> = (0..self.generated_slots(tenant, day)).collect();
        if let Some(placed) = self.state().placed.get(&(tenant.index, day)) {
            slots.extend(placed.iter().map(|(slot, _)| *slot));
        }
        slots
    }

    /// Every retained call of `tenant` starting in `[from, to)`, in day and slot order.
    pub fn calls_starting(&self, tenant: &TenantModel, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<CallHeader> {
        let mut out = Vec::new();
        let first = day_number(from.date_naive()).saturating_sub(1);
        let last = day_number(to.date_naive());
        for day in first..=last {
            for slot in self.slots(tenant, day) {
                if let Some(call) = self.call(tenant, day, slot)
                    && call.start >= from
                    && call.start < to
                {
                    out.push(call);
                }
            }
        }
        out
    }

    pub fn version(&self, id: &str) -> i64 {
        self.state().versions.get(id).copied().unwrap_or(1)
    }

    /// Places `count` new calls in `tenant` that end now, and notifies its subscriptions (`created`).
    pub fn place_calls(self: &Arc<Self>, tenant_id: &str, count: u32) -> Vec<String> {
        let Some(tenant) = self.tenant(tenant_id) else { return Vec::new() };
        let now = self.now();
        let day = day_number(now.date_naive());
        let base = self.generated_slots(tenant, day);
        let mut ids = Vec::new();
        let mut slot = {
            let state = self.state();
            state
                .placed
                .get(&(tenant.index, day))
                .and_then(|p| p.iter().map(|(s, _)| s + 1).max())
                .unwrap_or(base)
                .max(base)
        };
        let mut tries = 0;
        while ids.len() < count as usize && tries < count.saturating_mul(200).max(200) {
            tries += 1;
            if let Some(call) = calls::header(tenant, day, slot, Some(now)) {
                self.state().placed.entry((tenant.index, day)).or_default().push((slot, now));
                ids.push(call.id);
            }
            slot += 1;
        }
        self.notify(&tenant.id, "created", &ids);
        ids
    }

    /// Raises the version of a call record and notifies (`updated`).
    pub fn update_call(self: &Arc<Self>, tenant_id: &str, call_id: &str) -> Option<i64> {
        let tenant = self.tenant(tenant_id)?;
        self.call_by_id(tenant, call_id)?;
        let version = {
            let mut state = self.state();
            let version = state.versions.entry(call_id.to_string()).or_insert(1);
            *version += 1;
            *version
        };
        self.notify(&tenant.id, "updated", &[call_id.to_string()]);
        Some(version)
    }

    // ---- subscriptions ------------------------------------------------------------------------------------

    pub(crate) fn new_subscription_id(&self, tenant: &TenantModel) -> String {
        let mut state = self.state();
        state.subscription_seq += 1;
        // Graph's subscription ids are random GUIDs, never reused: a simulator started again must not hand out the
        // ids of the one before it, so each start numbers its subscriptions in a range of its own.
        tenant.codec.encode(IdParts {
            kind: IdKind::Subscription,
            tenant: tenant.index,
            day: self.subscription_epoch,
            index: state.subscription_seq,
        })
    }

    pub(crate) fn insert_subscription(&self, subscription: SimSubscription) {
        self.state().subscriptions.insert(subscription.id.clone(), subscription);
    }

    /// A live subscription of `tenant` (expired ones are gone, as in Graph).
    pub fn subscription(&self, tenant: &str, id: &str) -> Option<SimSubscription> {
        let mut state = self.state();
        let sub = state.subscriptions.get(id).filter(|s| s.tenant_id == tenant).cloned()?;
        if sub.expiration <= self.now() {
            state.subscriptions.remove(id);
            return None;
        }
        Some(sub)
    }

    pub fn subscriptions(&self, tenant: &str) -> Vec<SimSubscription> {
        let now = self.now();
        let mut state = self.state();
        state.subscriptions.retain(|_, s| s.expiration > now);
        state.subscriptions.values().filter(|s| s.tenant_id == tenant).cloned().collect()
    }

    pub(crate) fn renew_subscription(
        &self,
        tenant: &str,
        id: &str,
        expiration: DateTime<Utc>,
    ) -> Option<SimSubscription> {
        self.subscription(tenant, id)?;
        let mut state = self.state();
        let sub = state.subscriptions.get_mut(id)?;
        sub.expiration = expiration;
        Some(sub.clone())
    }

    /// Deletes a subscription (as Graph does when it expires or the customer removes the app).
    pub fn delete_subscription(&self, id: &str) -> bool {
        self.state().subscriptions.remove(id).is_some()
    }

    /// Makes a subscription expire now.
    pub fn expire_subscription(&self, id: &str) -> bool {
        match self.state().subscriptions.get_mut(id) {
            Some(sub) => {
                sub.expiration = self.now() - chrono::Duration::seconds(1);
                true
            }
            None => false,
        }
    }

    // ---- deliveries ---------------------------------------------------------------------------------------

    pub(crate) fn record_delivery(&self, delivery: Delivery) {
        self.state().deliveries.push(delivery);
    }

    /// Every validation request, notification and lifecycle event sent so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.state().deliveries.clone()
    }

    /// Sends change notifications for `call_ids` to every live subscription of the tenant, in the background.
    pub fn notify(self: &Arc<Self>, tenant_id: &str, change_type: &'static str, call_ids: &[String]) {
        if call_ids.is_empty() {
            return;
        }
        for sub in self.subscriptions(tenant_id) {
            if !sub.change_type.split(',').any(|c| c.trim() == change_type) {
                continue;
            }
            for id in call_ids {
                let body = json!({ "value": [{
                    "subscriptionId": sub.id,
                    "clientState": sub.client_state,
                    "changeType": change_type,
                    "resource": format!("communications/callRecords/{id}"),
                    "subscriptionExpirationDateTime": sub.expiration.to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
                    "resourceData": {
                        "@odata.type": "#Microsoft.Graph.callrecord",
                        "@odata.id": format!("communications/callRecords/{id}"),
                        "id": id
                    },
                    "tenantId": sub.tenant_id
                }]});
                self.spawn_delivery(
                    "notification",
                    sub.id.clone(),
                    sub.notification_url.clone(),
                    vec![id.clone()],
                    body,
                );
            }
        }
    }

    /// Sends a lifecycle event (e.g. `reauthorizationRequired`) for a subscription.
    pub fn send_lifecycle(self: &Arc<Self>, subscription_id: &str, event: &str) -> bool {
        let Some(sub) = self.state().subscriptions.get(subscription_id).cloned() else { return false };
        let url = sub.lifecycle_notification_url.clone().unwrap_or_else(|| sub.notification_url.clone());
        let body = json!({ "value": [{
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": sub.expiration.to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
            "tenantId": sub.tenant_id,
            "clientState": sub.client_state,
            "lifecycleEvent": event
        }]});
        self.spawn_delivery("lifecycle", sub.id, url, Vec::new(), body);
        true
    }

    fn spawn_delivery(
        self: &Arc<Self>,
        kind: &'static str,
        subscription_id: String,
        url: String,
        resources: Vec<String>,
        body: Value,
    ) {
        let sim = self.clone();
        tokio::spawn(async move {
            let Ok(_slot) = sim.notify_slots.clone().acquire_owned().await else { return };
            for attempt in 1..=sim.config.notification_retries.max(1) {
                let started = std::time::Instant::now();
                let result = sim.http.post(&url).timeout(sim.config.notification_timeout).json(&body).send().await;
                let status = result.as_ref().ok().map(|r| r.status().as_u16());
                sim.record_delivery(Delivery {
                    kind,
                    subscription_id: subscription_id.clone(),
                    url: url.clone(),
                    resources: resources.clone(),
                    attempt,
                    status,
                    millis: started.elapsed().as_millis() as u64,
                    at: sim.now(),
                });
                if status.is_some_and(|s| (200..300).contains(&s)) {
                    return;
                }
                tokio::time::sleep(sim.config.notification_retry_delay).await;
            }
        });
    }

    // ---- report downloads ---------------------------------------------------------------------------------

    pub(crate) fn new_download(&self, download: Download) -> String {
        let token = uuid::Uuid::new_v4().simple().to_string();
        self.state().downloads.insert(token.clone(), download);
        token
    }

    pub(crate) fn download(&self, token: &str) -> Option<Download> {
        self.state().downloads.get(token).cloned()
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
