//! Shared core of sua: configuration, telemetry, graceful shutdown, message contracts, queue topology, the
//! broker (RabbitMQ and in-process), metrics and the operational HTTP endpoints.

pub mod broker;
pub mod clock;
pub mod config;
pub mod group_commit;
pub mod http;
pub mod messages;
pub mod metrics;
pub mod ops;
pub mod requests;
pub mod service;
pub mod shutdown;
pub mod telemetry;
pub mod topology;

pub use config::Config;
