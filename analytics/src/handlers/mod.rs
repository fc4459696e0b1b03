//! One handler per message kind, dispatched by [`RawRecordHandler`].

mod call_records;

use prometheus::{IntCounterVec, Registry};
use sua_core::broker::{Handler, HandlerError};
use sua_core::messages::{Envelope, Kind};
use sua_db::{DbError, Pool};

/// Dispatches each raw record to the handler of its kind.
pub struct RawRecordHandler {
    pool: Pool,
    not_yet_normalised: IntCounterVec,
}

impl RawRecordHandler {
    pub fn new(pool: Pool, registry: &Registry) -> Self {
        let not_yet_normalised = sua_core::metrics::counter_vec(
            registry,
            "sua_analytics_unnormalised_total",
            "Raw records acknowledged without normalisation because no handler exists for their kind yet.",
            &["kind"],
        );
        Self { pool, not_yet_normalised }
    }
}

#[async_trait::async_trait]
impl Handler for RawRecordHandler {
    async fn handle(&self, envelope: Envelope) -> Result<(), HandlerError> {
        match envelope.kind {
            Kind::CallRecordV1 => call_records::handle(&self.pool, &envelope).await,
            other => {
                tracing::debug!(kind = %other, "no normaliser for this kind yet");
                self.not_yet_normalised.with_label_values(&[other.as_str()]).inc();
                Ok(())
            }
        }
    }
}

/// Database trouble that may pass is retried; anything else would fail again.
pub(crate) fn db_error(error: DbError) -> HandlerError {
    if error.is_transient() { HandlerError::Transient(error.into()) } else { HandlerError::Reject(error.into()) }
}
