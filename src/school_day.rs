//! "Today" is the school's today. Leaving dates and employment end dates
//! are calendar dates in the school's own zone: at 00:30 BST on 1 July a
//! pupil leaving on 1 July has left, although it is still 30 June in UTC.
//!
//! A school's zone is Wonde's `timezone` for it; a school without one (a
//! CSV school) takes its trust's; Europe/London otherwise. Zones are IANA
//! names read by chrono-tz, whose tables know every summer-time rule.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use entity::{school, trust};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// The zone of a school that names none, in a trust that names none.
pub const DEFAULT_ZONE: Tz = chrono_tz::Europe::London;

/// Reads an IANA zone name ("Europe/London"); `None` for anything else.
pub fn parse_zone(name: &str) -> Option<Tz> {
    name.trim().parse().ok()
}

/// The canonical name of a zone Wonde gave, to store; `None` when it is not
/// a zone (the school then takes its trust's, or Europe/London).
pub fn zone_name(name: Option<&str>) -> Option<String> {
    name.and_then(parse_zone).map(|zone| zone.name().to_owned())
}

/// The first of the school's and the trust's zones that is a zone, else
/// [`DEFAULT_ZONE`].
pub fn zone(school_zone: Option<&str>, trust_zone: Option<&str>) -> Tz {
    school_zone.and_then(parse_zone).or_else(|| trust_zone.and_then(parse_zone)).unwrap_or(DEFAULT_ZONE)
}

/// The calendar date at `now` in `zone`.
pub fn today(zone: Tz, now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&zone).date_naive()
}

/// The zone of a stored school (with its trust's as the fallback).
pub async fn school_zone<C: ConnectionTrait>(db: &C, school: &school::Model) -> Result<Tz, DbErr> {
    if let Some(own) = school.timezone.as_deref().and_then(parse_zone) {
        return Ok(own);
    }
    let trust = trust::Entity::find_by_id(school.trust_id).one(db).await?;
    Ok(zone(None, trust.as_ref().and_then(|t| t.timezone.as_deref())))
}

/// The clock that dates are judged by. It is the system clock, but it can
/// be moved (tests, demos) to see what a later or earlier day would do:
/// leaving dates that pass overnight, the summer-time edge. Timestamps that
/// talk to Wonde (watermarks) never use it.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_seconds: Arc<AtomicI64>,
}

impl Clock {
    /// Now, as this clock has it.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::seconds(self.offset_seconds.load(Ordering::Relaxed))
    }

    /// Moves the clock so that it reads `at` now (and runs on from there).
    pub fn set(&self, at: DateTime<Utc>) {
        self.offset_seconds.store((at - Utc::now()).num_seconds(), Ordering::Relaxed);
    }

    /// Moves the clock on (or back, with a negative `by`).
    pub fn advance(&self, by: Duration) {
        self.offset_seconds.fetch_add(by.num_seconds(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).unwrap_or_default()
    }

    #[test]
    fn the_school_day_starts_at_local_midnight() {
        // 00:30 BST on 1 July is 23:30 UTC on 30 June.
        let london = zone(None, None);
        assert_eq!(today(london, at("2026-06-30T23:30:00Z")).to_string(), "2026-07-01");
        assert_eq!(today(london, at("2026-06-30T22:59:59Z")).to_string(), "2026-06-30");
        // In winter London is UTC.
        assert_eq!(today(london, at("2026-12-31T23:30:00Z")).to_string(), "2026-12-31");
        assert_eq!(today(london, at("2027-01-01T00:00:00Z")).to_string(), "2027-01-01");
        // The night the clocks go forward (29 March 2026, 01:00 UTC).
        assert_eq!(today(london, at("2026-03-28T23:59:59Z")).to_string(), "2026-03-28");
        assert_eq!(today(london, at("2026-03-29T00:00:00Z")).to_string(), "2026-03-29");
    }

    #[test]
    fn a_school_zone_wins_over_the_trust_and_garbage_is_ignored() {
        let auckland = zone(Some("Pacific/Auckland"), Some("Europe/London"));
        assert_eq!(today(auckland, at("2026-06-30T12:00:00Z")).to_string(), "2026-07-01");
        assert_eq!(zone(Some("not a zone"), Some("Africa/Johannesburg")), chrono_tz::Africa::Johannesburg);
        assert_eq!(zone(Some(""), None), DEFAULT_ZONE);
    }

    #[test]
    fn the_clock_moves() {
        let clock = Clock::default();
        let target = at("2026-06-30T23:30:00Z");
        clock.set(target);
        assert!((clock.now() - target).num_seconds().abs() <= 1);
        clock.advance(Duration::days(1));
        assert!((clock.now() - target - Duration::days(1)).num_seconds().abs() <= 1);
    }
}
