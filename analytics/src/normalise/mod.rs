//! Raw Graph JSON (and the activity report's CSV) → rows. Pure functions: no I/O, so every rule is unit-tested.
//!
//! A field Graph documents as required and that is missing or malformed makes the whole message fail (it is then
//! dead-lettered, never half-stored); optional fields become `None`.

pub mod calls;
pub mod directory;
pub mod pstn;

use std::borrow::Cow;

use serde_json::Value;

/// What NUL (U+0000) becomes in stored text.
const NUL_REPLACEMENT: &str = "\u{fffd}";

/// Graph text may contain NUL (U+0000), which PostgreSQL's text cannot store: one display name or department
/// with it would fail its whole transaction (every record of a group commit, a whole users page), again on every
/// redelivery. Every string and key of a payload gets U+FFFD in its place before it is normalised; the raw JSON
/// kept beside the rows holds the `\u0000` escape, which is plain text.
pub fn without_nul(value: &Value) -> Cow<'_, Value> {
    fn has_nul(value: &Value) -> bool {
        match value {
            Value::String(s) => s.contains('\0'),
            Value::Array(items) => items.iter().any(has_nul),
            Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
            Value::Null | Value::Bool(_) | Value::Number(_) => false,
        }
    }
    fn replaced(value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(s.replace('\0', NUL_REPLACEMENT)),
            Value::Array(items) => Value::Array(items.iter().map(replaced).collect()),
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.replace('\0', NUL_REPLACEMENT), replaced(v))).collect())
            }
            other => other.clone(),
        }
    }
    if has_nul(value) { Cow::Owned(replaced(value)) } else { Cow::Borrowed(value) }
}

/// Text (the activity report's CSV) with NUL replaced, as [`without_nul`] does for JSON.
pub fn text_without_nul(text: &str) -> Cow<'_, str> {
    if text.contains('\0') { Cow::Owned(text.replace('\0', NUL_REPLACEMENT)) } else { Cow::Borrowed(text) }
}

/// Graph's empty strings are no value.
pub(crate) fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|s| !s.is_empty())
}

/// An ISO 8601 duration as Graph writes media metrics (`PT0.012S`, `PT1M2.5S`, `P1DT2H`) in seconds.
pub(crate) fn parse_duration(raw: &str) -> Option<f64> {
    let rest = raw.strip_prefix('P')?;
    let (date, time) = rest.split_once('T').unwrap_or((rest, ""));
    let date_unit = |unit| match unit {
        'D' => Some(86_400.0),
        'W' => Some(604_800.0),
        _ => None,
    };
    let time_unit = |unit| match unit {
        'H' => Some(3_600.0),
        'M' => Some(60.0),
        'S' => Some(1.0),
        _ => None,
    };
    Some(duration_part(date, date_unit)? + duration_part(time, time_unit)?)
}

/// Sums `<number><unit>` pairs of one half of an ISO 8601 duration; `None` on anything else.
fn duration_part(text: &str, unit: impl Fn(char) -> Option<f64>) -> Option<f64> {
    let mut seconds = 0.0;
    let mut number = String::new();
    for ch in text.chars() {
        if ch.is_ascii_digit() || ch == '.' {
            number.push(ch);
        } else {
            seconds += number.parse::<f64>().ok()? * unit(ch)?;
            number.clear();
        }
    }
    number.is_empty().then_some(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_in_any_string_or_key_is_replaced_and_clean_payloads_are_not_copied() {
        let clean = serde_json::json!({"displayName": "Anne", "n": [1, "x"]});
        assert!(matches!(without_nul(&clean), Cow::Borrowed(_)));
        let dirty = serde_json::json!({"displayName": "An\u{0}ne", "a\u{0}": [{"department": "\u{0}Sales"}], "n": 3});
        assert_eq!(
            without_nul(&dirty).into_owned(),
            serde_json::json!({"displayName": "An\u{fffd}ne", "a\u{fffd}": [{"department": "\u{fffd}Sales"}], "n": 3})
        );
        assert_eq!(text_without_nul("a\u{0},b"), "a\u{fffd},b");
    }

    #[test]
    fn durations_parse_as_graph_writes_them() {
        assert_eq!(parse_duration("PT0.012S"), Some(0.012));
        assert_eq!(parse_duration("PT1M2.5S"), Some(62.5));
        assert_eq!(parse_duration("P1DT2H"), Some(93_600.0));
        assert_eq!(parse_duration("PT"), Some(0.0));
        assert_eq!(parse_duration("12"), None);
        assert_eq!(parse_duration("PT5"), None);
    }
}
