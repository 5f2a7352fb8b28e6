//! Reading an answer's body: list and single envelopes that can tell a whole
//! answer from a `200` that says `error` or lacks its `data`, and decoding
//! that names the bad field and record.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::wonde::WondeError;
use crate::wonde::error::scrub;
use crate::wonde::lenient;
use crate::wonde::model::AccessResponse;

/// A decoded answer that can tell whether it is whole: a `200` whose body
/// says `error`, or lacks its `data`, is a failed fetch, never an empty one.
pub(crate) trait Answer: DeserializeOwned {
    /// Why the answer is not whole, in words for an administrator (Wonde's
    /// own text in it is cleaned by the caller); `None` when it is whole.
    fn incomplete(&self) -> Option<String>;

    /// The answer read record by record, when reading it whole failed: a
    /// list keeps the records it can read and names the others
    /// ([`Unreadable`]). `None` (the default, and for a body that is not a
    /// list of objects) leaves the failure as it was.
    fn salvage(_bytes: &[u8]) -> Option<Self> {
        None
    }
}

/// A record of a list page that could not be read, left out of the page:
/// one malformed field of one pupil must not hold back every other change
/// of the school (a trial's `leaving_date: "2026-13-45"` failed every run,
/// and a real leaver kept access).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreadable {
    /// The record's Wonde id, when it has a readable one.
    pub record: Option<String>,
    /// Where in the record (`education_details.data.leaving_date`).
    pub field: String,
    /// What was wrong, with the values taken out ([`scrub`]).
    pub detail: String,
}

/// A list answer: a JSON object with a `data` array (empty is fine) and no
/// `error`. `meta`/`pagination` may be missing or PHP's `[]`.
#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub(crate) struct ListEnvelope<T> {
    /// Absent or `null` reads as `None`: not whole.
    #[serde(default)]
    data: Option<DataList<T>>,
    #[serde(default)]
    error: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "lenient::object")]
    meta: Option<Meta>,
    /// Records [`Answer::salvage`] left out.
    #[serde(skip)]
    unreadable: Vec<Unreadable>,
}

impl<T> ListEnvelope<T> {
    pub fn next(&self) -> Option<&str> {
        self.meta.as_ref()?.pagination.as_ref()?.next.as_deref()
    }

    /// Whether the page says more records follow (`more: true`, however
    /// spelt), whether or not it links to them.
    pub fn says_more(&self) -> bool {
        let more = self.meta.as_ref().and_then(|m| m.pagination.as_ref()).and_then(|p| p.more.as_ref());
        more.and_then(|more| lenient::boolean(more).ok().flatten()).unwrap_or(false)
    }

    /// The records (empty for an answer that [`Answer::incomplete`]
    /// refused), and those that could not be read.
    pub fn into_records(self) -> (Vec<T>, Vec<Unreadable>) {
        match self.data {
            Some(DataList::Records(records)) => (records, self.unreadable),
            _ => (Vec::new(), self.unreadable),
        }
    }
}

impl<T: DeserializeOwned> Answer for ListEnvelope<T> {
    fn incomplete(&self) -> Option<String> {
        if let Some(said) = self.error.as_ref().and_then(error_text) {
            return Some(format!("Wonde answered with an error instead of the records: {said}"));
        }
        match &self.data {
            Some(DataList::Records(_)) => None,
            Some(DataList::Not(what)) => Some(format!("its `data` is {what}, not a list of records")),
            None => Some("it has no `data` list".to_owned()),
        }
    }

    fn salvage(bytes: &[u8]) -> Option<Self> {
        let raw: ListEnvelope<serde_json::Value> = serde_json::from_slice(bytes).ok()?;
        let Some(DataList::Records(values)) = raw.data else { return None };
        let mut records = Vec::with_capacity(values.len());
        let mut unreadable = Vec::new();
        for value in values {
            let record = match &value {
                serde_json::Value::Object(fields) => fields.get("id").and_then(id_of),
                // A `null` or a bare value among the records is one
                // unreadable record too, not a reason to fail the page
                // (trial: one `null` failed every run of the school).
                other => {
                    let what = match other {
                        serde_json::Value::Null => "null",
                        serde_json::Value::Array(_) => "a list",
                        _ => "a bare value",
                    };
                    unreadable.push(Unreadable {
                        record: None,
                        field: String::new(),
                        detail: format!("{what}, not a record"),
                    });
                    continue;
                }
            };
            match serde_path_to_error::deserialize::<_, T>(value) {
                Ok(read) => records.push(read),
                Err(e) => unreadable.push(Unreadable {
                    record,
                    field: e.path().to_string(),
                    detail: scrub(&e.inner().to_string()),
                }),
            }
        }
        Some(ListEnvelope {
            data: Some(DataList::Records(records)),
            error: raw.error,
            meta: raw.meta,
            unreadable,
        })
    }
}

