//! sua's end-to-end suite: one test binary, real RabbitMQ and PostgreSQL (and their embedded twins).
//!
//! Tests under `disruptive::` restart the shared RabbitMQ broker; the test script runs them on their own,
//! after everything else (see scripts/test).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on the first unexpected error")]

mod analytics;
mod broker_contract;
mod callrecords;
mod demo;
mod disruptive;
mod freshness;
mod history;
mod hostile_input;
mod licence_sync;
mod observability;
mod onboarding;
mod portal;
mod portal_web;
mod pstn;
mod scale;
mod services;
mod simulator;

/// Generates one test per broker for a contract test `async fn name(kind: BrokerUnderTest)`.
#[macro_export]
macro_rules! for_each_broker {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_rabbitmq() {
                super::$name(sua_tests::BrokerUnderTest::RabbitMq).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn in_process() {
                super::$name(sua_tests::BrokerUnderTest::InProcess).await
            }
        }
    };
}
