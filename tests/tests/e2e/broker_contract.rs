//! The broker contract: the same behaviour from RabbitMQ and from the in-process broker.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use sua_core::broker::{ConsumerOptions, Handler, HandlerError, OutboundMessage, run_consumer};
use sua_core::messages::{Envelope, LicenceSkusV1};
use sua_core::shutdown::CancellationToken;
use sua_tests::{BrokerUnderTest, TestBroker, eventually, within};
use tokio::sync::Mutex;

use crate::for_each_broker;

const WAIT: Duration = Duration::from_secs(20);

fn envelope(n: u32) -> Envelope {
    Envelope::new("tenant-a", None, &LicenceSkusV1 { body: json!({ "n": n }) }).unwrap()
}

/// Records what a consumer handled and fails as told.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<Envelope>>,
    calls: AtomicU32,
    fail: Option<fn() -> HandlerError>,
}

impl Recorder {
    fn failing(fail: fn() -> HandlerError) -> Arc<Self> {
        Arc::new(Self { fail: Some(fail), ..Default::default() })
    }

    async fn ids(&self) -> Vec<uuid::Uuid> {
        self.seen.lock().await.iter().map(|e| e.id).collect()
    }
}

#[async_trait::async_trait]
impl Handler for Recorder {
    async fn handle(&self, envelope: Envelope) -> Result<(), HandlerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(fail) = self.fail {
            return Err(fail());
        }
        self.seen.lock().await.push(envelope);
        Ok(())
    }
}

fn consumer(
    test: &TestBroker,
    queue: String,
    handler: Arc<dyn Handler>,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let stop = CancellationToken::new();
    let mut options = ConsumerOptions::new(queue, &test.settings, Duration::from_secs(5));
    options.retry_base = Duration::from_millis(10);
    let task = tokio::spawn(run_consumer(test.broker.clone(), options, handler, stop.clone()).map_unit());
    (stop, task)
}

trait MapUnit {
    fn map_unit(self) -> impl std::future::Future<Output = ()> + Send;
}

impl<F: std::future::Future<Output = Result<(), sua_core::broker::BrokerError>> + Send> MapUnit for F {
    async fn map_unit(self) {
        if let Err(error) = self.await {
            panic!("consumer failed: {error}");
        }
    }
}

async fn a_published_message_is_delivered_once_and_gone_once_acked(kind: BrokerUnderTest) {
    let test = TestBroker::new(kind).await;
    let queue = test.broker.topology().analytics_queue();
    let first = envelope(1);
    test.broker.publish_raw(&first).await.unwrap();
    let mut subscription = test.broker.subscribe(&queue, 10).await.unwrap();
    let delivery = within("first delivery", WAIT, subscription.next()).await.unwrap();
    assert_eq!(delivery.message_id.as_deref(), Some(first.id.to_string().as_str()));
    assert_eq!(delivery.routing_key, "licence.skus.v1");
    assert!(!delivery.redelivered);
    assert_eq!(Envelope::from_slice(&delivery.body).unwrap().id, first.id);
    delivery.ack().await.unwrap();

    let second = envelope(2);
    test.broker.publish_raw(&second).await.unwrap();
    let next = within("second delivery", WAIT, subscription.next()).await.unwrap();
    assert_eq!(Envelope::from_slice(&next.body).unwrap().id, second.id, "the acked message came back");
    next.ack().await.unwrap();
    subscription.close().await;
    assert_eq!(test.broker.ready_count(&queue).await.unwrap(), 0);
    assert_eq!(test.counter("sua_broker_published_total", &[]), 2);
    test.cleanup().await;
}
for_each_broker!(a_published_message_is_delivered_once_and_gone_once_acked);

async fn a_consumer_that_dies_before_acking_gets_the_message_again(kind: BrokerUnderTest) {
    let test = TestBroker::new(kind).await;
    let queue = test.broker.topology().analytics_queue();
    let message = envelope(1);
    test.broker.publish_raw(&message).await.unwrap();

    let mut dying = test.broker.subscribe(&queue, 10).await.unwrap();
    let unsettled = within("first delivery", WAIT, dying.next()).await.unwrap();
    assert!(!unsettled.redelivered);
    // The consumer goes away with the delivery unsettled (its channel closes).
    drop(unsettled);
    dying.close().await;

    let mut survivor = test.broker.subscribe(&queue, 10).await.unwrap();
    let again = within("redelivery", WAIT, survivor.next()).await.unwrap();
    assert_eq!(Envelope::from_slice(&again.body).unwrap().id, message.id);
    assert!(again.redelivered, "a redelivery must say so");
    again.ack().await.unwrap();
    survivor.close().await;
    test.cleanup().await;
}
for_each_broker!(a_consumer_that_dies_before_acking_gets_the_message_again);

