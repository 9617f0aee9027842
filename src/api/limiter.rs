//! The client-side request limiter of one tenant.
//!
//! Mimecast counts requests per user (1.0) or per application (2.0) across all functions
//! (docs/mimecast-api.md#rate-limits), so every stream of a tenant draws from one limiter. The
//! quota is shaped so that no sliding minute ever holds more than `requests_per_minute` requests: a
//! small burst, then a steady rate of the remainder.
//!
//! Some endpoints have budgets of their own. The SIEM batch listing is the one a peer limits
//! (50 calls per 15 minutes, docs/mimecast-api.md#rate-limits, unconfirmed by Mimecast), and it
//! is the call a caught-up SIEM type repeats most, so it is a family with its own budget on top
//! of the tenant's: up to that many calls in any window, at once if a backlog needs them, then
//! as the window frees them, so idle polls of many types slow to what the budget allows. A 429 pauses only the family it came from, for as long as Mimecast asked:
//! a SIEM listing refused must not hold back the tenant's log calls. File downloads (pre-signed
//! URLs) and token requests are not metered here.
//!
//! Within a family, a stream that is behind goes first: a caught-up poll waits while a request
//! of a stream with a backlog is waiting, so idle polls of many streams cannot starve a drain.

pub use crate::config::Budget;
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// A group of endpoints that shares a budget and a 429 pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Every metered call without a budget of its own (1.0 `POST`s, 2.0 `GET`s).
    Api,
    /// `GET /siem/v1/batch/events/{cg,ci}`: the listing of SIEM batch files.
    SiemListing,
}

impl Family {
    /// The family of a request to `path`.
    pub fn of(path: &str) -> Family {
        if path.starts_with("/siem/v1/batch/events/") {
            Family::SiemListing
        } else {
            Family::Api
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Family::Api => "api",
            Family::SiemListing => "siem_listing",
        }
    }
}

/// Whose request waits for a slot: one of a stream with a backlog, or a routine poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Priority {
    /// Reading a backlog: served first.
    Behind,
    /// A poll of a stream that was caught up: served when no backlog is waiting.
    #[default]
    CaughtUp,
}

type Direct<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// How a lane spends its budget.
enum Rate<C: Clock> {
    /// A small burst, then a steady rate (the tenant's budget: smooth, for every call).
    Steady(Direct<C>),
    /// Up to `calls` in any window of `per`, at once if need be (an endpoint's budget, met
    /// when it is needed most: a backlog at start-up).
    Window {
        calls: usize,
        per: Duration,
        sent: Mutex<std::collections::VecDeque<tokio::time::Instant>>,
    },
}

/// One budget: its rate, its 429 pause and how many backlog requests wait for it.
struct Lane<C: Clock> {
    rate: Rate<C>,
    paused_until: Mutex<Option<tokio::time::Instant>>,
    behind_waiting: AtomicUsize,
    /// How long a caught-up request steps aside for a waiting backlog request.
    step: Duration,
}

impl<C: Clock + Clone> Lane<C> {
    fn steady(budget: Budget, clock: &C) -> Self {
        let quota = quota_over(budget.calls, budget.per);
        Self::with(
            Rate::Steady(RateLimiter::direct_with_clock(quota, clock.clone())),
            budget,
        )
    }

    fn window(budget: Budget) -> Self {
        Self::with(
            Rate::Window {
                calls: budget.calls.get() as usize,
                per: budget.per,
                sent: Mutex::new(Default::default()),
            },
            budget,
        )
    }

    fn with(rate: Rate<C>, budget: Budget) -> Self {
        Lane {
            rate,
            paused_until: Mutex::new(None),
            behind_waiting: AtomicUsize::new(0),
            step: (budget.per / budget.calls.get())
                .clamp(Duration::from_millis(5), Duration::from_secs(1)),
        }
    }

    /// Takes a slot now, or says how long until one is free.
    fn try_take(&self, clock: &C) -> Result<(), Duration> {
        match &self.rate {
            Rate::Steady(limiter) => limiter
                .check()
                .map_err(|not_until| not_until.wait_time_from(clock.now())),
            Rate::Window { calls, per, sent } => {
                let now = tokio::time::Instant::now();
                let Ok(mut sent) = sent.lock() else {
                    return Ok(());
                };
                while sent.front().is_some_and(|t| now.duration_since(*t) >= *per) {
                    sent.pop_front();
                }
                if sent.len() < *calls {
                    sent.push_back(now);
                    return Ok(());
                }
                let oldest = sent.front().copied().unwrap_or(now);
                Err((oldest + *per).saturating_duration_since(now))
            }
        }
    }

    fn paused_until(&self) -> Option<tokio::time::Instant> {
        self.paused_until
            .lock()
            .map(|p| *p)
            .unwrap_or(None)
            .filter(|until| *until > tokio::time::Instant::now())
    }

