//! Points budgets, GitHub-style: each token (or, before a token is known,
//! each client address) has `ONROLL_RATE_LIMIT_POINTS` points a minute,
//! refilled continuously (GCRA, the `governor` crate). An operation costs
//! its requested cost divided by [`COST_PER_POINT`], at least one point,
//! charged before it runs.

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use super::Refusal;
use crate::graphql::cost::Measure;

/// How much cost one point buys (GitHub: one point per 100 nodes).
pub const COST_PER_POINT: u64 = 100;

/// The points an operation of `cost` is charged: at least one.
pub fn points(cost: u64) -> u32 {
    u32::try_from(cost.div_ceil(COST_PER_POINT)).unwrap_or(u32::MAX).max(1)
}

/// Whose budget a request spends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RateKey {
    Token(i32),
    /// A request without a working token, by the client's address.
    Address(IpAddr),
}

/// Where a budget stands after a charge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateStatus {
    /// Points per minute.
    pub limit: u32,
    /// Points left now.
    pub remaining: u32,
    /// Points this request was charged (0 when refused).
    pub charged: u32,
    /// How long until the budget is whole again.
    pub until_full: Duration,
    /// Set when refused: how long until the charge would pass.
    pub retry_after: Option<Duration>,
}

impl RateStatus {
    /// The refusal to answer with, when the charge did not pass.
    pub fn refusal(&self, needed: u32) -> Option<Refusal> {
        self.retry_after.map(|retry_after| Refusal::RateLimited { limit: self.limit, needed, retry_after })
    }
}

type Limiter =
    RateLimiter<RateKey, DefaultKeyedStateStore<RateKey>, DefaultClock, StateInformationMiddleware>;

/// Every key's budget in this process.
pub struct Budgets {
    limiter: Limiter,
    limit: u32,
    /// How long one point takes to come back.
    per_point: Duration,
}

impl Budgets {
    pub fn new(points_per_minute: u32) -> Self {
        let limit = NonZeroU32::new(points_per_minute).unwrap_or(NonZeroU32::MIN);
        let limiter =
            RateLimiter::keyed(Quota::per_minute(limit)).with_middleware::<StateInformationMiddleware>();
        Self { limiter, limit: limit.get(), per_point: Duration::from_secs(60) / limit.get() }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Charges `points` to `key`; refused (with when to retry) when the
    /// budget holds fewer. Nothing is charged on a refusal.
    pub fn charge(&self, key: RateKey, points: u32) -> RateStatus {
        let n = NonZeroU32::new(points).unwrap_or(NonZeroU32::MIN);
        let refused = |remaining: u32, retry_after: Duration| RateStatus {
            limit: self.limit,
            remaining,
            charged: 0,
            until_full: self.per_point * self.limit.saturating_sub(remaining),
            retry_after: Some(retry_after.max(Duration::from_secs(1))),
        };
        match self.limiter.check_key_n(&key, n) {
            Ok(Ok(snapshot)) => {
                let remaining = snapshot.remaining_burst_capacity();
                RateStatus {
                    limit: self.limit,
                    remaining,
                    charged: n.get(),
                    until_full: self.per_point * self.limit.saturating_sub(remaining),
                    retry_after: None,
                }
            }
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                // What is left now: the charge less the points still to come back.
                let per_point = self.per_point.as_nanos().max(1);
                let missing = u32::try_from(wait.as_nanos().div_ceil(per_point)).unwrap_or(u32::MAX);
                refused(n.get().saturating_sub(missing).min(self.limit), wait)
            }
            // More than a whole budget: never possible; a minute is the
            // honest answer to "when".
            Err(_) => refused(0, Duration::from_secs(60)),
        }
    }

    /// Forgets keys whose budgets are whole again, so that the map does not
    /// grow with every address ever seen.
    pub fn forget_full(&self) {
        self.limiter.retain_recent();
    }
}

/// What one request measured and was charged: filled in by the metering
/// extension, read by the HTTP edge (status, headers) and the `rateLimit`
/// field.
#[derive(Debug, Default)]
pub struct Meter(Mutex<Metered>);

#[derive(Clone, Copy, Debug, Default)]
pub struct Metered {
    pub measure: Option<Measure>,
    pub rate: Option<RateStatus>,
}

impl Meter {
    pub fn get(&self) -> Metered {
        self.0.lock().map(|m| *m).unwrap_or_default()
    }

    pub fn set_measure(&self, measure: Measure) {
        if let Ok(mut m) = self.0.lock() {
            m.measure = Some(measure);
        }
    }

    pub fn set_rate(&self, rate: RateStatus) {
        if let Ok(mut m) = self.0.lock() {
            m.rate = Some(rate);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_round_up_and_start_at_one() {
        assert_eq!(points(0), 1);
        assert_eq!(points(100), 1);
        assert_eq!(points(101), 2);
        assert_eq!(points(100_000), 1_000);
    }

    #[test]
    fn a_budget_spends_then_refuses_with_a_wait() {
        let budgets = Budgets::new(10);
        let key = RateKey::Token(1);
        let first = budgets.charge(key, 6);
        assert_eq!((first.charged, first.remaining, first.retry_after), (6, 4, None));
        let refused = budgets.charge(key, 6);
        assert_eq!(refused.charged, 0);
        assert!(refused.retry_after.is_some_and(|wait| wait >= Duration::from_secs(1)));
        // Another key has its own budget.
        assert_eq!(budgets.charge(RateKey::Token(2), 10).remaining, 0);
        assert!(budgets.charge(key, 11).retry_after.is_some(), "more than a whole budget");
    }
}
