//! The API's own scalars, described for the front-end developers whose
//! code generators read them: what the string holds and, where a
//! specification exists, `@specifiedBy` its URL.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::Utc;

/// A point in time: a string in RFC 3339 date-time format, always in UTC
/// (offset `+00:00`), with fractional seconds when the instant has them,
/// e.g. `2026-11-29T18:40:31.123456+00:00`. Inputs may carry any offset and
/// are converted to UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTime(pub chrono::DateTime<Utc>);

/// A point in time: a string in RFC 3339 date-time format, always in UTC
/// (offset `+00:00`), with fractional seconds when the instant has them,
/// e.g. `2026-11-29T18:40:31.123456+00:00`. Inputs may carry any offset and
/// are converted to UTC.
#[Scalar(name = "DateTime", specified_by_url = "https://scalars.graphql.org/chillicream/date-time.html")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => chrono::DateTime::parse_from_rfc3339(text)
                .map(|at| Self(at.with_timezone(&Utc)))
                .map_err(|_| InputValueError::custom(format!("`{text}` is not an RFC 3339 date-time"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339())
    }
}

impl From<chrono::DateTime<Utc>> for DateTime {
    fn from(at: chrono::DateTime<Utc>) -> Self {
        Self(at)
    }
}
