//! Keeps one live `/communications/callRecords` subscription per tenant and knows whether the tenant's feed is
//! healthy.
//!
//! Graph tells nothing when a callRecords subscription expires or disappears (only `reauthorizationRequired`
//! exists for this resource), so sua tracks expiry itself: every `check_interval_secs` each subscription is read
//! back (`GET /subscriptions/{id}`) and renewed when less than `renew_before_hours` remain; a subscription that
//! is gone is recreated and the gap since it was last confirmed is backfilled by LIST.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use reqwest::Method;
use serde_json::json;
use sua_core::Config;
use sua_core::broker::HandlerError;
use sua_core::messages::PermissionState;
use sua_db::Pool;
use sua_db::models::{SubscriptionRow, TenantRow};
use sua_db::states::{ConsentState, FeedState, SubscriptionStatus};

use super::backfill::Backfills;
use sua_domain::graph::notifications::Subscription as GraphSubscription;

use crate::graph::{Api, GraphClient, GraphError, GraphRequest};

pub const RESOURCE: &str = "/communications/callRecords";

#[derive(Clone)]
pub struct Subscriptions {
    pool: Pool,
    graph: GraphClient,
    backfills: Backfills,
    notification_url: String,
    lifecycle_url: String,
    lifetime: Duration,
    renew_before: Duration,
    gap_margin: Duration,
    backfill_days: i64,
}

/// A subscription as Graph answered a create, a renewal or a read.
async fn subscription_of(response: reqwest::Response) -> Result<GraphSubscription, GraphError> {
    response.json().await.map_err(|e| GraphError::Malformed { attempts: 1, message: format!("a subscription: {e}") })
}

fn parse_expiry(subscription: &GraphSubscription) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&subscription.expiration_date_time).ok().map(|d| d.with_timezone(&Utc))
}

fn client_state() -> String {
    rand::rng().sample_iter(rand::distr::Alphanumeric).take(64).map(char::from).collect()
}

impl Subscriptions {
    pub fn new(config: &Config, pool: Pool, graph: GraphClient, backfills: Backfills) -> Self {
        let base = config.public_url.as_str().trim_end_matches('/').to_string();
        Self {
            pool,
            graph,
            backfills,
            notification_url: format!("{base}/graph/notifications"),
            lifecycle_url: format!("{base}/graph/lifecycle"),
            lifetime: Duration::minutes(config.callrecords.subscription_minutes),
            renew_before: Duration::hours(config.callrecords.renew_before_hours),
            gap_margin: Duration::minutes(config.callrecords.gap_margin_minutes),
            backfill_days: config.callrecords.backfill_days,
        }
    }

    async fn set_feed(&self, tenant: &str, state: FeedState, error: Option<String>) -> Result<(), HandlerError> {
        let tenant = tenant.to_string();
        self.pool
            .run(move |conn| TenantRow::set_feed(conn, &tenant, state, error.as_deref(), sua_db::now()))
            .await
            .map_err(HandlerError::from)
    }

    /// Makes sure `tenant` has a live subscription; `renew` forces a renewal (reauthorization).
    pub async fn ensure(&self, tenant_id: &str, renew: bool) -> Result<(), HandlerError> {
        let lookup = tenant_id.to_string();
        let (tenant, current) = self
            .pool
            .run(move |conn| {
                Ok::<_, sua_db::DbError>((
                    TenantRow::find(conn, &lookup)?,
                    SubscriptionRow::active_for_tenant(conn, &lookup)?,
                ))
            })
            .await
            .map_err(HandlerError::from)?;
        let Some(tenant) = tenant.filter(|t| t.consent_state == ConsentState::Granted) else {
            return Err(HandlerError::Reject(anyhow::anyhow!("tenant {tenant_id} has not consented")));
        };
        let permissions: std::collections::BTreeMap<String, PermissionState> =
            serde_json::from_str(&tenant.permissions).unwrap_or_default();
        if permissions.get("CallRecords.Read.All") != Some(&PermissionState::Granted) {
            return self
                .set_feed(tenant_id, FeedState::NotCollected, Some("CallRecords.Read.All is not granted".into()))
                .await;
        }
        let result = match current {
            Some(sub) => self.check(tenant_id, sub, renew).await,
            None => {
                let lookup = tenant_id.to_string();
                let first = self
                    .pool
                    .run(move |conn| SubscriptionRow::for_tenant(conn, &lookup))
                    .await
                    .map_err(HandlerError::from)?
                    .is_empty();
                let created = self.create(tenant_id, None).await.map(|_| ());
                // First subscription after consent: fetch what Graph still keeps from before.
                if first && created.is_ok() {
                    let from = sua_core::clock::now() - Duration::days(self.backfill_days);
                    if let Err(error) = self.backfills.start(tenant_id, from, sua_core::clock::now(), "consent").await {
                        tracing::error!(tenant = tenant_id, %error, "could not queue the first backfill");
                    }
                }
                created
            }
        };
        match result {
            Ok(()) => self.set_feed(tenant_id, FeedState::Healthy, None).await,
            Err(error) => {
                let lookup = tenant_id.to_string();
                let live = self
                    .pool
                    .run(move |conn| SubscriptionRow::active_for_tenant(conn, &lookup))
                    .await
                    .map_err(HandlerError::from)?
                    .is_some_and(|s| s.expires_at > sua_db::now());
                let state = if live { FeedState::Degraded } else { FeedState::Down };
                tracing::warn!(tenant = tenant_id, %error, state = %state, "call-record subscription problem");
                self.set_feed(tenant_id, state, Some(error.to_string())).await?;
                Err(HandlerError::from(error))
            }
        }
    }