async fn a_message_whose_handler_always_fails_is_dead_lettered_at_the_delivery_limit(kind: BrokerUnderTest) {
    let test = TestBroker::with_settings(kind, |s| s.delivery_limit = 3).await;
    let topology = test.broker.topology().clone();
    let handler = Recorder::failing(|| HandlerError::Transient(anyhow::anyhow!("database unavailable")));
    let (stop, task) = consumer(&test, topology.analytics_queue(), handler.clone());
    let message = envelope(7);
    test.broker.publish_raw(&message).await.unwrap();

    let mut dead = test.broker.subscribe(&topology.dead_letter_queue(), 10).await.unwrap();
    let letter = within("dead letter", WAIT, dead.next()).await.unwrap();
    assert_eq!(Envelope::from_slice(&letter.body).unwrap().id, message.id);
    assert_eq!(letter.headers.get("x-first-death-reason").map(String::as_str), Some("rejected"));
    assert_eq!(handler.calls.load(Ordering::SeqCst), 3, "handled exactly delivery_limit times");
    // The letter can be seen in the dead-letter queue a moment before the consumer counts it.
    eventually("the dead letter is counted", WAIT, || async {
        test.counter("sua_messages_dead_lettered_total", &[("reason", "delivery_limit")]) == 1
    })
    .await;
    eventually("both retries are counted", WAIT, || async {
        test.counter("sua_messages_handled_total", &[("outcome", "retried")]) == 2
    })
    .await;
    letter.ack().await.unwrap();
    stop.cancel();
    task.await.unwrap();
    dead.close().await;
    test.cleanup().await;
}
for_each_broker!(a_message_whose_handler_always_fails_is_dead_lettered_at_the_delivery_limit);

/// Fails with "unavailable" on its first `outage` calls, then stores.
struct Outage {
    outage: u32,
    calls: AtomicU32,
    stored: Mutex<Vec<uuid::Uuid>>,
}

#[async_trait::async_trait]
impl Handler for Outage {
    async fn handle(&self, envelope: Envelope) -> Result<(), HandlerError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.outage {
            return Err(HandlerError::Unavailable(anyhow::anyhow!("no database connection available")));
        }
        self.stored.lock().await.push(envelope.id);
        Ok(())
    }
}

async fn an_outage_longer_than_the_delivery_limit_is_waited_out_and_nothing_is_dead_lettered(kind: BrokerUnderTest) {
    let test = TestBroker::with_settings(kind, |s| s.delivery_limit = 2).await;
    let topology = test.broker.topology().clone();
    // Four times the delivery limit of failed attempts: a requeue per attempt would have dead-lettered it.
    let handler = Arc::new(Outage { outage: 8, calls: AtomicU32::new(0), stored: Mutex::new(Vec::new()) });
    let stop = CancellationToken::new();
    let mut options = ConsumerOptions::new(topology.analytics_queue(), &test.settings, Duration::from_secs(5));
    options.retry_base = Duration::from_millis(10);
    options.unavailable_retry_max = Duration::from_millis(40);
    let task = tokio::spawn(run_consumer(test.broker.clone(), options, handler.clone(), stop.clone()).map_unit());
    let message = envelope(3);
    test.broker.publish_raw(&message).await.unwrap();

    eventually("the message is stored after the outage", WAIT, || async { !handler.stored.lock().await.is_empty() })
        .await;
    eventually("the delivery is acked", WAIT, || async {
        test.counter("sua_messages_handled_total", &[("outcome", "acked")]) == 1
    })
    .await;
    assert_eq!(*handler.stored.lock().await, vec![message.id], "stored exactly once");
    assert_eq!(handler.calls.load(Ordering::SeqCst), 9);
    assert_eq!(test.counter("sua_messages_unavailable_retries_total", &[]), 8);
    assert_eq!(test.counter("sua_messages_dead_lettered_total", &[]), 0);
    assert_eq!(test.counter("sua_messages_handled_total", &[("outcome", "retried")]), 0, "never requeued");
    assert_eq!(test.broker.ready_count(&topology.dead_letter_queue()).await.unwrap(), 0);
    assert_eq!(test.broker.ready_count(&topology.analytics_queue()).await.unwrap(), 0);
    stop.cancel();
    task.await.unwrap();
    test.cleanup().await;
}
for_each_broker!(an_outage_longer_than_the_delivery_limit_is_waited_out_and_nothing_is_dead_lettered);

