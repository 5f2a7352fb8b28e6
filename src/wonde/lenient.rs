//! Deserializers that accept every shape Wonde (and the MIS behind it) is
//! known to send for a value: PHP DateTime objects with or without
//! microseconds or plain date strings; booleans as `true`, `"1"`, `1`, `"Y"`;
//! numbers as strings; nulls anywhere; relations as `{"data": ...}`, a bare
//! id, `null` or absent; PHP's `[]` where an object was expected.
//!
//! What cannot be read at all (a date that is not a date) is an error, so
//! the page fails loudly instead of storing a wrong value. Error messages
//! never quote the input.

use std::fmt;
use std::marker::PhantomData;

use chrono::{DateTime, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

// ---------------------------------------------------------------- dates

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

struct StampVisitor;

const DATE_EXPECTED: &str = "a date: a {\"date\": ...} object, a date string, or null";

impl<'de> Visitor<'de> for StampVisitor {
    type Value = Option<Stamp>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(DATE_EXPECTED)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

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

// ---------------------------------------------------------------- scalars

struct StringVisitor;

impl<'de> Visitor<'de> for StringVisitor {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, a number or null")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(if s.is_empty() { None } else { Some(s.to_owned()) })
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
        Ok(if s.is_empty() { None } else { Some(s) })
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::custom("a list where text was expected"));
        }
        Ok(None)
    }
}

/// Text that may arrive as a number (`urn: 10003`, `mis_id: 12741`) or
/// null; an empty string reads as absent.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_any(StringVisitor)
}

/// A required id: a non-empty string or a number.
pub fn id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(StringVisitor)?.ok_or_else(|| de::Error::custom("the id is null or empty"))
}

struct BoolVisitor;

impl<'de> Visitor<'de> for BoolVisitor {
    type Value = Option<bool>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a boolean: true/false, 1/0, \"1\"/\"0\", \"Y\"/\"N\", \"yes\"/\"no\" or null")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        match v {
            0 => Ok(Some(false)),
            1 => Ok(Some(true)),
            _ => Err(E::custom("a number other than 0 or 1 where a boolean was expected")),
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "true" | "1" | "y" | "yes" | "t" => Ok(Some(true)),
            "false" | "0" | "n" | "no" | "f" => Ok(Some(false)),
            _ => Err(E::custom("text that is not a recognisable boolean")),
        }
    }
}

/// A flag, however the MIS spelt it.
pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    d.deserialize_any(BoolVisitor)
}

struct IntVisitor;

impl<'de> Visitor<'de> for IntVisitor {
    type Value = Option<i64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer, a numeric string or null")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        i64::try_from(v).map(Some).map_err(|_| E::custom("integer out of range"))
    }

    #[allow(clippy::cast_possible_truncation)]
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        if v.fract() == 0.0 && v.abs() < 9.0e15 {
            Ok(Some(v as i64))
        } else {
            Err(E::custom("a fraction where an integer was expected"))
        }
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        s.parse().map(Some).map_err(|_| E::custom("text that is not an integer"))
    }
}

/// An integer that may arrive as a string (`"priority": "1"`).
pub fn integer<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_any(IntVisitor)
}

struct StringListVisitor;

impl<'de> Visitor<'de> for StringListVisitor {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of strings, a string or null")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(if s.is_empty() { Vec::new() } else { vec![s.to_owned()] })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element::<LenientString>()? {
            out.extend(item.0);
        }
        Ok(out)
    }
}

struct LenientString(Option<String>);

impl<'de> Deserialize<'de> for LenientString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        string(d).map(LenientString)
    }
}

/// A list of labels (`all_roles`).
pub fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    d.deserialize_any(StringListVisitor)
}

// ---------------------------------------------------------------- objects

/// An object that PHP may send as `[]` when empty, or as null.
pub fn object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct V<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Option<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object, [] or null")
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map)).map(Some)
        }
    }
    d.deserialize_any(V(PhantomData))
}

// ---------------------------------------------------------------- relations

/// A to-one relation as Wonde renders it.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Relation<T> {
    /// The key was not in the record (not included, or not available).
    #[default]
    Absent,
    /// `null` or `{"data": null}`: included, and there is none.
    Null,
    /// Not included: the related record's id only.
    Id(String),
    /// Included.
    Data(T),
}

