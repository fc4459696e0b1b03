//! One handler per message kind, dispatched by [`RawRecordHandler`]. Each runs one database transaction and
//! returns only after it committed, so the consumer acks only durable work; a payload that cannot be normalised
//! is rejected (dead-lettered with a metric), database trouble is retried.

mod calls;
mod snapshots;

use prometheus::{Histogram, IntCounterVec, Registry};
use sua_core::broker::{Handler, HandlerError};
use sua_core::messages::{Envelope, Kind};
use sua_db::{DbError, Pool};
use tracing::Instrument;

/// Dispatches each raw record to the handler of its kind.
pub struct RawRecordHandler {
    pool: Pool,
    calls: calls::Writer,
    normalised: IntCounterVec,
    notified_to_stored: Histogram,
}

impl RawRecordHandler {
    /// Call records are stored by `writers` transactions at once, each of up to `batch_max` records; call from
    /// within the runtime the handler serves.
    pub fn new(pool: Pool, registry: &Registry, writers: usize, batch_max: usize) -> Self {
        let normalised = sua_core::metrics::counter_vec(
            registry,
            "sua_analytics_messages_total",
            "Raw records handled by analytics, by kind and outcome (stored, duplicate, ignored).",
            &["kind", "outcome"],
        );
        let notified_to_stored = sua_core::metrics::histogram_vec(
            registry,
            "sua_notification_to_store_seconds",
            "End to end: from a change notification reaching the collector's webhook to its call record stored.",
            &[],
            vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0],
        )
        .with_label_values(&[] as &[&str]);
        Self { calls: calls::writer(pool.clone(), writers, batch_max), pool, normalised, notified_to_stored }
    }
}

/// What a handler did with a message it accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Stored,
    /// Seen before (redelivery, replay or an older version): nothing changed.
    Duplicate,
    /// Nothing for analytics to store.
    Ignored,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Stored => "stored",
            Outcome::Duplicate => "duplicate",
            Outcome::Ignored => "ignored",
        }
    }
}

#[async_trait::async_trait]
impl Handler for RawRecordHandler {
    async fn handle(&self, envelope: Envelope) -> Result<(), HandlerError> {
        let kind = envelope.kind;
        let span = tracing::info_span!("store", otel.name = %format!("store {kind}"), kind = %kind, outcome = tracing::field::Empty);
        let outcome = self.store(envelope).instrument(span.clone()).await?;
        span.record("outcome", outcome.as_str());
        if kind == Kind::CallRecordV1
            && outcome == Outcome::Stored
            && let Some(notified) = sua_core::telemetry::notified_at()
        {
            let latency = (sua_core::clock::now() - notified).to_std().unwrap_or_default();
            self.notified_to_stored.observe(latency.as_secs_f64());
        }
        self.normalised.with_label_values(&[kind.as_str(), outcome.as_str()]).inc();
        Ok(())
    }
}

impl RawRecordHandler {
    /// Stores one raw record in the analytics tables (one transaction, committed on return).
    async fn store(&self, envelope: Envelope) -> Result<Outcome, HandlerError> {
        let kind = envelope.kind;
        Ok(match kind {
            Kind::CallRecordV1 => calls::call_record(&self.calls, &envelope).await?,
            Kind::PstnCallsV1 => calls::pstn_page(&self.pool, &envelope).await?,
            Kind::LicenceSkusV1 | Kind::LicenceUsersV1 | Kind::TeamsActivityReportV1 => {
                snapshots::part(&self.pool, &envelope).await?
            }
            Kind::SyncCompletedV1 => snapshots::completed(&self.pool, &envelope).await?,
            other => {
                tracing::debug!(kind = %other, "nothing for analytics in this kind");
                Outcome::Ignored
            }
        })
    }
}

/// An unreachable database is waited out, other trouble that may pass is retried; anything else would fail
/// again (see `From<DbError> for HandlerError`).
pub(crate) fn db_error(error: DbError) -> HandlerError {
    HandlerError::from(error)
}

/// A transaction's error: the database's (classified) or the handler's own rejection.
#[derive(Debug)]
pub(crate) enum TxError {
    Db(DbError),
    Reject(anyhow::Error),
}

impl From<DbError> for TxError {
    fn from(error: DbError) -> Self {
        TxError::Db(error)
    }
}

impl From<sua_db::diesel::result::Error> for TxError {
    fn from(error: sua_db::diesel::result::Error) -> Self {
        TxError::Db(DbError::Query(error))
    }
}

impl From<TxError> for HandlerError {
    fn from(error: TxError) -> Self {
        match error {
            TxError::Db(error) => db_error(error),
            TxError::Reject(error) => HandlerError::Reject(error),
        }
    }
}
