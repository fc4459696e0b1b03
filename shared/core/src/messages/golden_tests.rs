//! The wire format is a contract with every running consumer: these tests fail when it changes.
//! After an intended change (which should be a new kind), regenerate with `TEST_SUA_BLESS=1 cargo test -p sua-core golden`
//! (the blessing run rewrites the files and fails, so it can never pass unnoticed; review the diff, then run again).

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{NaiveDate, TimeZone, Utc};
use serde_json::json;
use uuid::Uuid;

use super::*;

fn sample<P: Payload>(payload: &P) -> Envelope {
    let mut envelope = Envelope::new("9c5e2b0a-41d4-4b8e-a7d5-3a2f0c1b7e11", None, payload).unwrap();
    envelope.id = Uuid::parse_str("6f1c1e0e-6a52-4c55-9d0e-0d8b9e6f4a21").unwrap();
    envelope.run_id = Some(Uuid::parse_str("0b7a4c8e-2f33-4d0b-8c1e-5b9f7d6a3c10").unwrap());
    envelope.occurred_at = Utc.with_ymd_and_hms(2026, 11, 25, 6, 30, 0).unwrap();
    envelope
}

fn samples() -> Vec<Envelope> {
    let day = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    let from = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap();
    let published = |messages, records| PartSummary { status: PartStatus::Published, messages, records, reason: None };
    vec![
        sample(&CallRecordV1(json!({
            "id": "e523d2ed-2966-4b6b-925b-754a88034cc5", "version": 1, "type": "peerToPeer",
            "modalities": ["audio"], "startDateTime": "2026-11-24T18:52:21.2169889Z",
            "endDateTime": "2026-11-24T18:52:46.7640013Z",
            "sessions": [{"id": "e523d2ed-2966-4b6b-925b-754a88034cc5", "segments": []}]
        }))),
        sample(&LicenceSkusV1 {
            body: json!({"value": [{"skuId": "c7df2760-2c81-4ef7-b578-5b5392b571df",
            "skuPartNumber": "ENTERPRISEPREMIUM", "consumedUnits": 14,
            "prepaidUnits": {"enabled": 25, "lockedOut": 0, "suspended": 0, "warning": 0}}]}),
        }),
        sample(&LicenceUsersV1 {
            page: 1,
            sign_in_activity: true,
            body: json!({"value": [{"id": "821809f5-0000-0000-0000-000000000001",
            "userPrincipalName": "AdeleV@contoso.com", "assignedLicenses": []}],
            "@odata.nextLink": "https://graph.microsoft.com/v1.0/users?$skiptoken=X"}),
        }),
        sample(&TeamsActivityReportV1 {
            period: "D30".into(),
            page: 1,
            rows: 1,
            csv: "Report Refresh Date,User Id\n2026-11-24,821809f5-0000-0000-0000-000000000001\n".into(),
        }),
        sample(&PstnCallsV1 {
            source: PstnSource::Pstn,
            from,
            to: from + chrono::Duration::days(1),
            page: 1,
            body: json!({"value": [{"id": "9c4984c7-0000-0000-0000-000000000001", "duration": 219, "charge": 0.0, "currency": "USD"}]}),
        }),
        sample(&SyncCompletedV1 {
            day,
            parts: SyncParts {
                skus: published(1, 3),
                users: published(2, 742),
                teams_activity: PartSummary {
                    status: PartStatus::Skipped,
                    messages: 0,
                    records: 0,
                    reason: Some("Reports.Read.All missing".into()),
                },
            },
            sign_in_activity: true,
            concealed_names: None,
        }),
        sample(&TenantConsentedV1 {
            display_name: Some("Contoso".into()),
            consented_at: from,
            permissions: BTreeMap::from([
                ("User.Read.All".to_string(), PermissionState::Granted),
                ("AuditLog.Read.All".to_string(), PermissionState::Missing),
            ]),
            entra_id_p1: Some(true),
        }),
        sample(&LicenceSyncJobV1 { day, reason: "consent".into() }),
        sample(&CallRecordFetchJobV1 {
            calls: vec![
                CallToFetch { id: "e523d2ed-2966-4b6b-925b-754a88034cc5".into(), change_type: "created".into() },
                CallToFetch { id: "7f105c7d-2dc5-4530-97cd-4e7ae6534c07".into(), change_type: "updated".into() },
            ],
        }),
        sample(&SubscriptionEnsureJobV1 { reason: "reauthorizationRequired".into(), renew: true }),
        sample(&CallRecordBackfillJobV1 { backfill_id: "2d1f0c4e-8b7a-4a55-9e0f-6a1b2c3d4e5f".into() }),
        sample(&PstnSyncJobV1 { day, reason: "schedule".into() }),
    ]
}

