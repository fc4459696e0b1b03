//! Customer onboarding: an operator invites a customer; sua builds Microsoft's v2.0 admin-consent link with a
//! signed, expiring `state` and e-mails it; the admin consents; the callback proves the consent with a token for
//! the tenant and one probe call per permission, records the outcome, and starts the first sync.
//!
//! The callback's `tenant` parameter is only a hint (Microsoft: "never use the tenant ID value … to
//! authenticate"): what counts is that a token for that tenant can be had and what the probes answer.

mod callback;
mod probe;

use std::collections::BTreeMap;
use std::time::Duration;

use sua_core::Config;
use sua_core::broker::Broker;
use sua_core::messages::{
    Envelope, Kind, LicenceSyncJobV1, PermissionState, PstnSyncJobV1, SubscriptionEnsureJobV1, TenantConsentedV1,
};
use sua_db::Pool;
use sua_db::models::{InvitationRow, TenantRow};
use sua_db::states::{ConsentState, FeedState};

pub use callback::configure;
pub use probe::{PERMISSIONS, ProbeReport};
use sua_domain::invitations::StateError;
pub use sua_domain::invitations::{Invitation, Invitations, Mailer, OnboardingError};

use crate::graph::{GraphClient, GraphError};

/// What the admin's trip through Microsoft's consent page came to.
#[derive(Debug, Clone)]
pub enum ConsentOutcome {
    /// The link is forged, expired or names no invitation: nothing changed.
    InvalidLink(String),
    /// The admin cancelled, or Microsoft reported an error: nothing changed.
    Denied {
        error: String,
        description: String,
    },
    /// Consent was reported but could not be proven (no token for the tenant).
    Unverified {
        tenant_id: String,
        reason: String,
    },
    /// The tenant is already onboarded through another invitation.
    Conflict {
        tenant_id: String,
    },
    Granted(ProbeReport),
}

/// The query Microsoft redirects the admin back with.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct CallbackParams {
    pub admin_consent: Option<String>,
    pub tenant: Option<String>,
    pub state: Option<String>,
    pub scope: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

#[derive(Clone)]
pub struct Onboarding {
    pool: Pool,
    broker: Broker,
    graph: GraphClient,
    invitations: Invitations,
    propagation: Duration,
}

impl Onboarding {
    pub fn new(config: &Config, pool: Pool, broker: Broker, graph: GraphClient, mailer: Option<Mailer>) -> Self {
        Self {
            invitations: Invitations::new(config, pool.clone(), mailer),
            pool,
            broker,
            graph,
            propagation: Duration::from_secs(config.onboarding.consent_propagation_secs),
        }
    }

    pub fn consent_url(&self, state: &str) -> String {
        self.invitations.consent_url(state)
    }

    /// Creates an invitation and e-mails its link when SMTP is configured (the link is returned either way).
    pub async fn invite(
        &self,
        customer_name: &str,
        admin_email: &str,
        created_by: &str,
    ) -> Result<Invitation, OnboardingError> {
        self.invitations.invite(customer_name, admin_email, created_by).await
    }

    /// Handles the redirect back from Microsoft's consent page.
    pub async fn complete(&self, params: CallbackParams) -> Result<ConsentOutcome, OnboardingError> {
        let Some(state) = params.state.as_deref() else {
            return Ok(ConsentOutcome::InvalidLink("the link carries no state".into()));
        };
        let invitation_id = match self.invitations.verify(state, sua_core::clock::now()).await? {
            Ok(id) => id,
            Err(StateError::Expired(at)) => {
                return Ok(ConsentOutcome::InvalidLink(format!(
                    "the link expired on {}",
                    at.format("%Y-%m-%d %H:%M UTC")
                )));
            }
            Err(error) => return Ok(ConsentOutcome::InvalidLink(error.to_string())),
        };
        let lookup = invitation_id.clone();
        let Some(invitation) = self.pool.run(move |conn| InvitationRow::find(conn, &lookup)).await? else {
            return Ok(ConsentOutcome::InvalidLink("the link names no invitation".into()));
        };
        if let Some(error) = params.error {
            tracing::info!(invitation = %invitation.id, error, "consent denied");
            return Ok(ConsentOutcome::Denied { error, description: params.error_description.unwrap_or_default() });
        }
        let tenant_id = match params.tenant.as_deref().map(str::to_ascii_lowercase) {
            Some(t) if uuid::Uuid::parse_str(&t).is_ok() => t,
            _ => return Ok(ConsentOutcome::InvalidLink("Microsoft sent back no tenant id".into())),
        };
        let existing_tenant = tenant_id.clone();
        let existing = self.pool.run(move |conn| TenantRow::find(conn, &existing_tenant)).await?;
        if let Some(existing) = &existing
            && existing.consent_state == ConsentState::Granted
            && existing.invitation_id.as_deref().is_some_and(|other| other != invitation.id)
        {
            return Ok(ConsentOutcome::Conflict { tenant_id });
        }
        if let Err(error) = self.first_token(&tenant_id).await {
            tracing::warn!(tenant = %tenant_id, %error, "consent could not be verified");
            return Ok(ConsentOutcome::Unverified { tenant_id, reason: error.to_string() });
        }
        let report = probe::probe(&self.graph, &tenant_id).await;
        self.record(&invitation, existing, &report).await?;
        Ok(ConsentOutcome::Granted(report))
    }

