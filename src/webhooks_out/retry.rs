//! When a failed delivery is tried again: after 5 s, 5 min, 30 min, 2 h,
//! 5 h, 10 h and 10 h (issue 14, the schedule Standard Webhooks senders
//! use), each ±20% at random so that a receiver's outage does not end in a
//! stampede; a `Retry-After` the receiver sent is a floor. After the last
//! the delivery has FAILED. Delays are in units of
//! [`super::WebhookSettings::retry_unit`] (1 s in production).

use std::time::Duration;

/// The delays, in units, after the 1st, 2nd, ... failed attempt.
pub const SCHEDULE: [u64; 7] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];

/// An endpoint failing continuously for this many units (5 days) is disabled.
pub const DISABLE_AFTER_UNITS: u64 = 5 * 24 * 3_600;

/// The delay before the next attempt after `failed_attempts` failures
/// (1 after the first), or `None` when the schedule is exhausted.
pub fn next_delay(failed_attempts: u32, unit: Duration, retry_after: Option<Duration>) -> Option<Duration> {
    let index = usize::try_from(failed_attempts.checked_sub(1)?).ok()?;
    let units = *SCHEDULE.get(index)?;
    let jitter: f64 = rand::random_range(0.8..=1.2);
    let delay = unit.mul_f64(units as f64 * jitter);
    Some(retry_after.map_or(delay, |floor| delay.max(floor)))
}

/// How long failures may go on before the endpoint is disabled.
pub fn disable_after(unit: Duration) -> Duration {
    unit.saturating_mul(u32::try_from(DISABLE_AFTER_UNITS).unwrap_or(u32::MAX))
}

/// A `Retry-After` header in seconds (the HTTP-date form is not honoured:
/// the schedule stands), capped at the schedule's longest delay.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let seconds: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(seconds.min(36_000)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_with_jitter_and_floor() {
        let unit = Duration::from_secs(1);
        for _ in 0..50 {
            let first = next_delay(1, unit, None).expect("first retry");
            assert!(first >= Duration::from_secs(4) && first <= Duration::from_secs(6), "{first:?}");
        }
        let last = next_delay(7, unit, None).expect("seventh");
        assert!(last >= Duration::from_secs(28_800));
        assert_eq!(next_delay(8, unit, None), None);
        assert_eq!(next_delay(0, unit, None), None);
        let floored = next_delay(1, unit, Some(Duration::from_secs(60))).expect("floored");
        assert_eq!(floored, Duration::from_secs(60));
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
