//! Layered configuration: built-in defaults, then an optional TOML file, then `SUA_` environment variables
//! (`__` nests: `SUA_AMQP__PREFETCH=64` sets `amqp.prefetch`).
//!
//! This is the only module that reads the process environment. Tests build a [`Config`] in code (or through
//! [`Config::from_figment`]) so that parallel tests never share settings.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

/// Errors found while loading or validating configuration. Never contains a secret value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration could not be read: {0}")]
    Load(String),
    #[error("configuration is invalid:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

/// Everything any sua process needs. Each service reads the sections it uses.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `postgres://…` for production, `sqlite://path` (or `sqlite::memory:`) for the embedded mode.
    pub database_url: SecretString,
    /// `amqp://…`/`amqps://…` for RabbitMQ, `memory://` for the in-process broker of the embedded mode.
    pub amqp_url: SecretString,
    /// Microsoft Graph host (national clouds and the simulator override it).
    pub graph_url: Url,
    /// Entra ID authority host.
    pub login_url: Url,
    /// sua's multi-tenant app registration (application id).
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    /// The collector's external base URL: webhook `notificationUrl` and the consent `redirect_uri` live under it.
    pub public_url: Url,
    /// Extra CA certificate (PEM) trusted for outbound HTTPS, e.g. a TLS-inspecting proxy or the simulator.
    pub extra_ca_file: Option<PathBuf>,
    /// HTTP listen address; each service has its own default port when unset.
    pub listen: Option<SocketAddr>,
    /// How long a stopping service waits for in-flight work before it gives up.
    pub shutdown_grace_secs: u64,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`; traces are exported over OTLP/HTTP only when it is set.
    #[serde(skip)]
    pub otel_endpoint: Option<String>,
    /// Optional PEM file with the app's certificate and private key; used instead of `client_secret` when set.
    pub client_certificate_file: Option<PathBuf>,
    /// Signs the `state` of consent links (HMAC-SHA256). Every collector and portal-api replica needs the same key.
    pub state_signing_key: Option<SecretString>,
    pub log: LogConfig,
    pub db: DbConfig,
    pub amqp: AmqpConfig,
    pub graph: GraphConfig,
    pub onboarding: OnboardingConfig,
    pub smtp: SmtpConfig,
    pub sync: SyncConfig,
    pub callrecords: CallRecordsConfig,
    pub analytics: AnalyticsConfig,
    pub portal: PortalConfig,
}

/// portal-api: who may sign in, and how much each caller may ask.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortalConfig {
    /// The portal API's app id: the `aud` its tokens must carry. Every request is refused while it is empty.
    pub audience: String,
    /// Token issuer base: a token must say `iss = {issuer_base}/{tid}/v2.0`. Defaults to `login_url`.
    pub issuer_base: Option<Url>,
    /// Signing keys (JWKS). Defaults to `{login_url}/common/discovery/v2.0/keys`.
    pub jwks_url: Option<Url>,
    /// How long fetched signing keys are trusted before they are fetched again (an unknown `kid` refetches
    /// sooner, at most once per `jwks_min_refresh_secs`).
    pub jwks_ttl_secs: u64,
    pub jwks_min_refresh_secs: u64,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway_secs: u64,
    /// The managed-service provider's own Entra ID tenant: its users with `Portal.Operator` see every tenant.
    pub operator_tenant: Option<String>,
    /// Requests per second each caller (user, or address for unauthenticated requests) may make on average…
    pub rate_per_second: u32,
    /// …and in a burst.
    pub rate_burst: u32,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Largest page a list returns.
    pub max_page_size: i64,
    /// Longest a per-tenant aggregate is reused while the tenant's data version stands (new data replaces it at
    /// once); 0 = never.
    pub cache_ttl_secs: u64,
    /// Origins (`https://portal.example.com`) whose browsers may call the API cross-origin; none when empty.
    pub cors_origins: Vec<String>,
    /// The web portal portal-api serves at `/`, and how it signs people in.
    pub web: PortalWebConfig,
}

