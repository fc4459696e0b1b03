//! `callrecord.v1` (a callRecord with every session, segment and `participants_v2`) → rows.
//!
//! Audio stream quality follows the Call Quality Dashboard's stream classification
//! (<https://learn.microsoft.com/microsoftteams/stream-classification-in-call-quality-dashboard>): an audio
//! stream is classified only when it carried more than 500 packets (`packetUtilization`), and is poor when its
//! average round trip exceeds 500 ms, its average packet loss rate exceeds 0.1, or its average jitter exceeds
//! 30 ms. Video and screen-sharing streams are left unclassified (`poor = NULL`): CQD judges them by frame
//! metrics the call record does not carry for every client.

use std::collections::BTreeMap;

use anyhow::anyhow;
use chrono::NaiveDateTime;
use serde_json::Value;
use sua_db::models::{
    CallParticipantRow, CallRecordRow, CallSegmentRow, CallSessionRow, CallStreamRow, CallUserFactRow, NormalisedCall,
};

use super::{instant, opt_text, parse_duration, text};

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

/// Who an endpoint (a session's or segment's caller or callee) is: `(kind, id)`.
fn endpoint(value: &Value) -> (String, Option<String>) {
    let lower = |v: &Value| v.as_str().map(str::to_ascii_lowercase);
    if let Some(user) = value.pointer("/associatedIdentity/id").filter(|v| v.is_string()) {
        return ("user".into(), lower(user));
    }
    if let Some(identity) = value.get("identity").filter(|v| v.is_object()) {
        let (kind, id) = identity_kind(identity);
        return (kind.into(), id);
    }
    match value.get("@odata.type").and_then(Value::as_str) {
        Some(t) if t.ends_with("serviceEndpoint") => ("service".into(), None),
        _ => ("unknown".into(), None),
    }
}

/// The kind and id of an identitySet (user, phone, guest, application, …).
fn identity_kind(identity: &Value) -> (&'static str, Option<String>) {
    let id_of = |key: &str| identity.get(key).filter(|v| v.is_object()).map(|v| v.get("id").and_then(Value::as_str));
    if let Some(id) = id_of("user") {
        return ("user", id.map(str::to_ascii_lowercase));
    }
    if let Some(id) = id_of("phone") {
        return ("phone", id.map(str::to_string));
    }
    if let Some(id) = id_of("guest") {
        return ("guest", id.map(str::to_string));
    }
    if let Some(id) = id_of("application").or_else(|| id_of("applicationInstance")) {
        return ("application", id.map(str::to_string));
    }
    ("unknown", None)
}

fn display_name(identity: &Value) -> Option<String> {
    ["user", "phone", "guest", "application", "applicationInstance"]
        .iter()
        .find_map(|k| identity.get(*k).and_then(|v| v.get("displayName")).and_then(Value::as_str))
        .map(str::to_string)
}

