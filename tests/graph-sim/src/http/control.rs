//! The `/_sim` control plane (unauthenticated: the simulator is a loopback test tool). Everything here is also
//! available in-process through [`Sim`](crate::Sim)'s methods.

use std::collections::BTreeSet;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::faults::Fault;
use crate::sim::{ConsentOutcome, Sim, UserTokenSpec};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/_sim/tenants", web::get().to(tenants))
        .route("/_sim/tenants/{tenant}/calls", web::post().to(place_calls))
        .route("/_sim/tenants/{tenant}/calls/{id}/update", web::post().to(update_call))
        .route("/_sim/tenants/{tenant}/consent", web::post().to(consent_plan))
        .route("/_sim/tenants/{tenant}/revoke/{role}", web::post().to(revoke))
        .route("/_sim/faults", web::post().to(add_fault))
        .route("/_sim/faults", web::delete().to(clear_faults))
        .route("/_sim/requests", web::get().to(requests))
        .route("/_sim/deliveries", web::get().to(deliveries))
        .route("/_sim/tenants/{tenant}/subscriptions", web::get().to(subscriptions))
        .route("/_sim/subscriptions/{id}/lifecycle/{event}", web::post().to(lifecycle))
        .route("/_sim/subscriptions/{id}/expire", web::post().to(expire))
        .route("/_sim/subscriptions/{id}", web::delete().to(delete_subscription))
        .route("/_sim/portal-token", web::post().to(portal_token))
        .route("/_sim/rotate-keys", web::post().to(rotate_keys));
}

async fn tenants(sim: web::Data<Sim>) -> HttpResponse {
    let list: Vec<_> = sim
        .tenants
        .iter()
        .map(|t| {
            json!({
                "id": t.id, "display_name": t.display_name, "domain": t.domain, "users": t.spec.users,
                "entra_p1": t.spec.entra_p1, "concealed_names": t.spec.concealed_names,
                "granted": sim.granted(&t.id)
            })
        })
        .collect();
    HttpResponse::Ok().json(list)
}

#[derive(Deserialize)]
struct Count {
    count: Option<u32>,
}

async fn place_calls(sim: web::Data<Sim>, path: web::Path<String>, query: web::Query<Count>) -> HttpResponse {
    let ids = sim.into_inner().place_calls(&path.into_inner(), query.count.unwrap_or(1));
    HttpResponse::Ok().json(json!({ "ids": ids }))
}

async fn update_call(sim: web::Data<Sim>, path: web::Path<(String, String)>) -> HttpResponse {
    let (tenant, id) = path.into_inner();
    match sim.into_inner().update_call(&tenant, &id) {
        Some(version) => HttpResponse::Ok().json(json!({ "version": version })),
        None => HttpResponse::NotFound().finish(),
    }
}

/// A tenant's subscriptions as Graph holds them, `clientState` included (benchmarks post notifications with it).
async fn subscriptions(sim: web::Data<Sim>, path: web::Path<String>) -> HttpResponse {
    HttpResponse::Ok().json(sim.subscriptions(&path.into_inner()))
}

#[derive(Deserialize)]
struct ConsentPlan {
    #[serde(default)]
    grant: Option<BTreeSet<String>>,
    #[serde(default)]
    deny: bool,
}

async fn consent_plan(sim: web::Data<Sim>, path: web::Path<String>, body: web::Json<ConsentPlan>) -> HttpResponse {
    let outcome = match (body.deny, body.grant.clone()) {
        (true, _) => ConsentOutcome::Deny,
        (false, Some(roles)) => ConsentOutcome::Grant(roles),
        (false, None) => ConsentOutcome::Grant(crate::catalog::APP_ROLES.iter().map(|r| r.to_string()).collect()),
    };
    sim.set_consent_outcome(&path.into_inner(), outcome);
    HttpResponse::NoContent().finish()
}

async fn revoke(sim: web::Data<Sim>, path: web::Path<(String, String)>) -> HttpResponse {
    let (tenant, role) = path.into_inner();
    sim.revoke(&tenant, &role);
    HttpResponse::NoContent().finish()
}

async fn add_fault(sim: web::Data<Sim>, body: web::Json<Fault>) -> HttpResponse {
    sim.add_fault(body.into_inner());
    HttpResponse::NoContent().finish()
}

async fn clear_faults(sim: web::Data<Sim>) -> HttpResponse {
    sim.clear_faults();
    HttpResponse::NoContent().finish()
}

async fn requests(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(sim.requests())
}

async fn deliveries(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(sim.deliveries())
}

async fn lifecycle(sim: web::Data<Sim>, path: web::Path<(String, String)>) -> HttpResponse {
    let (id, event) = path.into_inner();
    if sim.into_inner().send_lifecycle(&id, &event) {
        HttpResponse::Accepted().finish()
    } else {
        HttpResponse::NotFound().finish()
    }
}

async fn expire(sim: web::Data<Sim>, path: web::Path<String>) -> HttpResponse {
    if sim.expire_subscription(&path.into_inner()) {
        HttpResponse::NoContent().finish()
    } else {
        HttpResponse::NotFound().finish()
    }
}

async fn delete_subscription(sim: web::Data<Sim>, path: web::Path<String>) -> HttpResponse {
    if sim.delete_subscription(&path.into_inner()) {
        HttpResponse::NoContent().finish()
    } else {
        HttpResponse::NotFound().finish()
    }
}

#[derive(Deserialize)]
struct PortalToken {
    tenant_id: String,
    audience: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    object_id: Option<String>,
    #[serde(default)]
    lifetime_secs: Option<i64>,
}

async fn portal_token(sim: web::Data<Sim>, body: web::Json<PortalToken>) -> HttpResponse {
    let roles: Vec<&str> = body.roles.iter().map(String::as_str).collect();
    let mut spec = UserTokenSpec::new(&body.tenant_id, &body.audience, &roles);
    if let Some(oid) = &body.object_id {
        spec.object_id = oid.clone();
    }
    if let Some(lifetime) = body.lifetime_secs {
        spec.lifetime_secs = lifetime;
    }
    match sim.user_token(&spec) {
        Ok(token) => HttpResponse::Ok().json(json!({ "access_token": token })),
        Err(error) => HttpResponse::InternalServerError().body(error.to_string()),
    }
}

async fn rotate_keys(sim: web::Data<Sim>) -> HttpResponse {
    sim.rotate_signing_key();
    HttpResponse::NoContent().finish()
}