/// The web portal: where its built files are, and the OpenID Connect settings its browser code reads from
/// `GET /config.json` (none of them is a secret: the portal is a public client using PKCE).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortalWebConfig {
    /// The built portal (`npm run build` in `web/` writes `web/dist`); `/` explains how to build it when missing.
    pub dir: PathBuf,
    /// The OpenID Connect authority. Defaults to `{login_url}/organizations/v2.0` (Entra ID, any work account).
    pub authority: Option<Url>,
    /// The portal's app registration (single-page application platform). Defaults to `portal.audience` when that
    /// is an application id (one registration for the portal and its API); sign-in is off while there is none.
    pub client_id: String,
    /// The API scope the portal asks for. Defaults to `{audience}/.default` (`api://{audience}/.default` for a
    /// bare application id).
    pub scope: Option<String>,
}

impl Default for PortalWebConfig {
    fn default() -> Self {
        Self { dir: PathBuf::from("web/dist"), authority: None, client_id: String::new(), scope: None }
    }
}

impl PortalWebConfig {
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(authority) = &self.authority {
            let loopback = matches!(authority.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
            if authority.scheme() != "https" && !(authority.scheme() == "http" && loopback) {
                problems
                    .push(format!("portal.web.authority: '{authority}' must be https (plain http only on loopback)"));
            }
        }
        problems
    }
}