fn modalities(value: &Value) -> Vec<String> {
    value
        .get("modalities")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

fn ms(value: &Value, field: &str) -> Option<f64> {
    value.get(field).and_then(Value::as_str).and_then(parse_duration).map(|s| s * 1000.0)
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

/// The record row and its children. `raw` is the record's JSON as it arrived (kept as is); `received_at` stamps
/// the row.
pub fn call_record(
    tenant_id: &str,
    record: &Value,
    raw: &str,
    received_at: NaiveDateTime,
) -> anyhow::Result<(CallRecordRow, NormalisedCall)> {
    let record = super::without_nul(record);
    let record: &Value = &record;
    let id = text(record, "id")?.to_ascii_lowercase();
    let version = record.get("version").and_then(Value::as_i64).ok_or_else(|| anyhow!("call record has no version"))?;
    let start_at = instant(record, "startDateTime")?;
    let end_at = instant(record, "endDateTime")?;
    let call_type = opt_text(record, "type").unwrap_or_else(|| "unknown".into());
    let record_modalities = modalities(record);
    let organizer = record.get("organizer_v2").filter(|v| v.is_object());
    let organizer_key = organizer.and_then(|o| o.get("id")).and_then(Value::as_str).map(str::to_string);
    // The organizer's user id (a participant's id is the user's id for users).
    let organizer_id = organizer
        .and_then(|o| o.get("identity"))
        .and_then(|i| identity_kind(i).1)
        .or_else(|| organizer_key.as_deref().map(str::to_ascii_lowercase));
    let day = start_at.date();
    let tenant = tenant_id.to_string();

    let mut out = NormalisedCall::default();
    let mut participants: BTreeMap<String, CallParticipantRow> = BTreeMap::new();
    let listed = record.get("participants_v2").and_then(Value::as_array).into_iter().flatten();
    for participant in listed.chain(organizer) {
        let identity = participant.get("identity").unwrap_or(&Value::Null);
        let (kind, ident) = identity_kind(identity);
        let Some(key) = participant.get("id").and_then(Value::as_str).map(str::to_string).or_else(|| ident.clone())
        else {
            continue;
        };
        let is_organizer = organizer_key.as_deref() == Some(key.as_str());
        let entry = participants.entry(key.clone()).or_insert_with(|| CallParticipantRow {
            tenant_id: tenant.clone(),
            call_id: id.clone(),
            participant_key: key,
            kind: kind.to_string(),
            user_id: (kind == "user").then(|| ident.clone()).flatten(),
            phone: (kind == "phone").then(|| ident.clone()).flatten(),
            display_name: display_name(identity),
            organizer: false,
        });
        entry.organizer |= is_organizer;
    }
    out.participants = participants.into_values().collect();

    // Per user: the time their sessions cover and the streams of the segments they were an end of.
    let mut user_spans: BTreeMap<String, Vec<(NaiveDateTime, NaiveDateTime)>> = BTreeMap::new();
    let mut user_streams: BTreeMap<String, (i32, i32)> = BTreeMap::new();
    let (mut streams, mut poor_streams) = (0i32, 0i32);
    for session in record.get("sessions").and_then(Value::as_array).into_iter().flatten() {
        let session_id = text(session, "id")?.to_string();
        let (s_start, s_end) = (instant(session, "startDateTime")?, instant(session, "endDateTime")?);
        let (caller_kind, caller_id) = endpoint(session.get("caller").unwrap_or(&Value::Null));
        let (callee_kind, callee_id) = endpoint(session.get("callee").unwrap_or(&Value::Null));
        for (kind, user) in [(&caller_kind, &caller_id), (&callee_kind, &callee_id)] {
            if let (true, Some(user)) = (kind == "user", user) {
                user_spans.entry(user.clone()).or_default().push((s_start, s_end.max(s_start)));
            }
        }
        out.sessions.push(CallSessionRow {
            tenant_id: tenant.clone(),
            call_id: id.clone(),
            session_id: session_id.clone(),
            start_at: s_start,
            end_at: s_end,
            modalities: modalities(session).join(","),
            caller_kind,
            caller_id,
            callee_kind,
            callee_id,
        });
        for segment in session.get("segments").and_then(Value::as_array).into_iter().flatten() {
            let segment_id = text(segment, "id")?.to_string();
            let (caller_kind, caller_id) = endpoint(segment.get("caller").unwrap_or(&Value::Null));
            let (callee_kind, callee_id) = endpoint(segment.get("callee").unwrap_or(&Value::Null));
            let ends: Vec<String> = [(&caller_kind, &caller_id), (&callee_kind, &callee_id)]
                .into_iter()
                .filter(|(k, _)| k.as_str() == "user")
                .filter_map(|(_, id)| id.clone())
                .collect();
            let mut ordinal = 0;
            for media in segment.get("media").and_then(Value::as_array).into_iter().flatten() {
                let label = opt_text(media, "label").unwrap_or_default();
                for stream in media.get("streams").and_then(Value::as_array).into_iter().flatten() {
                    let audio = label.contains("audio") || stream.get("audioCodec").is_some_and(|c| c.is_string());
                    let packets = stream.get("packetUtilization").and_then(Value::as_i64);
                    let loss = stream.get("averagePacketLossRate").and_then(Value::as_f64);
                    let jitter = ms(stream, "averageJitter");
                    let round_trip = ms(stream, "averageRoundTripTime");
                    let poor = if audio { audio_poor(packets, loss, jitter, round_trip) } else { None };
                    streams += 1;
                    poor_streams += i32::from(poor == Some(true));
                    for user in &ends {
                        let entry = user_streams.entry(user.clone()).or_default();
                        entry.0 += 1;
                        entry.1 += i32::from(poor == Some(true));
                    }
                    out.streams.push(CallStreamRow {
                        tenant_id: tenant.clone(),
                        call_id: id.clone(),
                        session_id: session_id.clone(),
                        segment_id: segment_id.clone(),
                        ordinal,
                        media_label: label.clone(),
                        direction: opt_text(stream, "streamDirection").unwrap_or_default(),
                        audio,
                        avg_packet_loss: loss,
                        avg_jitter_ms: jitter,
                        avg_round_trip_ms: round_trip,
                        packet_utilization: packets,
                        poor,
                    });
                    ordinal += 1;
                }
            }
            out.segments.push(CallSegmentRow {
                tenant_id: tenant.clone(),
                call_id: id.clone(),
                session_id: session_id.clone(),
                segment_id,
                start_at: instant(segment, "startDateTime")?,
                end_at: instant(segment, "endDateTime")?,
                caller_kind,
                caller_id,
                callee_kind,
                callee_id,
            });
        }
    }
    out.sessions.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    out.sessions.dedup_by(|a, b| a.session_id == b.session_id);
    out.segments.sort_by(|a, b| (&a.session_id, &a.segment_id).cmp(&(&b.session_id, &b.segment_id)));
    out.segments.dedup_by(|a, b| a.session_id == b.session_id && a.segment_id == b.segment_id);

    let duration_seconds = (end_at - start_at).num_seconds().max(0);
    let pstn = out.participants.iter().any(|p| p.kind == "phone");
    let group = call_type == "groupCall";
    let video = record_modalities.iter().any(|m| m == "video");
    let mut users: Vec<String> = out.participants.iter().filter_map(|p| p.user_id.clone()).collect();
    users.sort();
    users.dedup();
    for user in users {
        let seconds = user_spans.remove(&user).map_or(duration_seconds, covered_seconds);
        let (user_stream_count, user_poor) = user_streams.get(&user).copied().unwrap_or_default();
        out.user_facts.push(CallUserFactRow {
            tenant_id: tenant.clone(),
            call_id: id.clone(),
            user_id: user,
            day,
            group_call: i32::from(group),
            video: i32::from(video),
            pstn: i32::from(pstn),
            seconds,
            streams: user_stream_count,
            poor_streams: user_poor,
        });
    }
    let row = CallRecordRow {
        tenant_id: tenant,
        id,
        version,
        call_type,
        start_at,
        end_at,
        modalities: record_modalities.join(","),
        organizer_id,
        raw: raw.to_string(),
        received_at,
        day: Some(day),
        duration_seconds,
        participants: i32::try_from(out.participants.len()).unwrap_or(i32::MAX),
        pstn,
        streams,
        poor_streams,
    };
    Ok((row, out))
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
