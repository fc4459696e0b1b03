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
