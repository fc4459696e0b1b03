//! Behaviour of the database layer on both backends.

use chrono::{Duration, NaiveDate};
use diesel::prelude::*;

use crate::models::{
    BackfillRow, CallRecordFetchRow, CallRecordRow, InvitationRow, StartOutcome, SubscriptionRow, SyncRunRow,
    TenantRow, rate_limits,
};
use crate::schema::{backfills, call_records, callrecord_fetches, invitations, subscriptions, sync_runs, tenants};
use crate::testing::TestDatabase;
use crate::{Conn, DbError, Pool, now};

fn backends() -> Vec<(&'static str, TestDatabase)> {
    vec![("postgres", TestDatabase::postgres().unwrap()), ("sqlite", TestDatabase::sqlite().unwrap())]
}

fn with_each_backend(test: impl Fn(&str, &mut Conn<'_>)) {
    for (name, db) in backends() {
        let pool = db.pool().unwrap();
        let mut pooled = pool.get().unwrap();
        test(name, &mut pooled.conn());
    }
}

fn tenant(id: &str) -> TenantRow {
    let at = now();
    TenantRow {
        id: id.into(),
        display_name: "Contoso".into(),
        consent_state: crate::states::ConsentState::Granted,
        permissions: "{}".into(),
        prerequisites: "{}".into(),
        consented_at: Some(at),
        created_at: at,
        updated_at: at,
        invitation_id: None,
        feed_state: crate::states::FeedState::NotCollected,
        feed_since: None,
        feed_error: None,
    }
}

#[test]
fn schema_matches_both_backends() {
    with_each_backend(|backend, conn| {
        let result: Result<(), DbError> = (|| {
            with_conn!(&mut *conn, |c| tenants::table.select(TenantRow::as_select()).limit(0).load(c))?;
            with_conn!(&mut *conn, |c| sync_runs::table.select(SyncRunRow::as_select()).limit(0).load(c))?;
            with_conn!(&mut *conn, |c| subscriptions::table.select(SubscriptionRow::as_select()).limit(0).load(c))?;
            with_conn!(&mut *conn, |c| call_records::table.select(CallRecordRow::as_select()).limit(0).load(c))?;
            with_conn!(&mut *conn, |c| invitations::table.select(InvitationRow::as_select()).limit(0).load(c))?;
            with_conn!(&mut *conn, |c| callrecord_fetches::table
                .select(CallRecordFetchRow::as_select())
                .limit(0)
                .load(c))?;
            with_conn!(&mut *conn, |c| backfills::table.select(BackfillRow::as_select()).limit(0).load(c))?;
            analytics_tables_load(conn)?;
            let key = crate::models::installation::get(conn, crate::models::installation::STATE_SIGNING_KEY)?;
            assert!(key.is_some_and(|k| k.len() == 64), "{backend}: migrate makes the installation's signing key");
            with_conn!(&mut *conn, |c| crate::schema::audit_log::table
                .select(crate::models::AuditRow::as_select())
                .limit(0)
                .load(c))?;
            Ok(())
        })();
        result.unwrap_or_else(|e| panic!("schema.rs disagrees with the {backend} migrations: {e}"));
    });
}

#[test]
fn migrations_are_idempotent() {
    for (_, db) in backends() {
        let report = crate::migrate(&db.url()).unwrap();
        assert!(report.applied.is_empty(), "a migrated database had pending migrations: {:?}", report.applied);
    }
}

#[test]
fn tenants_upsert_keeps_created_at_and_updates_the_rest() {
    with_each_backend(|backend, conn| {
        let mut row = tenant("t1");
        TenantRow::upsert(conn, &row).unwrap();
        let created = row.created_at;
        row.consent_state = crate::states::ConsentState::Revoked;
        row.created_at = created + Duration::days(1);
        row.updated_at = created + Duration::days(1);
        TenantRow::upsert(conn, &row).unwrap();
        let stored = TenantRow::find(conn, "t1").unwrap().unwrap();
        assert_eq!(stored.consent_state, crate::states::ConsentState::Revoked, "{backend}");
        assert_eq!(stored.created_at, created, "{backend}");
        assert_eq!(TenantRow::list(conn).unwrap().len(), 1, "{backend}");
    });
}

fn record(version: i64, raw: &str) -> CallRecordRow {
    let at = now();
    CallRecordRow {
        tenant_id: "t1".into(),
        id: "call-1".into(),
        version,
        call_type: "peerToPeer".into(),
        start_at: at,
        end_at: at,
        modalities: "audio".into(),
        organizer_id: None,
        raw: raw.into(),
        received_at: at,
        day: Some(at.date()),
        duration_seconds: 0,
        participants: 0,
        pstn: false,
        streams: 0,
        poor_streams: 0,
    }
}

#[test]
fn call_records_keep_only_the_newest_version() {
    with_each_backend(|backend, conn| {
        assert!(CallRecordRow::upsert_newest(conn, &record(1, "v1")).unwrap(), "{backend}");
        assert!(CallRecordRow::upsert_newest(conn, &record(3, "v3")).unwrap(), "{backend}");
        assert!(!CallRecordRow::upsert_newest(conn, &record(2, "v2")).unwrap(), "{backend}: older version applied");
        assert!(!CallRecordRow::upsert_newest(conn, &record(3, "v3 again")).unwrap(), "{backend}: replay applied");
        let stored = CallRecordRow::find(conn, "t1", "call-1").unwrap().unwrap();
        assert_eq!((stored.version, stored.raw.as_str()), (3, "v3"), "{backend}");
        assert_eq!(CallRecordRow::count_for_tenant(conn, "t1").unwrap(), 1);
    });
}

#[test]
fn a_days_sync_run_starts_once_and_a_failed_one_is_retried_with_a_new_run_id() {
    with_each_backend(|backend, conn| {
        TenantRow::upsert(conn, &tenant("t1")).unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let t0 = now();
        let stale = t0 - Duration::minutes(10);
        let first = SyncRunRow::start(conn, "t1", "licence", day, "run-1", t0, stale).unwrap();
        assert!(
            matches!(first, StartOutcome::Started(ref r) if r.id == "run-1" && r.attempt == 1),
            "{backend}: {first:?}"
        );
        let second = SyncRunRow::start(conn, "t1", "licence", day, "run-2", t0, stale).unwrap();
        assert!(matches!(second, StartOutcome::AlreadyRunning(ref r) if r.id == "run-1"), "{backend}: {second:?}");

        assert!(SyncRunRow::fail(conn, "run-1", "graph returned 503", t0).unwrap());
        let retry = SyncRunRow::start(conn, "t1", "licence", day, "run-3", t0, stale).unwrap();
        assert!(
            matches!(retry, StartOutcome::Started(ref r) if r.id == "run-3" && r.attempt == 2 && r.error.is_none()),
            "{backend}: {retry:?}"
        );
        assert!(!SyncRunRow::complete(conn, "run-1", "{}", t0).unwrap(), "{backend}: a superseded attempt completed");
        assert!(SyncRunRow::complete(conn, "run-3", "{\"users\":3}", t0).unwrap());
        let again = SyncRunRow::start(conn, "t1", "licence", day, "run-4", t0, stale).unwrap();
        assert!(matches!(again, StartOutcome::AlreadyCompleted(ref r) if r.id == "run-3"), "{backend}: {again:?}");
        assert_eq!(SyncRunRow::latest(conn, "t1", "licence").unwrap().unwrap().status, "completed");
    });
}

#[test]
fn a_run_whose_worker_stopped_heartbeating_is_taken_over() {
    with_each_backend(|backend, conn| {
        TenantRow::upsert(conn, &tenant("t1")).unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let t0 = now();
        SyncRunRow::start(conn, "t1", "licence", day, "run-1", t0 - Duration::hours(1), t0).unwrap();
        let takeover = SyncRunRow::start(conn, "t1", "licence", day, "run-2", t0, t0 - Duration::minutes(10)).unwrap();
        assert!(matches!(takeover, StartOutcome::Started(ref r) if r.id == "run-2"), "{backend}: {takeover:?}");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_starts_of_the_same_run_let_exactly_one_through() {
    for (backend, db) in backends() {
        let pool: Pool = db.pool().unwrap();
        pool.run(|conn| TenantRow::upsert(conn, &tenant("t1"))).await.unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let attempts = (0..8).map(|i| {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.transaction(move |conn| {
                    let t = now();
                    SyncRunRow::start(conn, "t1", "licence", day, &format!("run-{i}"), t, t - Duration::minutes(10))
                })
                .await
            })
        });
        let outcomes = futures_join(attempts).await;
        let started = outcomes.iter().filter(|o| matches!(o, StartOutcome::Started(_))).count();
        assert_eq!(started, 1, "{backend}: {outcomes:?}");
    }
}

async fn futures_join(
    handles: impl Iterator<Item = tokio::task::JoinHandle<Result<StartOutcome, DbError>>>,
) -> Vec<StartOutcome> {
    let mut outcomes = Vec::new();
    for handle in handles {
        outcomes.push(handle.await.unwrap().unwrap());
    }
    outcomes
}

#[tokio::test]
async fn readiness_reports_an_unreachable_or_unmigrated_database() {
    use sua_core::ops::ReadinessCheck;
    let config = sua_core::config::DbConfig { acquire_timeout_secs: 1, connect_timeout_secs: 1, ..Default::default() };
    let pool = Pool::new(&secrecy::SecretString::from("postgres://postgres@127.0.0.1:1/none"), &config).unwrap();
    assert!(pool.check().await.is_err());
    let db = TestDatabase::postgres().unwrap();
    db.pool().unwrap().check().await.unwrap();
    let unmigrated = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", unmigrated.path().join("empty.db").display());
    let pool = Pool::new(&secrecy::SecretString::from(url), &config).unwrap();
    let error = pool.check().await.unwrap_err();
    assert!(error.contains("sua migrate"), "{error}");
}

#[test]
fn a_shared_limiter_grants_at_most_limit_per_window_and_says_when_the_next_slot_opens() {
    with_each_backend(|backend, conn| {
        let t0 = now();
        let window = Duration::seconds(60);
        for i in 0..3 {
            let granted =
                conn.transaction(|c| rate_limits::try_acquire(c, "sia", 3, window, t0 + Duration::seconds(i))).unwrap();
            assert_eq!(granted, Ok(()), "{backend}: grant {i}");
        }
        let refused =
            conn.transaction(|c| rate_limits::try_acquire(c, "sia", 3, window, t0 + Duration::seconds(10))).unwrap();
        assert_eq!(refused, Err(t0 + window), "{backend}: the oldest grant leaves the window first");
        let other = conn.transaction(|c| rate_limits::try_acquire(c, "other", 3, window, t0)).unwrap();
        assert_eq!(other, Ok(()), "{backend}: keys are independent");
        let later = conn
            .transaction(|c| rate_limits::try_acquire(c, "sia", 3, window, t0 + window + Duration::seconds(1)))
            .unwrap();
        assert_eq!(later, Ok(()), "{backend}");
    });
}

#[test]
fn a_token_bucket_allows_its_capacity_at_once_then_refills_at_its_rate() {
    with_each_backend(|backend, conn| {
        let t0 = now();
        let take = |conn: &mut Conn<'_>, at, want| {
            conn.transaction(|c| rate_limits::try_take_tokens(c, "calls", 5, 0.25, at, want)).unwrap()
        };
        assert_eq!(take(conn, t0, 1), Ok(1), "{backend}");
        assert_eq!(take(conn, t0, 3), Ok(3), "{backend}: several at once");
        assert_eq!(take(conn, t0, 10), Ok(1), "{backend}: never more than the bucket holds");
        assert_eq!(take(conn, t0, 1), Err(t0 + Duration::seconds(4)), "{backend}: one token every 4 s");
        assert_eq!(take(conn, t0 + Duration::seconds(4), 1), Ok(1), "{backend}");
        assert!(take(conn, t0 + Duration::seconds(4), 1).is_err(), "{backend}");
        assert_eq!(take(conn, t0 + Duration::seconds(4), 2), Err(t0 + Duration::seconds(12)), "{backend}: until 2 are");
        assert_eq!(take(conn, t0 + Duration::seconds(4), 9), Err(t0 + Duration::seconds(24)), "{backend}: at most 5");
        assert_eq!(take(conn, t0 + Duration::seconds(13), 5), Ok(2), "{backend}: refilled at the rate, whole tokens");
    });
}

#[test]
fn a_bucket_sized_for_a_budget_never_grants_more_than_the_budget_in_any_window() {
    // A budget of 1,500 per 20 s, as Microsoft's call records: a burst of 100 refilled at 65/s. Callers take as
    // much as they may every 50 ms for a minute, starting with a full bucket (after an idle spell), as a
    // collector with a backlog does.
    with_each_backend(|backend, conn| {
        let t0 = now();
        let mut grants: Vec<(i64, u32)> = Vec::new();
        for step in 0..1_200 {
            let at = t0 + Duration::milliseconds(step * 50);
            if let Ok(n) = conn.transaction(|c| rate_limits::try_take_tokens(c, "budget", 100, 65.0, at, 100)).unwrap()
            {
                grants.push((step * 50, n));
            }
        }
        let in_window = |start: i64| -> u32 {
            grants.iter().filter(|(ms, _)| *ms >= start && *ms < start + 20_000).map(|(_, n)| n).sum()
        };
        let busiest = (0..=40_000).step_by(50).map(in_window).max().unwrap();
        assert!(busiest <= 1_400, "{backend}: {busiest} granted in one 20 s window");
        assert!(in_window(0) >= 1_350, "{backend}: the first 20 s use the budget ({})", in_window(0));
        assert!(in_window(40_000) >= 1_290, "{backend}: the steady rate is 65/s ({})", in_window(40_000));
    });
}

#[test]
fn call_record_fetches_keep_the_highest_version_and_report_known_ids() {
    with_each_backend(|backend, conn| {
        let row = |version| CallRecordFetchRow {
            tenant_id: "t1".into(),
            id: "c1".into(),
            version,
            start_at: None,
            fetched_at: now(),
        };
        CallRecordFetchRow::record(conn, &row(2)).unwrap();
        CallRecordFetchRow::record(conn, &row(1)).unwrap();
        assert_eq!(CallRecordFetchRow::find(conn, "t1", "c1").unwrap().unwrap().version, 2, "{backend}");
        let known = CallRecordFetchRow::known(conn, "t1", &["c1".to_string(), "c2".to_string()]).unwrap();
        assert_eq!(known.into_iter().collect::<Vec<_>>(), vec!["c1".to_string()], "{backend}");
    });
}

fn analytics_tables_load(conn: &mut Conn<'_>) -> Result<(), DbError> {
    use crate::models::*;
    macro_rules! load {
        ($table:ident, $row:ty) => {
            with_conn!(&mut *conn, |c| crate::schema::$table::table.select(<$row>::as_select()).limit(0).load(c))?
        };
    }
    let _: Vec<SnapshotRow> = load!(snapshots, SnapshotRow);
    let _: Vec<SnapshotPartRow> = load!(snapshot_parts, SnapshotPartRow);
    let _: Vec<SkuRow> = load!(skus, SkuRow);
    let _: Vec<SkuPlanRow> = load!(sku_plans, SkuPlanRow);
    let _: Vec<UserRow> = load!(users, UserRow);
    let _: Vec<AssignmentRow> = load!(assignments, AssignmentRow);
    let _: Vec<TeamsActivityRow> = load!(teams_activity, TeamsActivityRow);
    let _: Vec<CallParticipantRow> = load!(call_participants, CallParticipantRow);
    let _: Vec<CallSessionRow> = load!(call_sessions, CallSessionRow);
    let _: Vec<CallSegmentRow> = load!(call_segments, CallSegmentRow);
    let _: Vec<CallStreamRow> = load!(call_streams, CallStreamRow);
    let _: Vec<CallUserFactRow> = load!(call_user_facts, CallUserFactRow);
    let _: Vec<PstnCallRow> = load!(pstn_calls, PstnCallRow);
    let _: Vec<rollups::UserDayUsage> = load!(call_usage_daily, rollups::UserDayUsage);
    let _: Vec<rollups::TenantDayUsage> = load!(call_usage_tenant_daily, rollups::TenantDayUsage);
    let _: Vec<rollups::PstnDayUsage> = load!(pstn_usage_daily, rollups::PstnDayUsage);
    let _: Vec<rollups::PstnTenantDayUsage> = load!(pstn_usage_tenant_daily, rollups::PstnTenantDayUsage);
    let _: Vec<rollups::PstnDepartmentDayUsage> = load!(pstn_department_daily, rollups::PstnDepartmentDayUsage);
    let _: Vec<rollups::DepartmentDayUsage> = load!(call_usage_department_daily, rollups::DepartmentDayUsage);
    let _: Vec<PriceOverrideRow> = load!(price_overrides, PriceOverrideRow);
    let _: Vec<TenantSettingsRow> = load!(tenant_settings, TenantSettingsRow);
    let _: Vec<FindingRow> = load!(findings, FindingRow);
    let _: Vec<crate::models::FindingTotalRow> = load!(finding_totals, crate::models::FindingTotalRow);
    let _: Vec<TenantDayRow> = load!(tenant_daily, TenantDayRow);
    let _: Vec<LicenceCostDayRow> = load!(licence_cost_daily, LicenceCostDayRow);
    let _: Vec<SavingsDayRow> = load!(savings_daily, SavingsDayRow);
    let _: Vec<DepartmentCostDayRow> = load!(department_cost_daily, DepartmentCostDayRow);
    let _: Vec<RealisedSavingRow> = load!(realised_savings, RealisedSavingRow);
    let _: Vec<(String, i64, chrono::NaiveDateTime)> = with_conn!(&mut *conn, |c| crate::schema::data_versions::table
        .select((
            crate::schema::data_versions::tenant_id,
            crate::schema::data_versions::version,
            crate::schema::data_versions::changed_at,
        ))
        .limit(0)
        .load(c))?;
    Ok(())
}

fn part(run: &str, part: &str, page: i32) -> crate::models::SnapshotPartRow {
    crate::models::SnapshotPartRow { run_id: run.into(), part: part.into(), page, records: 1, received_at: now() }
}

#[test]
fn a_snapshot_becomes_current_only_when_completed_and_whole_and_only_if_not_older() {
    use crate::models::SnapshotRow;
    use crate::states::SnapshotState::{Current, Superseded};
    with_each_backend(|backend, conn| {
        let day = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let expected = r#"{"skus":1,"users":2,"teams_activity":0}"#;
        // Day 1: parts arrive before and after sync.completed, one twice.
        SnapshotRow::lock(conn, "run-1", "t1", day, now()).unwrap();
        assert!(SnapshotRow::record_part(conn, &part("run-1", "users", 2)).unwrap());
        assert!(!SnapshotRow::record_part(conn, &part("run-1", "users", 2)).unwrap(), "{backend}: redelivery");
        assert!(!SnapshotRow::try_make_current(conn, "run-1", now()).unwrap(), "{backend}: not completed yet");
        assert!(SnapshotRow::complete(conn, "run-1", day, expected, true, Some(true), now()).unwrap());
        assert!(!SnapshotRow::complete(conn, "run-1", day, expected, true, Some(true), now()).unwrap());
        assert!(!SnapshotRow::try_make_current(conn, "run-1", now()).unwrap(), "{backend}: pages missing");
        SnapshotRow::record_part(conn, &part("run-1", "skus", 1)).unwrap();
        SnapshotRow::record_part(conn, &part("run-1", "users", 1)).unwrap();
        assert!(SnapshotRow::try_make_current(conn, "run-1", now()).unwrap(), "{backend}");
        assert!(!SnapshotRow::try_make_current(conn, "run-1", now()).unwrap(), "{backend}: once");
        // Day 2 replaces it; a late run of day 0 never does.
        let next = day.succ_opt().unwrap();
        SnapshotRow::lock(conn, "run-2", "t1", next, now()).unwrap();
        SnapshotRow::complete(conn, "run-2", next, r#"{"skus":1}"#, true, None, now()).unwrap();
        SnapshotRow::record_part(conn, &part("run-2", "skus", 1)).unwrap();
        assert!(SnapshotRow::try_make_current(conn, "run-2", now()).unwrap());
        let old = day.pred_opt().unwrap();
        SnapshotRow::lock(conn, "run-0", "t1", old, now()).unwrap();
        SnapshotRow::complete(conn, "run-0", old, r#"{"skus":1}"#, true, None, now()).unwrap();
        SnapshotRow::record_part(conn, &part("run-0", "skus", 1)).unwrap();
        assert!(!SnapshotRow::try_make_current(conn, "run-0", now()).unwrap(), "{backend}: older than current");
        let states: Vec<(String, crate::states::SnapshotState)> =
            SnapshotRow::history(conn, "t1").unwrap().into_iter().map(|s| (s.run_id, s.state)).collect();
        assert_eq!(
            states,
            vec![("run-2".into(), Current), ("run-1".into(), Superseded), ("run-0".into(), Superseded)],
            "{backend}"
        );
        assert_eq!(SnapshotRow::current(conn, "t1").unwrap().unwrap().run_id, "run-2");
        let (_, findings_marks) = crate::models::rollups::backlog(conn).unwrap();
        assert_eq!(findings_marks, 2, "{backend}: a findings recompute per snapshot made current");
    });
}

#[test]
fn rollups_are_rebuilt_from_marks_and_a_newer_version_replaces_its_contribution() {
    use crate::models::{CallUserFactRow, NormalisedCall, rollups};
    with_each_backend(|backend, conn| {
        let day = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let fact = |user: &str, seconds: i64| CallUserFactRow {
            tenant_id: "t1".into(),
            call_id: "call-1".into(),
            user_id: user.into(),
            day,
            group_call: 1,
            video: 0,
            pstn: 0,
            seconds,
            streams: 2,
            poor_streams: 1,
        };
        let mut v1 = record(1, "v1");
        v1.start_at = day.and_hms_opt(9, 0, 0).unwrap();
        v1.day = Some(day);
        v1.call_type = "groupCall".into();
        v1.duration_seconds = 600;
        let children = NormalisedCall { user_facts: vec![fact("a", 600), fact("b", 300)], ..Default::default() };
        assert!(CallRecordRow::store(conn, &v1, &children).unwrap());
        assert!(!CallRecordRow::store(conn, &v1, &children).unwrap(), "{backend}: replay");
        assert_eq!(rollups::pending(conn, 10).unwrap(), vec![("t1".to_string(), day)]);
        assert_eq!(rollups::recompute(conn, "t1", day).unwrap(), 1);
        assert!(rollups::pending(conn, 10).unwrap().is_empty());
        let users = rollups::user_days(conn, "t1").unwrap();
        assert_eq!(
            users.iter().map(|u| (u.user_id.as_str(), u.calls, u.seconds)).collect::<Vec<_>>(),
            vec![("a", 1, 600), ("b", 1, 300)]
        );
        // Version 2 drops b and lengthens the call.
        let mut v2 = v1.clone();
        v2.version = 2;
        v2.duration_seconds = 900;
        assert!(
            CallRecordRow::store(conn, &v2, &NormalisedCall { user_facts: vec![fact("a", 900)], ..Default::default() })
                .unwrap()
        );
        rollups::recompute(conn, "t1", day).unwrap();
        let users = rollups::user_days(conn, "t1").unwrap();
        assert_eq!(
            users.iter().map(|u| (u.user_id.as_str(), u.calls, u.seconds, u.group_calls)).collect::<Vec<_>>(),
            vec![("a", 1, 900, 1)],
            "{backend}"
        );
        let tenant = rollups::tenant_days(conn, "t1").unwrap();
        assert_eq!(
            (tenant[0].calls, tenant[0].seconds, tenant[0].group_calls, tenant[0].peer_calls),
            (1, 900, 1, 0),
            "{backend}"
        );
    });
}

#[test]
fn a_batch_of_records_stores_each_once_and_only_newer_versions_replace() {
    use crate::models::{CallUserFactRow, NormalisedCall, rollups};
    with_each_backend(|backend, conn| {
        let day = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let item = |id: &str, version: i64, users: &[&str]| {
            let mut row = record(version, &format!("{id} v{version}"));
            row.id = id.into();
            row.day = Some(day);
            row.start_at = day.and_hms_opt(9, 0, 0).unwrap();
            let facts = users
                .iter()
                .map(|u| CallUserFactRow {
                    tenant_id: "t1".into(),
                    call_id: id.into(),
                    user_id: (*u).into(),
                    day,
                    group_call: 0,
                    video: 0,
                    pstn: 0,
                    seconds: 60,
                    streams: 0,
                    poor_streams: 0,
                })
                .collect();
            (row, NormalisedCall { user_facts: facts, ..Default::default() })
        };
        let first = [item("c1", 1, &["a", "b"]), item("c2", 1, &["a"]), item("c1", 2, &["a"]), item("c2", 1, &["a"])];
        let stored = conn.transaction(|tx| CallRecordRow::store_many(tx, &first)).unwrap();
        assert_eq!(stored, vec![false, true, true, false], "{backend}: only the newest of each record is written");
        let again = [item("c1", 2, &["a"]), item("c2", 3, &["b"])];
        let stored = conn.transaction(|tx| CallRecordRow::store_many(tx, &again)).unwrap();
        assert_eq!(stored, vec![false, true], "{backend}");
        let facts: Vec<(String, String)> = CallRecordRow::users_by_call(conn, "t1").unwrap();
        assert_eq!(facts, vec![("c1".into(), "a".into()), ("c2".into(), "b".into())], "{backend}: children replaced");
        assert_eq!(CallRecordRow::find(conn, "t1", "c2").unwrap().unwrap().version, 3);
        assert_eq!(rollups::pending(conn, 10).unwrap(), vec![("t1".to_string(), day)], "{backend}");
    });
}

#[test]
fn every_write_the_portal_shows_moves_the_tenants_data_version_on_and_no_other_tenants() {
    use crate::models::{DataVersion, FindingRow, PriceOverrideRow, SnapshotRow, TenantSettingsRow, rollups};
    with_each_backend(|backend, conn| {
        let version = |conn: &mut Conn<'_>| DataVersion::of(conn, "t1").unwrap();
        assert_eq!(version(conn), 0, "{backend}: no data yet");
        let day = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        SnapshotRow::lock(conn, "run-1", "t1", day, now()).unwrap();
        SnapshotRow::complete(conn, "run-1", day, r#"{"skus":1}"#, true, None, now()).unwrap();
        assert_eq!(version(conn), 0, "{backend}: an incomplete snapshot shows nothing");
        SnapshotRow::record_part(conn, &part("run-1", "skus", 1)).unwrap();
        assert!(SnapshotRow::try_make_current(conn, "run-1", now()).unwrap());
        assert_eq!(version(conn), 1, "{backend}: snapshot made current");
        rollups::recompute(conn, "t1", day).unwrap();
        assert_eq!(version(conn), 2, "{backend}: rollups recomputed");
        FindingRow::replace(conn, "t1", &[]).unwrap();
        assert_eq!(version(conn), 3, "{backend}: findings recomputed");
        let price = PriceOverrideRow {
            tenant_id: "t1".into(),
            sku_part_number: "SPE_E3".into(),
            amount_minor: 3300,
            currency: "EUR".into(),
            updated_at: now(),
            updated_by: "admin".into(),
        };
        PriceOverrideRow::put(conn, &price).unwrap();
        assert!(PriceOverrideRow::delete(conn, "t1", "SPE_E3").unwrap());
        assert!(!PriceOverrideRow::delete(conn, "t1", "SPE_E3").unwrap());
        assert_eq!(version(conn), 5, "{backend}: a price set and removed; removing nothing changes nothing");
        let settings = TenantSettingsRow {
            tenant_id: "t1".into(),
            inactive_days: 60,
            new_account_grace_days: 14,
            phone_idle_days: 45,
            excluded_users: "[]".into(),
            updated_at: now(),
            updated_by: "admin".into(),
        };
        TenantSettingsRow::put(conn, &settings).unwrap();
        assert_eq!(version(conn), 6, "{backend}: thresholds changed");
        assert_eq!(DataVersion::of(conn, "t2").unwrap(), 0, "{backend}: another tenant's version stays");
        assert_eq!(DataVersion::all(conn).unwrap().into_iter().collect::<Vec<_>>(), [("t1".to_string(), 6)]);
    });
}

#[test]
fn retention_deletes_old_call_records_in_batches_and_keeps_recent_ones() {
    with_each_backend(|backend, conn| {
        let today = now().date();
        let mut rows = Vec::new();
        for (i, age) in [500, 450, 401, 10].iter().enumerate() {
            let mut row = record(1, "{}");
            row.id = format!("call-{i}");
            row.day = Some(today - Duration::days(*age));
            rows.push(row);
        }
        with_conn!(&mut *conn, |c| diesel::insert_into(call_records::table).values(&rows).execute(c)).unwrap();
        let before = today - Duration::days(400);
        let first = conn.transaction(|tx| crate::models::retention::delete_batch(tx, before, 2)).unwrap();
        assert_eq!(first, (2, 0), "{backend}: one batch deletes at most its size");
        let second = conn.transaction(|tx| crate::models::retention::delete_batch(tx, before, 2)).unwrap();
        assert_eq!(second, (1, 0), "{backend}");
        let left: Vec<String> =
            with_conn!(&mut *conn, |c| call_records::table.select(call_records::id).load(c)).unwrap();
        assert_eq!(left, vec!["call-3".to_string()], "{backend}: the recent call stays");
    });
}

fn finding(
    tenant: &str,
    id: &str,
    kind: &str,
    sku: Option<&str>,
    money: Option<(i64, &str)>,
) -> crate::models::FindingRow {
    crate::models::FindingRow {
        tenant_id: tenant.into(),
        id: id.into(),
        run_id: "run-1".into(),
        kind: kind.into(),
        user_id: Some(id.into()),
        user_principal_name: None,
        department: None,
        sku_id: sku.map(Into::into),
        sku_part_number: sku.map(Into::into),
        units: 1,
        effect: if kind == "over_assigned" { "cost".into() } else { "saving".into() },
        amount_minor: money.map(|(a, _)| a),
        currency: money.map(|(_, c)| c.into()),
        evidence: "{}".into(),
        computed_at: now(),
    }
}

#[test]
fn finding_totals_are_written_with_the_findings_and_replaced_with_them() {
    use crate::models::{FindingRow, FindingTotalRow};
    with_each_backend(|backend, conn| {
        let rows = vec![
            finding("t1", "a", "inactive_user", Some("e3"), Some((3600, "USD"))),
            finding("t1", "b", "inactive_user", Some("e3"), Some((3600, "USD"))),
            finding("t1", "c", "inactive_user", Some("e5"), Some((5700, "EUR"))),
            finding("t1", "d", "never_signed_in", Some("x"), None),
            finding("t1", "e", "over_assigned", None, None),
        ];
        conn.transaction(|tx| FindingRow::replace(tx, "t1", &rows)).unwrap();
        conn.transaction(|tx| FindingRow::replace(tx, "t2", &rows[..1])).unwrap();
        let totals: Vec<(String, String, String, i64, i64)> = FindingTotalRow::for_tenant(conn, "t1")
            .unwrap()
            .into_iter()
            .map(|t| (t.kind, t.sku_id, t.currency, t.findings, t.amount_minor))
            .collect();
        let expected = vec![
            ("inactive_user".to_string(), "e3".to_string(), "USD".to_string(), 2, 7200),
            ("inactive_user".into(), "e5".into(), "EUR".into(), 1, 5700),
            ("never_signed_in".into(), "x".into(), "".into(), 1, 0),
            ("over_assigned".into(), "".into(), "".into(), 1, 0),
        ];
        assert_eq!(totals, expected, "{backend}");
        // What the portal reads: per kind and currency, and the waste per SKU.
        let kinds = crate::views::finding_totals(conn, "t1").unwrap();
        assert_eq!(
            kinds.iter().map(|k| (k.kind.as_str(), k.findings)).collect::<Vec<_>>(),
            [("inactive_user", 1), ("inactive_user", 2), ("never_signed_in", 1), ("over_assigned", 1)]
        );
        let waste = crate::views::waste_by_sku(conn, "t1").unwrap();
        assert_eq!(
            waste.iter().map(|w| (w.sku_id.as_str(), w.currency.as_str(), w.amount_minor)).collect::<Vec<_>>(),
            [("e3", "USD", 7200), ("e5", "EUR", 5700), ("x", "", 0)]
        );
        // A recompute replaces them: one finding left.
        conn.transaction(|tx| FindingRow::replace(tx, "t1", &rows[2..3])).unwrap();
        let totals = FindingTotalRow::for_tenant(conn, "t1").unwrap();
        assert_eq!(totals.len(), 1, "{backend}");
        assert_eq!((totals[0].sku_id.as_str(), totals[0].amount_minor), ("e5", 5700));
        assert_eq!(FindingTotalRow::for_tenant(conn, "t2").unwrap().len(), 1, "{backend}: other tenants untouched");
    });
}

#[test]
fn users_by_last_sign_in_page_through_nulls_and_equal_instants_in_both_directions() {
    use crate::models::{SnapshotRow, UserRow};
    use crate::views::{UserFilter, UserSort, users_page};
    let day = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap().and_hms_opt(1, 30, 0).unwrap();
    // 23 users: every third never signed in, the rest on four instants (so many share one).
    let users: Vec<UserRow> = (0..23)
        .map(|i| UserRow {
            run_id: "run-1".into(),
            tenant_id: "t1".into(),
            id: format!("u{i:02}"),
            user_principal_name: format!("u{i}@example.com"),
            display_name: format!("User {i}"),
            mail: None,
            department: None,
            job_title: None,
            office_location: None,
            country: None,
            usage_location: None,
            account_enabled: Some(true),
            user_type: None,
            created_at: None,
            last_successful_sign_in: (i % 3 != 0).then(|| day - Duration::hours(i64::from((i * 7) % 4))),
            last_sign_in: None,
            licences: 1,
        })
        .collect();
    let mut expected: Vec<(Option<chrono::NaiveDateTime>, String)> =
        users.iter().map(|u| (u.last_successful_sign_in, u.id.clone())).collect();
    expected.sort();
    let ascending: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();
    with_each_backend(|backend, conn| {
        SnapshotRow::insert_users(conn, &users, &[]).unwrap();
        for descending in [false, true] {
            for limit in [1, 4, 5, 100] {
                let mut after = None;
                let mut seen = Vec::new();
                loop {
                    let page = users_page(
                        conn,
                        "run-1",
                        &UserFilter::default(),
                        UserSort::LastSignIn,
                        descending,
                        after.as_ref(),
                        limit,
                    )
                    .unwrap();
                    seen.extend(page.rows.iter().map(|(u, _)| u.id.clone()));
                    match page.rows.last() {
                        Some((u, key)) if page.rows.len() as i64 == limit => {
                            assert_eq!(crate::views::parse_sign_in_key(key), Some(u.last_successful_sign_in));
                            after = Some(crate::views::Keyset { key: key.clone(), id: u.id.clone() });
                        }
                        _ => break,
                    }
                }
                let want: Vec<String> =
                    if descending { ascending.iter().rev().cloned().collect() } else { ascending.clone() };
                assert_eq!(seen, want, "{backend}, descending {descending}, limit {limit}");
            }
        }
    });
}

#[test]
fn the_latest_day_counted_for_a_snapshot_is_the_one_read() {
    use crate::models::TenantDayRow;
    with_each_backend(|backend, conn| {
        let day = NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
        let row = |d: i64, run: &str, users: i64| TenantDayRow {
            tenant_id: "t1".into(),
            day: day + Duration::days(d),
            run_id: run.into(),
            users,
            licensed_users: users - 1,
            active_users: None,
            computed_at: now(),
        };
        for r in [row(0, "run-1", 10), row(1, "run-2", 11), row(2, "run-2", 12), row(3, "run-3", 13)] {
            TenantDayRow::replace(conn, &r).unwrap();
        }
        let got = TenantDayRow::latest_of_run(conn, "t1", "run-2").unwrap().map(|r| (r.day, r.users));
        assert_eq!(got, Some((day + Duration::days(2), 12)), "{backend}");
        assert_eq!(TenantDayRow::latest_of_run(conn, "t1", "run-9").unwrap(), None, "{backend}");
        assert_eq!(TenantDayRow::latest_of_run(conn, "t2", "run-2").unwrap(), None, "{backend}");
    });
}

/// (day, department, source, calls or charge)
type DayGroup = (NaiveDate, String, String, i64);

#[test]
fn department_rollups_go_to_the_current_snapshot_and_move_to_a_new_one_for_the_month() {
    use crate::models::rollups;
    use diesel::connection::SimpleConnection;
    let (before, first) = (NaiveDate::from_ymd_opt(2026, 2, 27).unwrap(), NaiveDate::from_ymd_opt(2026, 3, 1).unwrap());
    with_each_backend(|backend, conn| {
        // Use on the last day of February and the first of March by two users, counted before any snapshot.
        with_conn!(&mut *conn, |c| c.batch_execute(
            "INSERT INTO call_usage_daily (tenant_id, day, user_id, calls, group_calls, peer_calls, seconds, \
               video_calls, pstn_calls, streams, poor_streams) VALUES ('t1', '2026-02-27', 'u1', 2, 0, 2, 60, 0, 1, 8, 1), \
               ('t1', '2026-03-01', 'u1', 1, 0, 1, 30, 0, 0, 4, 0), ('t1', '2026-03-01', 'u2', 3, 1, 2, 90, 1, 0, 12, 0); \
             INSERT INTO call_usage_tenant_daily (tenant_id, day, calls, group_calls, peer_calls, seconds, video_calls, \
               pstn_calls, streams, poor_streams) VALUES ('t1', '2026-02-27', 2, 0, 2, 60, 0, 1, 8, 1), \
               ('t1', '2026-03-01', 4, 1, 3, 120, 1, 0, 16, 0); \
             INSERT INTO pstn_usage_daily (tenant_id, day, user_id, source, currency, calls, seconds, charge_minor) \
               VALUES ('t1', '2026-02-27', 'u1', 'pstn', 'USD', 1, 60, 25), \
               ('t1', '2026-03-01', 'u2', 'pstn', 'USD', 2, 120, 40), ('t1', '2026-03-01', '', 'direct_routing', '', 1, 30, 0); \
             INSERT INTO pstn_usage_tenant_daily (tenant_id, day, source, currency, calls, seconds, charge_minor) \
               VALUES ('t1', '2026-02-27', 'pstn', 'USD', 1, 60, 25), ('t1', '2026-03-01', 'pstn', 'USD', 2, 120, 40), \
               ('t1', '2026-03-01', 'direct_routing', '', 1, 30, 0);"
        ))
        .unwrap();
        let rows = |conn: &mut Conn<'_>| -> (Vec<DayGroup>, Vec<DayGroup>) {
            let usage = crate::views::usage_by_department(conn, "t1", before, first).unwrap();
            let mut calls: Vec<_> = [before, first]
                .iter()
                .flat_map(|d| {
                    crate::views::usage_by_department(conn, "t1", *d, *d)
                        .unwrap()
                        .into_iter()
                        .map(move |g| (*d, g.key, String::new(), g.calls))
                })
                .collect();
            calls.sort();
            assert_eq!(usage.iter().map(|g| g.calls).sum::<i64>(), 6);
            let mut pstn: Vec<_> = [before, first]
                .iter()
                .flat_map(|d| {
                    crate::models::pstn_usage::by_charged_department(conn, "t1", *d, *d)
                        .unwrap()
                        .into_iter()
                        .map(move |g| (*d, g.key, g.source, g.charge_minor))
                })
                .collect();
            pstn.sort();
            (calls, pstn)
        };
        for day in [before, first] {
            conn.transaction(|tx| rollups::rebuild_departments(tx, "t1", day)).unwrap();
        }
        let (calls, pstn) = rows(conn);
        assert_eq!(
            calls,
            [(before, "".into(), "".into(), 2), (first, "".into(), "".into(), 4)],
            "{backend}: no snapshot yet"
        );
        assert_eq!(pstn.len(), 3, "{backend}");
        // A snapshot becomes current: u1 in Sales, u2 in Ops. Every day counted without a snapshot moves, and
        // March (the month of the new snapshot) too.
        with_conn!(&mut *conn, |c| c.batch_execute(
            "INSERT INTO snapshots (run_id, tenant_id, day, state, sign_in_activity, created_at) \
               VALUES ('run-1', 't1', '2026-03-01', 'current', true, '2026-03-01 06:00:00');"
        ))
        .unwrap();
        let user = |id: &str, department: &str| crate::models::UserRow {
            run_id: "run-1".into(),
            tenant_id: "t1".into(),
            id: id.into(),
            user_principal_name: format!("{id}@example.com"),
            display_name: id.into(),
            mail: None,
            department: Some(department.into()),
            job_title: None,
            office_location: None,
            country: None,
            usage_location: None,
            account_enabled: Some(true),
            user_type: None,
            created_at: None,
            last_successful_sign_in: None,
            last_sign_in: None,
            licences: 1,
        };
        crate::models::SnapshotRow::insert_users(conn, &[user("u1", "Sales"), user("u2", "Ops")], &[]).unwrap();
        let moved = conn.transaction(|tx| rollups::reassign_departments(tx, "t1", first)).unwrap();
        assert_eq!(moved, 2, "{backend}: February's day was counted without a snapshot, March's is this month");
        let (calls, pstn) = rows(conn);
        assert_eq!(
            calls,
            [
                (before, "Sales".into(), "".into(), 2),
                (first, "Ops".into(), "".into(), 3),
                (first, "Sales".into(), "".into(), 1)
            ],
            "{backend}"
        );
        assert_eq!(
            pstn,
            [
                (before, "Sales".into(), "pstn".into(), 25),
                (first, "".into(), "direct_routing".into(), 0),
                (first, "Ops".into(), "pstn".into(), 40)
            ],
            "{backend}"
        );
        // Attributed days of an earlier month stay with the snapshot they were counted with.
        with_conn!(&mut *conn, |c| c.batch_execute("UPDATE users SET department = 'Moved' WHERE id = 'u1';")).unwrap();
        let moved = conn.transaction(|tx| rollups::reassign_departments(tx, "t1", first)).unwrap();
        assert_eq!(moved, 1, "{backend}");
        let (calls, _) = rows(conn);
        assert_eq!(calls[0], (before, "Sales".into(), "".into(), 2), "{backend}");
        assert!(calls.contains(&(first, "Moved".into(), "".into(), 1)), "{backend}: {calls:?}");
    });
}

#[test]
fn call_quality_windows_rank_the_worst_users_as_a_sum_would_and_follow_the_data_and_the_day() {
    use crate::models::{DataVersion, quality_windows};
    use diesel::connection::SimpleConnection;
    let today = NaiveDate::from_ymd_opt(2026, 3, 30).unwrap();
    let ago = |days: i64| today - Duration::days(days);
    with_each_backend(|backend, conn| {
        // u1: 5 poor streams 10 days ago; u2: 2 today and 2 yesterday; u3: 1 today and 6 forty days ago; u4: none;
        // u5 ties u2 over 7 days (4, today) and ranks after it by id.
        let mut values = Vec::new();
        for (day, user, poor) in
            [(10, "u1", 5), (0, "u2", 2), (1, "u2", 2), (0, "u3", 1), (40, "u3", 6), (0, "u4", 0), (0, "u5", 4)]
        {
            values.push(format!("('t1', '{}', '{user}', 3, 1, 2, 90, 0, 0, 12, {poor})", ago(day)));
        }
        with_conn!(&mut *conn, |c| c.batch_execute(&format!(
            "INSERT INTO call_usage_daily (tenant_id, day, user_id, calls, group_calls, peer_calls, seconds, \
             video_calls, pstn_calls, streams, poor_streams) VALUES {};",
            values.join(", ")
        )))
        .unwrap();
        conn.transaction(|tx| DataVersion::bump(tx, "t1")).unwrap();
        let settled = |at: chrono::NaiveDateTime| at - Duration::seconds(60);
        let t0 = now();
        assert_eq!(quality_windows::pending(conn, today, settled(t0), 10).unwrap(), ["t1"], "{backend}: never ranked");
        assert_eq!(quality_windows::worst_users(conn, "t1", "run", ago(29), today, 20).unwrap(), None, "{backend}");
        conn.transaction(|tx| quality_windows::recompute(tx, "t1", today)).unwrap();
        assert!(quality_windows::pending(conn, today, settled(now()), 10).unwrap().is_empty(), "{backend}");

        let ranked = |conn: &mut Conn<'_>, days: i64, limit: i64| {
            let (_, users) =
                quality_windows::worst_users(conn, "t1", "run", ago(days - 1), today, limit).unwrap().unwrap();
            users.into_iter().map(|u| (u.key, u.poor_streams)).collect::<Vec<_>>()
        };
        let summed = |conn: &mut Conn<'_>, days: i64, limit: i64| {
            let users = crate::views::worst_quality_users(conn, "t1", "run", ago(days - 1), today, limit).unwrap();
            users.into_iter().map(|u| (u.key, u.poor_streams)).collect::<Vec<_>>()
        };
        let pairs = |list: &[(&str, i64)]| list.iter().map(|(u, n)| (u.to_string(), *n)).collect::<Vec<_>>();
        assert_eq!(ranked(conn, 7, 20), pairs(&[("u2", 4), ("u5", 4), ("u3", 1)]), "{backend}: 7 days");
        assert_eq!(ranked(conn, 30, 20), pairs(&[("u1", 5), ("u2", 4), ("u5", 4), ("u3", 1)]), "{backend}: 30 days");
        assert_eq!(ranked(conn, 90, 2), pairs(&[("u3", 7), ("u1", 5)]), "{backend}: 90 days, the first 2");
        for days in quality_windows::WINDOWS {
            assert_eq!(ranked(conn, days, 20), summed(conn, days, 20), "{backend}: {days} days as summed");
        }
        assert_eq!(
            quality_windows::worst_users(conn, "t1", "run", ago(30), today, 20).unwrap(),
            None,
            "{backend}: 31 days are no window"
        );
        assert_eq!(
            quality_windows::worst_users(conn, "t1", "run", ago(29), today, quality_windows::KEPT + 1).unwrap(),
            None,
            "{backend}: more users than a window keeps"
        );

        // New poor streams: the rankings wait for the debounce, then follow.
        with_conn!(&mut *conn, |c| c.batch_execute(&format!(
            "INSERT INTO call_usage_daily (tenant_id, day, user_id, calls, group_calls, peer_calls, seconds, \
             video_calls, pstn_calls, streams, poor_streams) VALUES ('t1', '{}', 'u4', 1, 0, 1, 30, 0, 0, 4, 9);",
            ago(2)
        )))
        .unwrap();
        conn.transaction(|tx| DataVersion::bump(tx, "t1")).unwrap();
        assert!(quality_windows::pending(conn, today, settled(now()), 10).unwrap().is_empty(), "{backend}: debounced");
        let later = now() + Duration::seconds(61);
        assert_eq!(quality_windows::pending(conn, today, settled(later), 10).unwrap(), ["t1"], "{backend}");
        let version = DataVersion::of(conn, "t1").unwrap();
        conn.transaction(|tx| quality_windows::recompute(tx, "t1", today)).unwrap();
        assert!(DataVersion::of(conn, "t1").unwrap() > version, "{backend}: cached answers are retired");
        assert_eq!(ranked(conn, 7, 1), pairs(&[("u4", 9)]), "{backend}");

        // The next day: yesterday's windows are not served, and every tenant's are due.
        let tomorrow = today + Duration::days(1);
        assert_eq!(
            quality_windows::worst_users(conn, "t1", "run", ago(6) + Duration::days(1), tomorrow, 20).unwrap(),
            None
        );
        assert_eq!(quality_windows::pending(conn, tomorrow, settled(now()), 10).unwrap(), ["t1"], "{backend}");
    });
}
