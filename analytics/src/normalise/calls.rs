//! `callrecord.v1` (a callRecord with every session, segment and `participants_v2`) → rows.
//!
//! Audio stream quality follows the Call Quality Dashboard's stream classification
//! (<https://learn.microsoft.com/microsoftteams/stream-classification-in-call-quality-dashboard>): an audio
//! stream is classified only when it carried more than 500 packets (`packetUtilization`), and is poor when its
//! average round trip exceeds 500 ms, its average packet loss rate exceeds 0.1, or its average jitter exceeds
//! 30 ms. Video and screen-sharing streams are left unclassified (`poor = NULL`): CQD judges them by frame
//! metrics the call record does not carry for every client.

use std::collections::BTreeMap;

use anyhow::Context;
use chrono::NaiveDateTime;
use serde::Deserialize;
use serde_json::Value;
use sua_db::models::{
    CallParticipantRow, CallRecordRow, CallSegmentRow, CallSessionRow, CallStreamRow, CallUserFactRow, NormalisedCall,
};
use sua_domain::graph::call_records::{
    CallRecord, Endpoint, EndpointKind, Identity, IdentitySet, MediaStream, PartyKind, Segment,
};

use super::parse_duration;

/// CQD: audio streams with at most this many packets are not classified.
pub const MIN_PACKETS: i64 = 500;
pub const POOR_ROUND_TRIP_MS: f64 = 500.0;
pub const POOR_PACKET_LOSS: f64 = 0.1;
pub const POOR_JITTER_MS: f64 = 30.0;

/// Whether an audio stream is poor by CQD's thresholds; `None` when it cannot be classified.
pub fn audio_poor(
    packets: Option<i64>,
    loss: Option<f64>,
    jitter_ms: Option<f64>,
    round_trip_ms: Option<f64>,
) -> Option<bool> {
    if packets.is_none_or(|p| p <= MIN_PACKETS) {
        return None;
    }
    if loss.is_none() && jitter_ms.is_none() && round_trip_ms.is_none() {
        return None;
    }
    Some(
        round_trip_ms.is_some_and(|v| v > POOR_ROUND_TRIP_MS)
            || loss.is_some_and(|v| v > POOR_PACKET_LOSS)
            || jitter_ms.is_some_and(|v| v > POOR_JITTER_MS),
    )
}

fn ms(value: Option<&str>) -> Option<f64> {
    value.and_then(parse_duration).map(|s| s * 1000.0)
}

/// Seconds covered by the union of intervals.
fn covered_seconds(mut spans: Vec<(NaiveDateTime, NaiveDateTime)>) -> i64 {
    spans.sort();
    let mut total = 0;
    let mut current: Option<(NaiveDateTime, NaiveDateTime)> = None;
    for (start, end) in spans {
        match current {
            Some((s, e)) if start <= e => current = Some((s, e.max(end))),
            Some((s, e)) => {
                total += (e - s).num_seconds();
                current = Some((start, end));
            }
            None => current = Some((start, end)),
        }
    }
    if let Some((s, e)) = current {
        total += (e - s).num_seconds();
    }
    total.max(0)
}

/// Who an endpoint is, as `(kind, id)` rows store it.
fn endpoint(endpoint: Option<&Endpoint>) -> (String, Option<String>) {
    let (kind, id) = endpoint.map_or((EndpointKind::Unknown, None), Endpoint::who);
    (kind.as_str().to_string(), id)
}

