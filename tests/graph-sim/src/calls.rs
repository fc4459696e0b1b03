//! Call records, generated on demand from `(tenant, day, slot)`. A day has a fixed number of call slots; a slot
//! holds a call when its organizer can call in Teams. Headers (time, type, PSTN leg) are cheap; the full record
//! with sessions, segments and media streams is built only when someone GETs it.
//!
//! JSON is written from Microsoft's documented shapes (callrecords-callrecord-get.md, callrecords-session-list.md,
//! callrecords-mediastream resource): `organizer_v2`/`participants_v2`, endpoints with `associatedIdentity`
//! (the deprecated `organizer`, `participants` and endpoint `identity` stopped returning data on 2026-06-30 and are
//! not written).

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::ids::{IdKind, IdParts};
use crate::rng::Rng;
use crate::tenant::{SimUser, TenantModel, day_start};

/// The public switched telephone network leg of a call.
#[derive(Debug, Clone, PartialEq)]
pub struct PstnLeg {
    /// True for a call the user dialled out.
    pub outbound: bool,
    pub number: String,
    pub direct_routing: bool,
}

/// What a call is, without its sessions.
#[derive(Debug, Clone)]
pub struct CallHeader {
    pub day: u32,
    pub slot: u32,
    pub id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub group: bool,
    pub organizer: SimUser,
    pub pstn: Option<PstnLeg>,
    pub modalities: Vec<&'static str>,
    /// Number of participants (2 for peer-to-peer).
    pub participants: u32,
    /// Whether the network made this call's audio poor (by the CQD thresholds).
    pub poor_network: bool,
}

/// Call slots on a day: roughly half a call per user on weekdays, a fifth at weekends.
pub fn slots_on_day(tenant: &TenantModel, day: u32, calls_per_user: f64) -> u32 {
    let weekday = (day + 3) % 7; // 1970-01-01 was a Thursday; 0 = Monday
    let factor = if weekday >= 5 { 0.2 } else { 1.0 };
    let mut rng = Rng::for_key(&[tenant.seed, u64::from(tenant.index), 0xca11, u64::from(day)]);
    let jitter = 0.9 + rng.unit() * 0.2;
    (f64::from(tenant.spec.users) * calls_per_user * factor * jitter).round() as u32
}

/// The call in `slot` of `day`, if that slot holds one. `placed_at` moves a freshly placed call to end then.
pub fn header(tenant: &TenantModel, day: u32, slot: u32, placed_at: Option<DateTime<Utc>>) -> Option<CallHeader> {
    let mut rng = Rng::for_key(&[tenant.seed, u64::from(tenant.index), 0xca11, u64::from(day), u64::from(slot)]);
    let users = tenant.spec.users;
    if users < 2 {
        return None;
    }
    let organizer = tenant.user(u32::try_from(rng.below(u64::from(users))).unwrap_or(0));
    if !organizer.can_call() {
        return None;
    }
    let group = rng.chance(0.25);
    let pstn = if !group && organizer.can_call_pstn() && rng.chance(0.45) {
        let outbound = rng.chance(0.7);
        // International numbers only for users whose calling plan includes international calls.
        let international = outbound && organizer.has_plan(&crate::catalog::MCOPSTN2) && rng.chance(0.3);
        let number = if international {
            format!("+44{}", 2_000_000_000 + rng.below(7_000_000_000))
        } else {
            format!("+1{}", 2_000_000_000 + rng.below(7_000_000_000))
        };
        Some(PstnLeg { outbound, number, direct_routing: organizer.direct_routing() })
    } else {
        None
    };
    let participants = if group {
        if rng.chance(0.03) {
            u32::try_from(rng.range(61, 90)).unwrap_or(61)
        } else {
            u32::try_from(rng.range(3, 9)).unwrap_or(3)
        }
    } else {
        2
    };
    let minutes = if group { rng.range(10, 60) } else { rng.range(1, 25) };
    let seconds = minutes * 60 + rng.range(0, 59);
    let (start, end) = match placed_at {
        Some(at) => (at - Duration::seconds(seconds), at),
        None => {
            let start = day_start(day) + Duration::seconds(rng.range(7 * 3600, 19 * 3600));
            (start, start + Duration::seconds(seconds))
        }
    };
    let mut modalities = vec!["audio"];
    if pstn.is_none() && rng.chance(if group { 0.4 } else { 0.15 }) {
        modalities.push("video");
    }
    if group && rng.chance(0.2) {
        modalities.push("screenSharing");
    }
    let poor_network = rng.chance(0.08);
    Some(CallHeader {
        day,
        slot,
        id: tenant.codec.call(tenant.index, day, slot),
        start,
        end,
        group,
        organizer,
        pstn,
        modalities,
        participants,
        poor_network,
    })
}

fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn user_identity(tenant: &TenantModel, user: &SimUser, with_upn: bool) -> Value {
    let mut identity = json!({ "id": user.id, "displayName": user.display_name, "tenantId": tenant.id });
    if with_upn {
        identity["userPrincipalName"] = json!(user.user_principal_name);
    }
    identity
}

/// An identity set naming a user or a phone number (`participants_v2`, `organizer_v2`).
fn identity_set(tenant: &TenantModel, party: &Party) -> Value {
    match party {
        Party::User(user) => json!({ "user": user_identity(tenant, user, true) }),
        Party::Phone(number) => {
            json!({ "user": null, "phone": { "id": number, "displayName": null, "tenantId": null } })
        }
    }
}

/// A participant in a call.
#[derive(Debug, Clone)]
pub enum Party {
    User(Box<SimUser>),
    Phone(String),
}

impl Party {
    fn id(&self) -> &str {
        match self {
            Party::User(user) => &user.id,
            Party::Phone(number) => number,
        }
    }
}

const CLIENTS: &[(&str, &str, &str)] = &[
    ("windows", "teams", "Microsoft Teams Desktop 24295.605.3225.8804"),
    ("macOS", "teams", "Microsoft Teams Mac 24295.605.3225.8804"),
    ("android", "teams", "Microsoft Teams Android 1416/1.0.0.2024"),
    ("iOS", "teams", "Microsoft Teams iOS 6.22.1"),
    ("web", "teams", "Microsoft Teams Web Client"),
];

fn endpoint(tenant: &TenantModel, party: &Party, rng: &mut Rng, pstn_direct_routing: Option<bool>) -> Value {
    match party {
        Party::User(user) => {
            let (platform, family, header) = *rng.pick(CLIENTS);
            let mut endpoint = json!({
                "@odata.type": "#microsoft.graph.callRecords.participantEndpoint",
                "name": format!("{}-PC{}", user.surname.to_uppercase(), user.index % 1000),
                "cpuName": "Intel(R) Core(TM) i7-1185G7 @ 3.00GHz",
                "cpuCoresCount": 8,
                "cpuProcessorSpeedInMhz": 2995,
                "userAgent": {
                    "@odata.type": "#microsoft.graph.callRecords.clientUserAgent",
                    "headerValue": header,
                    "platform": platform,
                    "productFamily": family,
                    "communicationServiceId": null,
                    "azureADAppId": null
                },
                "associatedIdentity": user_identity(tenant, user, true)
            });
            if rng.chance(0.1) {
                endpoint["feedback"] = json!({ "rating": if rng.chance(0.5) { "good" } else { "poor" } });
            }
            endpoint
        }
        Party::Phone(_) => json!({
            "@odata.type": "#microsoft.graph.callRecords.serviceEndpoint",
            "name": if pstn_direct_routing == Some(true) { "sbc1.customer.example" } else { "pstnhub.teams.microsoft.com" },
            "userAgent": {
                "@odata.type": "#microsoft.graph.callRecords.serviceUserAgent",
                "headerValue": "Microsoft.PSTNHub.SIPProxy v.2024.10.1.1",
                "applicationVersion": "2024.10.1.1",
                "role": "mediationServer"
            }
        }),
    }
}

fn conference_endpoint() -> Value {
    json!({
        "@odata.type": "#microsoft.graph.callRecords.serviceEndpoint",
        "name": "MCU",
        "userAgent": {
            "@odata.type": "#microsoft.graph.callRecords.serviceUserAgent",
            "headerValue": "Microsoft.Conferencing.AVMCU 2024.10",
            "applicationVersion": "2024.10",
            "role": "skypeForBusinessAudioVideoMcu"
        }
    })
}

fn duration(seconds: f64) -> String {
    format!("PT{seconds:.3}S")
}

