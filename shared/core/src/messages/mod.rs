//! Message contracts (design §4): one [`Envelope`] for every message on the queue, and a payload type per kind.
//!
//! A kind never changes once published; a new shape is a new kind (`…v2`). Golden files under `golden/` pin the
//! wire JSON of the envelope and of every kind, so an accidental change fails a test.

mod kinds;

pub use kinds::*;

use chrono::{DateTime, SubsecRound, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

/// Every kind of message sua sends. The wire name is also the AMQP routing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    /// One call record with all of its sessions, as Graph returned it.
    #[serde(rename = "callrecord.v1")]
    CallRecordV1,
    /// The `subscribedSkus` response of one licence sync.
    #[serde(rename = "licence.skus.v1")]
    LicenceSkusV1,
    /// One page of `GET /users` of one licence sync.
    #[serde(rename = "licence.users.v1")]
    LicenceUsersV1,
    /// One chunk of the Teams user activity report CSV of one licence sync.
    #[serde(rename = "report.teams_activity.v1")]
    TeamsActivityReportV1,
    /// One page of PSTN or Direct Routing call logs.
    #[serde(rename = "pstn.calls.v1")]
    PstnCallsV1,
    /// A licence sync run finished: what it published, so analytics can tell when the snapshot is whole.
    #[serde(rename = "sync.completed.v1")]
    SyncCompletedV1,
    /// A customer tenant granted (or re-granted) consent.
    #[serde(rename = "tenant.consented.v1")]
    TenantConsentedV1,
    /// Collector job: run the daily licence sync of a tenant.
    #[serde(rename = "job.licence_sync.v1")]
    LicenceSyncJobV1,
    /// Collector job: fetch call records (after change notifications or from a backfill).
    #[serde(rename = "job.callrecord_fetch.v1")]
    CallRecordFetchJobV1,
    /// Collector job: make sure the tenant has a live call-record subscription (create, renew, reauthorize).
    #[serde(rename = "job.subscription_ensure.v1")]
    SubscriptionEnsureJobV1,
    /// Collector job: list call records of a window and fetch those not collected yet.
    #[serde(rename = "job.callrecord_backfill.v1")]
    CallRecordBackfillJobV1,
    /// Collector job: collect the tenant's PSTN and Direct Routing call logs.
    #[serde(rename = "job.pstn_sync.v1")]
    PstnSyncJobV1,
}

impl Kind {
    pub const ALL: [Kind; 12] = [
        Kind::CallRecordV1,
        Kind::LicenceSkusV1,
        Kind::LicenceUsersV1,
        Kind::TeamsActivityReportV1,
        Kind::PstnCallsV1,
        Kind::SyncCompletedV1,
        Kind::TenantConsentedV1,
        Kind::LicenceSyncJobV1,
        Kind::CallRecordFetchJobV1,
        Kind::SubscriptionEnsureJobV1,
        Kind::CallRecordBackfillJobV1,
        Kind::PstnSyncJobV1,
    ];

    /// The wire name, e.g. `callrecord.v1`; also the routing key.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::CallRecordV1 => "callrecord.v1",
            Kind::LicenceSkusV1 => "licence.skus.v1",
            Kind::LicenceUsersV1 => "licence.users.v1",
            Kind::TeamsActivityReportV1 => "report.teams_activity.v1",
            Kind::PstnCallsV1 => "pstn.calls.v1",
            Kind::SyncCompletedV1 => "sync.completed.v1",
            Kind::TenantConsentedV1 => "tenant.consented.v1",
            Kind::LicenceSyncJobV1 => "job.licence_sync.v1",
            Kind::CallRecordFetchJobV1 => "job.callrecord_fetch.v1",
            Kind::SubscriptionEnsureJobV1 => "job.subscription_ensure.v1",
            Kind::CallRecordBackfillJobV1 => "job.callrecord_backfill.v1",
            Kind::PstnSyncJobV1 => "job.pstn_sync.v1",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A payload type knows its kind.
pub trait Payload: Serialize + DeserializeOwned {
    const KIND: Kind;
}

/// The one envelope around every message (JSON, `content_type=application/json`, persistent). `id` is also the
/// AMQP `message_id`; trace context travels in AMQP headers, not here.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    pub id: Uuid,
    pub kind: Kind,
    /// The customer's Entra tenant id.
    pub tenant_id: String,
    /// The collection run this message belongs to, when it belongs to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<Uuid>,
    pub occurred_at: DateTime<Utc>,
    /// Kept as raw JSON so that decoding the envelope never re-parses a large payload.
    pub payload: Box<RawValue>,
}

#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("message is not a valid envelope: {0}")]
    Envelope(serde_json::Error),
    #[error("expected a {expected} payload, got {actual}")]
    WrongKind { expected: Kind, actual: Kind },
    #[error("{kind} payload does not match its contract: {source}")]
    Payload { kind: Kind, source: serde_json::Error },
    #[error("payload could not be encoded: {0}")]
    Encode(serde_json::Error),
}

impl Envelope {
    /// Wraps a payload in a new envelope with a fresh id and the current time (millisecond precision).
    pub fn new<P: Payload>(
        tenant_id: impl Into<String>,
        run_id: Option<Uuid>,
        payload: &P,
    ) -> Result<Self, MessageError> {
        let raw = serde_json::value::to_raw_value(payload).map_err(MessageError::Encode)?;
        Ok(Self {
            id: Uuid::new_v4(),
            kind: P::KIND,
            tenant_id: tenant_id.into(),
            run_id,
            occurred_at: crate::clock::now().trunc_subsecs(3),
            payload: raw,
        })
    }

    /// Parses an envelope from a message body.
    pub fn from_slice(body: &[u8]) -> Result<Self, MessageError> {
        serde_json::from_slice(body).map_err(MessageError::Envelope)
    }

    /// The message body.
    pub fn to_vec(&self) -> Result<Vec<u8>, MessageError> {
        serde_json::to_vec(self).map_err(MessageError::Encode)
    }

    /// Decodes the payload as `P`, refusing an envelope of another kind.
    pub fn decode<P: Payload>(&self) -> Result<P, MessageError> {
        if self.kind != P::KIND {
            return Err(MessageError::WrongKind { expected: P::KIND, actual: self.kind });
        }
        serde_json::from_str(self.payload.get()).map_err(|source| MessageError::Payload { kind: self.kind, source })
    }
}

#[cfg(test)]
mod golden_tests;
