//! Teams call records: subscriptions and their webhooks, record fetches, and backfills.

pub mod backfill;
pub mod batcher;
pub mod fetch;
pub mod subscriptions;
pub mod webhook;

pub use backfill::Backfills;
pub use fetch::{Fetched, Fetcher};
pub use subscriptions::Subscriptions;
pub use webhook::Webhook;