/// Media quality stream values. Poor streams exceed CQD's audio thresholds (packet loss > 10 %, jitter > 30 ms,
/// round trip > 500 ms); good ones stay well inside them.
fn stream(rng: &mut Rng, direction: &str, poor: bool, start: DateTime<Utc>, end: DateTime<Utc>) -> Value {
    let (loss, jitter, rtt) = if poor {
        (0.11 + rng.unit() * 0.1, 0.035 + rng.unit() * 0.05, 0.55 + rng.unit() * 0.4)
    } else {
        (rng.unit() * 0.01, 0.002 + rng.unit() * 0.015, 0.02 + rng.unit() * 0.1)
    };
    json!({
        "streamId": format!("{}", 1_000_000_000 + rng.below(2_000_000_000)),
        "streamDirection": direction,
        "startDateTime": ts(start),
        "endDateTime": ts(end),
        "audioCodec": "satin",
        "videoCodec": null,
        "averageAudioDegradation": if poor { json!(2.1 + rng.unit()) } else { json!(null) },
        "averageJitter": duration(jitter),
        "maxJitter": duration(jitter * 1.6),
        "averagePacketLossRate": loss,
        "maxPacketLossRate": (loss * 2.5).min(1.0),
        "averageRatioOfConcealedSamples": if poor { json!(0.07) } else { json!(0.001) },
        "maxRatioOfConcealedSamples": if poor { json!(0.2) } else { json!(0.01) },
        "averageRoundTripTime": duration(rtt),
        "maxRoundTripTime": duration(rtt * 1.4),
        "packetUtilization": 700 + rng.below(5000),
        "averageBandwidthEstimate": 9_000_000 + rng.below(6_000_000),
        "wasMediaBypassed": false,
        "averageAudioNetworkJitter": duration(jitter * 2.0),
        "maxAudioNetworkJitter": duration(jitter * 3.0),
        "rmsFreezeDuration": null,
        "averageFreezeDuration": null,
        "isAudioForwardErrorCorrectionUsed": poor
    })
}

fn network(rng: &mut Rng) -> Value {
    let wifi = rng.chance(0.5);
    json!({
        "ipAddress": format!("10.{}.{}.{}", rng.below(255), rng.below(255), 1 + rng.below(250)),
        "subnet": "10.150.0.0",
        "linkSpeed": if wifi { 54_000_000 } else { 1_000_000_000 },
        "connectionType": if wifi { "wifi" } else { "wired" },
        "port": 50_000 + rng.below(10_000),
        "reflexiveIPAddress": "203.0.113.7",
        "relayIPAddress": "52.114.188.32",
        "relayPort": 3478,
        "macAddress": "00-00-00-00-00-00",
        "dnsSuffix": null,
        "sentQualityEventRatio": 0,
        "receivedQualityEventRatio": 0,
        "delayEventRatio": 0,
        "bandwidthLowEventRatio": 0
    })
}

fn device() -> Value {
    json!({
        "captureDeviceName": "Microphone (Jabra Evolve2 65)",
        "renderDeviceName": "Speakers (Jabra Evolve2 65)",
        "receivedSignalLevel": -10,
        "receivedNoiseLevel": -68,
        "initialSignalLevelRootMeanSquare": 60.25,
        "renderZeroVolumeEventRatio": 0,
        "renderMuteEventRatio": 0,
        "micGlitchRate": 23,
        "speakerGlitchRate": 30
    })
}

/// Everyone in the call, organizer first.
pub fn parties(tenant: &TenantModel, call: &CallHeader) -> Vec<Party> {
    let mut rng =
        Rng::for_key(&[tenant.seed, u64::from(tenant.index), 0x9a27, u64::from(call.day), u64::from(call.slot)]);
    let mut parties = vec![Party::User(Box::new(call.organizer.clone()))];
    if let Some(leg) = &call.pstn {
        parties.push(Party::Phone(leg.number.clone()));
        return parties;
    }
    let mut seen = vec![call.organizer.index];
    while parties.len() < call.participants as usize {
        let other = tenant
            .pick_user(&mut rng, |u| u.can_call() && !seen.contains(&u.index))
            .or_else(|| tenant.pick_user(&mut rng, |u| !seen.contains(&u.index)));
        match other {
            Some(user) => {
                seen.push(user.index);
                parties.push(Party::User(Box::new(user)));
            }
            None => break,
        }
    }
    parties
}

fn sub_id(tenant: &TenantModel, kind: IdKind, call: &CallHeader, sub: u32) -> String {
    // Unique across the tenant: day, slot (24 bits) and a sub-index (8 bits; a call has at most 90 sessions).
    tenant.codec.encode(IdParts { kind, tenant: tenant.index, day: call.day, index: (call.slot << 8) | (sub & 0xFF) })
}

