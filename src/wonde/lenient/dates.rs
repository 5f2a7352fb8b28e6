//! Dates and instants however Wonde sends them: PHP DateTime objects with or
//! without microseconds and with their zone, date strings in several forms,
//! or null. Instants become UTC; calendar dates stay as written.

use std::fmt;

use chrono::{DateTime, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A wall-clock time and what Wonde said about its zone.
struct Stamp {
    local: NaiveDateTime,
    zone: Zone,
}

enum Zone {
    Utc,
    Fixed(FixedOffset),
    /// A named IANA zone (schools' own is Europe/London), read by chrono-tz.
    Named(chrono_tz::Tz),
}

impl Stamp {
    fn to_utc(&self) -> Option<DateTime<Utc>> {
        match &self.zone {
            Zone::Utc => Some(self.local.and_utc()),
            Zone::Fixed(off) => off.from_local_datetime(&self.local).single().map(|t| t.with_timezone(&Utc)),
            // The hour the clocks go back happens twice: the earlier (summer)
            // reading is taken; the hour they go forward never happens, and
            // is read an hour on.
            Zone::Named(zone) => match zone.from_local_datetime(&self.local) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
                LocalResult::None => zone
                    .from_local_datetime(&(self.local + chrono::Duration::hours(1)))
                    .earliest()
                    .map(|t| t.with_timezone(&Utc)),
            },
        }
    }
}

fn zone_from(name: Option<&str>) -> Zone {
    match name.map(str::trim) {
        None | Some("" | "UTC" | "Z" | "utc" | "+00:00" | "GMT") => Zone::Utc,
        Some(other) => match other.parse::<chrono_tz::Tz>() {
            Ok(named) => Zone::Named(named),
            Err(_) => {
                DateTime::parse_from_str(&format!("2000-01-01 00:00:00 {other}"), "%Y-%m-%d %H:%M:%S %:z")
                    .map(|d| Zone::Fixed(*d.offset()))
                    // An unknown named zone: UTC is the least surprising reading.
                    .unwrap_or(Zone::Utc)
            }
        },
    }
}

/// Parses the string forms: `YYYY-MM-DD HH:MM:SS[.ffffff]`, ISO-8601 /
/// RFC 3339 with `T` and an offset or `Z`, and a bare `YYYY-MM-DD`.
fn parse_stamp(s: &str, zone: Option<&str>) -> Option<Stamp> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(Stamp { local: t.naive_local(), zone: Zone::Fixed(*t.offset()) });
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M"] {
        if let Ok(local) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(Stamp { local, zone: zone_from(zone) });
        }
    }
    for fmt in ["%Y-%m-%d", "%d/%m/%Y"] {
        if let Ok(d) = NaiveDate::parse_from_str(s, fmt) {
            return Some(Stamp { local: d.and_hms_opt(0, 0, 0)?, zone: zone_from(zone) });
        }
    }
    None
}

/// Parses a timestamp string as Wonde formats them (for callers holding
/// strings, e.g. stored watermarks).
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    parse_stamp(s, None).and_then(|s| s.to_utc())
}

const DATE_EXPECTED: &str = "a date: a {\"date\": ...} object, a date string, or null";

visitor! {'de, StampVisitor -> Option<Stamp>, DATE_EXPECTED, null is None;

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        if s.trim().is_empty() || s.starts_with("0000-00-00") {
            return Ok(None);
        }
        parse_stamp(s, None).map(Some).ok_or_else(|| E::custom("not a recognisable date"))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        // Unix seconds: not seen from Wonde, but unambiguous.
        DateTime::from_timestamp(v, 0)
            .map(|t| Some(Stamp { local: t.naive_utc(), zone: Zone::Utc }))
            .ok_or_else(|| E::custom("timestamp out of range"))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.visit_i64(i64::try_from(v).map_err(|_| E::custom("timestamp out of range"))?)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut date: Option<String> = None;
        let mut zone: Option<String> = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "date" => date = map.next_value::<Option<String>>()?,
                "timezone" => zone = map.next_value::<Option<String>>().unwrap_or(None),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        match date {
            None => Ok(None),
            Some(d) if d.trim().is_empty() || d.starts_with("0000-00-00") => Ok(None),
            Some(d) => parse_stamp(&d, zone.as_deref())
                .map(Some)
                .ok_or_else(|| de::Error::custom("not a recognisable date")),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // PHP encodes an empty value as `[]`.
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::custom("a list where a date was expected"));
        }
        Ok(None)
    }
}

/// An instant (`created_at`, `updated_at`, `deleted_at`...), in UTC.
pub fn datetime<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    match d.deserialize_any(StampVisitor)? {
        None => Ok(None),
        Some(s) => {
            s.to_utc().map(Some).ok_or_else(|| de::Error::custom("a time that does not exist in its zone"))
        }
    }
}

/// A calendar date (`date_of_birth`, `leaving_date`): the date as written,
/// without zone conversion, so midnight dates do not slip a day.
pub fn date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    Ok(d.deserialize_any(StampVisitor)?.map(|s| s.local.date()))
}
