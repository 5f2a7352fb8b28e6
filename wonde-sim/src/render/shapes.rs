//! Wonde's value shapes: PHP DateTime objects (with or without
//! microseconds), dates as objects or plain strings, and initials.

use chrono::NaiveDate;
use serde_json::{Value, json};

use crate::model::Timestamp;

/// `{"date":"YYYY-MM-DD HH:MM:SS.ffffff","timezone_type":3,"timezone":"UTC"}`.
pub(crate) fn datetime(t: &Timestamp) -> Value {
    json!({
        "date": t.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
        "timezone_type": 3,
        "timezone": "UTC",
    })
}

/// The same object without microseconds, as `audit_approved_at` comes.
pub(crate) fn datetime_seconds(t: &Timestamp) -> Value {
    json!({
        "date": t.format("%Y-%m-%d %H:%M:%S").to_string(),
        "timezone_type": 3,
        "timezone": "UTC",
    })
}

pub(super) fn opt_datetime(t: Option<&Timestamp>) -> Value {
    t.map_or(Value::Null, datetime)
}

pub(super) fn date_object(d: Option<NaiveDate>) -> Value {
    d.map_or(Value::Null, |d| {
        json!({
            "date": format!("{} 00:00:00.000000", d.format("%Y-%m-%d")),
            "timezone_type": 3,
            "timezone": "UTC",
        })
    })
}

/// Employment dates arrive as plain `YYYY-MM-DD` strings in some MIS.
pub(super) fn date_string(d: Option<NaiveDate>) -> Value {
    d.map_or(Value::Null, |d| Value::String(d.format("%Y-%m-%d").to_string()))
}

pub(super) fn initials(forename: &str, surname: &str) -> String {
    [forename, surname].iter().filter_map(|s| s.chars().next()).collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn datetime_shape() {
        let t = chrono::Utc.with_ymd_and_hms(2022, 9, 5, 14, 21, 57).single().unwrap_or_default();
        assert_eq!(datetime(&t)["date"], "2022-09-05 14:21:57.000000");
        assert_eq!(datetime(&t)["timezone_type"], 3);
        assert_eq!(datetime_seconds(&t)["date"], "2022-09-05 14:21:57");
    }
}
