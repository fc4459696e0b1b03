//! Tests that restart the broker. On RabbitMQ they stop and start the shared node (`rabbitmqctl stop_app` /
//! `start_app`), so the test script runs them alone, after the rest of the suite.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sua_core::broker::{Broker, ConsumerOptions, Handler, HandlerError, run_consumer};
use sua_core::messages::{Envelope, LicenceSkusV1};
use sua_core::shutdown::CancellationToken;
use sua_tests::{BrokerUnderTest, TestBroker, eventually, within};
use tokio::sync::Mutex;

use crate::for_each_broker;

const WAIT: Duration = Duration::from_secs(60);

fn envelope(n: u32) -> Envelope {
    Envelope::new("tenant-a", None, &LicenceSkusV1 { body: json!({ "n": n }) }).unwrap()
}

async fn rabbitmqctl(args: &[&str]) {
    let status = tokio::process::Command::new("rabbitmqctl").args(args).status().await;
    assert!(status.is_ok_and(|s| s.success()), "rabbitmqctl {args:?} failed");
}

async fn stop_broker(kind: BrokerUnderTest) {
    if kind == BrokerUnderTest::RabbitMq {
        rabbitmqctl(&["stop_app"]).await;
    }
}

async fn start_broker(kind: BrokerUnderTest, broker: &Broker) {
    match (kind, broker) {
        (BrokerUnderTest::RabbitMq, _) => {
            rabbitmqctl(&["start_app"]).await;
            rabbitmqctl(&["await_startup"]).await;
        }
        (BrokerUnderTest::InProcess, Broker::Memory(memory)) => memory.restart(),
        _ => unreachable!("in-process tests use the in-process broker"),
    }
}

#[derive(Default)]
struct Recorder(Mutex<Vec<uuid::Uuid>>);

#[async_trait::async_trait]
impl Handler for Recorder {
    async fn handle(&self, envelope: Envelope) -> Result<(), HandlerError> {
        self.0.lock().await.push(envelope.id);
        Ok(())
    }
}

async fn a_confirmed_message_survives_a_broker_restart_and_is_handled_once(kind: BrokerUnderTest) {
    let test = TestBroker::new(kind).await;
    let message = envelope(1);
    test.broker.publish_raw(&message).await.unwrap();
    stop_broker(kind).await;
    start_broker(kind, &test.broker).await;

    let handler = Arc::new(Recorder::default());
    let stop = CancellationToken::new();
    let options =
        ConsumerOptions::new(test.broker.topology().analytics_queue(), &test.settings, Duration::from_secs(5));
    let task = tokio::spawn(run_consumer(test.broker.clone(), options, handler.clone(), stop.clone()));
    // The publisher reconnects by itself; a later message proves nothing earlier is still pending.
    let sentinel = envelope(2);
    within("publish after restart", WAIT, test.broker.publish_raw(&sentinel)).await.unwrap();
    eventually("the sentinel was handled", WAIT, || async { handler.0.lock().await.contains(&sentinel.id) }).await;
    let seen = handler.0.lock().await.clone();
    assert_eq!(seen.iter().filter(|id| **id == message.id).count(), 1, "handled {seen:?}");
    stop.cancel();
    task.await.unwrap().unwrap();
    test.cleanup().await;
}
for_each_broker!(a_confirmed_message_survives_a_broker_restart_and_is_handled_once);

async fn an_unacked_delivery_is_redelivered_after_a_broker_restart(kind: BrokerUnderTest) {
    let test = TestBroker::new(kind).await;
    let queue = test.broker.topology().analytics_queue();
    let message = envelope(1);
    test.broker.publish_raw(&message).await.unwrap();
    let mut subscription = test.broker.subscribe(&queue, 10).await.unwrap();
    let before = within("delivery before restart", WAIT, subscription.next()).await.unwrap();

    stop_broker(kind).await;
    start_broker(kind, &test.broker).await;
    assert!(before.ack().await.is_err(), "an ack on a channel from before the restart must fail");

    // The same subscription resubscribes by itself and gets the message again.
    let after = within("redelivery after restart", WAIT, subscription.next()).await.unwrap();
    assert_eq!(Envelope::from_slice(&after.body).unwrap().id, message.id);
    assert!(after.redelivered);
    after.ack().await.unwrap();
    subscription.close().await;
    test.cleanup().await;
}
for_each_broker!(an_unacked_delivery_is_redelivered_after_a_broker_restart);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_made_while_rabbitmq_is_down_is_confirmed_once_it_is_back() {
    let test = TestBroker::new(BrokerUnderTest::RabbitMq).await;
    stop_broker(BrokerUnderTest::RabbitMq).await;
    let message = envelope(1);
    let publisher = {
        let broker = test.broker.clone();
        let message = message.clone();
        tokio::spawn(async move { broker.publish_raw(&message).await })
    };
    start_broker(BrokerUnderTest::RabbitMq, &test.broker).await;
    within("publish across the outage", WAIT, publisher).await.unwrap().unwrap();
    let mut subscription = test.broker.subscribe(&test.broker.topology().analytics_queue(), 10).await.unwrap();
    let delivery = within("delivery", WAIT, subscription.next()).await.unwrap();
    assert_eq!(Envelope::from_slice(&delivery.body).unwrap().id, message.id);
    delivery.ack().await.unwrap();
    subscription.close().await;
    test.cleanup().await;
}

/// A service that lived through a broker restart still stops promptly on SIGTERM (a rollout after a broker blip
/// must not end in SIGKILL).
async fn stops_promptly_on_sigterm_after_a_broker_restart(binary: &str) {
    use secrecy::ExposeSecret;
    let db = sua_tests::TestDatabase::postgres().unwrap();
    let prefix = format!("t{}.", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let env = vec![
        ("SUA_DATABASE_URL", db.url().expose_secret().to_string()),
        ("SUA_AMQP_URL", sua_tests::rabbitmq_url()),
        ("SUA_AMQP__PREFIX", prefix),
        ("SUA_AMQP__QUEUE_EXPIRES_MS", "600000".to_string()),
        ("SUA_AMQP__RECONNECT_MAX_BACKOFF_MS", "500".to_string()),
        ("SUA_CLIENT_ID", "5f0b7c2a-6e1d-4c38-9a3b-2d4e6f8a1b2c".to_string()),
        ("SUA_CLIENT_SECRET", "sim-client-secret".to_string()),
    ];
    let service = sua_tests::binaries::ServiceProcess::start(binary, &[], &env);
    let ready = service.url("/readyz");
    let is_ready = || async { reqwest::get(&ready).await.is_ok_and(|r| r.status().as_u16() == 200) };
    eventually("the service is ready", WAIT, is_ready).await;
    stop_broker(BrokerUnderTest::RabbitMq).await;
    eventually("readiness sees the broker gone", WAIT, || async { !is_ready().await }).await;
    rabbitmqctl(&["start_app"]).await;
    rabbitmqctl(&["await_startup"]).await;
    eventually("the service is ready again", WAIT, is_ready).await;
    let started = std::time::Instant::now();
    let exit = service.terminate(Duration::from_secs(15)).await;
    assert!(exit.success(), "{binary} exited with {exit:?}");
    eprintln!("{binary} stopped {:?} after SIGTERM", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_stops_promptly_on_sigterm_after_a_broker_restart() {
    stops_promptly_on_sigterm_after_a_broker_restart("sua-analytics").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_collector_stops_promptly_on_sigterm_after_a_broker_restart() {
    stops_promptly_on_sigterm_after_a_broker_restart("sua-collector").await;
}