/// A list's `data` member: the records, or what came instead of an array.
enum DataList<T> {
    Records(Vec<T>),
    Not(&'static str),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for DataList<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DataListVisitor(std::marker::PhantomData))
    }
}

struct DataListVisitor<T>(std::marker::PhantomData<fn() -> T>);

impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for DataListVisitor<T> {
    type Value = DataList<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of records")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut records = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1000));
        while let Some(record) = seq.next_element()? {
            records.push(record);
        }
        Ok(DataList::Records(records))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
        Ok(DataList::Not("an object"))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(DataList::Not("null"))
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(DataList::Not("a boolean"))
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(DataList::Not("a number"))
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(DataList::Not("a number"))
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(DataList::Not("a number"))
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(DataList::Not("a string"))
    }
}

/// What an `error` member says; `None` for `null` and `false`, which some
/// APIs send to mean "no error". Anything else is an error, even when its
/// text is empty.
fn error_text(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    fn text(v: Option<&serde_json::Value>) -> Option<&str> {
        v.and_then(serde_json::Value::as_str).map(str::trim).filter(|t| !t.is_empty())
    }
    match value {
        Value::Null | Value::Bool(false) => None,
        Value::String(s) if !s.trim().is_empty() => Some(format!("\"{}\"", s.trim())),
        Value::Object(fields) => Some(
            text(fields.get("message").or_else(|| fields.get("description")))
                .map_or_else(|| "an error object".to_owned(), |t| format!("\"{t}\"")),
        ),
        _ => Some("an error without words".to_owned()),
    }
}

#[derive(Deserialize, Default)]
struct Meta {
    #[serde(default, deserialize_with = "lenient::object")]
    pagination: Option<Pagination>,
}

#[derive(Deserialize, Default)]
struct Pagination {
    #[serde(default, deserialize_with = "lenient::string")]
    next: Option<String>,
    /// Kept as sent: an odd spelling must not fail the page.
    #[serde(default)]
    more: Option<serde_json::Value>,
}

/// A single record's answer: a `data` object and no `error`.
#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub(super) struct SingleEnvelope<T> {
    #[serde(default)]
    pub(super) data: Option<T>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

impl<T: DeserializeOwned> Answer for SingleEnvelope<T> {
    fn incomplete(&self) -> Option<String> {
        if let Some(said) = self.error.as_ref().and_then(error_text) {
            return Some(format!("Wonde answered with an error instead of the record: {said}"));
        }
        self.data.is_none().then(|| "it has no `data` record".to_owned())
    }
}

impl Answer for AccessResponse {
    /// Request-access and revoke answers are read however loosely they are
    /// spelt ([`AccessResponse::outcome`]); an unreadable one is `Unknown`.
    fn incomplete(&self) -> Option<String> {
        None
    }
}

/// Decodes a body; on failure, decodes again tracking the path so the error
/// names the field (the fast path pays nothing for that).
pub(crate) fn decode<T: Answer>(bytes: &[u8], endpoint: &str, page: u32) -> Result<T, WondeError> {
    let first = match serde_json::from_slice::<T>(bytes) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    if !first.is_eof()
        && let Some(salvaged) = T::salvage(bytes)
    {
        return Ok(salvaged);
    }
    if first.is_eof() {
        return Err(WondeError::Truncated {
            endpoint: endpoint.to_owned(),
            page,
            detail: "the JSON ends early".into(),
        });
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let (field, detail) = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Err(e) => (e.path().to_string(), scrub(&e.inner().to_string())),
        Ok(_) => (".".to_owned(), scrub(&first.to_string())),
    };
    Err(WondeError::Decode {
        endpoint: endpoint.to_owned(),
        page,
        record: record_id(bytes, &field),
        field,
        detail,
    })
}

/// The id of the list element a path like `data[17].x` points into.
fn record_id(bytes: &[u8], field: &str) -> Option<String> {
    let index: usize = field.strip_prefix("data[")?.split(']').next()?.parse().ok()?;
    let doc: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    id_of(doc.get("data")?.get(index)?.get("id")?)
}

