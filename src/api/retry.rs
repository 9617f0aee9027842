//! Backoff for transient errors: capped exponential with full jitter.
//!
//! Full jitter (a uniform delay between zero and the current cap) spreads the retries of many
//! streams and tenants apart after a shared outage, instead of having them return in lockstep.
//! The cap doubles per attempt up to `retry_max_delay`. `backon` drives the loop; this is the
//! iterator of delays it consumes.

use crate::config::RetryConfig;
use std::time::Duration;

#[derive(Debug)]
pub struct FullJitter {
    initial: Duration,
    max: Duration,
    attempt: u32,
    remaining: u32,
    rng: fastrand::Rng,
}

impl FullJitter {
    /// `seed` makes the sequence reproducible (tests); `None` seeds from the OS.
    pub fn new(cfg: &RetryConfig, seed: Option<u64>) -> FullJitter {
        FullJitter {
            initial: cfg.initial_delay,
            max: cfg.max_delay,
            attempt: 0,
            remaining: cfg.max_attempts.saturating_sub(1),
            rng: seed.map(fastrand::Rng::with_seed).unwrap_or_default(),
        }
    }

    /// The ceiling of the delay before retry number `attempt` (0-based).
    pub fn cap(initial: Duration, max: Duration, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        initial.saturating_mul(factor).min(max)
    }
}

impl Iterator for FullJitter {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let cap = Self::cap(self.initial, self.max, self.attempt);
        self.attempt += 1;
        let cap_ms = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
        Some(Duration::from_millis(self.rng.u64(0..=cap_ms)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(attempts: u32) -> RetryConfig {
        RetryConfig {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            max_attempts: attempts,
        }
    }

    #[test]
    fn caps_double_up_to_the_maximum() {
        let caps: Vec<_> = (0..7)
            .map(|a| {
                FullJitter::cap(Duration::from_millis(100), Duration::from_secs(2), a).as_millis()
            })
            .collect();
        assert_eq!(caps, vec![100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(
            FullJitter::cap(Duration::from_secs(1), Duration::from_secs(60), 40),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn yields_attempts_minus_one_delays_within_their_caps() {
        let delays: Vec<_> = FullJitter::new(&cfg(6), Some(7)).collect();
        assert_eq!(delays.len(), 5);
        for (i, d) in delays.iter().enumerate() {
            assert!(
                *d <= FullJitter::cap(Duration::from_millis(100), Duration::from_secs(2), i as u32)
            );
        }
        assert_eq!(FullJitter::new(&cfg(1), None).count(), 0);
    }

    #[test]
    fn delays_grow_on_average_and_are_spread() {
        // Over many sequences the mean delay per attempt follows the doubling cap (mean = cap/2).
        let runs = 2000;
        let mut sums = [0u128; 5];
        let mut distinct = std::collections::HashSet::new();
        for seed in 0..runs {
            for (i, d) in FullJitter::new(&cfg(6), Some(seed)).enumerate() {
                sums[i] += d.as_millis();
                distinct.insert(d.as_millis());
            }
        }
        let means: Vec<f64> = sums.iter().map(|s| *s as f64 / runs as f64).collect();
        for w in means.windows(2).take(3) {
            assert!(w[1] > w[0] * 1.6, "means do not grow: {means:?}");
        }
        assert!((means[0] - 50.0).abs() < 5.0, "{means:?}");
        assert!(distinct.len() > 500, "jitter is not spreading delays");
    }
}