async fn a_delivery_held_longer_than_the_hold_limit_goes_back_to_its_queue_without_counting_a_delivery(
    kind: BrokerUnderTest,
) {
    let test = TestBroker::with_settings(kind, |s| s.delivery_limit = 2).await;
    let topology = test.broker.topology().clone();
    let handler = Arc::new(Outage { outage: 30, calls: AtomicU32::new(0), stored: Mutex::new(Vec::new()) });
    let stop = CancellationToken::new();
    let mut options = ConsumerOptions::new(topology.analytics_queue(), &test.settings, Duration::from_secs(5));
    options.retry_base = Duration::from_millis(5);
    options.unavailable_retry_max = Duration::from_millis(10);
    options.unavailable_hold = Duration::from_millis(50);
    let task = tokio::spawn(run_consumer(test.broker.clone(), options, handler.clone(), stop.clone()).map_unit());
    let message = envelope(5);
    test.broker.publish_raw(&message).await.unwrap();
    eventually("the message is stored after the outage", WAIT, || async { !handler.stored.lock().await.is_empty() })
        .await;
    assert_eq!(*handler.stored.lock().await, vec![message.id], "stored exactly once");
    assert!(test.counter("sua_messages_handled_total", &[("outcome", "requeued_fresh")]) >= 2, "held past the limit");
    assert_eq!(test.counter("sua_messages_dead_lettered_total", &[]), 0);
    assert_eq!(test.broker.ready_count(&topology.dead_letter_queue()).await.unwrap(), 0);
    stop.cancel();
    task.await.unwrap();
    test.cleanup().await;
}
for_each_broker!(a_delivery_held_longer_than_the_hold_limit_goes_back_to_its_queue_without_counting_a_delivery);

async fn a_delivery_held_through_an_outage_is_let_go_at_shutdown_and_handled_by_the_next_consumer(
    kind: BrokerUnderTest,
) {
    let test = TestBroker::with_settings(kind, |s| s.delivery_limit = 2).await;
    let topology = test.broker.topology().clone();
    let down = Arc::new(Outage { outage: u32::MAX, calls: AtomicU32::new(0), stored: Mutex::new(Vec::new()) });
    let (stop, task) = consumer(&test, topology.analytics_queue(), down.clone());
    let message = envelope(4);
    test.broker.publish_raw(&message).await.unwrap();
    eventually("the outage is met", WAIT, || async { down.calls.load(Ordering::SeqCst) >= 3 }).await;
    // Shutdown does not wait for the outage to end.
    stop.cancel();
    within("shutdown while a delivery is held", Duration::from_secs(3), task).await.unwrap();

    let up = Arc::new(Recorder::default());
    let (stop, task) = consumer(&test, topology.analytics_queue(), up.clone());
    eventually("the next consumer handles it", WAIT, || async { up.ids().await == vec![message.id] }).await;
    assert_eq!(test.counter("sua_messages_dead_lettered_total", &[]), 0);
    stop.cancel();
    task.await.unwrap();
    test.cleanup().await;
}
for_each_broker!(a_delivery_held_through_an_outage_is_let_go_at_shutdown_and_handled_by_the_next_consumer);

