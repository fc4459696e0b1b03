//! What a simulated tenant should come to, computed from the generator's own model (profiles, sign-in ages,
//! subscriptions, calls), never from sua's code: the end-to-end tests of analytics and portal-api compare with it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sua_graph_sim::calls::{self, CallHeader, Party};
use sua_graph_sim::tenant::{LicenceProfile, SignIn, TenantModel};
use sua_graph_sim::{Endpoint, Sim, catalog};

/// Every call of the generated history (all of it lies in the backfill and PSTN windows).
pub fn history(model: &TenantModel, sim: &Sim) -> Vec<CallHeader> {
    let to = sim.now();
    sim.calls_starting(model, to - chrono::Duration::days(5), to)
}

pub fn party_users(model: &TenantModel, call: &CallHeader) -> BTreeSet<String> {
    calls::parties(model, call)
        .into_iter()
        .filter_map(|p| match p {
            Party::User(user) => Some(user.id.clone()),
            Party::Phone(_) => None,
        })
        .collect()
}

/// What the generator built each user to trigger, as `(kind, user, sku)`; seat findings as `(kind, "-", sku)`.
pub fn expected_findings(model: &TenantModel, dialled: &BTreeSet<String>) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    let mut add = |kind: &str, user: &str, sku: &str| out.insert((kind.to_string(), user.to_string(), sku.to_string()));
    let phone_skus = [catalog::MCOEV_SKU.id, catalog::MCOPSTN1_SKU.id, catalog::MCOPSTN2_SKU.id];
    let suites_with_phone = [catalog::SPE_E5.id, catalog::ENTERPRISEPREMIUM.id];
    for index in 0..model.spec.users {
        let user = model.user(index);
        if user.licences.is_empty() {
            continue;
        }
        let skus: Vec<&str> = user.licences.iter().map(|(sku, _)| sku.id).collect();
        if !user.account_enabled {
            skus.iter().for_each(|sku| {
                add("disabled_account", &user.id, sku);
            });
            continue;
        }
        let new_account = user.created > model.clock - chrono::Duration::days(30);
        if !new_account {
            let kind = match user.sign_in {
                SignIn::Never => Some("never_signed_in"),
                SignIn::DaysAgo(days) if days > 90 => Some("inactive_user"),
                SignIn::DaysAgo(_) => None,
            };
            if let Some(kind) = kind {
                skus.iter().for_each(|sku| {
                    add(kind, &user.id, sku);
                });
                continue;
            }
        }
        let redundant = match user.profile {
            LicenceProfile::E5RedundantPhone => Some(catalog::MCOEV_SKU.id),
            LicenceProfile::E5RedundantP1 if model.spec.entra_p1 => Some(catalog::AAD_PREMIUM_SKU.id),
            _ => None,
        };
        if let Some(sku) = redundant {
            add("redundant_licence", &user.id, sku);
        }
        if dialled.contains(&user.id) {
            continue;
        }
        for sku in &skus {
            if Some(*sku) != redundant && phone_skus.contains(sku) {
                add("unused_phone_licence", &user.id, sku);
            }
            if suites_with_phone.contains(sku) {
                add("downgrade_candidate", &user.id, sku);
            }
        }
    }
    for sub in model.subscriptions() {
        if sub.enabled > sub.consumed {
            add("unassigned_seats", "-", sub.sku.id);
        }
        if sub.consumed > sub.enabled + sub.warning {
            add("over_assigned", "-", sub.sku.id);
        }
    }
    out
}

/// Microsoft 365 list prices in US cents per user and month, as the test knows them (independently of the price
/// book sua ships; a change to either shows here).
pub const LIST_PRICES: &[(&str, i64)] = &[
    ("ENTERPRISEPACK", 2_300),
    ("ENTERPRISEPREMIUM", 3_800),
    ("SPE_E3", 3_600),
    ("SPE_E5", 5_700),
    ("O365_BUSINESS_ESSENTIALS", 600),
    ("SPB", 2_200),
    ("MCOEV", 1_000),
    ("MCOPSTN1", 800),
    ("MCOPSTN2", 2_400),
    ("MCOMEETADV", 400),
    ("AAD_PREMIUM", 600),
    ("Microsoft_365_Copilot", 3_000),
];

/// The list price of a catalogue SKU, by id.
pub fn list_price(sku_id: &str) -> i64 {
    let sku =
        catalog::ALL.iter().find(|s| s.id == sku_id).unwrap_or_else(|| panic!("{sku_id} is not in the catalogue"));
    LIST_PRICES
        .iter()
        .find(|(part, _)| *part == sku.part_number)
        .map(|(_, cents)| *cents)
        .unwrap_or_else(|| panic!("no list price for {}", sku.part_number))
}

