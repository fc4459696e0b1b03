//! One handler per message kind, dispatched by [`RawRecordHandler`]. Each runs one database transaction and
//! returns only after it committed, so the consumer acks only durable work; a payload that cannot be normalised
//! is rejected (dead-lettered with a metric), database trouble is retried.

mod calls;
mod snapshots;

use prometheus::{IntCounterVec, Registry};
use sua_core::broker::{Handler, HandlerError};
use sua_core::messages::{Envelope, Kind};
use sua_db::{DbError, Pool};

/// Dispatches each raw record to the handler of its kind.
pub struct RawRecordHandler {
    pool: Pool,
    calls: calls::Writer,
    normalised: IntCounterVec,
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
        Self { calls: calls::writer(pool.clone(), writers, batch_max), pool, normalised }
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
        let outcome = match kind {
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
        };
        self.normalised.with_label_values(&[kind.as_str(), outcome.as_str()]).inc();
        Ok(())
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