async fn dead_letters_can_be_listed_by_tenant_and_replayed_to_where_they_came_from(kind: BrokerUnderTest) {
    let test = TestBroker::new(kind).await;
    let topology = test.broker.topology().clone();
    let handler = Recorder::failing(|| HandlerError::Reject(anyhow::anyhow!("payload breaks its contract")));
    let (stop, task) = consumer(&test, topology.analytics_queue(), handler.clone());
    let (first, second) = (envelope(1), envelope(2));
    test.broker.publish_raw(&first).await.unwrap();
    test.broker.publish_raw(&second).await.unwrap();
    eventually("both are dead-lettered", WAIT, || async {
        test.broker.ready_count(&topology.dead_letter_queue()).await.unwrap() == 2
    })
    .await;
    stop.cancel();
    task.await.unwrap();

    // Listing leaves them where they are.
    for _ in 0..2 {
        let letters = test.broker.dead_letters(100).await.unwrap();
        let mut ids: Vec<String> = letters.iter().map(|l| l.message_id.clone()).collect();
        ids.sort();
        let mut expected = vec![first.id.to_string(), second.id.to_string()];
        expected.sort();
        assert_eq!(ids, expected);
        for letter in &letters {
            assert_eq!(letter.kind, "licence.skus.v1");
            assert_eq!(letter.tenant_id.as_deref(), Some("tenant-a"));
            assert_eq!(letter.queue.as_deref(), Some(topology.analytics_queue().as_str()));
            assert_eq!(letter.exchange.as_deref(), Some(topology.raw_exchange().as_str()));
        }
        eventually("the listed letters are back", WAIT, || async {
            test.broker.ready_count(&topology.dead_letter_queue()).await.unwrap() == 2
        })
        .await;
    }

    // Replaying one sends it back to its queue, where a consumer now handles it; the other stays.
    let wanted = first.id.to_string();
    let report = test.broker.replay_dead_letters(100, |l| l.message_id == wanted).await.unwrap();
    assert_eq!(report.replayed.len(), 1);
    let handler = Arc::new(Recorder::default());
    let (stop, task) = consumer(&test, topology.analytics_queue(), handler.clone());
    eventually("the replayed message is handled", WAIT, || async { handler.ids().await == vec![first.id] }).await;
    eventually("the other letter stays", WAIT, || async {
        test.broker.ready_count(&topology.dead_letter_queue()).await.unwrap() == 1
    })
    .await;
    let left = test.broker.dead_letters(100).await.unwrap();
    assert_eq!(left.iter().map(|l| l.message_id.clone()).collect::<Vec<_>>(), vec![second.id.to_string()]);
    stop.cancel();
    task.await.unwrap();
    test.cleanup().await;
}
for_each_broker!(dead_letters_can_be_listed_by_tenant_and_replayed_to_where_they_came_from);

async fn poison_is_dead_lettered_at_once_and_counted(kind: BrokerUnderTest) {
    let test = TestBroker::new(kind).await;
    let topology = test.broker.topology().clone();
    let handler = Arc::new(Recorder::default());
    let (stop, task) = consumer(&test, topology.analytics_queue(), handler.clone());
    let garbage = OutboundMessage {
        message_id: "garbage-1".into(),
        routing_key: "callrecord.v1".into(),
        body: Bytes::from_static(b"{ this is not an envelope"),
        headers: BTreeMap::new(),
    };
    test.broker.publish(&topology.raw_exchange(), &garbage).await.unwrap();

    let mut dead = test.broker.subscribe(&topology.dead_letter_queue(), 10).await.unwrap();
    let letter = within("dead letter", WAIT, dead.next()).await.unwrap();
    assert_eq!(letter.message_id.as_deref(), Some("garbage-1"));
    assert_eq!(&letter.body[..], b"{ this is not an envelope", "the poison is kept as it came");
    assert_eq!(handler.calls.load(Ordering::SeqCst), 0);
    eventually("the poison is counted", WAIT, || async {
        test.counter("sua_messages_dead_lettered_total", &[("reason", "undecodable")]) == 1
    })
    .await;
    letter.ack().await.unwrap();
    stop.cancel();
    task.await.unwrap();
    dead.close().await;
    test.cleanup().await;
}
for_each_broker!(poison_is_dead_lettered_at_once_and_counted);

async fn a_rejected_message_is_dead_lettered_without_retries(kind: BrokerUnderTest) {
    let test = TestBroker::new(kind).await;
    let topology = test.broker.topology().clone();
    let handler = Recorder::failing(|| HandlerError::Reject(anyhow::anyhow!("payload breaks its contract")));
    let (stop, task) = consumer(&test, topology.analytics_queue(), handler.clone());
    test.broker.publish_raw(&envelope(1)).await.unwrap();
    let mut dead = test.broker.subscribe(&topology.dead_letter_queue(), 10).await.unwrap();
    within("dead letter", WAIT, dead.next()).await.unwrap().ack().await.unwrap();
    // The consumer counts after the broker took the letter: wait for the count, then check nothing was retried.
    eventually("the rejection is counted", WAIT, || async {
        test.counter("sua_messages_dead_lettered_total", &[("reason", "rejected")]) == 1
    })
    .await;
    assert_eq!(handler.calls.load(Ordering::SeqCst), 1);
    stop.cancel();
    task.await.unwrap();
    dead.close().await;
    test.cleanup().await;
}
for_each_broker!(a_rejected_message_is_dead_lettered_without_retries);

