//! `callrecord.v1` (newest version wins, with its children) and `pstn.calls.v1` pages.

use sua_core::broker::HandlerError;
use sua_core::messages::{CallRecordV1, Envelope, PstnCallsV1};
use sua_db::Pool;
use sua_db::models::{CallRecordRow, PstnCallRow};

use super::{Outcome, TxError};
use crate::normalise;

pub(crate) async fn call_record(pool: &Pool, envelope: &Envelope) -> Result<Outcome, HandlerError> {
    let CallRecordV1(record) = envelope.decode()?;
    // The payload is the record as the collector published it: kept as the raw copy without re-serialising.
    let raw = envelope.payload.get();
    let (row, children) = normalise::calls::call_record(&envelope.tenant_id, &record, raw, sua_db::now())
        .map_err(HandlerError::Reject)?;
    let stored = pool
        .run(move |conn| conn.transaction(|tx| Ok::<_, TxError>(CallRecordRow::store(tx, &row, &children)?)))
        .await?;
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
