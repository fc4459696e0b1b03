//! Shared by the benchmark binaries: latency statistics.

use std::time::Duration;

/// Requests per second and latency percentiles of one run.
#[derive(Debug, Clone)]
pub struct Summary {
    pub requests: usize,
    pub failures: usize,
    pub elapsed: Duration,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    /// `latencies_us`: one entry per completed request (answered with the expected status).
    pub fn of(mut latencies_us: Vec<u64>, failures: usize, elapsed: Duration) -> Self {
        latencies_us.sort_unstable();
        let at = |q: f64| {
            if latencies_us.is_empty() {
                return 0.0;
            }
            let index = ((latencies_us.len() as f64 * q).ceil() as usize).clamp(1, latencies_us.len()) - 1;
            latencies_us[index] as f64 / 1000.0
        };
        Self {
            requests: latencies_us.len(),
            failures,
            elapsed,
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            max_ms: latencies_us.last().map_or(0.0, |v| *v as f64 / 1000.0),
        }
    }

    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "requests": self.requests,
            "failures": self.failures,
            "seconds": self.elapsed.as_secs_f64(),
            "per_second": self.per_second(),
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let summary = Summary::of((1..=100).map(|ms| ms * 1000).collect(), 2, Duration::from_secs(2));
        assert_eq!(summary.requests, 100);
        assert_eq!(summary.p50_ms, 50.0);
        assert_eq!(summary.p99_ms, 99.0);
        assert_eq!(summary.max_ms, 100.0);
        assert_eq!(summary.per_second(), 50.0);
    }
}
