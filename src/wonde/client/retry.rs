//! How hard to try one request: retries, exponential backoff with jitter,
//! and `Retry-After` honoured as a floor.

use std::time::Duration;

use rand::Rng as _;

/// How hard to try before giving up on one request. Tests use milliseconds.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff; doubles per retry, with jitter.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// No retry starts once this much time has gone on one request, so a
    /// sync fails in bounded time rather than hanging on a sick API.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with "equal jitter" (half fixed, half random), so
    /// many schools' syncs that failed together do not retry together.
    /// `Retry-After` is honoured as a floor.
    pub(super) fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32.checked_shl(retry.min(20)).unwrap_or(u32::MAX))
            .min(self.max_delay);
        let half = exp / 2;
        let jitter =
            Duration::from_micros(rand::rng().random_range(0..=u64::try_from(half.as_micros()).unwrap_or(0)));
        let backoff = half + jitter;
        match retry_after {
            Some(wait) => wait + jitter.min(self.base_delay),
            None => backoff,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_honours_retry_after() {
        let p = RetryPolicy {
            max_retries: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            max_elapsed: Duration::from_secs(10),
        };
        let d0 = p.delay(0, None);
        assert!(d0 >= Duration::from_millis(50) && d0 <= Duration::from_millis(100), "{d0:?}");
        let d3 = p.delay(3, None);
        assert!(d3 >= Duration::from_millis(400) && d3 <= Duration::from_millis(800), "{d3:?}");
        assert!(p.delay(30, None) <= Duration::from_millis(1000));
        assert!(p.delay(0, Some(Duration::from_secs(2))) >= Duration::from_secs(2));
    }
}