/// A record's `id` as the models read it ([`lenient::id`]): a non-empty
/// string or a number.
fn id_of(id: &serde_json::Value) -> Option<String> {
    lenient::id(id).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wonde::model::{WondeSchool, WondeStudent};

    #[test]
    fn a_list_keeps_what_it_can_read_and_names_the_rest() {
        let body =
            br#"{"data":[{"id":"A1"},{"id":"A2","date_of_birth":"Ann 2019"},{"forename":7},{"id":"A4"}],
            "meta":{"pagination":{"next":"http://x/y?page=5","more":true}}}"#;
        let env = decode::<ListEnvelope<WondeStudent>>(body, "schools/X/students", 4).ok();
        let env = env.expect("salvaged");
        assert_eq!(env.next(), Some("http://x/y?page=5"));
        let (records, unreadable) = env.into_records();
        assert_eq!(records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["A1", "A4"]);
        assert_eq!(unreadable.len(), 2);
        assert_eq!(unreadable[0].record.as_deref(), Some("A2"));
        assert_eq!(unreadable[0].field, "date_of_birth");
        assert!(!unreadable[0].detail.contains("Ann"), "values are scrubbed: {}", unreadable[0].detail);
        assert_eq!(unreadable[1].record, None);
        // A `null` or a bare value among the records is one more.
        let body = br#"{"data":[{"id":"A1"},"A2",null]}"#;
        let (records, unreadable) =
            decode::<ListEnvelope<WondeStudent>>(body, "s", 1).expect("salvaged").into_records();
        assert_eq!((records.len(), unreadable.len()), (1, 2));
        assert_eq!(unreadable[1].detail, "null, not a record");
        // A body that is not a list answer still fails.
        let body = br#""not an answer""#;
        assert!(matches!(decode::<ListEnvelope<WondeStudent>>(body, "s", 1), Err(WondeError::Decode { .. })));
    }

    #[test]
    fn decode_names_field_and_record() {
        let body = br#"{"data":{"id":"A2","date_of_birth":"not a date"}}"#;
        let err = decode::<SingleEnvelope<WondeStudent>>(body, "schools/X/students/A2", 4).err();
        match err {
            Some(WondeError::Decode { field, page, .. }) => {
                assert_eq!(field, "data.date_of_birth");
                assert_eq!(page, 4);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn decode_tells_truncation_from_bad_data() {
        let body = br#"{"data":[{"id":"A1"},{"id":"A2","forena"#;
        assert!(matches!(
            decode::<ListEnvelope<WondeStudent>>(body, "s", 1),
            Err(WondeError::Truncated { .. })
        ));
        assert!(matches!(
            decode::<ListEnvelope<WondeStudent>>(b"<html>", "s", 1),
            Err(WondeError::Decode { .. })
        ));
    }

    #[test]
    fn envelope_without_meta_or_with_php_empty_arrays() -> Result<(), WondeError> {
        let env = decode::<ListEnvelope<WondeStudent>>(br#"{"data":[{"id":"A1"}],"meta":[]}"#, "s", 1)?;
        assert_eq!((env.incomplete(), env.next()), (None, None));
        assert_eq!(env.into_records().0.len(), 1);
        let env = decode::<ListEnvelope<WondeStudent>>(br#"{"data":[],"error":null}"#, "s", 1)?;
        assert_eq!(env.incomplete(), None);
        let env = decode::<ListEnvelope<WondeStudent>>(
            br#"{"data":[],"meta":{"pagination":{"next":"http://x/y?page=2","more":true}}}"#,
            "s",
            1,
        )?;
        assert_eq!(env.next(), Some("http://x/y?page=2"));
        Ok(())
    }

    #[test]
    fn envelopes_without_a_data_list_or_with_an_error_are_not_whole() -> Result<(), WondeError> {
        for (body, says) in [
            (r#"{"data":null}"#, "no `data` list"),
            (r#"{"meta":{}}"#, "no `data` list"),
            (r#"{"data":{"id":"A1"}}"#, "an object"),
            (r#"{"data":"none"}"#, "a string"),
            (r#"{"data":[],"error":"Server busy"}"#, "\"Server busy\""),
            (r#"{"error":{"message":"Timeout"}}"#, "\"Timeout\""),
            (r#"{"data":[{"id":"A1"}],"error":true}"#, "an error without words"),
        ] {
            let env = decode::<ListEnvelope<WondeStudent>>(body.as_bytes(), "s", 1)?;
            let why = env.incomplete().unwrap_or_default();
            assert!(why.contains(says), "{body}: {why}");
        }
        let single = decode::<SingleEnvelope<WondeSchool>>(br#"{"error":"gone"}"#, "s", 1)?;
        assert!(single.incomplete().is_some());
        let single = decode::<SingleEnvelope<WondeSchool>>(br#"{"data":{"id":"A1","name":"X"}}"#, "s", 1)?;
        assert_eq!(single.incomplete(), None);
        Ok(())
    }
}