    /// The first token after consent, retried while Entra ID propagates the new service principal.
    async fn first_token(&self, tenant_id: &str) -> Result<(), GraphError> {
        let deadline = tokio::time::Instant::now() + self.propagation;
        let mut attempt = 0;
        loop {
            match self.graph.token(tenant_id).await {
                Ok(_) => return Ok(()),
                Err(error) if tokio::time::Instant::now() < deadline => {
                    attempt += 1;
                    tracing::info!(tenant = tenant_id, attempt, %error, "no token yet after consent, retrying");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    async fn record(
        &self,
        invitation: &InvitationRow,
        existing: Option<TenantRow>,
        report: &ProbeReport,
    ) -> Result<(), OnboardingError> {
        let now = sua_db::now();
        let permissions: BTreeMap<&str, PermissionState> = report.permissions.clone();
        let row = TenantRow {
            id: report.tenant_id.clone(),
            display_name: report.display_name.clone().unwrap_or_else(|| invitation.customer_name.clone()),
            consent_state: ConsentState::Granted,
            permissions: serde_json::to_string(&permissions).unwrap_or_else(|_| "{}".into()),
            prerequisites: serde_json::json!({ "entra_id_p1": report.entra_id_p1 }).to_string(),
            consented_at: Some(now),
            created_at: existing.as_ref().map_or(now, |e| e.created_at),
            updated_at: now,
            invitation_id: Some(invitation.id.clone()),
            feed_state: existing.as_ref().map_or(FeedState::NotCollected, |e| e.feed_state),
            feed_since: existing.as_ref().and_then(|e| e.feed_since),
            feed_error: existing.as_ref().and_then(|e| e.feed_error.clone()),
        };
        let invitation_id = invitation.id.clone();
        let tenant_id = report.tenant_id.clone();
        self.pool
            .transaction(move |conn| {
                TenantRow::upsert(conn, &row)?;
                InvitationRow::record_consent(conn, &invitation_id, &tenant_id, now)
            })
            .await?;
        tracing::info!(tenant = %report.tenant_id, missing = ?report.missing(), entra_id_p1 = ?report.entra_id_p1, "consent recorded");
        let consented = TenantConsentedV1 {
            display_name: report.display_name.clone(),
            consented_at: now.and_utc(),
            permissions: report.permissions.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            entra_id_p1: report.entra_id_p1,
        };
        let today = sua_core::clock::today();
        let tenant = report.tenant_id.as_str();
        // Collection starts now: licence sync, the call-record subscription (its first creation backfills the
        // last 30 days) and PSTN logs. If the broker is briefly away, the scheduler's next tick starts them.
        let messages = [
            Envelope::new(tenant, None, &consented),
            Envelope::new(tenant, None, &LicenceSyncJobV1 { day: today, reason: "consent".into() }),
            Envelope::new(tenant, None, &SubscriptionEnsureJobV1 { reason: "consent".into(), renew: false }),
            Envelope::new(tenant, None, &PstnSyncJobV1 { day: today, reason: "consent".into() }),
        ];
        for envelope in messages {
            let Ok(envelope) = envelope else { continue };
            let result = if envelope.kind == Kind::TenantConsentedV1 {
                self.broker.publish_raw(&envelope).await
            } else {
                self.broker.publish_job(&envelope).await
            };
            if let Err(error) = result {
                tracing::error!(tenant = %report.tenant_id, kind = %envelope.kind, %error, "could not publish after consent");
            }
        }
        Ok(())
    }
}
