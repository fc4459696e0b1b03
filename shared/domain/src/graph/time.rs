//! Graph's instants. Graph writes ISO 8601 with `Z` or an offset and any fraction; "no value" is sometimes
//! `0001-01-01T00:00:00Z` and sometimes `""` (both in Microsoft's signInActivity example).

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use serde::{Deserialize, Deserializer};

/// An instant Graph sent, in UTC at PostgreSQL's microsecond precision; its "no value" placeholders are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant(pub NaiveDateTime);

impl Instant {
    fn parse(raw: &str) -> Option<Self> {
        let parsed: DateTime<Utc> = raw.parse().ok()?;
        let naive = parsed.naive_utc();
        // 0001-01-01T00:00:00Z and earlier: Graph's placeholder for "never".
        (naive.and_utc().timestamp() > -62_135_596_800).then(|| Self(naive.trunc_subsecs(6)))
    }
}

impl<'de> Deserialize<'de> for Instant {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).ok_or_else(|| serde::de::Error::custom(format!("not a date-time: {raw:?}")))
    }
}

/// For optional instants: absent, `null`, `""`, the placeholder or anything unreadable is `None`.
pub fn instant_or_none<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Instant>, D::Error> {
    let raw = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(raw.as_ref().and_then(serde_json::Value::as_str).and_then(Instant::parse))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Row {
        at: Instant,
        #[serde(default, deserialize_with = "instant_or_none")]
        maybe: Option<Instant>,
    }

    #[test]
    fn graphs_instants_and_placeholders() {
        let row: Row = serde_json::from_str(r#"{"at": "2026-11-24T18:52:21.2169889Z", "maybe": ""}"#).unwrap();
        assert_eq!(row.at.0.to_string(), "2026-11-24 18:52:21.216988");
        assert_eq!(row.maybe, None);
        let row: Row =
            serde_json::from_str(r#"{"at": "2026-11-24T19:52:21+01:00", "maybe": "0001-01-01T00:00:00Z"}"#).unwrap();
        assert_eq!(row.at.0.to_string(), "2026-11-24 18:52:21");
        assert_eq!(row.maybe, None);
        assert!(serde_json::from_str::<Row>(r#"{"at": "0001-01-01T00:00:00Z"}"#).is_err());
        assert!(serde_json::from_str::<Row>(r#"{"at": "soon"}"#).is_err());
    }
}
