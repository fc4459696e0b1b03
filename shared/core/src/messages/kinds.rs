//! One payload type per [`Kind`]. Graph data travels raw (`serde_json::Value` exactly as Graph sent it); the few
//! fields around it say which part of a run a message is.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Kind, Payload};

/// `callrecord.v1`: the body of `GET /communications/callRecords/{id}?$expand=sessions($expand=segments)`, with
/// the sessions of every `sessions@odata.nextLink` page appended to `sessions` (and the link removed), and the
/// participants of `GET /communications/callRecords/{id}/participants_v2` (every page) as `participants_v2`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallRecordV1(pub Value);

impl Payload for CallRecordV1 {
    const KIND: Kind = Kind::CallRecordV1;
}

/// `licence.skus.v1`: the body of `GET /subscribedSkus`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenceSkusV1 {
    pub body: Value,
}

impl Payload for LicenceSkusV1 {
    const KIND: Kind = Kind::LicenceSkusV1;
}

/// `licence.users.v1`: one page of `GET /users`, numbered from 1 within its run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenceUsersV1 {
    pub page: u32,
    /// Whether `signInActivity` was selected for this page (false when the tenant lacks Entra ID P1 or the
    /// permission): absent sign-in data then means "not measured", never "never signed in".
    pub sign_in_activity: bool,
    pub body: Value,
}

impl Payload for LicenceUsersV1 {
    const KIND: Kind = Kind::LicenceUsersV1;
}

/// `report.teams_activity.v1`: one chunk of the `getTeamsUserActivityUserDetail` CSV, numbered from 1. Each chunk
/// starts with the report's own header line, so every chunk parses on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsActivityReportV1 {
    /// `D7`, `D30`, `D90` or `D180`.
    pub period: String,
    pub page: u32,
    /// Data rows in this chunk (the header not counted).
    pub rows: u32,
    pub csv: String,
}

impl Payload for TeamsActivityReportV1 {
    const KIND: Kind = Kind::TeamsActivityReportV1;
}

/// Which call log a [`PstnCallsV1`] page comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PstnSource {
    /// `getPstnCalls` (Calling Plans, Operator Connect).
    Pstn,
    /// `getDirectRoutingCalls`.
    DirectRouting,
}

/// `pstn.calls.v1`: one page of `getPstnCalls` or `getDirectRoutingCalls` for a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PstnCallsV1 {
    pub source: PstnSource,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub page: u32,
    pub body: Value,
}

impl Payload for PstnCallsV1 {
    const KIND: Kind = Kind::PstnCallsV1;
}

/// Whether a part of a sync run was published or skipped (and why).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartStatus {
    Published,
    Skipped,
}

/// What one part of a run published: analytics waits for `messages` messages of that part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartSummary {
    pub status: PartStatus,
    pub messages: u32,
    /// SKUs, users or report rows.
    pub records: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The parts of a daily licence sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncParts {
    pub skus: PartSummary,
    pub users: PartSummary,
    pub teams_activity: PartSummary,
}

/// `sync.completed.v1`: sent last by a licence sync run that published every part it could.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncCompletedV1 {
    /// The day the snapshot describes (UTC).
    pub day: NaiveDate,
    pub parts: SyncParts,
    /// Whether users carry `signInActivity` (needs Entra ID P1 and AuditLog.Read.All).
    pub sign_in_activity: bool,
    /// Whether the activity report hides user names (the tenant's report privacy setting); unknown when skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concealed_names: Option<bool>,
}

impl Payload for SyncCompletedV1 {
    const KIND: Kind = Kind::SyncCompletedV1;
}

/// The state of one Graph application permission, as proven by a probe call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PermissionState {
    Granted,
    Missing,
    /// The probe failed for another reason (outage, throttling); try again later.
    Unknown,
}

/// `tenant.consented.v1`: a customer tenant granted consent and sua proved it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConsentedV1 {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub consented_at: DateTime<Utc>,
    /// Keyed by permission name, e.g. `User.Read.All`.
    pub permissions: BTreeMap<String, PermissionState>,
    /// Whether the tenant has at least one Entra ID P1 (or P2) service plan; unknown when SKUs could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entra_id_p1: Option<bool>,
}

impl Payload for TenantConsentedV1 {
    const KIND: Kind = Kind::TenantConsentedV1;
}

/// `job.licence_sync.v1`: run the licence sync of `day` for the envelope's tenant (a no-op when that day's run
/// is already running or complete).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenceSyncJobV1 {
    pub day: NaiveDate,
    /// Why it was requested: `consent`, `schedule` or `manual`.
    pub reason: String,
}

impl Payload for LicenceSyncJobV1 {
    const KIND: Kind = Kind::LicenceSyncJobV1;
}

/// `job.callrecord_fetch.v1`: fetch the envelope's tenant's call records `calls` and publish each. The webhook
/// puts the notifications that arrive together into one job (group commit), a backfill one LIST page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallRecordFetchJobV1 {
    pub calls: Vec<CallToFetch>,
}

/// One call record to fetch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallToFetch {
    pub id: String,
    /// `created` or `updated` (from a change notification) or `backfill`.
    pub change_type: String,
}

impl Payload for CallRecordFetchJobV1 {
    const KIND: Kind = Kind::CallRecordFetchJobV1;
}

/// `job.subscription_ensure.v1`: create the tenant's call-record subscription if it has none, renew it when it
/// expires soon (always when `renew`, e.g. after `reauthorizationRequired`), and backfill any gap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionEnsureJobV1 {
    pub reason: String,
    pub renew: bool,
}

impl Payload for SubscriptionEnsureJobV1 {
    const KIND: Kind = Kind::SubscriptionEnsureJobV1;
}

/// `job.callrecord_backfill.v1`: run backfill `backfill_id` (its window is in the collector's database).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallRecordBackfillJobV1 {
    pub backfill_id: String,
}

impl Payload for CallRecordBackfillJobV1 {
    const KIND: Kind = Kind::CallRecordBackfillJobV1;
}

/// `job.pstn_sync.v1`: collect PSTN and Direct Routing logs of the envelope's tenant up to `day` (once per day).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PstnSyncJobV1 {
    pub day: NaiveDate,
    pub reason: String,
}

impl Payload for PstnSyncJobV1 {
    const KIND: Kind = Kind::PstnSyncJobV1;
}
