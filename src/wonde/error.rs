//! What can go wrong talking to Wonde, sorted by what the caller should do:
//! retry (see [`WondeError::is_retryable`]), fix credentials, or report data.
//! No variant ever holds a token; decode details have quoted values scrubbed
//! so pupil data does not reach logs through an error message.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WondeError {
    /// The token is wrong or no longer valid (access revoked).
    #[error("Wonde rejected the token for {endpoint} (401)")]
    Unauthorized { endpoint: String },
    /// The token is valid but does not open this school or endpoint.
    #[error("Wonde refused access to {endpoint} (403)")]
    Forbidden { endpoint: String },
    /// No such school or record (or the wrong regional domain).
    #[error("Wonde has no {endpoint} (404)")]
    NotFound { endpoint: String },
    /// 429 still answered after the retry budget was spent.
    #[error("Wonde rate-limited {endpoint} (429){}", retry_note(*.retry_after))]
    RateLimited { endpoint: String, retry_after: Option<Duration> },
    /// A 5xx still answered after the retry budget was spent.
    #[error("Wonde answered {status} for {endpoint}")]
    Server { endpoint: String, status: u16 },
    /// Any other unexpected status (422, 400, ...): not retried.
    #[error("unexpected status {status} from Wonde for {endpoint}")]
    Status { endpoint: String, status: u16 },
    #[error("Wonde request for {endpoint} timed out")]
    Timeout { endpoint: String },
    /// Could not connect, or the connection dropped before an answer.
    #[error("could not reach Wonde for {endpoint}: {detail}")]
    Connection { endpoint: String, detail: String },
    /// The answer stopped part-way (connection cut or JSON ended early).
    #[error("Wonde's answer for {endpoint} page {page} was cut off: {detail}")]
    Truncated { endpoint: String, page: u32, detail: String },
    /// A record that cannot be read: the whole page fails, naming where.
    #[error("Wonde {endpoint} page {page}: cannot read `{field}`{}: {detail}", record_note(record.as_deref()))]
    Decode {
        endpoint: String,
        page: u32,
        /// Path of the offending field, e.g. `data[17].education_details.data.admission_date`.
        field: String,
        /// Wonde id of the record, when it could be found.
        record: Option<String>,
        detail: String,
    },
    /// A bad base URL, token or client setting: a programming or config error.
    #[error("invalid Wonde client configuration: {0}")]
    Config(String),
}

fn retry_note(retry_after: Option<Duration>) -> String {
    retry_after.map_or_else(String::new, |d| format!("; retry after {}s", d.as_secs()))
}

fn record_note(record: Option<&str>) -> String {
    record.map_or_else(String::new, |id| format!(" of record {id}"))
}

impl WondeError {
    /// Worth trying again: rate limits, server errors, timeouts, dropped
    /// connections and cut-off bodies. Credentials, missing records and bad
    /// data will not get better by asking again.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            WondeError::RateLimited { .. }
                | WondeError::Server { .. }
                | WondeError::Timeout { .. }
                | WondeError::Connection { .. }
                | WondeError::Truncated { .. }
        )
    }

    /// The wait Wonde asked for, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            WondeError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Replaces every double-quoted run in a parser message with `"…"`, since
/// serde quotes the offending input (a name, an email) in its messages.
pub(crate) fn scrub(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut inside = false;
    for c in message.chars() {
        if c == '"' {
            if inside {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_hides_values() {
        assert_eq!(
            scrub(r#"invalid type: string "Jane Smith", expected a date"#),
            r#"invalid type: string "…", expected a date"#
        );
    }

    #[test]
    fn messages_name_where() {
        let e = WondeError::Decode {
            endpoint: "schools/A1/students".into(),
            page: 3,
            field: "data[4].date_of_birth".into(),
            record: Some("A9".into()),
            detail: "not a date".into(),
        };
        assert_eq!(
            e.to_string(),
            "Wonde schools/A1/students page 3: cannot read `data[4].date_of_birth` of record A9: not a date"
        );
        assert!(!e.is_retryable());
        assert!(WondeError::Timeout { endpoint: "x".into() }.is_retryable());
    }
}
