//! A whole sua stack for end-to-end tests: the Graph simulator, a fresh database, a fresh broker namespace and
//! the services in-process (real HTTP on loopback, real RabbitMQ/PostgreSQL or their embedded twins).

use std::collections::HashMap;
use std::time::Duration;

use secrecy::SecretString;
use sua_core::Config;
use sua_core::messages::{Envelope, Kind};
use sua_core::shutdown::CancellationToken;
use sua_db::service::Dependencies;
use sua_graph_sim::SimConfig;

use crate::binaries::free_port;
use crate::graph::SimHarness;
use crate::{BrokerUnderTest, TestBroker, TestDatabase};

/// Which back ends the stack runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL and RabbitMQ (production).
    Production,
    /// SQLite and the in-process broker (the embedded mode).
    Embedded,
}

/// The portal app id tests configure as the token audience.
pub const PORTAL_AUDIENCE: &str = "api://sua-portal-test";
/// The managed-service provider's tenant in tests: its `Portal.Operator` users see every tenant.
pub const OPERATOR_TENANT: &str = "0f0f0f0f-0000-4000-8000-00000000000f";

/// portal-api settings that trust the simulator's issuer (generous rate limits: the suite is not the subject).
pub fn portal_config(sim: &SimHarness) -> sua_core::config::PortalConfig {
    sua_core::config::PortalConfig {
        audience: PORTAL_AUDIENCE.into(),
        issuer_base: Some(sim.graph().config.issuer_base.parse().unwrap_or_else(|e| panic!("{e}"))),
        operator_tenant: Some(OPERATOR_TENANT.into()),
        rate_per_second: 10_000,
        rate_burst: 10_000,
        cache_ttl_secs: 1,
        ..Default::default()
    }
}

pub const STATE_KEY: &str = "test-state-signing-key-0123456789abcdef";

