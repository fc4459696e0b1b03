//! Graph webhook intake: `POST /graph/notifications` and `POST /graph/lifecycle`.
//!
//! * Validation handshake: a `validationToken` query parameter is echoed, URL-decoded, as `text/plain`, and
//!   nothing else happens (graph-api.md §7.3).
//! * Notifications: each item must name a known subscription, the subscription's tenant and its `clientState`
//!   (compared in constant time with the stored SHA-256). Valid items become fetch jobs, published with broker
//!   confirmation, and the request is answered 202 — no Graph call inline, so Graph never waits on Graph.
//!   Invalid items are dropped and counted; a request with none valid is refused (403); a body that is not a
//!   notification collection is a 400; an oversized one a 413. If the broker cannot confirm, 503 makes Graph
//!   retry.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use prometheus::{HistogramVec, IntCounterVec, Registry};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sua_core::broker::Broker;
use sua_core::messages::{CallRecordFetchJobV1, Envelope, SubscriptionEnsureJobV1};
use sua_db::Pool;
use sua_db::models::SubscriptionRow;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/graph/notifications", web::post().to(notifications))
        .route("/graph/lifecycle", web::post().to(lifecycle));
}

/// SHA-256 (hex) of a clientState, as stored.
pub fn hash_client_state(client_state: &str) -> String {
    Sha256::digest(client_state.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Clone)]
struct Known {
    tenant_id: String,
    client_state_hash: String,
}

enum Cached {
    Known(Known, Instant),
    Unknown(Instant),
}

/// Subscriptions by id, read through from the database (another replica may have created them).
pub struct SubscriptionCache {
    pool: Pool,
    entries: RwLock<HashMap<String, Cached>>,
}

const KNOWN_TTL: Duration = Duration::from_secs(300);
const UNKNOWN_TTL: Duration = Duration::from_secs(30);

impl SubscriptionCache {
    pub fn new(pool: Pool) -> Self {
        Self { pool, entries: RwLock::new(HashMap::new()) }
    }

    async fn lookup(&self, id: &str) -> Result<Option<Known>, sua_db::DbError> {
        if let Some(entry) = self.entries.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(id) {
            match entry {
                Cached::Known(known, at) if at.elapsed() < KNOWN_TTL => return Ok(Some(known.clone())),
                Cached::Unknown(at) if at.elapsed() < UNKNOWN_TTL => return Ok(None),
                _ => {}
            }
        }
        let key = id.to_string();
        let row = self.pool.run(move |conn| SubscriptionRow::find(conn, &key)).await?;
        let known = row
            .filter(|r| r.status == sua_db::models::subscriptions::ACTIVE)
            .map(|r| Known { tenant_id: r.tenant_id, client_state_hash: r.client_state_hash });
        let entry = match &known {
            Some(known) => Cached::Known(known.clone(), Instant::now()),
            None => Cached::Unknown(Instant::now()),
        };
        self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(id.to_string(), entry);
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
}

impl Webhook {
    pub fn new(pool: Pool, broker: Broker, registry: &Registry) -> Self {
        Self {
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

/// A notification item that passed every check.
struct Accepted {
    tenant_id: String,
    subscription_id: String,
    item: Value,
}

async fn check_items(webhook: &Webhook, endpoint: &str, body: &[u8]) -> Result<Vec<Accepted>, HttpResponse> {
    use actix_web::http::StatusCode;
    let malformed = |detail: &str| {
        webhook.outcomes.with_label_values(&[endpoint, "malformed"]).inc();
        problem(StatusCode::BAD_REQUEST, "Not a change notification collection", detail)
    };
    let Ok(json) = serde_json::from_slice::<Value>(body) else { return Err(malformed("The body is not JSON.")) };
    let Some(items) = json.get("value").and_then(Value::as_array).filter(|v| !v.is_empty()) else {
        return Err(malformed("The body has no `value` array of notifications."));
    };
    if items.len() > 1_000 {
        return Err(malformed("More than 1,000 notifications in one request."));
    }
    let mut accepted = Vec::new();
    for item in items {
        let field = |name: &str| item.get(name).and_then(Value::as_str);
        let (Some(subscription_id), Some(tenant_id)) = (field("subscriptionId"), field("tenantId")) else {
            webhook.outcomes.with_label_values(&[endpoint, "malformed"]).inc();
            continue;
        };
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
                let presented = hash_client_state(field("clientState").unwrap_or_default());
                if constant_time_eq(presented.as_bytes(), known.client_state_hash.as_bytes()) {
                    accepted.push(Accepted {
                        tenant_id: known.tenant_id,
                        subscription_id: subscription_id.to_string(),
                        item: item.clone(),
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
    let results = futures::future::join_all(envelopes.iter().map(|e| webhook.broker.publish_job(e))).await;
    if let Some(error) = results.into_iter().find_map(Result::err) {
        tracing::error!(%error, "webhook publish failed; Graph will retry");
        return problem(actix_web::http::StatusCode::SERVICE_UNAVAILABLE, "Temporarily unavailable", "Retry later.");
    }
    HttpResponse::Accepted().finish()
}

async fn notifications(webhook: web::Data<Webhook>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let started = Instant::now();
    if let Some(response) = validation(&req) {
        return response;
    }
    let response = match check_items(&webhook, "notifications", &body).await {
        Err(response) => response,
        Ok(accepted) => {
            let mut envelopes = Vec::with_capacity(accepted.len());
            for Accepted { tenant_id, subscription_id, item } in accepted {
                let call_id = item["resourceData"]["id"]
                    .as_str()
                    .map(String::from)
                    .or_else(|| item["resource"].as_str().and_then(|r| r.rsplit('/').next()).map(String::from));
                let Some(call_id) = call_id.filter(|id| !id.is_empty() && id.len() <= 128) else { continue };
                let job = CallRecordFetchJobV1 {
                    call_id,
                    change_type: item["changeType"].as_str().unwrap_or("created").to_string(),
                    subscription_id: Some(subscription_id),
                };
                if let Ok(envelope) = Envelope::new(tenant_id, None, &job) {
                    envelopes.push(envelope);
                }
            }
            publish_all(&webhook, envelopes).await
        }
    };
    webhook.seconds.with_label_values(&["notifications"]).observe(started.elapsed().as_secs_f64());
    response
}

async fn lifecycle(webhook: web::Data<Webhook>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    if let Some(response) = validation(&req) {
        return response;
    }
    match check_items(&webhook, "lifecycle", &body).await {
        Err(response) => response,
        Ok(accepted) => {
            let mut envelopes = Vec::new();
            for Accepted { tenant_id, item, .. } in accepted {
                let event = item["lifecycleEvent"].as_str().unwrap_or_default().to_string();
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