/// Every session of the call, in order, with segments and media.
pub fn sessions(tenant: &TenantModel, call: &CallHeader) -> Vec<Value> {
    let mut rng =
        Rng::for_key(&[tenant.seed, u64::from(tenant.index), 0x5e55, u64::from(call.day), u64::from(call.slot)]);
    let parties = parties(tenant, call);
    let direct_routing = call.pstn.as_ref().map(|leg| leg.direct_routing);
    let mut out = Vec::new();
    let pairs: Vec<(Value, Value)> = if call.group {
        parties.iter().map(|p| (endpoint(tenant, p, &mut rng, None), conference_endpoint())).collect()
    } else {
        let first = endpoint(tenant, &parties[0], &mut rng, direct_routing);
        let second = parties.get(1).map_or_else(conference_endpoint, |p| endpoint(tenant, p, &mut rng, direct_routing));
        let inbound = call.pstn.as_ref().is_some_and(|leg| !leg.outbound);
        let pair = if inbound { (second, first) } else { (first, second) };
        // A peer-to-peer call sometimes reconnects: a second session with the same endpoints.
        if rng.chance(0.1) { vec![pair.clone(), pair] } else { vec![pair] }
    };
    let count = pairs.len() as i64;
    let span = (call.end - call.start).num_seconds().max(1);
    for (n, (caller, callee)) in pairs.into_iter().enumerate() {
        let n = n as i64;
        let (start, end) = if call.group {
            let join = call.start + Duration::seconds(rng.range(0, span / 5));
            let leave = call.end - Duration::seconds(rng.range(0, span / 5));
            (join, leave.max(join + Duration::seconds(1)))
        } else {
            (call.start + Duration::seconds(span * n / count), call.start + Duration::seconds(span * (n + 1) / count))
        };
        let poor = call.poor_network && (n == 0 || rng.chance(0.5));
        let mut media = vec![json!({
            "label": "main-audio",
            "callerNetwork": network(&mut rng),
            "calleeNetwork": network(&mut rng),
            "callerDevice": device(),
            "calleeDevice": device(),
            "streams": [stream(&mut rng, "callerToCallee", poor, start, end), stream(&mut rng, "calleeToCaller", poor, start, end)]
        })];
        if call.modalities.contains(&"video") {
            media.push(json!({
                "label": "main-video",
                "callerNetwork": network(&mut rng),
                "calleeNetwork": network(&mut rng),
                "streams": [stream(&mut rng, "callerToCallee", false, start, end)]
            }));
        }
        let session_id =
            if !call.group && n == 0 { call.id.clone() } else { sub_id(tenant, IdKind::Session, call, n as u32) };
        let segment = json!({
            "id": sub_id(tenant, IdKind::Segment, call, n as u32),
            "startDateTime": ts(start),
            "endDateTime": ts(end),
            "caller": caller,
            "callee": callee,
            "failureInfo": null,
            "media": media
        });
        out.push(json!({
            "id": session_id,
            "modalities": call.modalities,
            "startDateTime": ts(start),
            "endDateTime": ts(end),
            "isTest": false,
            "failureInfo": null,
            "caller": segment["caller"].clone(),
            "callee": segment["callee"].clone(),
            "segments": [segment]
        }));
    }
    out
}

/// The callRecord entity without relationships (what LIST returns), at `version`.
pub fn record(tenant: &TenantModel, call: &CallHeader, version: i64) -> Value {
    let organizer = Party::User(Box::new(call.organizer.clone()));
    let last_modified = call.end + Duration::minutes(10 + 5 * (version - 1));
    json!({
        "id": call.id,
        "version": version,
        "type": if call.group { "groupCall" } else { "peerToPeer" },
        "modalities": call.modalities,
        "lastModifiedDateTime": ts(last_modified),
        "startDateTime": ts(call.start),
        "endDateTime": ts(call.end),
        "joinWebUrl": if call.group {
            json!(format!("https://teams.microsoft.com/l/meetup-join/19%3ameeting_{}%40thread.v2/0", call.id))
        } else {
            json!(null)
        },
        "organizer_v2": { "id": organizer.id(), "identity": identity_set(tenant, &organizer) }
    })
}

/// The record at `version` with every session and participant in one document: what a client holds after
/// following every `sessions@odata.nextLink` and reading `participants_v2` to the end.
pub fn full_record(tenant: &TenantModel, call: &CallHeader, version: i64) -> Value {
    let mut full = record(tenant, call, version);
    full["sessions"] = Value::Array(sessions(tenant, call));
    full["participants_v2"] = Value::Array(participants(tenant, call));
    full
}

/// `participants_v2` entries.
pub fn participants(tenant: &TenantModel, call: &CallHeader) -> Vec<Value> {
    parties(tenant, call).iter().map(|p| json!({ "id": p.id(), "identity": identity_set(tenant, p) })).collect()
}
