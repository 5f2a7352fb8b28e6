//! Deserializers that accept every shape Wonde (and the MIS behind it) is
//! known to send for a value: PHP DateTime objects with or without
//! microseconds or plain date strings; booleans as `true`, `"1"`, `1`, `"Y"`;
//! numbers as strings; nulls anywhere; relations as `{"data": ...}`, a bare
//! id, `null` or absent; PHP's `[]` where an object was expected.
//!
//! What cannot be read at all (a date that is not a date) is an error, so
//! the page fails loudly instead of storing a wrong value. Error messages
//! never quote the input.
//! Each shape of value has its own module; callers name the readers through
//! this one (`lenient::datetime`, `lenient::string`...).

/// The methods of a `Visitor` that read JSON `null` (or an absent value)
/// as `$absent` and look inside `Some`: every lenient reader accepts null.
/// `null_is!('de, None);` in an `impl<'de> Visitor<'de>`.
macro_rules! null_is {
    ($de:lifetime, $absent:expr) => {
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($absent)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($absent)
        }

        fn visit_some<D: Deserializer<$de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    };
}

/// A visitor of one kind of value: it says what it expects, reads null (or
/// absence) as `$absent` (`null_is!`) and the rest with the methods given.
/// `visitor!('de, IntVisitor -> Option<i64>, "an integer", null is None; fn visit_i64...)`.
macro_rules! visitor {
    ($de:lifetime, $name:ident -> $value:ty, $expecting:expr, null is $absent:expr; $($visit:tt)*) => {
        struct $name;

        impl<$de> Visitor<$de> for $name {
            type Value = $value;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str($expecting)
            }

            null_is!($de, $absent);

            $($visit)*
        }
    };
}

/// The methods of a `Visitor` that read an integer as its decimal text,
/// wrapped by `$wrap` (`Some`, `Relation::Id`): ids may come as numbers.
macro_rules! integer_is_text {
    ($wrap:expr) => {
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok($wrap(v.to_string()))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok($wrap(v.to_string()))
        }
    };
}

mod dates;
mod relations;
mod scalars;

pub use dates::{date, datetime, parse_datetime};
pub use relations::{Relation, RelationList};
pub use scalars::{boolean, id, integer, object, string, string_list};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserializer;

/// A type with one lenient reader, so a field can be read by the reader its
/// type calls for (`deserialize_with = "lenient::read"`). Optional values
/// only: a required id says so with `lenient::id`.
pub trait Lenient: Sized {
    /// Reads the value with the reader of its type.
    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error>;
}

/// `impl Lenient` for each type, naming its reader.
macro_rules! reader_of_type {
    ($($ty:ty => $reader:ident),* $(,)?) => {
        $(impl Lenient for $ty {
            fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $reader(d)
            }
        })*
    };
}

reader_of_type! {
    Option<String> => string,
    Option<bool> => boolean,
    Option<i64> => integer,
    Option<NaiveDate> => date,
    Option<DateTime<Utc>> => datetime,
    Vec<String> => string_list,
}

