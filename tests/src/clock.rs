//! The instant a test runs at. By default the system clock; `TEST_SUA_NOW=2026-11-30T00:30:00Z` pins the
//! simulator and sua's clock to that instant at the start of every test (they run on from there), so the suite
//! can be run at the instants that break date arithmetic: just after midnight on a Monday, late on a Sunday, at
//! a month end, across a DST change (`scripts/test-instants` runs them).

use chrono::{DateTime, Utc};

/// The instant `TEST_SUA_NOW` names, when set.
pub fn pinned() -> Option<DateTime<Utc>> {
    let raw = std::env::var("TEST_SUA_NOW").ok()?;
    match DateTime::parse_from_rfc3339(&raw) {
        Ok(at) => Some(at.with_timezone(&Utc)),
        Err(error) => panic!("TEST_SUA_NOW={raw:?} is not an RFC 3339 instant: {error}"),
    }
}

/// Now, on the clock the test runs on (the simulator's and sua's, once a simulator started).
pub fn now() -> DateTime<Utc> {
    sua_core::clock::now()
}
