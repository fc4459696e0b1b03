//! `GET /consent/callback`: where Microsoft sends the admin back. Answers with a plain page saying exactly what
//! was granted, what is missing and how to fix it.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use sua_core::messages::PermissionState;

use super::{CallbackParams, ConsentOutcome, Onboarding, ProbeReport};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/consent/callback", web::get().to(callback));
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(status).content_type("text/html; charset=utf-8").body(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}\
         .ok{{color:#0a6b2d}}.missing{{color:#a4262c}}li{{margin:.3rem 0}}</style></head>\
         <body><h1>{title}</h1>{body}</body></html>",
        title = escape(title)
    ))
}

/// What each permission is for and what the customer loses without it.
fn purpose(permission: &str) -> &'static str {
    match permission {
        "AuditLog.Read.All" => "users' last sign-in date (inactive users holding licences)",
        "CallRecords.Read.All" => "Teams call and meeting records",
        "Organization.Read.All" => "the licences your organisation bought",
        "Reports.Read.All" => "the Microsoft Teams user activity report",
        "User.Read.All" => "users and their assigned licences",
        _ => "",
    }
}

const FIX: &str = "To fix it, a Global Administrator opens the consent link again and accepts every permission, or grants \
     admin consent in the Microsoft Entra admin center under Enterprise applications → (this app) → Permissions → \
     Grant admin consent.";

async fn callback(onboarding: web::Data<Onboarding>, query: web::Query<CallbackParams>) -> HttpResponse {
    match onboarding.complete(query.into_inner()).await {
        Ok(outcome) => outcome_page(outcome),
        Err(error) => {
            tracing::error!(%error, "consent callback failed");
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Something went wrong on our side",
                "<p>Your consent was received but could not be recorded. Please open the link again in a few minutes.</p>",
            )
        }
    }
}

/// The page for each way a consent can end.
fn outcome_page(outcome: ConsentOutcome) -> HttpResponse {
    match outcome {
        ConsentOutcome::InvalidLink(reason) => page(
            StatusCode::BAD_REQUEST,
            "This consent link is not valid",
            &format!(
                "<p>{}.</p><p>Nothing was changed. Please ask your service provider for a new link.</p>",
                escape(&reason)
            ),
        ),
        ConsentOutcome::Denied { error, description } => page(
            StatusCode::OK,
            "Access was not granted",
            &format!(
                "<p>Microsoft reported: <code>{}</code> {}</p><p>Nothing was changed. To grant access, open the consent \
                 link again, sign in as a Global Administrator and choose <b>Accept</b>.</p>",
                escape(&error),
                escape(&description)
            ),
        ),
        ConsentOutcome::Unverified { tenant_id, reason } => page(
            StatusCode::BAD_GATEWAY,
            "We could not confirm the access yet",
            &format!(
                "<p>Microsoft reported consent for tenant <code>{}</code>, but sua could not sign in to it: {}</p>\
                 <p>This can take a few minutes after consent. Please open the consent link again later.</p>",
                escape(&tenant_id),
                escape(&reason)
            ),
        ),
        ConsentOutcome::Conflict { tenant_id } => page(
            StatusCode::CONFLICT,
            "This tenant is already connected",
            &format!(
                "<p>Tenant <code>{}</code> is already connected through another invitation. Nothing was changed; \
                 please contact your service provider.</p>",
                escape(&tenant_id)
            ),
        ),
        ConsentOutcome::Granted(report) => granted_page(&report),
    }
}

/// Consent recorded: each permission with what it is for, then what is missing and how to fix it.
fn granted_page(report: &ProbeReport) -> HttpResponse {
    let name = report.display_name.clone().unwrap_or_else(|| report.tenant_id.clone());
    page(
        StatusCode::OK,
        "Thank you — access granted",
        &format!(
            "<p>Read-only access for <b>{}</b> (tenant <code>{}</code>) is set up. Collection starts now; the first \
             results appear in the portal within the hour.</p><ul>{}</ul>{}{}",
            escape(&name),
            escape(&report.tenant_id),
            permission_items(report),
            missing_note(report),
            entra_id_p1_note(report.entra_id_p1)
        ),
    )
}

fn permission_items(report: &ProbeReport) -> String {
    let mut items = String::new();
    for (permission, state) in &report.permissions {
        let (class, word) = match state {
            PermissionState::Granted => ("ok", "granted"),
            PermissionState::Missing => ("missing", "missing"),
            PermissionState::Unknown => ("missing", "could not be checked"),
        };
        items.push_str(&format!(
            "<li class=\"{class}\"><b>{permission}</b>: {word} — {}</li>",
            escape(purpose(permission))
        ));
    }
    items
}

fn missing_note(report: &ProbeReport) -> String {
    let missing = report.missing();
    if missing.is_empty() {
        return String::new();
    }
    format!(
        "<p class=\"missing\">Missing: {}. Collection runs without it: {}</p><p>{}</p>",
        escape(&missing.join(", ")),
        escape(&missing.iter().map(|p| purpose(p)).collect::<Vec<_>>().join("; ")),
        FIX
    )
}

fn entra_id_p1_note(entra_id_p1: Option<bool>) -> &'static str {
    match entra_id_p1 {
        Some(false) => {
            "<p class=\"missing\">No Microsoft Entra ID P1 licence was found. Microsoft provides users' sign-in \
             activity only to tenants with at least one Entra ID P1 (or P2) licence, so inactive users cannot be found \
             until one is assigned.</p>"
        }
        None => "<p>The Entra ID P1 prerequisite could not be checked (the licences could not be read).</p>",
        Some(true) => "",
    }
}
