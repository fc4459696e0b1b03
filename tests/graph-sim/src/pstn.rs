//! PSTN (`getPstnCalls`) and Direct Routing (`getDirectRoutingCalls`) log rows, one per PSTN call header, in the
//! field set of Microsoft's examples (callrecords-callrecord-getpstncalls.md, …-getdirectroutingcalls.md).

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::calls::CallHeader;
use crate::catalog;
use crate::ids::{IdKind, IdParts};
use crate::rng::Rng;
use crate::tenant::TenantModel;

fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Per-minute price of an international call on the Domestic and International Calling Plan (USD, simulated).
pub const INTERNATIONAL_RATE_PER_MINUTE: f64 = 0.08;

/// The charge Microsoft bills for a call (domestic minutes are included in the plans).
pub fn charge(call: &CallHeader) -> f64 {
    match &call.pstn {
        Some(leg) if leg.outbound && leg.number.starts_with("+44") => {
            let minutes = ((call.end - call.start).num_seconds() as f64 / 60.0).ceil();
            (minutes * INTERNATIONAL_RATE_PER_MINUTE * 100.0).round() / 100.0
        }
        _ => 0.0,
    }
}

/// A `pstnCallLogRow` for a calling-plan call.
pub fn pstn_row(tenant: &TenantModel, call: &CallHeader) -> Option<Value> {
    let leg = call.pstn.as_ref().filter(|leg| !leg.direct_routing)?;
    let user = &call.organizer;
    let duration = (call.end - call.start).num_seconds();
    let capability = if user.has_plan(&catalog::MCOPSTN2) { "MCOPSTN2" } else { "MCOPSTN1" };
    let own = tenant.phone_number(user);
    let (caller, callee) = if leg.outbound { (own, leg.number.clone()) } else { (leg.number.clone(), own) };
    let destination = if leg.number.starts_with("+44") { "United Kingdom" } else { "United States" };
    Some(json!({
        "id": tenant.codec.encode(IdParts { kind: IdKind::PstnRow, tenant: tenant.index, day: call.day, index: call.slot }),
        "callId": format!("{}_{}@52.112.0.{}", call.slot, call.day, call.slot % 250),
        "userId": user.id,
        "userPrincipalName": user.user_principal_name,
        "userDisplayName": user.display_name,
        "startDateTime": ts(call.start),
        "endDateTime": ts(call.end),
        "duration": duration,
        "charge": charge(call),
        "callType": if leg.outbound { "user_out" } else { "user_in" },
        "currency": "USD",
        "calleeNumber": callee,
        "usageCountryCode": user.usage_location,
        "tenantCountryCode": "IE",
        "connectionCharge": 0.0,
        "callerNumber": caller,
        "destinationContext": null,
        "destinationName": destination,
        "conferenceId": null,
        "licenseCapability": capability,
        "inventoryType": "Subscriber",
        "operator": "Microsoft",
        "callDurationSource": "microsoft"
    }))
}

fn masked(number: &str) -> String {
    let keep = number.len().saturating_sub(3);
    format!("{}***", &number[..keep])
}

/// A `directRoutingLogRow` for a call through the customer's own SBC.
pub fn direct_routing_row(tenant: &TenantModel, call: &CallHeader) -> Option<Value> {
    let leg = call.pstn.as_ref().filter(|leg| leg.direct_routing)?;
    let user = &call.organizer;
    let mut rng =
        Rng::for_key(&[tenant.seed, u64::from(tenant.index), 0xd12, u64::from(call.day), u64::from(call.slot)]);
    let own = tenant.phone_number(user);
    let (caller, callee) = if leg.outbound { (own, leg.number.clone()) } else { (leg.number.clone(), own) };
    Some(json!({
        "id": tenant.codec.encode(IdParts { kind: IdKind::DirectRoutingRow, tenant: tenant.index, day: call.day, index: call.slot }),
        "correlationId": tenant.codec.encode(IdParts { kind: IdKind::RequestId, tenant: tenant.index, day: call.day, index: call.slot }),
        "userId": user.id,
        "userPrincipalName": user.user_principal_name,
        "userDisplayName": user.display_name,
        "startDateTime": ts(call.start),
        "inviteDateTime": ts(call.start - Duration::seconds(3)),
        "failureDateTime": "0001-01-01T00:00:00Z",
        "endDateTime": ts(call.end),
        "duration": (call.end - call.start).num_seconds(),
        "callType": if leg.outbound { "ByotOut" } else { "ByotIn" },
        "successfulCall": true,
        "callerNumber": masked(&caller),
        "calleeNumber": masked(&callee),
        "mediaPathLocation": "EUWE",
        "signalingLocation": "EUNO",
        "finalSipCode": 0,
        "callEndSubReason": 540_000 + rng.below(10),
        "finalSipCodePhrase": "BYE",
        "trunkFullyQualifiedDomainName": "sbc1.customer.example",
        "mediaBypassEnabled": false
    }))
}
