//! The client-side request limiter of one tenant.
//!
//! Mimecast counts requests per user (1.0) or per application (2.0) across all functions
//! (docs/mimecast-api.md#rate-limits), so every stream of a tenant draws from one limiter. The
//! quota is shaped so that no sliding minute ever holds more than `requests_per_minute` requests: a
//! small burst, then a steady rate of the remainder. A 429 pauses the whole tenant for as long as
//! Mimecast asked, because the next request of any stream would be refused too.

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

pub struct TenantLimiter<C: Clock = DefaultClock> {
    limiter: RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<C::Instant>>,
    clock: C,
    paused_until: Mutex<Option<tokio::time::Instant>>,
    per_minute: NonZeroU32,
}

/// Burst and steady rate such that burst + rate x 1 minute <= `per_minute`.
pub fn quota(per_minute: NonZeroU32) -> Quota {
    let n = per_minute.get();
    let burst = (n / 10).clamp(1, 10);
    let steady = n - burst;
    let period = if steady == 0 {
        Duration::from_secs(60)
    } else {
        Duration::from_secs(60) / steady
    };
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period.max(Duration::from_nanos(1)))
        .unwrap_or_else(|| Quota::per_minute(per_minute))
        .allow_burst(burst)
}

impl TenantLimiter<DefaultClock> {
    pub fn new(per_minute: NonZeroU32) -> Self {
        Self::with_clock(per_minute, DefaultClock::default())
    }
}

impl<C: Clock + Clone> TenantLimiter<C> {
    pub fn with_clock(per_minute: NonZeroU32, clock: C) -> Self {
        TenantLimiter {
            limiter: RateLimiter::direct_with_clock(quota(per_minute), clock.clone()),
            clock,
            paused_until: Mutex::new(None),
            per_minute,
        }
    }

    pub fn per_minute(&self) -> NonZeroU32 {
        self.per_minute
    }

    /// Takes a slot now, or says how long until one is free.
    pub fn try_acquire(&self) -> Result<(), Duration> {
        self.limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Waits for a pause to end and a slot to be free, then takes it.
    pub async fn acquire(&self) {
        loop {
            let pause = self.paused_until.lock().map(|p| *p).unwrap_or(None);
            if let Some(until) = pause {
                if until > tokio::time::Instant::now() {
                    tokio::time::sleep_until(until).await;
                    continue;
                }
            }
            match self.try_acquire() {
                Ok(()) => return,
                Err(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    /// Holds every request of the tenant back for `wait` (after a 429).
    pub fn pause_for(&self, wait: Duration) {
        let until = tokio::time::Instant::now() + wait;
        if let Ok(mut p) = self.paused_until.lock() {
            if p.is_none_or(|cur| cur < until) {
                *p = Some(until);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    /// Drives the limiter as fast as it allows for `minutes` simulated minutes and returns the
    /// times (ms) at which requests went out.
    fn saturate(per_minute: u32, minutes: u64) -> Vec<u64> {
        let clock = FakeRelativeClock::default();
        let limiter =
            TenantLimiter::with_clock(NonZeroU32::new(per_minute).unwrap(), clock.clone());
        let mut sent = Vec::new();
        let mut now_ms = 0u64;
        while now_ms < minutes * 60_000 {
            match limiter.try_acquire() {
                Ok(()) => sent.push(now_ms),
                Err(wait) => {
                    let step = wait.max(Duration::from_millis(1));
                    clock.advance(step);
                    now_ms += step.as_millis() as u64;
                    // Keep our ms counter in step with the fake clock's nanoseconds.
                    if step.subsec_nanos() % 1_000_000 != 0 {
                        let extra = Duration::from_nanos(
                            1_000_000 - u64::from(step.subsec_nanos() % 1_000_000),
                        );
                        clock.advance(extra);
                        now_ms += 1;
                    }
                }
            }
        }
        sent
    }

    fn max_in_any_minute(sent: &[u64]) -> usize {
        let mut best = 0;
        let mut start = 0;
        for end in 0..sent.len() {
            while sent[end] - sent[start] >= 60_000 {
                start += 1;
            }
            best = best.max(end - start + 1);
        }
        best
    }

    #[test]
    fn never_exceeds_the_quota_in_any_simulated_minute() {
        for n in [1u32, 2, 7, 30, 240, 1000] {
            let sent = saturate(n, 5);
            let peak = max_in_any_minute(&sent);
            assert!(peak <= n as usize, "{n}/min: {peak} requests in one minute");
            // ...and it is not so strict as to waste the quota: at least 80% of it is used.
            let per_min = sent.len() as f64 / 5.0;
            assert!(
                per_min >= n as f64 * 0.8 - 1.0,
                "{n}/min: only {per_min:.1}/min used"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_back_the_next_request() {
        let limiter = TenantLimiter::new(NonZeroU32::new(600).unwrap());
        limiter.acquire().await;
        limiter.pause_for(Duration::from_secs(2));
        let started = tokio::time::Instant::now();
        limiter.acquire().await;
        assert!(started.elapsed() >= Duration::from_secs(2));
    }
}
