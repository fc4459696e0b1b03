//! The daily licence sync under Graph's bad days: throttling, outages, broken pages; and its run bookkeeping.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use sua_collector::graph::{Api, Limits, SharedLimit};
use sua_core::messages::{Envelope, Kind, LicenceSyncJobV1, SyncCompletedV1};
use sua_db::models::SyncRunRow;
use sua_graph_sim::{Endpoint, Fault, FaultKind, SimConfig, TenantSpec};
use sua_tests::eventually;
use sua_tests::stack::{Backend, RawRecords, Stack, sync_completed};

const WAIT: Duration = Duration::from_secs(90);

async fn latest_run(stack: &Stack) -> Option<SyncRunRow> {
    let tenant = stack.tenant(0);
    stack.deps.pool.run(move |conn| SyncRunRow::latest(conn, &tenant, "licence")).await.unwrap()
}

async fn wait_for_status(stack: &Stack, status: &str) -> SyncRunRow {
    eventually(&format!("the run is {status}"), WAIT, || async {
        latest_run(stack).await.is_some_and(|r| r.status == status)
    })
    .await;
    latest_run(stack).await.unwrap()
}

/// Queues the sync job of `day` (the day of an earlier run, so a test crossing midnight still means that day).
async fn queue_sync(stack: &Stack, day: NaiveDate) {
    let envelope = Envelope::new(stack.tenant(0), None, &LicenceSyncJobV1 { day, reason: "test".into() }).unwrap();
    stack.broker.broker.publish_job(&envelope).await.unwrap();
}

/// Licence sync jobs whose claim decided `outcome` (`started`, `already_completed`, `already_running`).
fn claims(stack: &Stack, outcome: &str) -> u64 {
    stack.broker.counter("sua_sync_claims_total", &[("kind", "licence"), ("outcome", outcome)])
}