    fn pause_for(&self, wait: Duration) {
        let until = tokio::time::Instant::now() + wait;
        if let Ok(mut p) = self.paused_until.lock() {
            if p.is_none_or(|cur| cur < until) {
                *p = Some(until);
            }
        }
    }
}

/// Counts a backlog request as waiting for as long as it waits.
struct Waiting<'a>(Option<&'a AtomicUsize>);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize, priority: Priority) -> Self {
        if priority == Priority::Behind {
            count.fetch_add(1, Ordering::SeqCst);
            Waiting(Some(count))
        } else {
            Waiting(None)
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.0 {
            c.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Tokio's clock for the rate: the same time as the pauses and sleeps (and paused in tests).
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    start: tokio::time::Instant,
}

impl Default for TokioClock {
    fn default() -> Self {
        TokioClock {
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    type Instant = Duration;
    fn now(&self) -> Duration {
        self.start.elapsed()
    }
}

pub struct TenantLimiter<C: Clock = TokioClock> {
    api: Lane<C>,
    siem_listing: Option<Lane<C>>,
    clock: C,
    per_minute: NonZeroU32,
}

/// Burst and steady rate such that burst + rate x 1 minute <= `per_minute`.
pub fn quota(per_minute: NonZeroU32) -> Quota {
    quota_over(per_minute, Duration::from_secs(60))
}

/// Burst and steady rate such that no window of length `per` holds more than `calls`.
pub fn quota_over(calls: NonZeroU32, per: Duration) -> Quota {
    let n = calls.get();
    let burst = (n / 10).clamp(1, 10);
    let steady = n - burst;
    let period = if steady == 0 { per } else { per / steady };
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period.max(Duration::from_nanos(1)))
        .unwrap_or_else(|| Quota::per_minute(calls))
        .allow_burst(burst)
}

impl TenantLimiter<TokioClock> {
    /// `siem_listing`: the SIEM listing's own budget (`None`: only the tenant's).
    pub fn new(per_minute: NonZeroU32, siem_listing: Option<Budget>) -> Self {
        Self::with_clock(per_minute, siem_listing, TokioClock::default())
    }
}

impl<C: Clock + Clone> TenantLimiter<C> {
    pub fn with_clock(per_minute: NonZeroU32, siem_listing: Option<Budget>, clock: C) -> Self {
        let api = Budget {
            calls: per_minute,
            per: Duration::from_secs(60),
        };
        TenantLimiter {
            api: Lane::steady(api, &clock),
            siem_listing: siem_listing.map(Lane::window),
            clock,
            per_minute,
        }
    }

    pub fn per_minute(&self) -> NonZeroU32 {
        self.per_minute
    }

    fn lane(&self, family: Family) -> &Lane<C> {
        match family {
            Family::SiemListing => self.siem_listing.as_ref().unwrap_or(&self.api),
            Family::Api => &self.api,
        }
    }

    /// Takes a slot of the tenant's budget now, or says how long until one is free.
    pub fn try_acquire(&self) -> Result<(), Duration> {
        self.api.try_take(&self.clock)
    }

    /// Waits for the family's pause to end and for a slot of its budget (and of the tenant's,
    /// for a family with a budget of its own), then takes them. A caught-up request steps
    /// aside while a backlog request of its family waits.
    pub async fn acquire(&self, family: Family, priority: Priority) {
        let own = self.lane(family);
        let _waiting = Waiting::new(&own.behind_waiting, priority);
        loop {
            if let Some(until) = own.paused_until() {
                tokio::time::sleep_until(until).await;
                continue;
            }
            if priority == Priority::CaughtUp && own.behind_waiting.load(Ordering::SeqCst) > 0 {
                tokio::time::sleep(own.step).await;
                continue;
            }
            match own.try_take(&self.clock) {
                Ok(()) => break,
                Err(wait) => tokio::time::sleep(wait).await,
            }
        }
        // A family with its own budget also counts against the tenant's (not its pause).
        if !std::ptr::eq(own, &self.api) {
            let _waiting = Waiting::new(&self.api.behind_waiting, priority);
            loop {
                if priority == Priority::CaughtUp
                    && self.api.behind_waiting.load(Ordering::SeqCst) > 0
                {
                    tokio::time::sleep(self.api.step).await;
                    continue;
                }
                match self.api.try_take(&self.clock) {
                    Ok(()) => return,
                    Err(wait) => tokio::time::sleep(wait).await,
                }
            }
        }
    }

    /// Holds the family's requests back for `wait` (after a 429 from one of them).
    pub fn pause_for(&self, family: Family, wait: Duration) {
        self.lane(family).pause_for(wait);
    }

    /// Until when the family is paused by a 429, if it is.
    pub fn paused_until(&self, family: Family) -> Option<tokio::time::Instant> {
        self.lane(family).paused_until()
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
            TenantLimiter::with_clock(NonZeroU32::new(per_minute).unwrap(), None, clock.clone());
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
        let limiter = TenantLimiter::new(NonZeroU32::new(600).unwrap(), None);
        limiter.acquire(Family::Api, Priority::CaughtUp).await;
        limiter.pause_for(Family::Api, Duration::from_secs(2));
        let started = tokio::time::Instant::now();
        limiter.acquire(Family::Api, Priority::CaughtUp).await;
        assert!(started.elapsed() >= Duration::from_secs(2));
    }

    fn budget(calls: u32, per: Duration) -> Budget {
        Budget {
            calls: NonZeroU32::new(calls).unwrap(),
            per,
        }
    }

    /// A 429 on the SIEM listing holds back SIEM listings only: the tenant's log calls go on.
    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_back_its_family_only() {
        let limiter = TenantLimiter::new(
            NonZeroU32::new(600).unwrap(),
            Some(budget(50, Duration::from_secs(900))),
        );
        limiter.pause_for(Family::SiemListing, Duration::from_secs(10));
        let started = tokio::time::Instant::now();
        limiter.acquire(Family::Api, Priority::CaughtUp).await;
        assert_eq!(started.elapsed(), Duration::ZERO);
        limiter.acquire(Family::SiemListing, Priority::Behind).await;
        assert!(started.elapsed() >= Duration::from_secs(10));
        // And the other way round.
        limiter.pause_for(Family::Api, Duration::from_secs(10));
        let started = tokio::time::Instant::now();
        limiter
            .acquire(Family::SiemListing, Priority::CaughtUp)
            .await;
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert!(limiter.paused_until(Family::Api).is_some());
    }

    /// The SIEM listing's budget holds over any window, and its calls count against the
    /// tenant's budget too.
    #[tokio::test(start_paused = true)]
    async fn the_siem_listing_budget_holds_in_every_window() {
        let limiter = TenantLimiter::new(
            NonZeroU32::new(240).unwrap(),
            Some(budget(50, Duration::from_secs(900))),
        );
        let start = tokio::time::Instant::now();
        let mut sent = Vec::new();
        while start.elapsed() < Duration::from_secs(3600) {
            limiter.acquire(Family::SiemListing, Priority::Behind).await;
            sent.push(start.elapsed().as_millis() as u64);
        }
        let mut best = 0;
        let mut from = 0;
        for to in 0..sent.len() {
            while sent[to] - sent[from] >= 900_000 {
                from += 1;
            }
            best = best.max(to - from + 1);
        }
        assert!(best <= 50, "{best} listings in 15 minutes");
        assert!(
            sent.len() >= 4 * 50,
            "only {} listings in an hour",
            sent.len()
        );
        // A backlog gets the whole budget at once (as fast as the tenant's budget lets it).
        assert!(sent[49] < 60_000, "{}", sent[49]);
        assert!(sent[50] >= 900_000);
    }

    /// A listing also spends a slot of the tenant's budget: past its burst (10 for 240 a
    /// minute), listings wait for the tenant's steady rate even with their own budget free.
    #[tokio::test(start_paused = true)]
    async fn a_siem_listing_counts_against_the_tenant_too() {
        let limiter = TenantLimiter::new(
            NonZeroU32::new(240).unwrap(),
            Some(budget(50, Duration::from_secs(900))),
        );
        let start = tokio::time::Instant::now();
        for _ in 0..10 {
            limiter.acquire(Family::SiemListing, Priority::Behind).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        limiter.acquire(Family::SiemListing, Priority::Behind).await;
        assert!(start.elapsed() > Duration::ZERO);
        assert!(limiter.try_acquire().is_err());
    }

    /// Ten caught-up polls asking all the time cannot starve a stream that is behind: while
    /// it waits, every free slot is its own.
    #[tokio::test(start_paused = true)]
    async fn a_stream_behind_is_served_before_caught_up_polls() {
        let limiter = std::sync::Arc::new(TenantLimiter::new(NonZeroU32::new(60).unwrap(), None));
        let counts: std::sync::Arc<[AtomicUsize; 2]> = std::sync::Arc::new(Default::default());
        let stop = tokio::time::Instant::now() + Duration::from_secs(120);
        let mut tasks = Vec::new();
        for i in 0..11 {
            let (limiter, counts) = (limiter.clone(), counts.clone());
            let priority = if i == 0 {
                Priority::Behind
            } else {
                Priority::CaughtUp
            };
            tasks.push(tokio::spawn(async move {
                while tokio::time::Instant::now() < stop {
                    limiter.acquire(Family::Api, priority).await;
                    counts[usize::from(priority == Priority::CaughtUp)]
                        .fetch_add(1, Ordering::SeqCst);
                    // A request takes a little while; then the stream asks again.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let behind = counts[0].load(Ordering::SeqCst);
        let idle = counts[1].load(Ordering::SeqCst);
        assert!(
            behind * 10 >= (behind + idle) * 8,
            "behind {behind}, caught up {idle}"
        );
    }
}
