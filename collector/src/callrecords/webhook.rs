//! Graph webhook intake: `POST /graph/notifications` and `POST /graph/lifecycle`.
//!
//! * Validation handshake: a `validationToken` query parameter is echoed, URL-decoded, as `text/plain`, and
//!   nothing else happens (graph-api.md §7.3).
//! * Notifications: each item must name a known subscription, the subscription's tenant and its `clientState`
//!   (compared in constant time with the stored SHA-256). Valid items become fetch jobs, published with broker
//!   confirmation (grouped with whatever else arrives meanwhile, see [`super::batcher`]), and the request is
//!   answered 202 — no Graph call inline, so Graph never waits on Graph.
//!   Invalid items are dropped and counted; a request with none valid is refused (403); a body that is not a
//!   notification collection is a 400; an oversized one a 413. If the broker cannot confirm within the webhook's
//!   publish deadline, 503 makes Graph retry.
//! * Every id is checked for its GUID shape before anything is looked up: the subscription id, the tenant id and
//!   the call record id (which later becomes a Graph URL path segment). The subscription cache holds only
//!   subscriptions found in the database, and a bounded number of them: nothing an unauthenticated request
//!   invents is kept.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use prometheus::{HistogramVec, IntCounterVec, Registry};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sua_core::broker::Broker;
use sua_core::messages::{CallToFetch, Envelope, SubscriptionEnsureJobV1};
use sua_db::Pool;
use sua_db::models::SubscriptionRow;

use super::batcher::JobBatcher;
use crate::graph::is_guid;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/graph/notifications", web::post().to(notifications))
        .route("/graph/lifecycle", web::post().to(lifecycle));
}

/// SHA-256 (hex) of a clientState, as stored.
pub fn hash_client_state(client_state: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(64);
    for byte in Sha256::digest(client_state.as_bytes()) {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    hex
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Clone)]
struct Known {
    tenant_id: String,
    client_state_hash: String,
}

/// Active subscriptions by id, read through from the database (another replica may have created them). Only
/// subscriptions the database holds are cached, at most [`CACHE_MAX`] of them, for [`KNOWN_TTL`] each.
pub struct SubscriptionCache {
    pool: Pool,
    entries: RwLock<HashMap<String, (Known, Instant)>>,
}

const KNOWN_TTL: Duration = Duration::from_secs(300);
/// Longest a webhook request waits for the database to find a subscription.
const LOOKUP_TIMEOUT: Duration = Duration::from_millis(1_500);
/// Far more than the active subscriptions of every tenant (one or two each); a bound, not a working size.
pub const CACHE_MAX: usize = 10_000;

impl SubscriptionCache {
    pub fn new(pool: Pool) -> Self {
        Self { pool, entries: RwLock::new(HashMap::new()) }
    }

    /// How many subscriptions are cached.
    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    async fn lookup(&self, id: &str) -> Result<Option<Known>, sua_db::DbError> {
        let cached = self.entries.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(id).cloned();
        if let Some((known, at)) = &cached
            && at.elapsed() < KNOWN_TTL
        {
            return Ok(Some(known.clone()));
        }
        let key = id.to_string();
        // Graph wants an answer within 3 s: a database that does not answer in time is an outage, in which a
        // subscription seen before is still trusted (stale-if-error) rather than every notification refused.
        let found = tokio::time::timeout(LOOKUP_TIMEOUT, self.pool.run(move |conn| SubscriptionRow::find(conn, &key)))
            .await
            .unwrap_or_else(|_| Err(sua_db::DbError::Pool(format!("no answer within {LOOKUP_TIMEOUT:?}"))));
        let row = match (found, cached) {
            (Ok(row), _) => row,
            (Err(error), Some((known, _))) => {
                tracing::warn!(%error, subscription_id = id, "subscription lookup failed; trusting the cached one");
                return Ok(Some(known));
            }
            (Err(error), None) => return Err(error),
        };
        let known = row
            .filter(|r| r.status == sua_db::states::SubscriptionStatus::Active)
            .map(|r| Known { tenant_id: r.tenant_id, client_state_hash: r.client_state_hash });
        let mut entries = self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        match &known {
            Some(known) => {
                if entries.len() >= CACHE_MAX && !entries.contains_key(id) {
                    entries.retain(|_, (_, at)| at.elapsed() < KNOWN_TTL);
                    if entries.len() >= CACHE_MAX
                        && let Some(oldest) = entries.iter().min_by_key(|(_, (_, at))| *at).map(|(k, _)| k.clone())
                    {
                        entries.remove(&oldest);
                    }
                }
                entries.insert(id.to_string(), (known.clone(), Instant::now()));
            }
            None => {
                entries.remove(id);
            }
        }
        Ok(known)
    }