/// The record row and its children. `raw` is the record's JSON as it arrived (kept as is); `received_at` stamps
/// the row.
pub fn call_record(
    tenant_id: &str,
    record: &Value,
    raw: &str,
    received_at: NaiveDateTime,
) -> anyhow::Result<(CallRecordRow, NormalisedCall)> {
    let record = super::without_nul(record);
    let record = CallRecord::deserialize(&*record).context("the call record is not as Graph documents it")?;
    let call = Call { tenant: tenant_id, id: record.id.to_ascii_lowercase() };
    let mut out = NormalisedCall { participants: call.participants(&record), ..NormalisedCall::default() };
    let usage = call.sessions(&record, &mut out);
    let (start_at, end_at) = (record.start_date_time.0, record.end_date_time.0);
    let duration_seconds = (end_at - start_at).num_seconds().max(0);
    let pstn = out.participants.iter().any(|p| p.kind == "phone");
    out.user_facts = call.user_facts(&record, &out.participants, usage.by_user, duration_seconds, pstn);
    let organizer_key = record.organizer.as_ref().and_then(|o| o.id.clone());
    // The organizer's user id (a participant's id is the user's id for users).
    let organizer_id = record
        .organizer
        .as_ref()
        .and_then(|o| o.identity.as_ref())
        .and_then(|i| identity_id(i.party()))
        .or_else(|| organizer_key.as_deref().map(str::to_ascii_lowercase));
    let row = CallRecordRow {
        tenant_id: tenant_id.to_string(),
        id: call.id,
        version: record.version,
        call_type: record.call_type.clone().unwrap_or_else(|| "unknown".into()),
        start_at,
        end_at,
        modalities: record.modalities.join(","),
        organizer_id,
        raw: raw.to_string(),
        received_at,
        day: Some(start_at.date()),
        duration_seconds,
        participants: i32::try_from(out.participants.len()).unwrap_or(i32::MAX),
        pstn,
        streams: usage.streams,
        poor_streams: usage.poor_streams,
    };
    Ok((row, out))
}

/// A user's id in lower case, a phone number or another party's id as Graph wrote it.
fn identity_id((kind, identity): (PartyKind, Option<&Identity>)) -> Option<String> {
    let id = identity.and_then(|i| i.id.as_deref())?;
    Some(if kind == PartyKind::User { id.to_ascii_lowercase() } else { id.to_string() })
}

/// One call being normalised.
struct Call<'a> {
    tenant: &'a str,
    id: String,
}

/// What the sessions tell about the call's use: streams and poor ones, in all and per user.
#[derive(Default)]
struct SessionUsage {
    streams: i32,
    poor_streams: i32,
    by_user: BTreeMap<String, UserUsage>,
}

/// The time a user's sessions cover and the streams of the segments they were an end of.
#[derive(Default)]
struct UserUsage {
    spans: Vec<(NaiveDateTime, NaiveDateTime)>,
    streams: i32,
    poor_streams: i32,
}

