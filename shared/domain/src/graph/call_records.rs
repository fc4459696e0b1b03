//! A callRecord as `callrecord.v1` carries it: the record with every session, segment and media stream, and
//! `participants_v2` and `organizer_v2` (callrecords-callrecord-get.md, callrecords-session-list.md,
//! callrecords-mediastream.md). `organizer`, `participants` and an endpoint's `identity` stopped returning data on
//! 2026-06-30 and are read only as a fallback.

use serde::Deserialize;

use super::Instant;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRecord {
    pub id: String,
    pub version: i64,
    /// `groupCall`, `peerToPeer` or `unknown`.
    #[serde(rename = "type")]
    pub call_type: Option<String>,
    #[serde(default)]
    pub modalities: Vec<String>,
    pub start_date_time: Instant,
    pub end_date_time: Instant,
    #[serde(rename = "organizer_v2")]
    pub organizer: Option<Participant>,
    #[serde(rename = "participants_v2", default)]
    pub participants: Vec<Participant>,
    #[serde(default)]
    pub sessions: Vec<Session>,
}

/// A participant of `participants_v2` (or `organizer_v2`): its id (the user's id for users) and who it is.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    pub id: Option<String>,
    pub identity: Option<IdentitySet>,
}

/// Who someone is: one of these is set (communicationsIdentitySet).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentitySet {
    pub user: Option<Identity>,
    pub phone: Option<Identity>,
    pub guest: Option<Identity>,
    pub application: Option<Identity>,
    pub application_instance: Option<Identity>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub id: Option<String>,
    pub display_name: Option<String>,
    pub tenant_id: Option<String>,
    pub user_principal_name: Option<String>,
}

/// What kind of party an identity set names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartyKind {
    User,
    Phone,
    Guest,
    Application,
    Unknown,
}

impl PartyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PartyKind::User => "user",
            PartyKind::Phone => "phone",
            PartyKind::Guest => "guest",
            PartyKind::Application => "application",
            PartyKind::Unknown => "unknown",
        }
    }
}

impl IdentitySet {
    /// The party's kind and identity (the first set among user, phone, guest, application).
    pub fn party(&self) -> (PartyKind, Option<&Identity>) {
        [
            (PartyKind::User, &self.user),
            (PartyKind::Phone, &self.phone),
            (PartyKind::Guest, &self.guest),
            (PartyKind::Application, &self.application),
            (PartyKind::Application, &self.application_instance),
        ]
        .into_iter()
        .find_map(|(kind, identity)| identity.as_ref().map(|i| (kind, Some(i))))
        .unwrap_or((PartyKind::Unknown, None))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub id: String,
    #[serde(default)]
    pub modalities: Vec<String>,
    pub start_date_time: Instant,
    pub end_date_time: Instant,
    pub caller: Option<Endpoint>,
    pub callee: Option<Endpoint>,
    #[serde(default)]
    pub segments: Vec<Segment>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Segment {
    pub id: String,
    pub start_date_time: Instant,
    pub end_date_time: Instant,
    pub caller: Option<Endpoint>,
    pub callee: Option<Endpoint>,
    #[serde(default)]
    pub media: Vec<Media>,
}

/// A session's or segment's caller or callee: a participant endpoint (a client; `associatedIdentity` names its
/// user) or a service endpoint (a media server, a PSTN gateway).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    #[serde(rename = "@odata.type")]
    pub odata_type: Option<String>,
    pub associated_identity: Option<Identity>,
    /// Retired on 2026-06-30; older records still carry it.
    pub identity: Option<IdentitySet>,
}

/// Who an endpoint is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointKind {
    Party(PartyKind),
    Service,
    Unknown,
}

impl Endpoint {
    /// The endpoint's kind and id (a user's id in lower case).
    pub fn who(&self) -> (EndpointKind, Option<String>) {
        if let Some(id) = self.associated_identity.as_ref().and_then(|i| i.id.as_deref()) {
            return (EndpointKind::Party(PartyKind::User), Some(id.to_ascii_lowercase()));
        }
        if let Some(identity) = &self.identity {
            let (kind, who) = identity.party();
            let id = who.and_then(|i| i.id.as_deref());
            let id = if kind == PartyKind::User { id.map(str::to_ascii_lowercase) } else { id.map(str::to_string) };
            return (EndpointKind::Party(kind), id);
        }
        match self.odata_type.as_deref() {
            Some(t) if t.ends_with("serviceEndpoint") => (EndpointKind::Service, None),
            _ => (EndpointKind::Unknown, None),
        }
    }
}

impl EndpointKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            EndpointKind::Party(kind) => kind.as_str(),
            EndpointKind::Service => "service",
            EndpointKind::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Media {
    /// `main-audio`, `main-video`, `applicationsharing-…`
    pub label: Option<String>,
    #[serde(default)]
    pub streams: Vec<MediaStream>,
}

/// A media stream's quality metrics; durations are ISO 8601 (`PT0.012S`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaStream {
    pub stream_direction: Option<String>,
    pub audio_codec: Option<String>,
    pub average_packet_loss_rate: Option<f64>,
    pub average_jitter: Option<String>,
    pub average_round_trip_time: Option<String>,
    pub packet_utilization: Option<i64>,
}