    /// Forgets a subscription (after it was replaced).
    pub fn forget(&self, id: &str) {
        self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner).remove(id);
    }
}

/// Shared state of the webhook endpoints.
pub struct Webhook {
    pub broker: Broker,
    pub cache: SubscriptionCache,
    outcomes: IntCounterVec,
    seconds: HistogramVec,
    batcher: OnceLock<JobBatcher>,
    batch_max: usize,
    /// Longest a request waits for the broker's confirmation before it is answered 503.
    publish_timeout: Duration,
    /// Longest a client may take to send its body.
    body_timeout: Duration,
    max_body: usize,
    /// Where the batcher runs: the runtime that built the collector (not an HTTP worker's own).
    runtime: Option<tokio::runtime::Handle>,
}

impl Webhook {
    pub fn new(
        pool: Pool,
        broker: Broker,
        registry: &Registry,
        settings: &sua_core::config::CallRecordsConfig,
    ) -> Self {
        Self {
            batcher: OnceLock::new(),
            batch_max: settings.webhook_batch_max,
            publish_timeout: Duration::from_millis(settings.webhook_publish_timeout_ms),
            body_timeout: Duration::from_millis(settings.webhook_body_timeout_ms),
            max_body: settings.webhook_max_body_bytes,
            runtime: tokio::runtime::Handle::try_current().ok(),
            broker,
            cache: SubscriptionCache::new(pool),
            outcomes: sua_core::metrics::counter_vec(
                registry,
                "sua_webhook_items_total",
                "Webhook notification items by outcome (accepted, unknown_subscription, bad_client_state, foreign_tenant, malformed).",
                &["endpoint", "outcome"],
            ),
            seconds: sua_core::metrics::histogram_vec(
                registry,
                "sua_webhook_seconds",
                "Time to answer a webhook request, publishes included.",
                &["endpoint"],
                vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5],
            ),
        }
    }
}

impl Webhook {
    fn batcher(&self) -> &JobBatcher {
        self.batcher.get_or_init(|| {
            let runtime = self.runtime.clone().unwrap_or_else(tokio::runtime::Handle::current);
            JobBatcher::spawn(&runtime, self.broker.clone(), self.batch_max, self.publish_timeout)
        })
    }
}

fn problem(status: actix_web::http::StatusCode, title: &str, detail: &str) -> HttpResponse {
    HttpResponse::build(status).content_type("application/problem+json").json(serde_json::json!({
        "type": "about:blank", "title": title, "status": status.as_u16(), "detail": detail
    }))
}

/// Echoes Graph's validation token; `None` when the request is not a validation request.
fn validation(req: &HttpRequest) -> Option<HttpResponse> {
    let token = url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "validationToken")
        .map(|(_, v)| v.into_owned())?;
    // Graph never sends markup; refusing it keeps the echo from being a reflection vector.
    if token.len() > 2_048 || token.contains(['<', '>', '&', '"', '\'']) {
        return Some(problem(
            actix_web::http::StatusCode::BAD_REQUEST,
            "Invalid validation token",
            "The token holds characters Graph never sends.",
        ));
    }
    Some(HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(token))
}

/// A change notification collection as Graph posts it; only the fields sua reads (graph-api.md §7.4).
#[derive(Deserialize)]
struct Collection<'a> {
    #[serde(borrow)]
    value: Vec<Item<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item<'a> {
    #[serde(borrow, default)]
    subscription_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    tenant_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    client_state: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    change_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    resource: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    resource_data: Option<ResourceData<'a>>,
    #[serde(borrow, default)]
    lifecycle_event: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ResourceData<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
}

