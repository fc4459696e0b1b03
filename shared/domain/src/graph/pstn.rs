//! Rows of `getPstnCalls` (pstnCallLogRow) and `getDirectRoutingCalls` (directRoutingLogRow).

use serde::Deserialize;

use super::{Instant, instant_or_none};

/// What sua reads of a PSTN or Direct Routing log row (the two share these fields).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallLogRow {
    pub id: String,
    pub user_id: Option<String>,
    pub user_principal_name: Option<String>,
    pub call_type: Option<String>,
    pub start_date_time: Instant,
    #[serde(default, deserialize_with = "instant_or_none")]
    pub end_date_time: Option<Instant>,
    /// Seconds.
    pub duration: Option<i64>,
    /// In `currency`'s major units (PSTN rows only).
    pub charge: Option<f64>,
    pub currency: Option<String>,
    pub destination_name: Option<String>,
}