async fn many_publishes_in_flight_are_all_confirmed_and_delivered(kind: BrokerUnderTest) {
    let test = TestBroker::new(kind).await;
    let handler = Arc::new(Recorder::default());
    let (stop, task) = consumer(&test, test.broker.topology().analytics_queue(), handler.clone());
    let envelopes: Vec<Envelope> = (0..400).map(envelope).collect();
    let publishes = envelopes.iter().map(|e| test.broker.publish_raw(e));
    for result in futures::future::join_all(publishes).await {
        result.unwrap();
    }
    eventually("all 400 handled", WAIT, || async { handler.calls.load(Ordering::SeqCst) >= 400 }).await;
    let mut seen = handler.ids().await;
    seen.sort();
    let mut expected: Vec<_> = envelopes.iter().map(|e| e.id).collect();
    expected.sort();
    assert_eq!(seen, expected);
    stop.cancel();
    task.await.unwrap();
    test.cleanup().await;
}
for_each_broker!(many_publishes_in_flight_are_all_confirmed_and_delivered);

async fn a_subscription_holds_no_more_unacked_deliveries_than_its_prefetch(kind: BrokerUnderTest) {
    let test = TestBroker::new(kind).await;
    let queue = test.broker.topology().analytics_queue();
    for n in 0..3 {
        test.broker.publish_raw(&envelope(n)).await.unwrap();
    }
    let mut subscription = test.broker.subscribe(&queue, 2).await.unwrap();
    let first = within("first", WAIT, subscription.next()).await.unwrap();
    let _second = within("second", WAIT, subscription.next()).await.unwrap();
    // A bounded wait for something that must not happen, then proof that the third is still waiting in the queue
    // (not on its way to this consumer).
    let third = tokio::time::timeout(Duration::from_millis(500), subscription.next()).await;
    assert!(third.is_err(), "a third delivery arrived beyond prefetch 2");
    assert_eq!(test.broker.ready_count(&queue).await.unwrap(), 1, "the third is held back in the queue");
    first.ack().await.unwrap();
    let third = within("third after an ack", WAIT, subscription.next()).await.unwrap();
    third.ack().await.unwrap();
    subscription.close().await;
    test.cleanup().await;
}
for_each_broker!(a_subscription_holds_no_more_unacked_deliveries_than_its_prefetch);

async fn the_trace_crosses_the_queue(kind: BrokerUnderTest) {
    sua_tests::init_telemetry();
    let test = TestBroker::new(kind).await;

    struct TraceRecorder(Mutex<Option<String>>);
    #[async_trait::async_trait]
    impl Handler for TraceRecorder {
        async fn handle(&self, _: Envelope) -> Result<(), HandlerError> {
            *self.0.lock().await = sua_core::telemetry::trace_id(&tracing::Span::current());
            Ok(())
        }
    }
    let handler = Arc::new(TraceRecorder(Mutex::new(None)));
    let (stop, task) = consumer(&test, test.broker.topology().analytics_queue(), handler.clone());

    let span = tracing::info_span!("collect");
    let published_trace = sua_core::telemetry::trace_id(&span).expect("telemetry gives spans a trace id");
    {
        use tracing::Instrument;
        test.broker.publish_raw(&envelope(1)).instrument(span).await.unwrap();
    }
    eventually("the consumer ran", WAIT, || async { handler.0.lock().await.is_some() }).await;
    assert_eq!(handler.0.lock().await.as_deref(), Some(published_trace.as_str()));
    stop.cancel();
    task.await.unwrap();
    test.cleanup().await;
}
for_each_broker!(the_trace_crosses_the_queue);

#[tokio::test]
async fn an_unreachable_broker_is_a_clear_error_within_the_publish_timeout() {
    let settings = sua_core::config::AmqpConfig { publish_timeout_secs: 2, ..Default::default() };
    let registry = prometheus::Registry::new();
    let metrics = sua_core::metrics::BrokerMetrics::new(&registry);
    let url = secrecy::SecretString::from("amqp://guest:guest@127.0.0.1:1/%2f");
    // Connecting does not wait (a service opens its port at once); a publish fails within its timeout, saying why.
    let broker = within("connect", Duration::from_secs(2), sua_core::broker::Broker::connect(&url, &settings, metrics))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let error = broker.publish_raw(&envelope(1)).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert!(error.to_string().contains("Connection refused"), "{error}");
    let readiness = broker.check().await.unwrap_err();
    assert!(readiness.to_string().contains("Connection refused"), "{readiness}");
    broker.close().await;
}
