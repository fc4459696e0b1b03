//! Directory endpoints: `organization`, `subscribedSkus`, `users` (with `$select`, `$top`, `@odata.nextLink`
//! paging, the 500-per-page cap with `signInActivity` and the 403 without Entra ID P1) and `auditLogs`.
//! Shapes from subscribedsku-list.md, user-list.md and the signInActivity/assignedPlan resources.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use super::{authorize, base_url, graph_error};
use crate::catalog::{self, Plan};
use crate::permissions;
use crate::sim::Sim;
use crate::tenant::{SignIn, SimUser, TenantModel};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1.0/organization", web::get().to(organization_list))
        .route("/v1.0/organization/{id}", web::get().to(organization_get))
        .route("/v1.0/subscribedSkus", web::get().to(subscribed_skus))
        .route("/v1.0/users", web::get().to(users))
        .route("/v1.0/auditLogs/directoryAudits", web::get().to(directory_audits));
}

fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn organization_json(tenant: &TenantModel) -> Value {
    json!({
        "id": tenant.id,
        "displayName": tenant.display_name,
        "countryLetterCode": "IE",
        "tenantType": "AAD",
        "verifiedDomains": [{ "capabilities": "Email, OfficeCommunicationsOnline", "isDefault": true,
                              "isInitial": true, "name": tenant.domain, "type": "Managed" }]
    })
}

async fn organization_list(sim: web::Data<Sim>, req: HttpRequest) -> HttpResponse {
    let (tenant, _) = match authorize(&sim, &req, permissions::ORGANIZATION_LIST) {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    HttpResponse::Ok().json(json!({
        "@odata.context": format!("{}/v1.0/$metadata#organization", base_url(&req)),
        "value": [organization_json(tenant)]
    }))
}

async fn organization_get(sim: web::Data<Sim>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let (tenant, _) = match authorize(&sim, &req, permissions::ORGANIZATION_GET) {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    if !path.eq_ignore_ascii_case(&tenant.id) {
        return graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!(
                "Resource '{}' does not exist or one of its queried reference-property objects are not present.",
                path.as_str()
            ),
        );
    }
    let mut body = organization_json(tenant);
    body["@odata.context"] = json!(format!("{}/v1.0/$metadata#organization/$entity", base_url(&req)));
    HttpResponse::Ok().json(body)
}

async fn subscribed_skus(sim: web::Data<Sim>, req: HttpRequest) -> HttpResponse {
    let (tenant, _) = match authorize(&sim, &req, permissions::SUBSCRIBED_SKUS) {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let value: Vec<Value> = tenant
        .subscriptions()
        .iter()
        .map(|sub| {
            let status = if sub.enabled + sub.warning == 0 && sub.suspended > 0 { "Suspended" } else { "Enabled" };
            json!({
                "accountName": tenant.display_name,
                "accountId": tenant.id,
                "appliesTo": "User",
                "capabilityStatus": status,
                "consumedUnits": sub.consumed,
                "id": format!("{}_{}", tenant.id, sub.sku.id),
                "prepaidUnits": { "enabled": sub.enabled, "lockedOut": 0, "suspended": sub.suspended, "warning": sub.warning },
                "servicePlans": sub.sku.plans.iter().map(|p| json!({
                    "servicePlanId": p.id,
                    "servicePlanName": p.name,
                    "provisioningStatus": "Success",
                    "appliesTo": p.applies_to
                })).collect::<Vec<_>>(),
                "skuId": sub.sku.id,
                "skuPartNumber": sub.sku.part_number,
                "subscriptionIds": [tenant.codec.encode(crate::ids::IdParts {
                    kind: crate::ids::IdKind::Sku, tenant: tenant.index, day: 0,
                    index: catalog::ALL.iter().position(|s| s.id == sub.sku.id).unwrap_or(0) as u32 })]
            })
        })
        .collect();
    HttpResponse::Ok().json(json!({
        "@odata.context": format!("{}/v1.0/$metadata#subscribedSkus", base_url(&req)),
        "value": value
    }))
}

/// Properties returned without `$select` (user-list.md).
const DEFAULT_PROPERTIES: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "id",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
];

fn service_of(plan: &Plan) -> &'static str {
    match plan.name {
        "TEAMS1" => "TeamspaceAPI",
        "MCOEV" | "MCOPSTN1" | "MCOPSTN2" | "MCOMEETADV" | "MCOSTANDARD" => "MicrosoftCommunicationsOnline",
        "AAD_PREMIUM" | "AAD_PREMIUM_P2" | "MFA_PREMIUM" => "AADPremiumService",
        "EXCHANGE_S_ENTERPRISE" | "EXCHANGE_S_STANDARD" | "EXCHANGE_S_FOUNDATION" => "exchange",
        _ => "Adallom",
    }
}