impl<T> Relation<T> {
    /// The included record, if it was included and exists.
    pub fn data(&self) -> Option<&T> {
        match self {
            Relation::Data(t) => Some(t),
            _ => None,
        }
    }

    /// The related id, whether included (via `id_of`) or bare.
    pub fn id<'a>(&'a self, id_of: impl FnOnce(&'a T) -> &'a str) -> Option<&'a str> {
        match self {
            Relation::Data(t) => Some(id_of(t)),
            Relation::Id(id) => Some(id),
            Relation::Absent | Relation::Null => None,
        }
    }
}

/// An element of a relation: the record, or just its id.
enum IdOr<T> {
    Id(String),
    Data(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for IdOr<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = IdOr<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a record or an id")
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(IdOr::Id(s.to_owned()))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(IdOr::Id(v.to_string()))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(IdOr::Id(v.to_string()))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(IdOr::Data)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Relation<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Relation<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("{\"data\": ...}, an id or null")
            }

            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Relation::Null)
            }

            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Relation::Null)
            }

            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(self)
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(if s.is_empty() { Relation::Null } else { Relation::Id(s.to_owned()) })
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Relation::Id(v.to_string()))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Relation::Id(v.to_string()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    return Err(de::Error::custom("a list where one related record was expected"));
                }
                Ok(Relation::Null)
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let Some(first) = map.next_key::<String>()? else {
                    return Ok(Relation::Null);
                };
                if first == "data" {
                    let inner = map.next_value::<Option<IdOr<T>>>()?;
                    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                    return Ok(match inner {
                        None => Relation::Null,
                        Some(IdOr::Id(id)) => Relation::Id(id),
                        Some(IdOr::Data(t)) => Relation::Data(t),
                    });
                }
                // Not wrapped (or `data` not first): buffer, then decide.
                let mut obj = serde_json::Map::new();
                obj.insert(first, map.next_value()?);
                while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
                    obj.insert(k, v);
                }
                let value = match obj.remove("data") {
                    Some(serde_json::Value::Null) => return Ok(Relation::Null),
                    Some(inner) => inner,
                    None => serde_json::Value::Object(obj),
                };
                if let Some(id) = value.as_str() {
                    return Ok(Relation::Id(id.to_owned()));
                }
                T::deserialize(value)
                    .map(Relation::Data)
                    .map_err(|e| de::Error::custom(super::error::scrub(&e.to_string())))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A to-many relation as Wonde renders it (`{"data": [...]}`).
#[derive(Clone, Debug, PartialEq)]
pub struct RelationList<T> {
    /// False when the key was absent or null: the list says nothing, and an
    /// empty `items` must not be read as "none".
    pub included: bool,
    pub items: Vec<T>,
    /// Elements that came as bare ids.
    pub ids: Vec<String>,
}

impl<T> Default for RelationList<T> {
    fn default() -> Self {
        RelationList { included: false, items: Vec::new(), ids: Vec::new() }
    }
}

impl<T> RelationList<T> {
    fn from_elements(elements: Vec<IdOr<T>>) -> Self {
        let mut list = RelationList { included: true, items: Vec::new(), ids: Vec::new() };
        for e in elements {
            match e {
                IdOr::Id(id) => list.ids.push(id),
                IdOr::Data(t) => list.items.push(t),
            }
        }
        list
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for RelationList<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = RelationList<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("{\"data\": [...]}, a list or null")
            }

            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(RelationList::default())
            }

            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(RelationList::default())
            }

            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(self)
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(RelationList { included: true, items: Vec::new(), ids: vec![s.to_owned()] })
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut elements = Vec::new();
                while let Some(e) = seq.next_element::<IdOr<T>>()? {
                    elements.push(e);
                }
                Ok(RelationList::from_elements(elements))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut list = RelationList { included: true, items: Vec::new(), ids: Vec::new() };
                while let Some(key) = map.next_key::<String>()? {
                    if key == "data" {
                        let elements = map.next_value::<Option<Vec<IdOr<T>>>>()?.unwrap_or_default();
                        list = RelationList::from_elements(elements);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(list)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
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
