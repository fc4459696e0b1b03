//! Change-notification subscriptions on `/communications/callRecords`: create (after the validation handshake
//! against `notificationUrl` and `lifecycleNotificationUrl`), renew (PATCH), reauthorize, get, list and delete.
//! Shapes from subscription-post-subscriptions.md and changenotifications-for-callrecords.md.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{authorize, base_url, graph_error};
use crate::sim::{Delivery, MAX_SUBSCRIPTION_MINUTES, Sim, SimSubscription};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1.0/subscriptions", web::post().to(create))
        .route("/v1.0/subscriptions", web::get().to(list))
        .route("/v1.0/subscriptions/{id}", web::get().to(get))
        .route("/v1.0/subscriptions/{id}", web::patch().to(renew))
        .route("/v1.0/subscriptions/{id}", web::delete().to(delete))
        .route("/v1.0/subscriptions/{id}/reauthorize", web::post().to(reauthorize));
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateRequest {
    change_type: Option<String>,
    notification_url: Option<String>,
    lifecycle_notification_url: Option<String>,
    resource: Option<String>,
    expiration_date_time: Option<String>,
    client_state: Option<String>,
    latest_supported_tls_version: Option<String>,
}

fn bad_request(message: &str) -> HttpResponse {
    graph_error(StatusCode::BAD_REQUEST, "InvalidRequest", message)
}

fn to_json(req: &HttpRequest, sim: &Sim, sub: &SimSubscription) -> Value {
    json!({
        "@odata.context": format!("{}/v1.0/$metadata#subscriptions/$entity", base_url(req)),
        "id": sub.id,
        "resource": sub.resource,
        "applicationId": sim.config.client_id,
        "changeType": sub.change_type,
        "clientState": sub.client_state,
        "notificationUrl": sub.notification_url,
        "notificationQueryOptions": null,
        "lifecycleNotificationUrl": sub.lifecycle_notification_url,
        "expirationDateTime": sub.expiration.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        "creatorId": sim.config.client_id,
        "includeResourceData": false,
        "latestSupportedTlsVersion": "v1_2",
        "encryptionCertificate": null,
        "encryptionCertificateId": null,
        "notificationUrlAppId": null,
        "notificationContentType": "application/json"
    })
}

fn parse_expiration(raw: Option<&str>, now: DateTime<Utc>) -> Result<DateTime<Utc>, HttpResponse> {
    let Some(raw) = raw else { return Err(bad_request("expirationDateTime is required.")) };
    let at = DateTime::parse_from_rfc3339(raw)
        .map_err(|_| bad_request(&format!("'{raw}' is not a valid expirationDateTime.")))?
        .with_timezone(&Utc);
    if at <= now {
        return Err(bad_request("Subscription expiration can only be in the future."));
    }
    if at > now + Duration::minutes(MAX_SUBSCRIPTION_MINUTES) + Duration::seconds(30) {
        return Err(bad_request(&format!(
            "Subscription expiration can only be {MAX_SUBSCRIPTION_MINUTES} minutes in the future."
        )));
    }
    Ok(at)
}

/// Graph requires HTTPS; the simulator also lets loopback URLs use plain HTTP, for tests.
fn check_url(raw: &str) -> Result<url::Url, HttpResponse> {
    let url = url::Url::parse(raw).map_err(|_| bad_request(&format!("Invalid notification URL '{raw}'.")))?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
        return Err(bad_request("The notification URL must use https."));
    }
    Ok(url)
}

/// POSTs `?validationToken=…` and checks that the endpoint echoes the decoded token as text/plain in time.
async fn validate(sim: &Sim, url: &url::Url, subscription_id: &str) -> Result<(), HttpResponse> {
    let token = format!(
        "Validation: Testing client application reachability for subscription Request-Id: {}",
        uuid::Uuid::new_v4()
    );
    let mut target = url.clone();
    target.query_pairs_mut().append_pair("validationToken", &token);
    let started = std::time::Instant::now();
    let result = sim
        .http
        .post(target)
        .header("content-type", "text/plain; charset=utf-8")
        .timeout(sim.config.validation_timeout)
        .send()
        .await;
    let status = result.as_ref().ok().map(|r| r.status().as_u16());
    let outcome: Result<(), String> = match result {
        Err(error) if error.is_timeout() => Err("Subscription validation request timed out.".into()),
        Err(error) => Err(format!(
            "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request. ({error})"
        )),
        Ok(response) => {
            let text_plain = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/plain"));
            let code = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            if code == 200 && text_plain && body == token {
                Ok(())
            } else if code == 200 && body != token {
                Err("Subscription validation request failed. The response must contain the validation token exactly as received.".into())
            } else if code == 200 {
                Err("Subscription validation request failed. The response must have Content-Type text/plain.".into())
            } else {
                Err(format!(
                    "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request (it answered {code})."
                ))
            }
        }
    };
    sim.record_delivery(Delivery {
        kind: "validation",
        subscription_id: subscription_id.to_string(),
        url: url.to_string(),
        resources: Vec::new(),
        attempt: 1,
        status,
        millis: started.elapsed().as_millis() as u64,
        at: sim.now(),
    });
    outcome.map_err(|message| graph_error(StatusCode::BAD_REQUEST, "ValidationError", &message))
}

