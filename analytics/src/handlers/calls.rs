//! `callrecord.v1` (newest version wins, with its children) and `pstn.calls.v1` pages.

use sua_core::broker::HandlerError;
use sua_core::group_commit::GroupCommit;
use sua_core::messages::{CallRecordV1, Envelope, PstnCallsV1};
use sua_db::Pool;
use sua_db::models::{CallRecordRow, NormalisedCall, PstnCallRow};

use super::{Outcome, TxError};
use crate::normalise;

/// A normalised record waiting for its transaction.
pub(crate) type Normalised = (CallRecordRow, NormalisedCall);

/// Call records handled at once share one transaction ([`store_batch`]).
pub(crate) type Writer = GroupCommit<Normalised, Result<bool, TxError>>;

pub(crate) fn writer(pool: Pool, writers: usize, max: usize) -> Writer {
    GroupCommit::spawn(&tokio::runtime::Handle::current(), writers, max, move |batch| {
        let pool = pool.clone();
        async move { store_batch(&pool, batch).await }
    })
}

/// Stores a batch in one transaction (records in key order, so concurrent batches lock rows in the same order).
/// When the transaction fails, each record is retried in a transaction of its own, so one bad record fails alone.
async fn store_batch(pool: &Pool, batch: Vec<Normalised>) -> Vec<Result<bool, TxError>> {
    let count = batch.len();
    let together = pool
        .run(move |conn| {
            let result = conn.transaction(|tx| Ok::<_, TxError>(CallRecordRow::store_many(tx, &batch)?));
            Ok::<_, TxError>((result, batch))
        })
        .await;
    match together {
        Ok((Ok(stored), _)) => stored.into_iter().map(Ok).collect(),
        Ok((Err(error), _)) if count == 1 => vec![Err(error)],
        Ok((Err(error), batch)) => {
            tracing::debug!(?error, records = count, "batch failed; storing its records one by one");
            let mut results = Vec::with_capacity(count);
            for (row, children) in batch {
                let one = pool
                    .run(move |conn| {
                        conn.transaction(|tx| Ok::<_, TxError>(CallRecordRow::store(tx, &row, &children)?))
                    })
                    .await;
                results.push(one);
            }
            results
        }
        // No connection: every record is retried later.
        Err(error) => {
            let text = format!("{error:?}");
            (0..count).map(|_| Err(TxError::Db(sua_db::DbError::Pool(text.clone())))).collect()
        }
    }
}

pub(crate) async fn call_record(writer: &Writer, envelope: &Envelope) -> Result<Outcome, HandlerError> {
    let CallRecordV1(record) = envelope.decode()?;
    // The payload is the record as the collector published it: kept as the raw copy without re-serialising.
    let raw = envelope.payload.get();
    let normalised = normalise::calls::call_record(&envelope.tenant_id, &record, raw, sua_db::now())
        .map_err(HandlerError::Reject)?;
    let stored = writer.submit(normalised).await.map_err(|e| HandlerError::Transient(e.into()))??;
    Ok(if stored { Outcome::Stored } else { Outcome::Duplicate })
}

pub(crate) async fn pstn_page(pool: &Pool, envelope: &Envelope) -> Result<Outcome, HandlerError> {
    let page: PstnCallsV1 = envelope.decode()?;
    let rows = normalise::pstn::page(&envelope.tenant_id, page.source, &page.body).map_err(HandlerError::Reject)?;
    let tenant = envelope.tenant_id.clone();
    let inserted =
        pool.run(move |conn| conn.transaction(|tx| Ok::<_, TxError>(PstnCallRow::store(tx, &tenant, &rows)?))).await?;
    Ok(if inserted > 0 { Outcome::Stored } else { Outcome::Duplicate })
}