/// The never-signed-in value forms seen in Microsoft's example ("0001-01-01T00:00:00Z" or "").
const NEVER: &str = "0001-01-01T00:00:00Z";

fn sign_in_activity(tenant: &TenantModel, user: &SimUser) -> Value {
    match user.sign_in {
        SignIn::Never if user.sign_in_null_object => Value::Null,
        SignIn::Never => json!({
            "lastSignInDateTime": null,
            "lastSignInRequestId": null,
            "lastNonInteractiveSignInDateTime": NEVER,
            "lastNonInteractiveSignInRequestId": "",
            "lastSuccessfulSignInDateTime": null,
            "lastSuccessfulSignInRequestId": null
        }),
        SignIn::DaysAgo(days) => {
            let success = tenant.clock - Duration::days(days) - Duration::minutes(i64::from(user.index % 600));
            let request = |n: u32| {
                tenant.codec.encode(crate::ids::IdParts {
                    kind: crate::ids::IdKind::RequestId,
                    tenant: tenant.index,
                    day: n,
                    index: user.index,
                })
            };
            json!({
                "lastSignInDateTime": ts(success - Duration::hours(1)),
                "lastSignInRequestId": request(1),
                "lastNonInteractiveSignInDateTime": ts(success),
                "lastNonInteractiveSignInRequestId": request(2),
                "lastSuccessfulSignInDateTime": ts(success),
                "lastSuccessfulSignInRequestId": request(2)
            })
        }
    }
}

fn user_json(tenant: &TenantModel, user: &SimUser, with_sign_in: bool) -> Map<String, Value> {
    let assigned_licenses: Vec<Value> =
        user.licences.iter().map(|(sku, disabled)| json!({ "disabledPlans": disabled, "skuId": sku.id })).collect();
    let assigned_plans: Vec<Value> = user
        .licences
        .iter()
        .flat_map(|(sku, disabled)| sku.plans.iter().filter(move |p| !disabled.contains(&p.id)))
        .map(|plan| {
            json!({
                "assignedDateTime": ts(user.created + Duration::hours(1)),
                "capabilityStatus": "Enabled",
                "service": service_of(plan),
                "servicePlanId": plan.id
            })
        })
        .collect();
    let mut map = Map::new();
    let mut put = |key: &str, value: Value| {
        map.insert(key.to_string(), value);
    };
    put("id", json!(user.id));
    put("businessPhones", json!([user.business_phone]));
    put("displayName", json!(user.display_name));
    put("givenName", json!(user.given_name));
    put("surname", json!(user.surname));
    put("jobTitle", json!(user.job_title));
    put("mail", json!(user.mail));
    put("mobilePhone", Value::Null);
    put("officeLocation", json!(user.office_location));
    put("preferredLanguage", json!("en-US"));
    put("userPrincipalName", json!(user.user_principal_name));
    put("department", json!(user.department));
    put("city", json!(user.city));
    put("country", json!(user.country));
    put("usageLocation", json!(user.usage_location));
    put("accountEnabled", json!(user.account_enabled));
    put("userType", json!(if user.guest { "Guest" } else { "Member" }));
    put("createdDateTime", json!(ts(user.created)));
    put("companyName", json!(tenant.display_name));
    put("assignedLicenses", json!(assigned_licenses));
    put("assignedPlans", json!(assigned_plans));
    if with_sign_in {
        put("signInActivity", sign_in_activity(tenant, user));
    }
    map
}