pub struct Stack {
    pub sim: SimHarness,
    pub db: TestDatabase,
    pub broker: TestBroker,
    pub config: Config,
    pub deps: Dependencies,
    pub collector: sua_collector::Collector,
    pub collector_url: String,
    shutdown: CancellationToken,
    services: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Stack {
    /// Starts the simulator and the collector; `adjust` tunes the collector's configuration first.
    pub async fn start(backend: Backend, sim: SimConfig, adjust: impl FnOnce(&mut Config)) -> Self {
        crate::init_telemetry();
        let sim = SimHarness::start(sim).await;
        let db = match backend {
            Backend::Production => TestDatabase::postgres(),
            Backend::Embedded => TestDatabase::sqlite(),
        }
        .unwrap_or_else(|e| panic!("test database: {e}"));
        let broker = TestBroker::new(match backend {
            Backend::Production => BrokerUnderTest::RabbitMq,
            Backend::Embedded => BrokerUnderTest::InProcess,
        })
        .await;
        let port = free_port();
        let sim_config = &sim.graph().config;
        let mut config = Config {
            database_url: db.url(),
            amqp_url: broker.url.clone(),
            graph_url: sim.sim.graph_url.parse().unwrap_or_else(|e| panic!("{e}")),
            login_url: sim.sim.login_url.parse().unwrap_or_else(|e| panic!("{e}")),
            client_id: sim_config.client_id.clone(),
            client_secret: Some(SecretString::from(sim_config.client_secret.clone())),
            public_url: format!("http://127.0.0.1:{port}").parse().unwrap_or_else(|e| panic!("{e}")),
            extra_ca_file: Some(sim.sim.ca_file.clone()),
            listen: Some(format!("127.0.0.1:{port}").parse().unwrap_or_else(|e| panic!("{e}"))),
            shutdown_grace_secs: 5,
            state_signing_key: Some(SecretString::from(STATE_KEY)),
            amqp: broker.settings.clone(),
            ..Config::default()
        };
        config.graph.max_retries = 3;
        config.sync.scheduler = false;
        config.onboarding.consent_propagation_secs = 0;
        adjust(&mut config);
        // A test that points the services at another broker URL (a proxy in front of RabbitMQ that it can cut or
        // stall) gets a connection of their own; the test's own handle stays direct.
        let services_broker = if secrecy::ExposeSecret::expose_secret(&config.amqp_url)
            == secrecy::ExposeSecret::expose_secret(&broker.url)
        {
            broker.broker.clone()
        } else {
            let metrics = sua_core::metrics::BrokerMetrics::new(&prometheus::Registry::new());
            sua_core::broker::Broker::connect(&config.amqp_url, &config.amqp, metrics)
                .await
                .unwrap_or_else(|e| panic!("services' broker: {e}"))
        };
        let deps = Dependencies {
            pool: db.pool().unwrap_or_else(|e| panic!("{e}")),
            broker: services_broker,
            registry: broker.registry.clone(),
        };
        deps.pool.register_metrics(&deps.registry);
        let collector = sua_collector::Collector::new(&config, &deps).unwrap_or_else(|e| panic!("collector: {e:#}"));
        let running = sua_collector::build_with(&config, deps.clone(), collector.clone())
            .await
            .unwrap_or_else(|e| panic!("collector did not start: {e:#}"));
        let shutdown = CancellationToken::new();
        let services = vec![tokio::spawn(running.run_until_stopped(shutdown.clone()))];
        Self {
            sim,
            db,
            broker,
            config,
            deps,
            collector,
            collector_url: format!("http://127.0.0.1:{port}"),
            shutdown,
            services,
        }
    }

    /// The simulated Graph: its tenants, request log, faults and clock.
    pub fn graph(&self) -> &std::sync::Arc<sua_graph_sim::Sim> {
        self.sim.graph()
    }

    pub fn tenant(&self, n: usize) -> String {
        self.sim.tenant(n)
    }

    /// Starts analytics in-process on the stack's database and broker (consumer and recompute worker).
    pub async fn start_analytics(&mut self) {
        let mut config = self.config.clone();
        config.listen = Some(format!("127.0.0.1:{}", free_port()).parse().unwrap_or_else(|e| panic!("{e}")));
        config.analytics.recompute_interval_ms = 50;
        config.analytics.quality_rank_interval_secs = 0;
        let running = sua_analytics::build(&config, self.deps.clone())
            .await
            .unwrap_or_else(|e| panic!("analytics did not start: {e:#}"));
        self.services.push(tokio::spawn(running.run_until_stopped(self.shutdown.clone())));
    }

    /// Starts portal-api in-process, trusting the simulator's portal-login issuer; returns its base URL.
    pub async fn start_portal(&mut self) -> String {
        self.start_portal_with(|_| {}).await
    }

    /// As [`Stack::start_portal`], with its settings adjusted first.
    pub async fn start_portal_with(&mut self, adjust: impl FnOnce(&mut sua_core::config::PortalConfig)) -> String {
        let mut config = self.config.clone();
        let port = free_port();
        config.listen = Some(format!("127.0.0.1:{port}").parse().unwrap_or_else(|e| panic!("{e}")));
        config.portal = portal_config(&self.sim);
        adjust(&mut config.portal);
        let running = sua_portal_api::build(&config, self.deps.clone())
            .await
            .unwrap_or_else(|e| panic!("portal-api did not start: {e:#}"));
        self.services.push(tokio::spawn(running.run_until_stopped(self.shutdown.clone())));
        format!("http://127.0.0.1:{port}")
    }

    /// A portal user's token from the simulator's issuer.
    pub fn portal_token(&self, tenant_id: &str, roles: &[&str]) -> String {
        self.sim
            .sim
            .sim
            .user_token(&sua_graph_sim::UserTokenSpec::new(tenant_id, PORTAL_AUDIENCE, roles))
            .unwrap_or_else(|e| panic!("token: {e}"))
    }

    /// Follows a consent link the way a browser does: Microsoft's page answers with a redirect to the collector's
    /// callback; returns the callback's status and page.
    pub async fn follow_consent_link(&self, consent_url: &str) -> (u16, String) {
        let response = self.sim.http.get(consent_url).send().await.unwrap_or_else(|e| panic!("consent page: {e}"));
        assert_eq!(response.status().as_u16(), 302, "Microsoft's consent page redirects back");
        let location = response.headers()["location"].to_str().unwrap_or_default().to_string();
        assert!(location.starts_with(&self.collector_url), "redirected to {location}");
        self.get_page(&location).await
    }

    pub async fn get_page(&self, url: &str) -> (u16, String) {
        let response = self.sim.http.get(url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
        (response.status().as_u16(), response.text().await.unwrap_or_default())
    }

    /// Invites a customer and has its admin consent; returns the result page.
    pub async fn onboard(&self) -> (u16, String) {
        let invitation = self
            .collector
            .onboarding
            .invite("Contoso", "admin@contoso.example", "test")
            .await
            .unwrap_or_else(|e| panic!("invite: {e}"));
        self.follow_consent_link(&invitation.consent_url).await
    }

    /// Stops every service; a service that failed or panicked fails the test.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        for service in self.services.drain(..) {
            match service.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => panic!("a service stopped with an error: {error:#}"),
                Err(error) => panic!("a service panicked: {error}"),
            }
        }
        self.broker.cleanup().await;
        self.sim.sim.stop().await;
    }
}

/// Raw records read from the analytics queue (in tests where analytics does not run).
pub struct RawRecords {
    pub envelopes: Vec<Envelope>,
}

impl RawRecords {
    /// Reads the analytics queue until `done` says the collected envelopes are enough.
    pub async fn collect(stack: &Stack, timeout: Duration, done: impl Fn(&[Envelope]) -> bool) -> Self {
        let queue = stack.broker.broker.topology().analytics_queue();
        let mut subscription =
            stack.broker.broker.subscribe(&queue, 200).await.unwrap_or_else(|e| panic!("subscribe: {e}"));
        let mut envelopes = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        while !done(&envelopes) {
            let next = tokio::time::timeout_at(deadline, subscription.next()).await;
            let Ok(Some(delivery)) = next else {
                panic!("timed out after {timeout:?} with {} raw records: {:?}", envelopes.len(), kinds(&envelopes));
            };
            let envelope = Envelope::from_slice(&delivery.body).unwrap_or_else(|e| panic!("bad envelope: {e}"));
            let _ = delivery.ack().await;
            envelopes.push(envelope);
        }
        subscription.close().await;
        Self { envelopes }
    }

    pub fn of(&self, kind: Kind) -> Vec<&Envelope> {
        self.envelopes.iter().filter(|e| e.kind == kind).collect()
    }
}

fn kinds(envelopes: &[Envelope]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for envelope in envelopes {
        *counts.entry(envelope.kind.to_string()).or_insert(0) += 1;
    }
    counts
}

/// Whether a `sync.completed` arrived.
pub fn sync_completed(envelopes: &[Envelope]) -> bool {
    envelopes.iter().any(|e| e.kind == Kind::SyncCompletedV1)
}