/// A notification item that passed every check.
struct Accepted {
    tenant_id: String,
    /// The call record id (notifications) — from `resourceData.id`, else the last segment of `resource`.
    resource_id: Option<String>,
    change_type: String,
    lifecycle_event: String,
}

async fn check_items(webhook: &Webhook, endpoint: &str, body: &[u8]) -> Result<Vec<Accepted>, HttpResponse> {
    let malformed = |detail: &str| {
        webhook.outcomes.with_label_values(&[endpoint, "malformed"]).inc();
        problem(StatusCode::BAD_REQUEST, "Not a change notification collection", detail)
    };
    let collection = match serde_json::from_slice::<Collection<'_>>(body) {
        Ok(collection) => collection,
        Err(error) => return Err(malformed(&format!("The body is not a `value` array of notifications: {error}"))),
    };
    if collection.value.is_empty() {
        return Err(malformed("The body has no notification in its `value` array."));
    }
    if collection.value.len() > 1_000 {
        return Err(malformed("More than 1,000 notifications in one request."));
    }
    let mut accepted = Vec::with_capacity(collection.value.len());
    for item in collection.value {
        let (Some(subscription_id), Some(tenant_id)) = (item.subscription_id.as_deref(), item.tenant_id.as_deref())
        else {
            webhook.outcomes.with_label_values(&[endpoint, "malformed"]).inc();
            continue;
        };
        // Checked before any lookup: an invented id never reaches the database or the cache.
        if !is_guid(subscription_id) || !is_guid(tenant_id) {
            webhook.outcomes.with_label_values(&[endpoint, "malformed"]).inc();
            continue;
        }
        // The call record id becomes a Graph URL path segment: only a GUID may.
        let resource_id = item
            .resource_data
            .and_then(|d| d.id)
            .or_else(|| item.resource.as_deref().and_then(|r| r.rsplit('/').next()).map(Cow::from))
            .map(Cow::into_owned);
        if endpoint == "notifications" && !resource_id.as_deref().is_some_and(is_guid) {
            webhook.outcomes.with_label_values(&[endpoint, "malformed"]).inc();
            continue;
        }
        let known = match webhook.cache.lookup(subscription_id).await {
            Ok(known) => known,
            Err(error) => {
                tracing::error!(%error, "subscription lookup failed");
                return Err(problem(StatusCode::SERVICE_UNAVAILABLE, "Temporarily unavailable", "Retry later."));
            }
        };
        let outcome = match known {
            None => "unknown_subscription",
            Some(known) if !known.tenant_id.eq_ignore_ascii_case(tenant_id) => "foreign_tenant",
            Some(known) => {
                let presented = hash_client_state(item.client_state.as_deref().unwrap_or_default());
                if constant_time_eq(presented.as_bytes(), known.client_state_hash.as_bytes()) {
                    accepted.push(Accepted {
                        tenant_id: known.tenant_id,
                        resource_id,
                        change_type: item.change_type.map_or_else(|| "created".into(), Cow::into_owned),
                        lifecycle_event: item.lifecycle_event.map(Cow::into_owned).unwrap_or_default(),
                    });
                    "accepted"
                } else {
                    "bad_client_state"
                }
            }
        };
        if outcome != "accepted" {
            tracing::warn!(endpoint, subscription_id, outcome, "webhook item rejected");
        }
        webhook.outcomes.with_label_values(&[endpoint, outcome]).inc();
    }
    if accepted.is_empty() {
        return Err(problem(
            StatusCode::FORBIDDEN,
            "No valid notification",
            "No item names a known subscription with its client state.",
        ));
    }
    Ok(accepted)
}

async fn publish_all(webhook: &Webhook, envelopes: Vec<Envelope>) -> HttpResponse {
    let results = futures::future::join_all(
        envelopes.iter().map(|e| webhook.broker.publish_job_within(e, webhook.publish_timeout)),
    )
    .await;
    if let Some(error) = results.into_iter().find_map(Result::err) {
        tracing::error!(%error, "webhook publish failed; Graph will retry");
        return problem(StatusCode::SERVICE_UNAVAILABLE, "Temporarily unavailable", "Retry later.");
    }
    HttpResponse::Accepted().finish()
}

