//! Invitations: an operator invites a customer; sua builds Microsoft's v2.0 admin-consent link with a signed,
//! expiring `state`, stores it and e-mails it. The collector (which receives the consent callback), portal-api and
//! `sua invite` all create or verify them, so they live here.

mod email;
pub mod state;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use sua_core::Config;
use sua_db::models::InvitationRow;
use sua_db::{DbError, Pool};

pub use email::Mailer;
pub use state::{StateError, StateSigner};

/// A created invitation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Invitation {
    pub id: String,
    pub customer_name: String,
    pub admin_email: String,
    pub consent_url: String,
    pub expires_at: DateTime<Utc>,
    pub emailed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum OnboardingError {
    #[error("{0}")]
    Invalid(String),
    /// The installation is not set up (its database was never migrated).
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Database(#[from] DbError),
}

/// Creates invitations: a signed consent link, stored and e-mailed. Needs only the database (portal-api creates
/// invitations too), and the same `state_signing_key` as the collector that receives the consent callback.
#[derive(Clone)]
pub struct Invitations {
    pool: Pool,
    signer: Signer,
    mailer: Option<Mailer>,
    login_url: String,
    client_id: String,
    redirect_uri: String,
    scope: String,
    ttl: chrono::Duration,
}

/// The redirect URI registered for sua's app: `{public_url}/consent/callback`.
pub fn redirect_uri(config: &Config) -> String {
    format!("{}/consent/callback", config.public_url.as_str().trim_end_matches('/'))
}

/// The key consent links are signed with: `state_signing_key` when configured, otherwise the installation's own,
/// made by `sua migrate` and read from the database on first use (so every process of an installation shares it
/// without configuration, and a process can start while the database is still coming up).
#[derive(Clone)]
enum Signer {
    Configured(StateSigner),
    Installation(Arc<tokio::sync::OnceCell<StateSigner>>),
}

impl Invitations {
    pub fn new(config: &Config, pool: Pool, mailer: Option<Mailer>) -> Self {
        let signer = match &config.state_signing_key {
            Some(key) => Signer::Configured(StateSigner::new(key.expose_secret().as_bytes())),
            None => Signer::Installation(Arc::default()),
        };
        Self {
            pool,
            signer,
            mailer,
            login_url: config.login_url.as_str().trim_end_matches('/').to_string(),
            client_id: config.client_id.clone(),
            redirect_uri: redirect_uri(config),
            scope: crate::graph::graph_scope(config.graph_url.as_str()),
            ttl: chrono::Duration::hours(i64::try_from(config.onboarding.invitation_ttl_hours).unwrap_or(336)),
        }
    }

    /// The signer of consent links' state.
    async fn signer(&self) -> Result<StateSigner, OnboardingError> {
        let cell = match &self.signer {
            Signer::Configured(signer) => return Ok(signer.clone()),
            Signer::Installation(cell) => cell,
        };
        let pool = self.pool.clone();
        let signer = cell
            .get_or_try_init(|| async move {
                let key = pool
                    .run(|conn| {
                        sua_db::models::installation::get(conn, sua_db::models::installation::STATE_SIGNING_KEY)
                    })
                    .await?;
                match key {
                    Some(key) => Ok(StateSigner::new(key.as_bytes())),
                    None => Err(OnboardingError::Setup(
                        "the installation has no consent-link signing key: run `sua migrate`".into(),
                    )),
                }
            })
            .await?;
        Ok(signer.clone())
    }

    /// The invitation a consent link's `state` names, when the state is genuine and unexpired.
    pub async fn verify(&self, state: &str, now: DateTime<Utc>) -> Result<Result<String, StateError>, OnboardingError> {
        Ok(self.signer().await?.verify(state, now))
    }

    /// Microsoft's v2.0 admin-consent URL for a signed state. `organizations` lets any work or school tenant's
    /// admin answer; the callback tells sua which tenant it was.
    pub fn consent_url(&self, state: &str) -> String {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &self.client_id)
            .append_pair("scope", &self.scope)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("state", state)
            .finish();
        format!("{}/organizations/v2.0/adminconsent?{query}", self.login_url)
    }

    /// Creates an invitation and e-mails its link when SMTP is configured (the link is returned either way).
    pub async fn invite(
        &self,
        customer_name: &str,
        admin_email: &str,
        created_by: &str,
    ) -> Result<Invitation, OnboardingError> {
        let customer_name = customer_name.trim();
        let admin_email = admin_email.trim();
        if customer_name.is_empty() || customer_name.len() > 200 {
            return Err(OnboardingError::Invalid("customer_name must be 1 to 200 characters".into()));
        }
        let valid_email = admin_email.len() <= 254
            && admin_email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
            && !admin_email.contains(char::is_whitespace);
        if !valid_email {
            return Err(OnboardingError::Invalid(format!("'{admin_email}' is not an e-mail address")));
        }
        let now = sua_core::clock::now();
        let expires_at = now + self.ttl;
        let id = uuid::Uuid::new_v4().to_string();
        let row = InvitationRow {
            id: id.clone(),
            customer_name: customer_name.to_string(),
            admin_email: admin_email.to_string(),
            created_by: created_by.to_string(),
            created_at: now.naive_utc(),
            expires_at: expires_at.naive_utc(),
            emailed_at: None,
            email_error: None,
            tenant_id: None,
            consented_at: None,
        };
        self.pool.run(move |conn| InvitationRow::insert(conn, &row)).await?;
        let consent_url = self.consent_url(&self.signer().await?.sign(&id, expires_at));
        let mut invitation = Invitation {
            id: id.clone(),
            customer_name: customer_name.to_string(),
            admin_email: admin_email.to_string(),
            consent_url,
            expires_at,
            emailed: false,
            email_error: None,
        };
        if let Some(mailer) = &self.mailer {
            let expires = expires_at.format("%Y-%m-%d %H:%M UTC").to_string();
            let result = mailer.send_invitation(admin_email, customer_name, &invitation.consent_url, &expires).await;
            let error = result.err().map(|e| format!("{e:#}"));
            if let Some(error) = &error {
                tracing::warn!(invitation = %id, error, "invitation e-mail failed");
            }
            invitation.emailed = error.is_none();
            invitation.email_error = error.clone();
            let at = sua_db::now();
            self.pool.run(move |conn| InvitationRow::record_email(conn, &id, at, error.as_deref())).await?;
        }
        tracing::info!(invitation = %invitation.id, customer = %invitation.customer_name, emailed = invitation.emailed, "invitation created");
        Ok(invitation)
    }
}
