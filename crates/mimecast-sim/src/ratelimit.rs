//! Per-tenant server-side quota, as a sliding one-minute window.
//!
//! WHY: docs/mimecast-api.md#rate-limits: quota "bucket" per user/app; on breach HTTP 429 and "the
//! requested function will not be executed"; `X-RateLimit-Reset` is the time in **milliseconds**
//! until a request is added back. A sliding log gives an exact "ms until a slot frees" for that
//! header.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);

/// Outcome of one admission check; carries the values of the three headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Milliseconds until a slot frees (0 if nothing is in the window).
    pub reset_ms: u64,
}

#[derive(Debug, Default)]
pub struct RateLimiter {
    per_tenant: HashMap<String, VecDeque<Instant>>,
}

impl RateLimiter {
    /// Admits (and counts) one request of `tenant`, or refuses it without counting.
    /// `limit == 0` means unlimited.
    pub fn admit(&mut self, tenant: &str, limit: u32, now: Instant) -> Quota {
        self.admit_in(tenant, limit, WINDOW, now)
    }

    /// Like [`RateLimiter::admit`], over a window of `window` and counted under `key`.
    pub fn admit_in(&mut self, key: &str, limit: u32, window: Duration, now: Instant) -> Quota {
        if limit == 0 {
            return Quota {
                allowed: true,
                limit: 0,
                remaining: u32::MAX,
                reset_ms: 0,
            };
        }
        let log = self.per_tenant.entry(key.to_string()).or_default();
        while log
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            log.pop_front();
        }
        let allowed = log.len() < limit as usize;
        if allowed {
            log.push_back(now);
        }
        let reset_ms = log
            .front()
            .map(|t| {
                let free_at = *t + window;
                let ms = free_at.saturating_duration_since(now).as_millis() as u64;
                ms.max(1)
            })
            .unwrap_or(0);
        Quota {
            allowed,
            limit,
            remaining: limit.saturating_sub(log.len() as u32),
            reset_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_over_quota_and_recovers_after_window() {
        let mut rl = RateLimiter::default();
        let t0 = Instant::now();
        assert!(rl.admit("a", 2, t0).allowed);
        let q = rl.admit("a", 2, t0 + Duration::from_secs(10));
        assert!(q.allowed);
        assert_eq!(q.remaining, 0);
        let q = rl.admit("a", 2, t0 + Duration::from_secs(20));
        assert!(!q.allowed);
        assert_eq!(q.reset_ms, 40_000);
        assert!(
            rl.admit("b", 2, t0 + Duration::from_secs(20)).allowed,
            "per tenant"
        );
        assert!(rl.admit("a", 2, t0 + Duration::from_secs(60)).allowed);
        assert!(rl.admit("a", 0, t0).allowed, "0 = unlimited");
    }
}
