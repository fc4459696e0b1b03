//! `callrecord.v1` → `call_records` (newest version wins; replays change nothing).

use anyhow::{Context, anyhow};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sua_core::broker::HandlerError;
use sua_core::messages::{CallRecordV1, Envelope};
use sua_db::Pool;
use sua_db::models::CallRecordRow;

pub(crate) async fn handle(pool: &Pool, envelope: &Envelope) -> Result<(), HandlerError> {
    let CallRecordV1(record) = envelope.decode()?;
    let row = to_row(&envelope.tenant_id, &record).map_err(HandlerError::Reject)?;
    pool.run(move |conn| CallRecordRow::upsert_newest(conn, &row)).await.map_err(super::db_error)?;
    Ok(())
}

fn text<'a>(record: &'a Value, field: &str) -> anyhow::Result<&'a str> {
    record.get(field).and_then(Value::as_str).ok_or_else(|| anyhow!("call record has no {field}"))
}

fn instant(record: &Value, field: &str) -> anyhow::Result<chrono::NaiveDateTime> {
    let raw = text(record, field)?;
    let parsed: DateTime<Utc> = raw.parse().with_context(|| format!("{field} is not a date-time: {raw}"))?;
    Ok(parsed.naive_utc())
}

fn to_row(tenant_id: &str, record: &Value) -> anyhow::Result<CallRecordRow> {
    let modalities = record
        .get("modalities")
        .and_then(Value::as_array)
        .map(|m| m.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","))
        .unwrap_or_default();
    Ok(CallRecordRow {
        tenant_id: tenant_id.to_string(),
        id: text(record, "id")?.to_string(),
        version: record.get("version").and_then(Value::as_i64).ok_or_else(|| anyhow!("call record has no version"))?,
        call_type: text(record, "type").unwrap_or("unknown").to_string(),
        start_at: instant(record, "startDateTime")?,
        end_at: instant(record, "endDateTime")?,
        modalities,
        organizer_id: record.pointer("/organizer_v2/id").and_then(Value::as_str).map(str::to_string),
        raw: record.to_string(),
        received_at: sua_db::now(),
    })
}