fn sim(users: u32) -> SimConfig {
    // No call history: these tests are about the licence sync.
    SimConfig {
        tenants: vec![TenantSpec { users, entra_p1: true, concealed_names: true }],
        calls_per_user: 0.0,
        ..SimConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_is_waited_out_exactly_as_retry_after_says() {
    let stack = Stack::start(Backend::Production, sim(1_200), |_| {}).await;
    let simulator = &stack.graph();
    // Every users page is throttled twice before it is served.
    simulator.add_fault(Fault::new(Endpoint::Users, FaultKind::Throttle { retry_after_secs: 2 }).skip(1).times(2));
    simulator
        .add_fault(Fault::new(Endpoint::SubscribedSkus, FaultKind::Throttle { retry_after_secs: 1 }).skip(1).times(1));
    let (status, _) = stack.onboard().await;
    assert_eq!(status, 200);
    let records = RawRecords::collect(&stack, WAIT, sync_completed).await;
    let completed: SyncCompletedV1 = records.of(Kind::SyncCompletedV1)[0].decode().unwrap();
    assert_eq!(completed.parts.users.records, 1_200);
    for endpoint in [Endpoint::Users, Endpoint::SubscribedSkus] {
        let log = simulator.requests_to(endpoint);
        assert!(log.iter().any(|r| r.status == 429), "{endpoint:?} was throttled");
        for pair in log.windows(2) {
            if let Some(wait) = pair[0].retry_after {
                let gap = pair[1].at - pair[0].at;
                assert!(
                    gap >= chrono::Duration::seconds(wait as i64),
                    "{endpoint:?}: a request came {gap} after a 429 that said Retry-After: {wait}"
                );
            }
        }
    }
    assert_eq!(wait_for_status(&stack, "completed").await.attempt, 1);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_outage_fails_the_run_with_the_reason_and_the_next_attempt_completes() {
    let stack = Stack::start(Backend::Production, sim(300), |_| {}).await;
    let simulator = &stack.graph();
    // The consent probes pass (users, and users with sign-ins); the sync's first users page then meets a lasting
    // outage.
    simulator.add_fault(Fault::new(Endpoint::Users, FaultKind::Status { status: 503 }).skip(2));
    let (status, _) = stack.onboard().await;
    assert_eq!(status, 200);
    let failed = wait_for_status(&stack, "failed").await;
    let reason = failed.error.clone().unwrap();
    assert!(reason.contains("users") && reason.contains("503"), "{reason}");
    assert_eq!(simulator.requests_to(Endpoint::Users).len(), 2 + 4, "two probes, then 1 + 3 retries");

    simulator.clear_faults();
    queue_sync(&stack, failed.day).await;
    let completed = wait_for_status(&stack, "completed").await;
    assert_eq!(completed.attempt, 2);
    assert_ne!(completed.id, failed.id, "a retry is a new run id");
    // Only the completed attempt sent sync.completed.
    let records = RawRecords::collect(&stack, WAIT, sync_completed).await;
    let summaries = records.of(Kind::SyncCompletedV1);
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0].run_id.unwrap().to_string(), completed.id);
    let status = sua_domain::tenants::list(&stack.deps.pool).await.unwrap();
    assert_eq!(status[0].last_sync.as_ref().unwrap().status, "completed");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_page_fails_the_run_and_it_is_never_marked_complete() {
    let stack = Stack::start(Backend::Production, sim(1_300), |_| {}).await;
    // The two probes and the first page are fine; the second page always arrives cut in half.
    stack.graph().add_fault(Fault::new(Endpoint::Users, FaultKind::Truncate).skip(3));
    let (status, _) = stack.onboard().await;
    assert_eq!(status, 200);
    let failed = wait_for_status(&stack, "failed").await;
    assert!(failed.error.as_deref().unwrap().contains("broken response"), "{:?}", failed.error);
    assert!(failed.finished_at.is_some());
    assert!(failed.counts.is_none());
    let queue = stack.broker.broker.topology().analytics_queue();
    let ready = stack.broker.broker.ready_count(&queue).await.unwrap();
    let records = RawRecords::collect(&stack, WAIT, |e| e.len() as u32 >= ready).await;
    assert!(records.of(Kind::SyncCompletedV1).is_empty(), "no summary for a failed run");
    assert_eq!(records.of(Kind::LicenceUsersV1).len(), 1, "the page before the broken one was published");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_start_of_the_same_days_run_is_a_no_op() {
    let stack = Stack::start(Backend::Production, sim(100), |_| {}).await;
    stack.onboard().await;
    let completed = wait_for_status(&stack, "completed").await;
    let users_requests = stack.graph().requests_to(Endpoint::Users).len();
    assert_eq!(claims(&stack, "already_completed"), 0);
    queue_sync(&stack, completed.day).await;
    queue_sync(&stack, completed.day).await;
    eventually("both jobs found the day's run completed", WAIT, || async { claims(&stack, "already_completed") == 2 })
        .await;
    assert_eq!(claims(&stack, "started"), 1, "only the first sync of the day started a run");
    assert_eq!(latest_run(&stack).await.unwrap(), completed);
    assert_eq!(stack.graph().requests_to(Endpoint::Users).len(), users_requests, "no Graph call for a done day");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_cached_per_tenant() {
    let stack = Stack::start(Backend::Production, sim(2_000), |_| {}).await;
    stack.onboard().await;
    wait_for_status(&stack, "completed").await;
    let graph_calls = stack.graph().requests().iter().filter(|r| r.path.starts_with("/v1.0/")).count();
    assert!(graph_calls > 8, "{graph_calls}");
    assert_eq!(stack.graph().requests_to(Endpoint::Token).len(), 1, "one token served every call");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_activity_limit_is_shared_by_every_replica() {
    let db = sua_tests::TestDatabase::postgres().unwrap();
    let shared = SharedLimit { pool: db.pool().unwrap(), per_minute: 3 };
    // Two collectors' limiters on one database.
    let (a, b) = (Arc::new(Limits::new(Some(shared.clone()))), Arc::new(Limits::new(Some(shared))));
    let first = std::time::Instant::now();
    a.acquire("tenant-1", Api::SignInActivity).await.unwrap();
    b.acquire("tenant-2", Api::SignInActivity).await.unwrap();
    a.acquire("tenant-3", Api::SignInActivity).await.unwrap();
    let fourth = tokio::spawn({
        let b = b.clone();
        async move { b.acquire("tenant-4", Api::SignInActivity).await.map(|()| first.elapsed()) }
    });
    // Other APIs are not held up by it.
    sua_tests::within("a directory request", Duration::from_secs(10), b.acquire("tenant-4", Api::Directory))
        .await
        .unwrap();
    // The fourth request, from the other replica, goes through only once a minute has passed since the first.
    let waited = sua_tests::within("the fourth request", Duration::from_secs(100), fourth).await.unwrap().unwrap();
    assert!(waited >= Duration::from_secs(59), "the fourth went through after {waited:?}");
}