/// Reads a field with the lenient reader its type calls for.
pub fn read<'de, D: Deserializer<'de>, T: Lenient>(d: D) -> Result<T, D::Error> {
    T::read(d)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
    use serde::Deserialize;

    use super::*;
    use serde_json::json;

    #[derive(Deserialize, Debug, Default)]
    struct Probe {
        #[serde(default, deserialize_with = "datetime")]
        at: Option<DateTime<Utc>>,
        #[serde(default, deserialize_with = "date")]
        on: Option<NaiveDate>,
        #[serde(default, deserialize_with = "boolean")]
        flag: Option<bool>,
        #[serde(default, deserialize_with = "string")]
        text: Option<String>,
        #[serde(default, deserialize_with = "integer")]
        n: Option<i64>,
        #[serde(default)]
        rel: Relation<Named>,
        #[serde(default)]
        many: RelationList<Named>,
    }

    #[derive(Deserialize, Debug, PartialEq, Clone)]
    struct Named {
        id: String,
        #[serde(default)]
        name: Option<String>,
    }

    fn probe(v: serde_json::Value) -> Result<Probe, serde_json::Error> {
        serde_json::from_value(v)
    }

    fn utc(s: &str) -> Option<DateTime<Utc>> {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").ok().map(|t| t.and_utc())
    }

    #[test]
    fn datetime_objects_with_and_without_microseconds() -> Result<(), serde_json::Error> {
        let p = probe(
            json!({"at": {"date": "2022-09-05 14:21:57.000000", "timezone_type": 3, "timezone": "UTC"}}),
        )?;
        assert_eq!(p.at, utc("2022-09-05 14:21:57"));
        let p = probe(json!({"at": {"date": "2022-01-28 15:45:10", "timezone_type": 3, "timezone": "UTC"}}))?;
        assert_eq!(p.at, utc("2022-01-28 15:45:10"));
        let p = probe(json!({"at": {"date": "2022-09-05 14:21:57.123456"}}))?;
        assert_eq!(p.at, utc("2022-09-05 14:21:57.123456"));
        Ok(())
    }

    #[test]
    fn datetime_strings_in_every_form() -> Result<(), serde_json::Error> {
        assert_eq!(probe(json!({"at": "2026-02-24 03:00:00"}))?.at, utc("2026-02-24 03:00:00"));
        assert_eq!(probe(json!({"at": "2026-02-24T03:00:00.000Z"}))?.at, utc("2026-02-24 03:00:00"));
        assert_eq!(probe(json!({"at": "2026-02-24T04:00:00+01:00"}))?.at, utc("2026-02-24 03:00:00"));
        assert_eq!(probe(json!({"at": "2026-02-24"}))?.at, utc("2026-02-24 00:00:00"));
        assert_eq!(probe(json!({"at": null}))?.at, None);
        assert_eq!(probe(json!({"at": ""}))?.at, None);
        assert_eq!(probe(json!({"at": {"date": null}}))?.at, None);
        assert!(probe(json!({"at": "last tuesday"})).is_err());
        assert!(probe(json!({"at": {"date": "2022-13-45 00:00:00"}})).is_err());
        Ok(())
    }

    #[test]
    fn london_times_convert_but_dates_do_not_slip() -> Result<(), serde_json::Error> {
        let p = probe(json!({
            "at": {"date": "2024-07-01 09:00:00.000000", "timezone": "Europe/London"},
            "on": {"date": "2014-06-30 00:00:00.000000", "timezone": "Europe/London"},
        }))?;
        assert_eq!(p.at, utc("2024-07-01 08:00:00"));
        assert_eq!(p.on, NaiveDate::from_ymd_opt(2014, 6, 30));
        let p = probe(json!({"at": {"date": "2024-12-01 09:00:00", "timezone": "Europe/London"}}))?;
        assert_eq!(p.at, utc("2024-12-01 09:00:00"));
        Ok(())
    }

    #[test]
    fn booleans_in_every_spelling() -> Result<(), serde_json::Error> {
        for (v, want) in [
            (json!(true), Some(true)),
            (json!("true"), Some(true)),
            (json!("1"), Some(true)),
            (json!(1), Some(true)),
            (json!("Y"), Some(true)),
            (json!("yes"), Some(true)),
            (json!(false), Some(false)),
            (json!("0"), Some(false)),
            (json!(0), Some(false)),
            (json!("N"), Some(false)),
            (json!(null), None),
            (json!(""), None),
        ] {
            assert_eq!(probe(json!({ "flag": v }))?.flag, want, "{v}");
        }
        assert!(probe(json!({"flag": "maybe"})).is_err());
        assert!(probe(json!({"flag": 7})).is_err());
        Ok(())
    }

    #[test]
    fn numbers_as_strings_and_strings_as_numbers() -> Result<(), serde_json::Error> {
        let p = probe(json!({"text": 10003, "n": "2"}))?;
        assert_eq!(p.text.as_deref(), Some("10003"));
        assert_eq!(p.n, Some(2));
        assert!(probe(json!({"n": "two"})).is_err());
        Ok(())
    }

    #[test]
    fn relation_shapes() -> Result<(), serde_json::Error> {
        let a = Named { id: "A1".into(), name: Some("7RED".into()) };
        assert_eq!(
            probe(json!({"rel": {"data": {"id": "A1", "name": "7RED"}}}))?.rel,
            Relation::Data(a.clone())
        );
        assert_eq!(probe(json!({"rel": {"data": null}}))?.rel, Relation::Null);
        assert_eq!(probe(json!({"rel": null}))?.rel, Relation::Null);
        assert_eq!(probe(json!({"rel": "A1"}))?.rel, Relation::Id("A1".into()));
        assert_eq!(probe(json!({"rel": {"data": "A1"}}))?.rel, Relation::Id("A1".into()));
        assert_eq!(probe(json!({}))?.rel, Relation::Absent);
        assert_eq!(probe(json!({"rel": {"id": "A1", "name": "7RED"}}))?.rel, Relation::Data(a));
        assert_eq!(probe(json!({"rel": "A1"}))?.rel.id(|n| &n.id), Some("A1"));
        Ok(())
    }

    #[test]
    fn relation_list_shapes() -> Result<(), serde_json::Error> {
        let p = probe(json!({"many": {"data": [{"id": "A1"}, "A2"]}}))?;
        assert!(p.many.included);
        assert_eq!(p.many.items.len(), 1);
        assert_eq!(p.many.ids, vec!["A2".to_owned()]);
        assert!(!probe(json!({}))?.many.included);
        assert!(!probe(json!({"many": null}))?.many.included);
        let empty = probe(json!({"many": {"data": []}}))?.many;
        assert!(empty.included && empty.items.is_empty());
        assert_eq!(probe(json!({"many": [{"id": "A3"}]}))?.many.items.len(), 1);
        Ok(())
    }

    #[test]
    fn errors_do_not_quote_input() {
        let e =
            probe(json!({"at": "Jane Smith"})).map(|_| ()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(!e.contains("Jane"), "{e}");
    }
}
