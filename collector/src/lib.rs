//! collector: everything that talks to Microsoft Graph. It takes the admin-consent callback and Graph webhooks,
//! runs collection jobs (daily licence sync, call-record fetch, backfill, subscription renewal) and publishes
//! raw records to the broker. It never writes analytics data.

pub mod callrecords;
pub mod freshness;
pub mod graph;
pub mod jobs;
pub mod onboarding;
pub mod pstn;
pub mod scheduler;
pub mod sync;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer, web};
use sua_core::Config;
use sua_core::broker::{ConsumerOptions, run_consumer};
use sua_core::service::Running;
use sua_db::service::Dependencies;

use crate::graph::{AzureTokenProvider, GraphClient, Limits, SharedLimit, TokenProvider};
use crate::onboarding::{Mailer, Onboarding};
use crate::sync::SyncRunner;

pub const SERVICE: &str = "collector";
pub const DEFAULT_PORT: u16 = 8081;
/// How often gauges read from the database or the broker are refreshed (a few Prometheus scrape intervals).
const METRICS_REFRESH: Duration = Duration::from_secs(30);

/// The collector's long-lived parts, shared by HTTP handlers, job consumers and the scheduler.
#[derive(Clone)]
pub struct Collector {
    pub graph: GraphClient,
    pub onboarding: Onboarding,
    pub sync: SyncRunner,
    pub fetcher: callrecords::Fetcher,
    pub subscriptions: callrecords::Subscriptions,
    pub backfills: callrecords::Backfills,
    pub pstn: pstn::PstnCollector,
    pub webhook: Arc<callrecords::Webhook>,
}

impl Collector {
    /// Wires the Graph client (azure_identity tokens), onboarding and the sync runner.
    pub fn new(config: &Config, deps: &Dependencies) -> anyhow::Result<Self> {
        let http = graph::http_client(config)?;
        let tokens: Arc<dyn TokenProvider> = if config.client_secret.is_none()
            && config.client_certificate_file.is_none()
        {
            tracing::warn!(
                "no app credential configured (SUA_CLIENT_SECRET or SUA_CLIENT_CERTIFICATE_FILE): Graph calls will fail"
            );
            Arc::new(graph::auth::MissingCredentials)
        } else {
            Arc::new(AzureTokenProvider::new(config, http.clone())?)
        };
        Self::with_tokens(config, deps, http, tokens)
    }

    /// As [`Collector::new`] with another token source.
    pub fn with_tokens(
        config: &Config,
        deps: &Dependencies,
        http: reqwest::Client,
        tokens: Arc<dyn TokenProvider>,
    ) -> anyhow::Result<Self> {
        let shared = SharedLimit { pool: deps.pool.clone(), per_minute: config.graph.sign_in_activity_per_minute };
        let graph = GraphClient::new(config, http, tokens, Arc::new(Limits::new(Some(shared))), &deps.registry);
        let mailer = Mailer::from_config(&config.smtp)?;
        let onboarding = Onboarding::new(config, deps.pool.clone(), deps.broker.clone(), graph.clone(), mailer);
        let claims = sync::claims_counter(&deps.registry);
        let sync = SyncRunner::new(
            config,
            deps.pool.clone(),
            deps.broker.clone(),
            graph.clone(),
            &deps.registry,
            claims.clone(),
        );
        let fetcher = callrecords::Fetcher::new(
            deps.pool.clone(),
            deps.broker.clone(),
            graph.clone(),
            &deps.registry,
            config.callrecords.fetch_concurrency,
        );
        let backfills = callrecords::Backfills::new(deps.pool.clone(), deps.broker.clone(), graph.clone());
        let subscriptions =
            callrecords::Subscriptions::new(config, deps.pool.clone(), graph.clone(), backfills.clone());
        let pstn = pstn::PstnCollector::new(deps.pool.clone(), deps.broker.clone(), graph.clone(), claims);
        let webhook = Arc::new(callrecords::Webhook::new(
            deps.pool.clone(),
            deps.broker.clone(),
            &deps.registry,
            &config.callrecords,
        ));
        Ok(Self { graph, onboarding, sync, fetcher, subscriptions, backfills, pstn, webhook })
    }
}

