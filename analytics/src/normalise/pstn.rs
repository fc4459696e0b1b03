//! `pstn.calls.v1` pages (`getPstnCalls` → pstnCallLogRow, `getDirectRoutingCalls` → directRoutingLogRow) → rows.

use anyhow::{Context, anyhow};
use serde::Deserialize;
use serde_json::Value;
use sua_core::messages::PstnSource;
use sua_db::models::PstnCallRow;
use sua_domain::graph::pstn::CallLogRow;

use super::non_empty;

pub use sua_domain::money::{minor_unit_digits, to_minor};

pub fn page(tenant_id: &str, source: PstnSource, body: &Value) -> anyhow::Result<Vec<PstnCallRow>> {
    let body = super::without_nul(body);
    let rows = body.get("value").and_then(Value::as_array).ok_or_else(|| anyhow!("the page has no value array"))?;
    let source_name = match source {
        PstnSource::Pstn => "pstn",
        PstnSource::DirectRouting => "direct_routing",
    };
    let mut out = Vec::with_capacity(rows.len());
    for raw in rows {
        let row = CallLogRow::deserialize(raw).context("a call log row is not as Graph documents it")?;
        let start_at = row.start_date_time.0;
        let end_at = row.end_date_time.map(|t| t.0);
        let duration = row.duration.or_else(|| end_at.map(|end| (end - start_at).num_seconds())).unwrap_or(0).max(0);
        let currency = non_empty(row.currency);
        let charge_minor = match (row.charge, &currency) {
            (Some(charge), Some(currency)) => Some(to_minor(charge, currency)),
            _ => None,
        };
        out.push(PstnCallRow {
            tenant_id: tenant_id.to_string(),
            source: source_name.to_string(),
            id: row.id,
            user_id: non_empty(row.user_id).map(|s| s.to_ascii_lowercase()),
            user_principal_name: non_empty(row.user_principal_name),
            call_type: row.call_type.unwrap_or_default(),
            start_at,
            end_at,
            day: start_at.date(),
            duration_seconds: duration,
            charge_minor,
            currency: charge_minor.and(currency),
            destination: non_empty(row.destination_name),
            raw: raw.to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn charges_become_minor_units_of_their_currency() {
        assert_eq!(to_minor(0.36, "USD"), 36);
        assert_eq!(to_minor(12.345, "KWD"), 12_345);
        assert_eq!(to_minor(120.0, "JPY"), 120);
    }

    #[test]
    fn a_pstn_row_and_a_direct_routing_row_normalise() {
        let body = json!({"value": [{"id": "9c4984c7", "userId": "DB03C14B", "startDateTime": "2026-11-20T10:00:00Z",
            "endDateTime": "2026-11-20T10:05:00Z", "duration": 300, "charge": 0.36, "currency": "USD",
            "callType": "user_out", "destinationName": "United States"}]});
        let rows = page("t", PstnSource::Pstn, &body).unwrap();
        assert_eq!(
            (rows[0].charge_minor, rows[0].currency.as_deref(), rows[0].duration_seconds),
            (Some(36), Some("USD"), 300)
        );
        assert_eq!(rows[0].user_id.as_deref(), Some("db03c14b"));
        let body = json!({"value": [{"id": "x", "startDateTime": "2026-11-20T10:00:00Z", "endDateTime": "2026-11-20T10:01:00Z",
            "callType": "ByotIn"}]});
        let rows = page("t", PstnSource::DirectRouting, &body).unwrap();
        assert_eq!(
            (rows[0].charge_minor, rows[0].duration_seconds, rows[0].source.as_str()),
            (None, 60, "direct_routing")
        );
        assert!(page("t", PstnSource::Pstn, &json!({"value": [{"id": "x"}]})).is_err());
    }
}