impl Call<'_> {
    /// Everyone in `participants_v2` and the organizer, once each.
    fn participants(&self, record: &CallRecord) -> Vec<CallParticipantRow> {
        let organizer_key = record.organizer.as_ref().and_then(|o| o.id.as_deref());
        let mut participants: BTreeMap<String, CallParticipantRow> = BTreeMap::new();
        for participant in record.participants.iter().chain(record.organizer.as_ref()) {
            let (kind, identity) = participant.identity.as_ref().map_or((PartyKind::Unknown, None), IdentitySet::party);
            let ident = identity_id((kind, identity));
            let Some(key) = participant.id.clone().or_else(|| ident.clone()) else { continue };
            let is_organizer = organizer_key == Some(key.as_str());
            let entry = participants.entry(key.clone()).or_insert_with(|| CallParticipantRow {
                tenant_id: self.tenant.to_string(),
                call_id: self.id.clone(),
                participant_key: key,
                kind: kind.as_str().to_string(),
                user_id: (kind == PartyKind::User).then(|| ident.clone()).flatten(),
                phone: (kind == PartyKind::Phone).then(|| ident.clone()).flatten(),
                display_name: identity.and_then(|i| i.display_name.clone()),
                organizer: false,
            });
            entry.organizer |= is_organizer;
        }
        participants.into_values().collect()
    }

    /// Session, segment and stream rows; what they tell about each user's use.
    fn sessions(&self, record: &CallRecord, out: &mut NormalisedCall) -> SessionUsage {
        let mut usage = SessionUsage::default();
        for session in &record.sessions {
            let (start, end) = (session.start_date_time.0, session.end_date_time.0);
            let (caller_kind, caller_id) = endpoint(session.caller.as_ref());
            let (callee_kind, callee_id) = endpoint(session.callee.as_ref());
            for (kind, user) in [(&caller_kind, &caller_id), (&callee_kind, &callee_id)] {
                if let (true, Some(user)) = (kind == "user", user) {
                    usage.by_user.entry(user.clone()).or_default().spans.push((start, end.max(start)));
                }
            }
            out.sessions.push(CallSessionRow {
                tenant_id: self.tenant.to_string(),
                call_id: self.id.clone(),
                session_id: session.id.clone(),
                start_at: start,
                end_at: end,
                modalities: session.modalities.join(","),
                caller_kind,
                caller_id,
                callee_kind,
                callee_id,
            });
            for segment in &session.segments {
                self.segment(&session.id, segment, &mut usage, out);
            }
        }
        out.sessions.sort_by(|a, b| a.session_id.cmp(&b.session_id));
        out.sessions.dedup_by(|a, b| a.session_id == b.session_id);
        out.segments.sort_by(|a, b| (&a.session_id, &a.segment_id).cmp(&(&b.session_id, &b.segment_id)));
        out.segments.dedup_by(|a, b| a.session_id == b.session_id && a.segment_id == b.segment_id);
        usage
    }

    fn segment(&self, session_id: &str, segment: &Segment, usage: &mut SessionUsage, out: &mut NormalisedCall) {
        let (caller_kind, caller_id) = endpoint(segment.caller.as_ref());
        let (callee_kind, callee_id) = endpoint(segment.callee.as_ref());
        let ends: Vec<String> = [(&caller_kind, &caller_id), (&callee_kind, &callee_id)]
            .into_iter()
            .filter(|(k, _)| k.as_str() == "user")
            .filter_map(|(_, id)| id.clone())
            .collect();
        let mut ordinal = 0;
        for media in &segment.media {
            let label = media.label.clone().unwrap_or_default();
            for stream in &media.streams {
                let row = self.stream(session_id, &segment.id, ordinal, &label, stream);
                let poor = i32::from(row.poor == Some(true));
                usage.streams += 1;
                usage.poor_streams += poor;
                for user in &ends {
                    let entry = usage.by_user.entry(user.clone()).or_default();
                    entry.streams += 1;
                    entry.poor_streams += poor;
                }
                out.streams.push(row);
                ordinal += 1;
            }
        }
        out.segments.push(CallSegmentRow {
            tenant_id: self.tenant.to_string(),
            call_id: self.id.clone(),
            session_id: session_id.to_string(),
            segment_id: segment.id.clone(),
            start_at: segment.start_date_time.0,
            end_at: segment.end_date_time.0,
            caller_kind,
            caller_id,
            callee_kind,
            callee_id,
        });
    }

    /// A stream with its metrics; audio streams classified by CQD's thresholds.
    fn stream(
        &self,
        session_id: &str,
        segment_id: &str,
        ordinal: i32,
        label: &str,
        stream: &MediaStream,
    ) -> CallStreamRow {
        let audio = label.contains("audio") || stream.audio_codec.is_some();
        let packets = stream.packet_utilization;
        let loss = stream.average_packet_loss_rate;
        let jitter = ms(stream.average_jitter.as_deref());
        let round_trip = ms(stream.average_round_trip_time.as_deref());
        CallStreamRow {
            tenant_id: self.tenant.to_string(),
            call_id: self.id.clone(),
            session_id: session_id.to_string(),
            segment_id: segment_id.to_string(),
            ordinal,
            media_label: label.to_string(),
            direction: stream.stream_direction.clone().unwrap_or_default(),
            audio,
            avg_packet_loss: loss,
            avg_jitter_ms: jitter,
            avg_round_trip_ms: round_trip,
            packet_utilization: packets,
            poor: if audio { audio_poor(packets, loss, jitter, round_trip) } else { None },
        }
    }

    /// One row per user of the tenant in the call: the time their sessions cover (the call's when none names
    /// them) and their streams.
    fn user_facts(
        &self,
        record: &CallRecord,
        participants: &[CallParticipantRow],
        mut by_user: BTreeMap<String, UserUsage>,
        duration_seconds: i64,
        pstn: bool,
    ) -> Vec<CallUserFactRow> {
        let group = record.call_type.as_deref() == Some("groupCall");
        let video = record.modalities.iter().any(|m| m == "video");
        let mut users: Vec<String> = participants.iter().filter_map(|p| p.user_id.clone()).collect();
        users.sort();
        users.dedup();
        users
            .into_iter()
            .map(|user| {
                let usage = by_user.remove(&user).unwrap_or_default();
                let seconds = if usage.spans.is_empty() { duration_seconds } else { covered_seconds(usage.spans) };
                CallUserFactRow {
                    tenant_id: self.tenant.to_string(),
                    call_id: self.id.clone(),
                    user_id: user,
                    day: record.start_date_time.0.date(),
                    group_call: i32::from(group),
                    video: i32::from(video),
                    pstn: i32::from(pstn),
                    seconds,
                    streams: usage.streams,
                    poor_streams: usage.poor_streams,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cqd_thresholds_classify_audio_streams() {
        assert_eq!(audio_poor(Some(1000), Some(0.01), Some(10.0), Some(100.0)), Some(false));
        assert_eq!(audio_poor(Some(1000), Some(0.11), Some(10.0), Some(100.0)), Some(true));
        assert_eq!(audio_poor(Some(1000), Some(0.01), Some(31.0), Some(100.0)), Some(true));
        assert_eq!(audio_poor(Some(1000), Some(0.01), Some(10.0), Some(501.0)), Some(true));
        assert_eq!(audio_poor(Some(1000), Some(0.1), Some(30.0), Some(500.0)), Some(false), "thresholds are strict");
        assert_eq!(audio_poor(Some(500), Some(0.5), None, None), None, "too few packets to classify");
        assert_eq!(audio_poor(None, Some(0.5), None, None), None);
    }

    fn user(id: &str) -> Value {
        json!({"user": {"id": id, "displayName": id, "tenantId": "t"}})
    }

    fn party(id: &str) -> Value {
        json!({"@odata.type": "#microsoft.graph.callRecords.participantEndpoint", "associatedIdentity": {"id": id}})
    }

    fn stream(loss: f64) -> Value {
        json!({"streamDirection": "callerToCallee", "audioCodec": "satin", "averagePacketLossRate": loss,
               "averageJitter": "PT0.010S", "averageRoundTripTime": "PT0.050S", "packetUtilization": 900})
    }

    #[test]
    fn a_peer_call_to_a_phone_normalises_into_every_table() {
        let record = json!({
            "id": "C1", "version": 2, "type": "peerToPeer", "modalities": ["audio"],
            "startDateTime": "2026-11-20T10:00:00Z", "endDateTime": "2026-11-20T10:10:00Z",
            "organizer_v2": {"id": "A", "identity": user("A")},
            "participants_v2": [{"id": "A", "identity": user("A")},
                                {"id": "+15550100", "identity": {"phone": {"id": "+15550100"}}}],
            "sessions": [{"id": "S1", "modalities": ["audio"], "startDateTime": "2026-11-20T10:00:00Z",
                          "endDateTime": "2026-11-20T10:04:00Z", "caller": party("A"),
                          "callee": {"@odata.type": "#microsoft.graph.callRecords.serviceEndpoint"},
                          "segments": [{"id": "G1", "startDateTime": "2026-11-20T10:00:00Z",
                                        "endDateTime": "2026-11-20T10:04:00Z", "caller": party("A"),
                                        "callee": {"@odata.type": "#microsoft.graph.callRecords.serviceEndpoint"},
                                        "media": [{"label": "main-audio", "streams": [stream(0.2), stream(0.0)]}]}]}]
        });
        let (row, children) = call_record("t", &record, &record.to_string(), NaiveDateTime::default()).unwrap();
        assert_eq!((row.id.as_str(), row.version, row.duration_seconds, row.participants), ("c1", 2, 600, 2));
        assert!(row.pstn);
        assert_eq!((row.streams, row.poor_streams), (2, 1));
        assert_eq!(row.organizer_id.as_deref(), Some("a"));
        let organizer: Vec<_> = children.participants.iter().filter(|p| p.organizer).collect();
        assert_eq!(organizer.len(), 1);
        assert_eq!(children.participants.iter().filter(|p| p.kind == "phone").count(), 1);
        assert_eq!(children.sessions[0].callee_kind, "service");
        assert_eq!(children.user_facts.len(), 1);
        let fact = &children.user_facts[0];
        assert_eq!(
            (fact.user_id.as_str(), fact.seconds, fact.streams, fact.poor_streams, fact.pstn),
            ("a", 240, 2, 1, 1)
        );
    }

    #[test]
    fn a_record_without_required_fields_is_refused() {
        assert!(call_record("t", &json!({"id": "x"}), "{}", NaiveDateTime::default()).is_err());
        assert!(
            call_record(
                "t",
                &json!({"id": "x", "version": 1, "startDateTime": "soon", "endDateTime": "later"}),
                "{}",
                NaiveDateTime::default()
            )
            .is_err()
        );
    }

    #[test]
    fn overlapping_sessions_count_once() {
        let at = |m: i64| NaiveDateTime::default() + chrono::Duration::minutes(m);
        assert_eq!(covered_seconds(vec![(at(0), at(10)), (at(5), at(12)), (at(20), at(21))]), 13 * 60);
    }
}