/// `$skiptoken` for the users collection: an opaque offset (Graph's own tokens are opaque too).
fn skiptoken(offset: u32) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("users:{offset}"))
}

fn offset_of(token: &str) -> Option<u32> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?;
    String::from_utf8(bytes).ok()?.strip_prefix("users:")?.parse().ok()
}

async fn users(sim: web::Data<Sim>, req: HttpRequest, query: web::Query<HashMap<String, String>>) -> HttpResponse {
    let select: Option<Vec<String>> =
        query.get("$select").map(|s| s.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect());
    let with_sign_in = select.as_ref().is_some_and(|s| s.iter().any(|p| p.eq_ignore_ascii_case("signInActivity")))
        || query.get("$filter").is_some_and(|f| f.contains("signInActivity"));
    let required = if with_sign_in { permissions::USERS_WITH_SIGN_IN } else { permissions::USERS };
    let (tenant, _) = match authorize(&sim, &req, required) {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    if with_sign_in && !tenant.spec.entra_p1 {
        return graph_error(
            StatusCode::FORBIDDEN,
            "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
            "Neither tenant is B2C or tenant doesn't have premium license",
        );
    }
    let requested = match query.get("$top").map(|t| t.parse::<u32>()) {
        None => 100,
        Some(Ok(top)) if (1..=999).contains(&top) => top,
        Some(_) => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                "Request_UnsupportedQuery",
                &format!(
                    "Invalid page size specified: '{}'. Must be between 1 and 999 inclusive.",
                    query.get("$top").map(String::as_str).unwrap_or_default()
                ),
            );
        }
    };
    // With signInActivity the page holds at most 500 users, whatever $top asked for.
    let page_size = if with_sign_in { requested.min(500) } else { requested };
    let offset = match query.get("$skiptoken") {
        None => 0,
        Some(token) => match offset_of(token) {
            Some(offset) => offset,
            None => {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    "Directory_ExpiredPageToken",
                    "The specified page token value has expired and can no longer be included in your request.",
                );
            }
        },
    };
    let end = (offset + page_size).min(tenant.spec.users);
    let value: Vec<Value> = (offset..end)
        .map(|index| {
            let user = tenant.user(index);
            let full = user_json(tenant, &user, with_sign_in);
            let keep: Vec<&str> = match &select {
                Some(fields) => fields.iter().map(String::as_str).collect(),
                None => DEFAULT_PROPERTIES.to_vec(),
            };
            let mut projected = Map::new();
            for (key, value) in full {
                if key == "id" || keep.iter().any(|k| k.eq_ignore_ascii_case(&key)) {
                    projected.insert(key, value);
                }
            }
            Value::Object(projected)
        })
        .collect();
    let base = base_url(&req);
    let context = match &select {
        Some(fields) => format!("{base}/v1.0/$metadata#users({})", fields.join(",")),
        None => format!("{base}/v1.0/$metadata#users"),
    };
    let mut body = json!({ "@odata.context": context, "value": value });
    if end < tenant.spec.users {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        if let Some(select) = query.get("$select") {
            pairs.append_pair("$select", select);
        }
        pairs.append_pair("$top", &requested.to_string());
        pairs.append_pair("$skiptoken", &skiptoken(end));
        body["@odata.nextLink"] = json!(format!("{base}/v1.0/users?{}", pairs.finish()));
    }
    HttpResponse::Ok().json(body)
}

async fn directory_audits(sim: web::Data<Sim>, req: HttpRequest) -> HttpResponse {
    let (tenant, _) = match authorize(&sim, &req, permissions::DIRECTORY_AUDITS) {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    HttpResponse::Ok().json(json!({
        "@odata.context": format!("{}/v1.0/$metadata#auditLogs/directoryAudits", base_url(&req)),
        "value": [{
            "id": format!("Directory_{}", tenant.id),
            "category": "UserManagement",
            "correlationId": tenant.id,
            "result": "success",
            "resultReason": "",
            "activityDisplayName": "Update user",
            "activityDateTime": ts(tenant.clock - Duration::hours(3)),
            "loggedByService": "Core Directory",
            "operationType": "Update"
        }]
    }))
}