async fn create(sim: web::Data<Sim>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let (tenant, _) = match authorize(&sim, &req, crate::permissions::CALL_RECORD_SUBSCRIPTIONS) {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let Ok(request) = serde_json::from_slice::<CreateRequest>(&body) else {
        return bad_request("Invalid JSON in the request body.");
    };
    let resource = request.resource.clone().unwrap_or_default();
    if !resource.trim_start_matches('/').eq_ignore_ascii_case("communications/callRecords") {
        return bad_request(&format!(
            "Resource '{resource}' is not supported by the simulator (only communications/callRecords)."
        ));
    }
    let change_type = request.change_type.clone().unwrap_or_default();
    if change_type.is_empty() || !change_type.split(',').all(|c| matches!(c.trim(), "created" | "updated")) {
        return bad_request("changeType must be 'created', 'updated' or both for callRecords.");
    }
    if request.client_state.as_ref().is_some_and(|s| s.chars().count() > 128) {
        return bad_request("clientState must not exceed 128 characters.");
    }
    if request.latest_supported_tls_version.as_deref().is_some_and(|v| !matches!(v, "v1_0" | "v1_1" | "v1_2" | "v1_3"))
    {
        return bad_request("Invalid latestSupportedTlsVersion.");
    }
    let expiration = match parse_expiration(request.expiration_date_time.as_deref(), sim.now()) {
        Ok(at) => at,
        Err(response) => return response,
    };
    let Some(notification_url) = request.notification_url.as_deref() else {
        return bad_request("notificationUrl is required.");
    };
    let notification = match check_url(notification_url) {
        Ok(url) => url,
        Err(response) => return response,
    };
    let lifecycle = match request.lifecycle_notification_url.as_deref().map(check_url) {
        Some(Ok(url)) => Some(url),
        Some(Err(response)) => return response,
        None => None,
    };
    let id = sim.new_subscription_id(tenant);
    if let Err(response) = validate(&sim, &notification, &id).await {
        return response;
    }
    if let Some(lifecycle) = &lifecycle
        && let Err(response) = validate(&sim, lifecycle, &id).await
    {
        return response;
    }
    let subscription = SimSubscription {
        id,
        tenant_id: tenant.id.clone(),
        resource,
        change_type,
        notification_url: notification_url.to_string(),
        lifecycle_notification_url: request.lifecycle_notification_url,
        client_state: request.client_state,
        expiration,
        created: sim.now(),
    };
    sim.insert_subscription(subscription.clone());
    HttpResponse::Created().json(to_json(&req, &sim, &subscription))
}

fn missing(id: &str) -> HttpResponse {
    graph_error(StatusCode::NOT_FOUND, "ResourceNotFound", &format!("The object was not found: subscription '{id}'."))
}

async fn get(sim: web::Data<Sim>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let (tenant, _) = match authorize(&sim, &req, crate::permissions::CALL_RECORD_SUBSCRIPTIONS) {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let id = path.into_inner();
    match sim.subscription(&tenant.id, &id) {
        Some(sub) => HttpResponse::Ok().json(to_json(&req, &sim, &sub)),
        None => missing(&id),
    }
}

async fn list(sim: web::Data<Sim>, req: HttpRequest) -> HttpResponse {
    let (tenant, _) = match authorize(&sim, &req, crate::permissions::CALL_RECORD_SUBSCRIPTIONS) {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let value: Vec<Value> = sim.subscriptions(&tenant.id).iter().map(|s| to_json(&req, &sim, s)).collect();
    HttpResponse::Ok()
        .json(json!({ "@odata.context": format!("{}/v1.0/$metadata#subscriptions", base_url(&req)), "value": value }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RenewRequest {
    expiration_date_time: Option<String>,
}

async fn renew(sim: web::Data<Sim>, req: HttpRequest, path: web::Path<String>, body: web::Bytes) -> HttpResponse {
    let (tenant, _) = match authorize(&sim, &req, crate::permissions::CALL_RECORD_SUBSCRIPTIONS) {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let id = path.into_inner();
    let Ok(request) = serde_json::from_slice::<RenewRequest>(&body) else {
        return bad_request("Invalid JSON in the request body.");
    };
    let expiration = match parse_expiration(request.expiration_date_time.as_deref(), sim.now()) {
        Ok(at) => at,
        Err(response) => return response,
    };
    match sim.renew_subscription(&tenant.id, &id, expiration) {
        Some(sub) => HttpResponse::Ok().json(to_json(&req, &sim, &sub)),
        None => missing(&id),
    }
}

async fn delete(sim: web::Data<Sim>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let (tenant, _) = match authorize(&sim, &req, crate::permissions::CALL_RECORD_SUBSCRIPTIONS) {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let id = path.into_inner();
    if sim.subscription(&tenant.id, &id).is_some() && sim.delete_subscription(&id) {
        HttpResponse::NoContent().finish()
    } else {
        missing(&id)
    }
}

async fn reauthorize(sim: web::Data<Sim>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let (tenant, _) = match authorize(&sim, &req, crate::permissions::CALL_RECORD_SUBSCRIPTIONS) {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let id = path.into_inner();
    match sim.subscription(&tenant.id, &id) {
        Some(_) => HttpResponse::NoContent().finish(),
        None => missing(&id),
    }
}