    /// Reads the subscription back, renews it when due, recreates it (and backfills) when it is gone.
    async fn check(&self, tenant_id: &str, sub: SubscriptionRow, renew: bool) -> Result<(), GraphError> {
        let url = self.graph.url_with(&["subscriptions", &sub.id], "")?;
        let now = sua_core::clock::now();
        let exists = if sub.expires_at.and_utc() <= now {
            false
        } else {
            match self.graph.get_json(tenant_id, Api::Subscriptions, &url).await {
                Ok(_) => true,
                Err(GraphError::NotFound { .. }) => false,
                Err(error) => return Err(error),
            }
        };
        if !exists {
            tracing::warn!(tenant = tenant_id, subscription = %sub.id, "call-record subscription is gone; recreating it and backfilling the gap");
            let (id, at) = (sub.id.clone(), sua_db::now());
            self.pool
                .run(move |conn| SubscriptionRow::mark_gone(conn, &id, at))
                .await
                .map_err(|e| GraphError::Limiter(e.to_string()))?;
            return self.create(tenant_id, Some(sub)).await.map(|_| ());
        }
        let expires = sub.expires_at.and_utc();
        let renewed = if renew || expires - now < self.renew_before {
            let body = json!({ "expirationDateTime": (now + self.lifetime).to_rfc3339() });
            match self
                .graph
                .send(GraphRequest::with_body(tenant_id, Api::Subscriptions, Method::PATCH, &url, &body))
                .await
            {
                Ok(response) => {
                    let answer = subscription_of(response).await.ok();
                    tracing::info!(tenant = tenant_id, subscription = %sub.id, "call-record subscription renewed");
                    answer.as_ref().and_then(parse_expiry).unwrap_or(now + self.lifetime)
                }
                Err(GraphError::NotFound { .. }) => {
                    let (id, at) = (sub.id.clone(), sua_db::now());
                    self.pool
                        .run(move |conn| SubscriptionRow::mark_gone(conn, &id, at))
                        .await
                        .map_err(|e| GraphError::Limiter(e.to_string()))?;
                    return self.create(tenant_id, Some(sub)).await.map(|_| ());
                }
                Err(error) => return Err(error),
            }
        } else {
            expires
        };
        let (id, at) = (sub.id.clone(), sua_db::now());
        self.pool
            .run(move |conn| SubscriptionRow::verified(conn, &id, renewed.naive_utc(), at))
            .await
            .map_err(|e| GraphError::Limiter(e.to_string()))
    }

    /// Creates a subscription (Graph validates the notification URLs first). When it replaces `previous`, the
    /// time since `previous` was last confirmed is backfilled.
    async fn create(&self, tenant_id: &str, previous: Option<SubscriptionRow>) -> Result<String, GraphError> {
        let now = sua_core::clock::now();
        let secret = client_state();
        let body = json!({
            "changeType": "created,updated",
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "resource": RESOURCE,
            "expirationDateTime": (now + self.lifetime).to_rfc3339(),
            "clientState": secret,
            "latestSupportedTlsVersion": "v1_2"
        });
        let response = self
            .graph
            .send(GraphRequest::with_body(
                tenant_id,
                Api::Subscriptions,
                Method::POST,
                &self.graph.url("/subscriptions"),
                &body,
            ))
            .await?;
        let created = subscription_of(response).await?;
        let id = created.id.clone();
        let at = sua_db::now();
        let row = SubscriptionRow {
            id: id.clone(),
            tenant_id: tenant_id.to_string(),
            resource: RESOURCE.to_string(),
            client_state_hash: super::webhook::hash_client_state(&secret),
            status: SubscriptionStatus::Active,
            expires_at: parse_expiry(&created).unwrap_or(now + self.lifetime).naive_utc(),
            created_at: at,
            updated_at: at,
            verified_at: Some(at),
        };
        self.pool
            .run(move |conn| SubscriptionRow::insert(conn, &row))
            .await
            .map_err(|e| GraphError::Limiter(e.to_string()))?;
        tracing::info!(tenant = tenant_id, subscription = %id, "call-record subscription created");
        if let Some(previous) = previous {
            let last_seen = previous.verified_at.unwrap_or(previous.created_at).and_utc();
            let from = last_seen - self.gap_margin;
            if let Err(error) = self.backfills.start(tenant_id, from, sua_core::clock::now(), "gap").await {
                tracing::error!(tenant = tenant_id, %error, "could not queue the gap backfill");
            }
        }
        Ok(id)
    }
}
