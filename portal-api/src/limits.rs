//! Rate limits per caller (`tid/oid` for signed-in users, `ip/…` for refused requests): a generic cell rate
//! (GCRA) limiter per key from `governor`, with a burst.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter as Governor};

use crate::error::ApiError;

pub struct RateLimiter {
    limiter: Governor<String, DefaultKeyedStateStore<String>, DefaultClock>,
    clock: DefaultClock,
}

impl RateLimiter {
    pub fn new(per_second: u32, burst: u32) -> Self {
        let per_second = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let clock = DefaultClock::default();
        Self {
            limiter: Governor::new(Quota::per_second(per_second).allow_burst(burst), Default::default(), clock.clone()),
            clock,
        }
    }

    /// Takes one request from `key`'s allowance, or says how long to wait (whole seconds, at least one).
    pub fn check(&self, key: &str) -> Result<(), ApiError> {
        if self.limiter.len() > 100_000 {
            // Forget callers whose allowance has refilled: they are indistinguishable from new ones.
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&key.to_string()).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            ApiError::TooManyRequests(wait.as_secs_f64().ceil().max(1.0) as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_caller_waits_while_others_do_not() {
        let limiter = RateLimiter::new(1, 3);
        for _ in 0..3 {
            assert!(limiter.check("a").is_ok());
        }
        assert!(matches!(limiter.check("a"), Err(ApiError::TooManyRequests(1))));
        assert!(limiter.check("b").is_ok());
    }
}