impl Default for PortalConfig {
    fn default() -> Self {
        Self {
            audience: String::new(),
            issuer_base: None,
            jwks_url: None,
            jwks_ttl_secs: 3_600,
            jwks_min_refresh_secs: 30,
            leeway_secs: 60,
            operator_tenant: None,
            rate_per_second: 50,
            rate_burst: 200,
            max_body_bytes: 64 * 1024,
            max_page_size: 1_000,
            cache_ttl_secs: 30,
            cors_origins: Vec::new(),
            web: PortalWebConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyticsConfig {
    /// Whether this replica runs the recompute worker (rollups and findings); any number may.
    pub recompute: bool,
    /// How long the recompute worker waits when it found nothing to do.
    pub recompute_interval_ms: u64,
    /// A tenant's call-quality rankings (worst users over the last 7, 30 and 90 days) are recomputed at most this
    /// often while its data keeps changing; 0 recomputes them on every change.
    pub quality_rank_interval_secs: u64,
    /// Deliveries analytics handles at once (its consumer's prefetch, in place of `amqp.prefetch`): the call
    /// records among them are what group commit shares transactions between.
    pub prefetch: u16,
    /// Call records stored in one transaction at most (group commit of the deliveries handled at once).
    pub write_batch_max: usize,
    /// Call-record transactions running at once per replica.
    pub writers: usize,
    /// Normalised call data (call records and their sessions, segments, streams, participants, PSTN calls) older
    /// than this many days is deleted; the daily rollups and aggregates are kept. Graph itself keeps 30.
    pub retention_days: i64,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        Self {
            recompute: true,
            recompute_interval_ms: 500,
            quality_rank_interval_secs: 60,
            prefetch: 256,
            write_batch_max: 64,
            writers: 4,
            retention_days: 400,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallRecordsConfig {
    /// Lifetime asked for a new or renewed subscription (Microsoft's maximum for callRecords is 4,230).
    pub subscription_minutes: i64,
    /// Renew when less than this is left.
    pub renew_before_hours: i64,
    /// How often every tenant's subscription is read back from Graph and renewed when due.
    pub check_interval_secs: u64,
    /// Days listed by the backfill after consent (Graph keeps call records 30 days).
    pub backfill_days: i64,
    /// A gap's backfill starts this much earlier (calls that began before the gap ended in it).
    pub gap_margin_minutes: i64,
    /// Largest webhook body accepted.
    pub webhook_max_body_bytes: usize,
    /// Call records one collector replica fetches from Graph at once.
    pub fetch_concurrency: usize,
    /// Notifications the webhook puts into one fetch job at most (group commit: those arriving while earlier
    /// publishes are being confirmed share one message).
    pub webhook_batch_max: usize,
    /// Longest the webhook waits for the broker to confirm its fetch jobs before answering 503 (Graph retries);
    /// well below the 3 s within which Graph expects an answer.
    pub webhook_publish_timeout_ms: u64,
    /// Longest a client may take to send a request's head (then 408 and the connection is closed).
    pub webhook_request_timeout_ms: u64,
    /// Longest a client may take to send a webhook request's body (then 408 and the connection is closed).
    pub webhook_body_timeout_ms: u64,
    /// Longest the server waits for a client to acknowledge a connection's close.
    pub webhook_disconnect_timeout_ms: u64,
    /// Idle keep-alive connections are closed after this long.
    pub webhook_keep_alive_secs: u64,
    /// Connections the collector's HTTP server holds at once, per worker thread; beyond that it stops accepting.
    pub webhook_max_connections: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GraphConfig {
    /// Per-request timeout.
    pub timeout_secs: u64,
    /// Retries after 429, 5xx, timeouts and broken responses before a call fails.
    pub max_retries: u32,
    /// `GET /users` with `signInActivity` across every tenant and replica: Microsoft allows 10 per minute per
    /// app. 0 disables the limit (only for simulators that do not enforce it).
    pub sign_in_activity_per_minute: u32,
    /// Teams user activity report period (`D7`, `D30`, `D90`, `D180`).
    pub report_period: String,
    /// Report rows per published message.
    pub report_chunk_rows: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OnboardingConfig {
    /// How long a consent link stays valid.
    pub invitation_ttl_hours: u64,
    /// How long to keep retrying the first token after consent (Entra ID may take a moment to propagate).
    pub consent_propagation_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// SMTP relay; invitations are e-mailed only when set.
    pub host: Option<String>,
    pub port: u16,
    /// `starttls`, `tls` or `none` (`none` only for a relay on the same host).
    pub security: String,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub from: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncConfig {
    /// Whether the collector schedules the daily licence sync itself (a CronJob running `sua sync` can instead).
    pub scheduler: bool,
    /// Whether this collector replica runs collector jobs (fetches, syncs, backfills, renewals). `false` makes an
    /// intake-only replica (webhooks and the consent callback), so intake and workers scale apart.
    pub jobs: bool,
    /// How often the scheduler looks for tenants whose sync of the day is due.
    pub check_interval_secs: u64,
    /// Licence syncs one collector replica runs at once.
    pub concurrency: usize,
    /// A running sync whose heartbeat is older than this is taken over.
    pub stale_after_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` for people, `json` for Kubernetes log collectors.
    pub format: LogFormat,
    /// An `EnvFilter` directive; `RUST_LOG` wins when set.
    pub filter: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DbConfig {
    pub pool_size: u32,
    /// Longest wait for a pooled connection.
    pub acquire_timeout_secs: u64,
    /// Longest wait when opening a new connection.
    pub connect_timeout_secs: u64,
    /// PostgreSQL `statement_timeout` for pooled connections (0 = none).
    pub statement_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AmqpConfig {
    /// Unacknowledged deliveries a consumer holds at once (also its handler concurrency).
    pub prefetch: u16,
    /// Deliveries of one message before it is dead-lettered.
    pub delivery_limit: u32,
    /// Prefix for every exchange and queue name (empty in production; unique per test).
    pub prefix: String,
    /// Longest a publish may take, reconnects included, before it fails.
    pub publish_timeout_secs: u64,
    /// Upper bound of the reconnect backoff.
    pub reconnect_max_backoff_ms: u64,
    /// Queues left unused this long are deleted by the broker (tests only; unset in production).
    pub queue_expires_ms: Option<u32>,
    /// Cap of the backoff between attempts at a delivery whose handler found a dependency (database, broker,
    /// Graph) unavailable; such a delivery is held and retried in place for as long as the outage lasts.
    pub unavailable_retry_max_ms: u64,
    /// Longest one delivery is held while a dependency is unavailable; then it is put back at the end of its
    /// queue as a fresh copy (still not counting towards the delivery limit). Keep it below RabbitMQ's
    /// `consumer_timeout` (30 minutes by default), which would otherwise close the consumer's channel.
    pub unavailable_hold_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: SecretString::from("postgres://postgres@127.0.0.1:5432/sua"),
            amqp_url: SecretString::from("amqp://guest:guest@127.0.0.1:5672/%2f"),
            graph_url: url_const("https://graph.microsoft.com"),
            login_url: url_const("https://login.microsoftonline.com"),
            client_id: String::new(),
            client_secret: None,
            public_url: url_const("http://127.0.0.1:8081"),
            extra_ca_file: None,
            listen: None,
            shutdown_grace_secs: 20,
            otel_endpoint: None,
            client_certificate_file: None,
            state_signing_key: None,
            log: LogConfig::default(),
            db: DbConfig::default(),
            amqp: AmqpConfig::default(),
            graph: GraphConfig::default(),
            onboarding: OnboardingConfig::default(),
            smtp: SmtpConfig::default(),
            sync: SyncConfig::default(),
            callrecords: CallRecordsConfig::default(),
            analytics: AnalyticsConfig::default(),
            portal: PortalConfig::default(),
        }
    }
}

impl Default for CallRecordsConfig {
    fn default() -> Self {
        Self {
            subscription_minutes: 4_200,
            renew_before_hours: 48,
            check_interval_secs: 3_600,
            backfill_days: 30,
            gap_margin_minutes: 180,
            webhook_max_body_bytes: 1 << 20,
            fetch_concurrency: 64,
            webhook_batch_max: 200,
            webhook_publish_timeout_ms: 2_000,
            webhook_request_timeout_ms: 5_000,
            webhook_body_timeout_ms: 10_000,
            webhook_disconnect_timeout_ms: 1_000,
            webhook_keep_alive_secs: 30,
            webhook_max_connections: 2_048,
        }
    }
}

impl Default for GraphConfig {
    fn default() -> Self {
        Self {
            timeout_secs: 30,
            max_retries: 5,
            sign_in_activity_per_minute: 10,
            report_period: "D30".into(),
            report_chunk_rows: 5_000,
        }
    }
}

impl Default for OnboardingConfig {
    fn default() -> Self {
        Self { invitation_ttl_hours: 14 * 24, consent_propagation_secs: 60 }
    }
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: None,
            port: 587,
            security: "starttls".into(),
            username: None,
            password: None,
            from: "sua <no-reply@localhost>".into(),
        }
    }
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self { scheduler: true, jobs: true, check_interval_secs: 900, concurrency: 4, stale_after_secs: 600 }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: LogFormat::Text, filter: "info,actix_server=warn".into() }
    }
}

impl Default for DbConfig {
    fn default() -> Self {
        Self { pool_size: 10, acquire_timeout_secs: 10, connect_timeout_secs: 5, statement_timeout_secs: 60 }
    }
}

impl Default for AmqpConfig {
    fn default() -> Self {
        Self {
            prefetch: 32,
            delivery_limit: 5,
            prefix: String::new(),
            publish_timeout_secs: 30,
            reconnect_max_backoff_ms: 5_000,
            queue_expires_ms: None,
            unavailable_retry_max_ms: 10_000,
            unavailable_hold_secs: 20 * 60,
        }
    }
}

#[expect(clippy::expect_used, reason = "the literals passed here are valid URLs, checked by a unit test")]
fn url_const(s: &str) -> Url {
    Url::parse(s).expect("built-in URL is valid")
}

impl Config {
    /// Loads defaults, then `file` when given, then the `SUA_` environment, and validates the result.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Load(format!("config file {} does not exist", path.display())));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(Env::prefixed("SUA_").split("__"));
        let mut config = Self::from_figment(figment)?;
        config.otel_endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok().filter(|s| !s.is_empty());
        Ok(config)
    }

    /// Extracts and validates a configuration from any figment (tests use in-memory providers).
    pub fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let config: Config = figment.extract().map_err(|e| ConfigError::Load(redact_figment_error(&e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks everything that can be checked without I/O, and reports every problem at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        match DatabaseKind::of(self.database_url.expose_secret()) {
            Some(_) => {}
            None => problems.push("database_url must start with postgres://, postgresql:// or sqlite:".into()),
        }
        match BrokerKind::of(self.amqp_url.expose_secret()) {
            Some(_) => {}
            None => problems.push("amqp_url must start with amqp://, amqps:// or memory://".into()),
        }
        for (name, url) in [("graph_url", &self.graph_url), ("login_url", &self.login_url)] {
            if url.scheme() != "https" && url.scheme() != "http" {
                problems.push(format!("{name} must be an http(s) URL"));
            }
        }
        if self.analytics.prefetch == 0 || self.analytics.writers == 0 || self.analytics.write_batch_max == 0 {
            problems
                .push("analytics.prefetch, analytics.writers and analytics.write_batch_max must be at least 1".into());
        }
        if self.analytics.retention_days < 31 {
            problems.push("analytics.retention_days must be at least 31 (Graph keeps call records 30 days)".into());
        }
        if self.amqp.prefetch == 0 {
            problems.push("amqp.prefetch must be at least 1".into());
        }
        if self.amqp.delivery_limit == 0 {
            problems.push("amqp.delivery_limit must be at least 1".into());
        }
        if self.amqp.unavailable_retry_max_ms == 0 || self.amqp.unavailable_hold_secs == 0 {
            problems.push("amqp.unavailable_retry_max_ms and amqp.unavailable_hold_secs must be at least 1".into());
        }
        if self.amqp.publish_timeout_secs == 0 {
            problems.push("amqp.publish_timeout_secs must be at least 1".into());
        }
        if !self.amqp.prefix.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
            problems.push("amqp.prefix may hold only letters, digits, '.', '_' and '-'".into());
        }
        if self.db.pool_size == 0 {
            problems.push("db.pool_size must be at least 1".into());
        }
        for (name, file) in
            [("extra_ca_file", &self.extra_ca_file), ("client_certificate_file", &self.client_certificate_file)]
        {
            if let Some(path) = file
                && !path.exists()
            {
                problems.push(format!("{name} {} does not exist", path.display()));
            }
        }
        if !["D7", "D30", "D90", "D180"].contains(&self.graph.report_period.as_str()) {
            problems.push("graph.report_period must be D7, D30, D90 or D180".into());
        }
        if self.graph.report_chunk_rows == 0 {
            problems.push("graph.report_chunk_rows must be at least 1".into());
        }
        if !["starttls", "tls", "none"].contains(&self.smtp.security.as_str()) {
            problems.push("smtp.security must be starttls, tls or none".into());
        }
        if !(1..=4230).contains(&self.callrecords.subscription_minutes) {
            problems.push("callrecords.subscription_minutes must be between 1 and 4230".into());
        }
        if !(1..=30).contains(&self.callrecords.backfill_days) {
            problems.push("callrecords.backfill_days must be between 1 and 30".into());
        }
        if self.callrecords.fetch_concurrency == 0 {
            problems.push("callrecords.fetch_concurrency must be at least 1".into());
        }
        if self.callrecords.webhook_batch_max == 0 {
            problems.push("callrecords.webhook_batch_max must be at least 1".into());
        }
        if self.callrecords.webhook_publish_timeout_ms == 0
            || self.callrecords.webhook_request_timeout_ms == 0
            || self.callrecords.webhook_body_timeout_ms == 0
            || self.callrecords.webhook_max_connections == 0
        {
            problems.push(
                "callrecords.webhook_publish_timeout_ms, webhook_request_timeout_ms, webhook_body_timeout_ms and \
                 webhook_max_connections must be at least 1"
                    .into(),
            );
        }
        if self.sync.concurrency == 0 {
            problems.push("sync.concurrency must be at least 1".into());
        }
        if self.state_signing_key.as_ref().is_some_and(|k| k.expose_secret().len() < 32) {
            problems.push("state_signing_key must be at least 32 characters".into());
        }
        if self.portal.rate_per_second == 0 || self.portal.rate_burst == 0 || self.portal.max_page_size < 1 {
            problems
                .push("portal.rate_per_second, portal.rate_burst and portal.max_page_size must be at least 1".into());
        }
        for origin in &self.portal.cors_origins {
            let valid = Url::parse(origin).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.path() == "/"
                    && !origin.ends_with('/')
                    && u.query().is_none()
            });
            if !valid {
                problems.push(format!(
                    "portal.cors_origins: '{origin}' is not an origin such as https://portal.example.com"
                ));
            }
        }
        problems.extend(self.portal.web.problems());
        if problems.is_empty() { Ok(()) } else { Err(ConfigError::Invalid(problems)) }
    }

    /// The configuration as it may be logged: secrets masked, passwords in URLs removed.
    pub fn redacted(&self) -> String {
        format!(
            "database_url={} amqp_url={} graph_url={} login_url={} client_id={} client_secret={} public_url={} \
             listen={:?} prefetch={} delivery_limit={} prefix={:?} otlp={} smtp={} state_signing_key={}",
            redact_url(self.database_url.expose_secret()),
            redact_url(self.amqp_url.expose_secret()),
            self.graph_url,
            self.login_url,
            self.client_id,
            if self.client_secret.is_some() { "<set>" } else { "<unset>" },
            self.public_url,
            self.listen,
            self.amqp.prefetch,
            self.amqp.delivery_limit,
            self.amqp.prefix,
            self.otel_endpoint.as_deref().unwrap_or("<off>"),
            self.smtp.host.as_deref().unwrap_or("<off>"),
            if self.state_signing_key.is_some() { "<set>" } else { "<unset>" },
        )
    }
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Postgres,
    Sqlite,
}

impl DatabaseKind {
    pub fn of(url: &str) -> Option<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else {
            None
        }
    }
}

/// Which broker a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerKind {
    RabbitMq,
    InProcess,
}

impl BrokerKind {
    pub fn of(url: &str) -> Option<Self> {
        if url.starts_with("amqp://") || url.starts_with("amqps://") {
            Some(Self::RabbitMq)
        } else if url.starts_with("memory://") {
            Some(Self::InProcess)
        } else {
            None
        }
    }
}

/// Removes the password (and any query string, which may carry one) from a URL before it is logged.
pub fn redact_url(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            if url.query().is_some() {
                url.set_query(Some("***"));
            }
            url.to_string()
        }
        Err(_) => raw.split('?').next().unwrap_or_default().to_string(),
    }
}

/// figment errors quote the offending value; a malformed secret must not end up in a log line.
/// Describes what figment could not accept, never echoing a value of a setting that may hold a secret. Names are
/// always shown: a misspelt one is named with the setting it most probably meant.
fn redact_figment_error(error: &figment::Error) -> String {
    error
        .clone()
        .into_iter()
        .map(|e| {
            let path = e.path.join(".");
            if let figment::error::Kind::UnknownField(field, expected) = &e.kind {
                // The path ends with the unknown name; the section it sits in comes before.
                let section: Vec<&str> = e.path.iter().map(String::as_str).filter(|p| p != field).collect();
                let qualified = |name: &str| section.iter().copied().chain([name]).collect::<Vec<_>>().join(".");
                return match closest(field, expected) {
                    Some(meant) => {
                        format!("unknown setting `{}`; did you mean `{}`?", qualified(field), qualified(meant))
                    }
                    None => format!("unknown setting `{}`", qualified(field)),
                };
            }
            let sensitive = ["url", "secret", "password", "key"].iter().any(|s| path.contains(s));
            if sensitive { format!("{path}: invalid value") } else { e.to_string() }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The expected name closest to `given`, when it is close enough to be a slip of the keyboard.
fn closest<'a>(given: &str, expected: &[&'a str]) -> Option<&'a str> {
    expected
        .iter()
        .map(|candidate| (strsim::damerau_levenshtein(given, candidate), *candidate))
        .filter(|(distance, candidate)| *distance <= 2.max(candidate.len() / 4))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::Serialized;

    #[test]
    fn a_misspelt_setting_is_named_with_the_one_it_probably_meant_and_no_value() {
        let figment = Figment::new().merge(Serialized::default("databse_url", "postgres://user:hunter2@db/sua"));
        let error = Config::from_figment(figment).unwrap_err().to_string();
        assert!(error.contains("unknown setting `databse_url`; did you mean `database_url`?"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
        let figment = Figment::new().merge(Serialized::default("amqp.prefetchh", 3));
        let error = Config::from_figment(figment).unwrap_err().to_string();
        assert!(error.contains("unknown setting `amqp.prefetchh`; did you mean `amqp.prefetch`?"), "{error}");
        let figment = Figment::new().merge(Serialized::default("zzzz", 3));
        let error = Config::from_figment(figment).unwrap_err().to_string();
        assert!(error.contains("unknown setting `zzzz`") && !error.contains("did you mean"), "{error}");
    }

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn environment_style_keys_override_defaults_and_nest_with_double_underscore() {
        let figment = Figment::new()
            .merge(Serialized::default("amqp_url", "memory://"))
            .merge(Serialized::default("amqp.prefetch", 7))
            .merge(Serialized::default("database_url", "sqlite::memory:"));
        let config = Config::from_figment(figment).unwrap();
        assert_eq!(config.amqp.prefetch, 7);
        assert_eq!(config.amqp.delivery_limit, 5);
        assert_eq!(BrokerKind::of(config.amqp_url.expose_secret()), Some(BrokerKind::InProcess));
    }

    #[test]
    fn file_then_environment_layering() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sua.toml");
        std::fs::write(&file, "client_id = \"from-file\"\n[amqp]\nprefetch = 3\n").unwrap();
        let figment = Figment::new().merge(Toml::file(&file)).merge(Serialized::default("amqp.prefetch", 9));
        let config = Config::from_figment(figment).unwrap();
        assert_eq!(config.client_id, "from-file");
        assert_eq!(config.amqp.prefetch, 9);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let figment = Figment::new()
            .merge(Serialized::default("database_url", "mysql://x"))
            .merge(Serialized::default("amqp.prefetch", 0));
        let err = Config::from_figment(figment).unwrap_err().to_string();
        assert!(err.contains("database_url"), "{err}");
        assert!(err.contains("amqp.prefetch"), "{err}");
    }

    #[test]
    fn portal_origins_are_checked_and_read_from_the_environment_style_list() {
        let good = Figment::new().merge(Serialized::default("portal.cors_origins", ["https://portal.example.com"]));
        assert_eq!(Config::from_figment(good).unwrap().portal.cors_origins, ["https://portal.example.com"]);
        for bad in ["portal.example.com", "https://portal.example.com/", "https://portal.example.com/app", "ftp://x.y"]
        {
            let figment = Figment::new().merge(Serialized::default("portal.cors_origins", [bad]));
            let err = Config::from_figment(figment).unwrap_err().to_string();
            assert!(err.contains("portal.cors_origins"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_portal_signs_in_over_https_or_plain_loopback_only() {
        for good in ["https://login.microsoftonline.com/organizations/v2.0", "http://127.0.0.1:8090/organizations/v2.0"]
        {
            let figment = Figment::new().merge(Serialized::default("portal.web.authority", good));
            assert_eq!(Config::from_figment(figment).unwrap().portal.web.authority.unwrap().as_str(), good);
        }
        let figment = Figment::new().merge(Serialized::default("portal.web.authority", "http://login.example.com/x"));
        let err = Config::from_figment(figment).unwrap_err().to_string();
        assert!(err.contains("portal.web.authority"), "{err}");
        assert_eq!(Config::default().portal.web.dir, PathBuf::from("web/dist"));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let figment = Figment::new().merge(Serialized::default("amqp.prefech", 3));
        assert!(Config::from_figment(figment).is_err());
    }

    #[test]
    fn secrets_never_appear_in_debug_or_redacted_output() {
        let figment = Figment::new()
            .merge(Serialized::default("database_url", "postgres://sua:hunter2@db/sua?password=hunter3"))
            .merge(Serialized::default("amqp_url", "amqp://user:s3cret@mq/%2f"))
            .merge(Serialized::default("client_secret", "client-s3cret"));
        let config = Config::from_figment(figment).unwrap();
        for text in [format!("{config:?}"), config.redacted()] {
            for secret in ["hunter2", "hunter3", "s3cret", "client-s3cret"] {
                assert!(!text.contains(secret), "{secret} leaked in {text}");
            }
        }
    }

    #[test]
    fn a_malformed_secret_value_is_not_echoed_in_the_error() {
        let figment = Figment::new().merge(Serialized::default("database_url", vec!["hunter2"]));
        let err = Config::from_figment(figment).unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