/// Monthly US cents each expected finding is worth, summed per kind (`over_assigned` is a cost, not a saving).
pub fn expected_money(model: &TenantModel, findings: &BTreeSet<(String, String, String)>) -> BTreeMap<String, i64> {
    let subscription = |sku: &str| model.subscriptions().into_iter().find(|s| s.sku.id == sku);
    let mut money = BTreeMap::new();
    for (kind, _, sku) in findings {
        let amount = match kind.as_str() {
            "downgrade_candidate" if sku == catalog::SPE_E5.id => list_price(sku) - list_price(catalog::SPE_E3.id),
            "downgrade_candidate" => list_price(sku) - list_price(catalog::ENTERPRISEPACK.id),
            "unassigned_seats" => subscription(sku).map_or(0, |s| (s.enabled - s.consumed) as i64) * list_price(sku),
            "over_assigned" => {
                subscription(sku).map_or(0, |s| (s.consumed - s.enabled - s.warning) as i64) * list_price(sku)
            }
            _ => list_price(sku),
        };
        *money.entry(kind.clone()).or_default() += amount;
    }
    money
}

/// `(audio streams, poor audio streams)` of a call, classified from its generated sessions by the Call Quality
/// Dashboard's rule as the test reads it: more than 500 packets, and round trip over 500 ms, packet loss over 10 %
/// or jitter over 30 ms.
pub fn audio_streams(model: &TenantModel, call: &CallHeader) -> (i64, i64) {
    let seconds = |v: &serde_json::Value| {
        v.as_str()
            .and_then(|d| d.strip_prefix("PT"))
            .and_then(|d| d.strip_suffix('S'))
            .and_then(|d| d.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let (mut streams, mut poor) = (0, 0);
    for session in calls::sessions(model, call) {
        for segment in session["segments"].as_array().into_iter().flatten() {
            for media in segment["media"].as_array().into_iter().flatten() {
                if !media["label"].as_str().unwrap_or_default().contains("audio") {
                    continue;
                }
                for stream in media["streams"].as_array().into_iter().flatten() {
                    streams += 1;
                    let packets = stream["packetUtilization"].as_i64().unwrap_or(0);
                    let bad = seconds(&stream["averageRoundTripTime"]) > 0.5
                        || stream["averagePacketLossRate"].as_f64().unwrap_or(0.0) > 0.1
                        || seconds(&stream["averageJitter"]) > 0.03;
                    poor += i64::from(packets > 500 && bad);
                }
            }
        }
    }
    (streams, poor)
}

/// A path as a client sent it (percent-encoded), decoded.
fn percent_decoded(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()))
            .flatten();
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The window of the first request the collector made to a log function for `tenant`: `(fromDateTime,
/// toDateTime)`.
fn log_window(sim: &Sim, tenant: &str, endpoint: Endpoint, function: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let path = sim
        .requests_to(endpoint)
        .into_iter()
        .filter(|r| r.tenant.as_deref() == Some(tenant))
        .map(|r| percent_decoded(&r.path))
        .find(|p| p.contains(&format!("/{function}(")))?;
    let args = path.split_once('(')?.1.trim_end_matches(')');
    let mut at = args.split(',').filter_map(|kv| kv.split_once('=')?.1.trim_matches('\'').parse().ok());
    Some((at.next()?, at.next()?))
}

/// The PSTN and Direct Routing log rows the generator billed for the windows the collector asked Graph for
/// (`getPstnCalls` includes both ends, `getDirectRoutingCalls` excludes `toDateTime`, as Microsoft documents),
/// with the days those windows span; `None` until the collector has asked for both.
pub fn pstn_rows_billed(sim: &Sim, model: &TenantModel) -> Option<(Vec<Value>, (NaiveDate, NaiveDate))> {
    let (pstn_from, pstn_to) = log_window(sim, &model.id, Endpoint::PstnCalls, "getPstnCalls")?;
    let (dr_from, dr_to) = log_window(sim, &model.id, Endpoint::DirectRoutingCalls, "getDirectRoutingCalls")?;
    let mut rows = Vec::new();
    for call in sim.calls_starting(model, pstn_from, pstn_to + chrono::Duration::seconds(1)) {
        if call.start <= pstn_to {
            rows.extend(sua_graph_sim::pstn::pstn_row(model, &call));
        }
    }
    for call in sim.calls_starting(model, dr_from, dr_to) {
        rows.extend(sua_graph_sim::pstn::direct_routing_row(model, &call));
    }
    let days = (pstn_from.min(dr_from).date_naive(), pstn_to.max(dr_to).date_naive());
    Some((rows, days))
}
