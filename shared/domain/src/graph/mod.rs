//! Facts about Microsoft Graph that more than one service needs.

/// `https://graph.microsoft.com/v1.0` → `https://graph.microsoft.com/.default`: the scope an app-only token for
/// Graph asks for (the resource's origin; national clouds and the simulator have their own).
pub fn graph_scope(graph_url: &str) -> String {
    match url::Url::parse(graph_url) {
        Ok(url) => format!("{}/.default", url.origin().ascii_serialization()),
        Err(_) => "https://graph.microsoft.com/.default".to_string(),
    }
}

pub mod call_records;
pub mod directory;
pub mod notifications;
pub mod pstn;
mod time;

pub use time::{Instant, instant_or_none};

/// Microsoft's documented example payloads (copied in `tests/graph-sim/fixtures/`) read into these types: a field
/// misnamed here would read as absent and fail these tests.
#[cfg(test)]
mod examples {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use serde::de::DeserializeOwned;

    use super::call_records::{CallRecord, EndpointKind, PartyKind, Session};
    use super::directory::{Page, SubscribedSku, User};
    use super::notifications::{NotificationCollection, Subscription};
    use super::pstn::CallLogRow;

    const FIXTURES: &str = "../../tests/graph-sim/fixtures";

    /// Parsed as a JSON value first, as sua receives every payload (a repeated key keeps its last value).
    fn example<T: DeserializeOwned>(file: &str) -> T {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURES).join(file);
        let value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        serde_json::from_value(value).unwrap_or_else(|e| panic!("{file}: {e}"))
    }

    #[test]
    fn a_call_record_with_its_sessions_organizer_and_streams() {
        let record: CallRecord = example("callrecord-get-expanded.json");
        assert_eq!(record.version, 1);
        assert_eq!(record.call_type.as_deref(), Some("peerToPeer"));
        assert!(record.modalities.contains(&"audio".to_string()));
        assert!(record.end_date_time > record.start_date_time);
        let organizer = record.organizer.as_ref().and_then(|o| o.identity.as_ref()).unwrap();
        assert_eq!(organizer.party().0, PartyKind::User);
        let session = &record.sessions[0];
        assert_eq!(session.caller.as_ref().unwrap().who().0, EndpointKind::Party(PartyKind::User));
        // Microsoft shortened the example's streams to a few metrics.
        let stream = &session.segments[0].media[0].streams[0];
        assert_eq!(stream.stream_direction.as_deref(), Some("callerToCallee"));
        assert_eq!(stream.average_jitter.as_deref(), Some("PT0.016S"));
    }

    #[test]
    fn participants_and_session_pages() {
        let record: CallRecord = example("callrecord-get-participants.json");
        assert!(record.organizer.is_some());
        let sessions: Page<Session> = example("callrecord-sessions-expanded.json");
        assert!(sessions.next_link.is_some() && !sessions.value[0].segments.is_empty());
        let list: Page<CallRecord> = example("callrecords-list.json");
        assert!(!list.value.is_empty());
    }

    #[test]
    fn skus_and_users_with_sign_in_activity() {
        let skus: Page<SubscribedSku> = example("subscribedsku-list.json");
        let sku = &skus.value[0];
        assert!(!sku.sku_part_number.is_empty() && !sku.service_plans.is_empty());
        assert!(sku.prepaid_units.enabled > 0);
        let users: Page<User> = example("user-list-signinactivity.json");
        let activity = users.value[0].sign_in_activity.as_ref().unwrap();
        // The example shows "never" as "" and as 0001-01-01: both read as absent.
        assert!(activity.last_sign_in_date_time.is_some());
        assert!(activity.last_non_interactive_sign_in_date_time.is_none());
        let licensed: Page<User> = example("user-list-assignedlicenses.json");
        assert!(licensed.value.iter().any(|u| !u.assigned_licenses.is_empty()));
    }

    #[test]
    fn pstn_and_direct_routing_rows() {
        let pstn: Page<CallLogRow> = example("getpstncalls.json");
        assert_eq!((pstn.value[0].duration, pstn.value[0].currency.as_deref()), (Some(219), Some("USD")));
        assert!(pstn.value[0].charge.is_some() && pstn.next_link.is_some());
        let direct: Page<CallLogRow> = example("getdirectroutingcalls.json");
        assert!(direct.value[0].charge.is_none() && direct.value[0].end_date_time.is_some());
    }

    #[test]
    fn a_notification_and_a_subscription() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURES).join("callrecords-notification.json"),
        )
        .unwrap();
        let notifications: NotificationCollection<'_> = serde_json::from_str(&text).unwrap();
        let n = &notifications.value[0];
        assert_eq!(n.change_type.as_deref(), Some("created"));
        assert_eq!(n.resource.as_deref(), Some("communications/callRecords/{Call id}"));
        assert_eq!(n.resource_data.as_ref().and_then(|r| r.id.as_deref()), Some("{Call id}"));
        assert!(n.client_state.is_some() && n.tenant_id.is_some() && n.lifecycle_event.is_none());
        let subscription: Subscription = example("subscription-create.json");
        assert!(!subscription.id.is_empty() && !subscription.expiration_date_time.is_empty());
    }
}