fn golden_path(kind: Kind) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden").join(format!("{}.json", kind.as_str()))
}

#[test]
fn every_kind_has_a_golden_sample() {
    let kinds: Vec<Kind> = samples().iter().map(|e| e.kind).collect();
    assert_eq!(kinds, Kind::ALL.to_vec());
}

#[test]
fn wire_format_matches_the_golden_files() {
    let bless = std::env::var_os("TEST_SUA_BLESS").is_some_and(|v| v == "1");
    let mut rewritten = Vec::new();
    for envelope in samples() {
        // Compared as pretty JSON of the parsed wire bytes, so nested payload fields are readable in review.
        let wire: serde_json::Value = serde_json::from_slice(&envelope.to_vec().unwrap()).unwrap();
        let actual = format!("{}\n", serde_json::to_string_pretty(&wire).unwrap());
        let path = golden_path(envelope.kind);
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        if bless {
            if actual != expected {
                std::fs::write(&path, &actual).unwrap();
                rewritten.push(envelope.kind.as_str());
            }
            continue;
        }
        assert!(!expected.is_empty(), "{} missing; run with TEST_SUA_BLESS=1 to create it", path.display());
        assert_eq!(actual, expected, "wire format of {} changed; a changed shape needs a new kind", envelope.kind);
    }
    assert!(!bless, "TEST_SUA_BLESS=1 rewrote {rewritten:?}: review the diff and run again without it");
}

#[test]
fn golden_files_decode_into_their_payload_types() {
    fn roundtrip<P: Payload + PartialEq + std::fmt::Debug>(kind: Kind) {
        let text = std::fs::read_to_string(golden_path(kind)).unwrap();
        let envelope = Envelope::from_slice(text.as_bytes()).unwrap();
        assert_eq!(envelope.kind, kind);
        let payload: P = envelope.decode().unwrap();
        let again = serde_json::to_value(&payload).unwrap();
        let original: serde_json::Value = serde_json::from_str(envelope.payload.get()).unwrap();
        assert_eq!(again, original, "{kind} payload does not round-trip");
    }
    roundtrip::<CallRecordV1>(Kind::CallRecordV1);
    roundtrip::<LicenceSkusV1>(Kind::LicenceSkusV1);
    roundtrip::<LicenceUsersV1>(Kind::LicenceUsersV1);
    roundtrip::<TeamsActivityReportV1>(Kind::TeamsActivityReportV1);
    roundtrip::<PstnCallsV1>(Kind::PstnCallsV1);
    roundtrip::<SyncCompletedV1>(Kind::SyncCompletedV1);
    roundtrip::<TenantConsentedV1>(Kind::TenantConsentedV1);
    roundtrip::<LicenceSyncJobV1>(Kind::LicenceSyncJobV1);
    roundtrip::<CallRecordFetchJobV1>(Kind::CallRecordFetchJobV1);
    roundtrip::<SubscriptionEnsureJobV1>(Kind::SubscriptionEnsureJobV1);
    roundtrip::<CallRecordBackfillJobV1>(Kind::CallRecordBackfillJobV1);
    roundtrip::<PstnSyncJobV1>(Kind::PstnSyncJobV1);
}

#[test]
fn a_payload_of_another_kind_is_refused() {
    let envelope = sample(&LicenceSkusV1 { body: json!({"value": []}) });
    let err = envelope.decode::<LicenceUsersV1>().unwrap_err();
    assert!(matches!(err, MessageError::WrongKind { .. }), "{err}");
}

#[test]
fn an_unknown_kind_or_missing_field_is_an_envelope_error() {
    let body = br#"{"id":"6f1c1e0e-6a52-4c55-9d0e-0d8b9e6f4a21","kind":"callrecord.v9","tenant_id":"t","occurred_at":"2026-11-25T06:30:00Z","payload":{}}"#;
    assert!(matches!(Envelope::from_slice(body), Err(MessageError::Envelope(_))));
    let body = br#"{"id":"6f1c1e0e-6a52-4c55-9d0e-0d8b9e6f4a21","kind":"callrecord.v1","occurred_at":"2026-11-25T06:30:00Z","payload":{}}"#;
    assert!(matches!(Envelope::from_slice(body), Err(MessageError::Envelope(_))));
}

#[test]
fn kind_names_are_their_serde_names() {
    for kind in Kind::ALL {
        assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
    }
}
