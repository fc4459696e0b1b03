//! The time sua's business logic runs on: which day a sync belongs to, backfill windows, subscription expiry,
//! inactivity ages. It is the system's UTC clock shifted by an offset, zero unless a test moves it, so that a
//! test can run the whole pipeline at a fixed instant (a Monday just after midnight, a month end, a DST change)
//! or advance it by days. Time is a property of the process: every service in one process shares it.
//!
//! Security timestamps (token lifetimes, signatures) deliberately stay on the system clock: their peers
//! (Entra ID, the portal's browser) live on real time.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, NaiveDate, SubsecRound, Utc};

static OFFSET_MICROS: AtomicI64 = AtomicI64::new(0);

/// Now, on sua's clock.
pub fn now() -> DateTime<Utc> {
    Utc::now() + Duration::microseconds(OFFSET_MICROS.load(Ordering::Relaxed))
}

/// Today's date (UTC) on sua's clock.
pub fn today() -> NaiveDate {
    now().date_naive()
}

/// Now as stored in the database: UTC, microsecond precision (PostgreSQL's).
pub fn now_naive() -> chrono::NaiveDateTime {
    now().naive_utc().trunc_subsecs(6)
}

/// Moves the clock so that it reads `instant` now; it runs on from there.
pub fn set(instant: DateTime<Utc>) {
    let offset = (instant - Utc::now()).num_microseconds().unwrap_or(0);
    OFFSET_MICROS.store(offset, Ordering::Relaxed);
}

/// Moves the clock forward (or back, for a negative duration).
pub fn advance(by: Duration) {
    OFFSET_MICROS.fetch_add(by.num_microseconds().unwrap_or(0), Ordering::Relaxed);
}

/// The current offset from the system clock.
pub fn offset() -> Duration {
    Duration::microseconds(OFFSET_MICROS.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_reads_the_instant_it_was_set_to_and_runs_on() {
        let instant = DateTime::parse_from_rfc3339("2026-11-30T00:30:00Z").map(|t| t.with_timezone(&Utc)).unwrap();
        set(instant);
        let read = now();
        assert!(read >= instant && read - instant < Duration::seconds(5), "{read}");
        assert_eq!(today(), NaiveDate::from_ymd_opt(2026, 11, 30).unwrap());
        advance(Duration::days(1));
        assert_eq!(today(), NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        set(Utc::now());
        assert!(offset().num_seconds().abs() < 5);
    }
}