/// Reads the body within the webhook's body timeout and size cap: a client trickling its body is answered 408
/// and its connection closed, so slow senders cannot hold connections (and memory) open.
async fn read_body(webhook: &Webhook, mut payload: web::Payload) -> Result<web::Bytes, HttpResponse> {
    use futures::StreamExt;
    let read = async {
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| {
                problem(StatusCode::BAD_REQUEST, "Unreadable body", "The request body could not be read.")
            })?;
            if body.len() + chunk.len() > webhook.max_body {
                return Err(problem(StatusCode::PAYLOAD_TOO_LARGE, "Body too large", "The body exceeds the limit."));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    match tokio::time::timeout(webhook.body_timeout, read).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(mut response)) => {
            response.head_mut().set_connection_type(actix_web::http::ConnectionType::Close);
            Err(response)
        }
        Err(_) => {
            let mut response = problem(StatusCode::REQUEST_TIMEOUT, "Request timeout", "The body came too slowly.");
            response.head_mut().set_connection_type(actix_web::http::ConnectionType::Close);
            Err(response)
        }
    }
}

async fn notifications(webhook: web::Data<Webhook>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let started = Instant::now();
    if let Some(response) = validation(&req) {
        return response;
    }
    let body = match read_body(&webhook, payload).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let response = match check_items(&webhook, "notifications", &body).await {
        Err(response) => response,
        Ok(accepted) => {
            let mut calls: HashMap<String, Vec<CallToFetch>> = HashMap::new();
            for Accepted { tenant_id, resource_id, change_type, .. } in accepted {
                let Some(call_id) = resource_id.filter(|id| is_guid(id)) else { continue };
                calls.entry(tenant_id).or_default().push(CallToFetch { id: call_id, change_type });
            }
            let batcher = webhook.batcher();
            let submitted = futures::future::join_all(
                calls.into_iter().map(|(tenant, calls)| async move { batcher.submit(&tenant, calls).await }),
            );
            // The publishes carry the same deadline; this bounds the answer even if they queue behind others.
            let submitted = match tokio::time::timeout(webhook.publish_timeout, submitted).await {
                Ok(submitted) => submitted,
                Err(_) => vec![Err(format!("not confirmed within {:?}", webhook.publish_timeout))],
            };
            match submitted.into_iter().find_map(Result::err) {
                None => HttpResponse::Accepted().finish(),
                Some(error) => {
                    tracing::error!(%error, "webhook publish failed; Graph will retry");
                    problem(StatusCode::SERVICE_UNAVAILABLE, "Temporarily unavailable", "Retry later.")
                }
            }
        }
    };
    webhook.seconds.with_label_values(&["notifications"]).observe(started.elapsed().as_secs_f64());
    response
}

async fn lifecycle(webhook: web::Data<Webhook>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    if let Some(response) = validation(&req) {
        return response;
    }
    let body = match read_body(&webhook, payload).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    match check_items(&webhook, "lifecycle", &body).await {
        Err(response) => response,
        Ok(accepted) => {
            let mut envelopes = Vec::new();
            for Accepted { tenant_id, lifecycle_event: event, .. } in accepted {
                tracing::info!(tenant = %tenant_id, event, "subscription lifecycle event");
                // reauthorizationRequired: renew (which reauthorizes); subscriptionRemoved or missed: ensure
                // recreates the subscription if needed and backfills any gap.
                let job = SubscriptionEnsureJobV1 { reason: event.clone(), renew: event == "reauthorizationRequired" };
                if let Ok(envelope) = Envelope::new(tenant_id, None, &job) {
                    envelopes.push(envelope);
                }
            }
            publish_all(&webhook, envelopes).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_states_compare_by_hash_in_constant_time() {
        let stored = hash_client_state("s3cret");
        assert!(constant_time_eq(hash_client_state("s3cret").as_bytes(), stored.as_bytes()));
        assert!(!constant_time_eq(hash_client_state("s3creT").as_bytes(), stored.as_bytes()));
        assert!(!constant_time_eq(b"short", stored.as_bytes()));
    }
}