/// Readiness: sua's app registration is configured. Without it no tenant can be reached, so the collector must
/// not take traffic (consent callbacks, webhooks) and the operator reads why in `/readyz`.
struct AppCredentials {
    problem: Option<String>,
}

impl AppCredentials {
    fn of(config: &Config) -> Self {
        let problem = if config.client_id.trim().is_empty() {
            Some("client_id is not set: set SUA_CLIENT_ID to the application id of sua's app registration".into())
        } else if config.client_secret.is_none() && config.client_certificate_file.is_none() {
            Some("no app credential: set SUA_CLIENT_SECRET or SUA_CLIENT_CERTIFICATE_FILE".into())
        } else {
            None
        };
        Self { problem }
    }
}

#[async_trait::async_trait]
impl sua_core::ops::ReadinessCheck for AppCredentials {
    fn name(&self) -> &'static str {
        "app_credentials"
    }

    async fn check(&self) -> Result<(), String> {
        self.problem.clone().map_or(Ok(()), Err)
    }
}

/// Binds the collector's HTTP server and starts its workers.
pub async fn build(config: &Config, deps: Dependencies) -> anyhow::Result<Running> {
    let collector = Collector::new(config, &deps)?;
    build_with(config, deps, collector).await
}

/// As [`build`], with a prepared [`Collector`] (tests inject their token source this way).
pub async fn build_with(config: &Config, deps: Dependencies, collector: Collector) -> anyhow::Result<Running> {
    let listener =
        sua_core::service::bind(config.listen.unwrap_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, DEFAULT_PORT))))?;
    let port = listener.local_addr()?.port();
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let ops = deps.ops(SERVICE).with_check(Arc::new(AppCredentials::of(config)));
    let onboarding = web::Data::new(collector.onboarding.clone());
    let webhook = web::Data::from(collector.webhook.clone());
    let max_body = config.callrecords.webhook_max_body_bytes;
    let telemetry = sua_core::requests::RequestTelemetry::new(SERVICE, &deps.registry);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(telemetry.clone())
            .app_data(onboarding.clone())
            .app_data(webhook.clone())
            .app_data(web::PayloadConfig::new(max_body))
            .configure(ops.clone().configure())
            .configure(onboarding::configure)
            .configure(callrecords::webhook::configure)
    })
    .disable_signals()
    .shutdown_timeout(grace.as_secs())
    // Slow or idle clients cannot hold connections: the head must arrive in time (the webhook's body too, see
    // `callrecords::webhook`), idle keep-alive connections close, and the connection count is capped.
    .client_request_timeout(Duration::from_millis(config.callrecords.webhook_request_timeout_ms))
    .client_disconnect_timeout(Duration::from_millis(config.callrecords.webhook_disconnect_timeout_ms))
    .keep_alive(Duration::from_secs(config.callrecords.webhook_keep_alive_secs.max(1)))
    .max_connections(config.callrecords.webhook_max_connections)
    .listen(listener)?
    .run();
    let mut running = Running::new(SERVICE, server, port, grace);

    if config.sync.jobs {
        let jobs = Arc::new(jobs::CollectorJobs { collector: collector.clone() });
        let options = ConsumerOptions::new(deps.broker.topology().collector_jobs_queue(), &config.amqp, grace);
        let (broker, stop) = (deps.broker.clone(), running.stop_token());
        let background = collector.clone();
        running.spawn("jobs", async move {
            run_consumer(broker, options, jobs, stop).await?;
            background.sync.shutdown(grace).await;
            background.backfills.shutdown(grace).await;
            Ok(())
        });
    }
    let freshness = freshness::Freshness::new(deps.pool.clone(), &deps.registry);
    running.spawn("freshness", freshness.run(METRICS_REFRESH, running.stop_token()));
    let topology = deps.broker.topology();
    let watched = vec![topology.collector_jobs_queue(), topology.dead_letter_queue()];
    running.spawn(
        "queue depth",
        sua_core::broker::watch_queues(deps.broker.clone(), watched, METRICS_REFRESH, running.stop_token()),
    );
    if config.sync.scheduler {
        let schedule = scheduler::Schedule::from_config(config);
        let (pool, broker, backfills, stop) =
            (deps.pool.clone(), deps.broker.clone(), collector.backfills.clone(), running.stop_token());
        running.spawn("scheduler", scheduler::run(pool, broker, backfills, schedule, stop));
    }
    Ok(running)
}
