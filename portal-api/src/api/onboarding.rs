//! Operators invite customers: a consent link, stored, e-mailed when SMTP is configured, and audited.

use actix_web::{HttpResponse, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sua_db::models::AuditRow;
use sua_domain::invitations::OnboardingError;
use utoipa::ToSchema;

use super::{ApiResult, Refusals, State, audit};
use crate::auth::Principal;
use crate::error::ApiError;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationInput {
    /// The customer's name, as the operator knows it.
    #[schema(min_length = 1, max_length = 200)]
    pub customer_name: String,
    /// The customer admin who will grant consent.
    #[schema(max_length = 254, pattern = "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$")]
    pub admin_email: String,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct Invitation {
    pub id: String,
    pub customer_name: String,
    pub admin_email: String,
    /// Microsoft's admin-consent page, with sua's signed, expiring state.
    pub consent_url: String,
    pub expires_at: DateTime<Utc>,
    pub emailed: bool,
    pub email_error: Option<String>,
}

/// Creates a consent invitation for a new customer (operators only).
#[utoipa::path(
    tag = "onboarding",
    request_body = InvitationInput,
    responses((status = 201, description = "The invitation and its consent link", body = Invitation), Refusals),
    security(("bearer" = []))
)]
#[post("/onboarding/invitations")]
pub async fn create_invitation(
    state: State,
    principal: Principal,
    body: web::Json<InvitationInput>,
) -> ApiResult<HttpResponse> {
    if !principal.operator {
        return Err(ApiError::Forbidden("inviting customers is for operators (Portal.Operator)".into()));
    }
    let input = body.into_inner();
    let created_by =
        format!("portal:{}", if principal.name.is_empty() { &principal.object_id } else { &principal.name });
    let invitation = match state.invitations.invite(&input.customer_name, &input.admin_email, &created_by).await {
        Ok(invitation) => invitation,
        Err(OnboardingError::Invalid(why)) => return Err(ApiError::BadRequest(why)),
        Err(OnboardingError::Database(e)) => return Err(e.into()),
        Err(OnboardingError::Setup(why)) => return Err(ApiError::Internal(why)),
    };
    let entry = audit(
        &principal,
        None,
        "invitation.create",
        &invitation.id,
        None,
        Some(json!({"customer_name": invitation.customer_name, "admin_email": invitation.admin_email})),
    );
    state.pool.run(move |conn| AuditRow::append(conn, &entry)).await?;
    Ok(HttpResponse::Created().json(Invitation {
        id: invitation.id,
        customer_name: invitation.customer_name,
        admin_email: invitation.admin_email,
        consent_url: invitation.consent_url,
        expires_at: invitation.expires_at,
        emailed: invitation.emailed,
        email_error: invitation.email_error,
    }))
}
