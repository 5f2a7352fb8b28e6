//! What can go wrong talking to Wonde, sorted by what the caller should do:
//! retry (see [`WondeError::is_retryable`]), fix credentials, or report data.
//! No variant ever holds a token; decode details have quoted values scrubbed
//! so pupil data does not reach logs through an error message.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WondeError {
    /// The token is wrong or no longer valid (access revoked).
    #[error("Wonde rejected the token for {endpoint} (401){}", said(message.as_deref()))]
    Unauthorized {
        endpoint: String,
        /// Wonde's own words from the answer's body, cleaned by [`wonde_message`].
        message: Option<String>,
    },
    /// The token is valid but does not open this school or endpoint.
    #[error("Wonde refused access to {endpoint} (403){}", said(message.as_deref()))]
    Forbidden { endpoint: String, message: Option<String> },
    /// No such school or record (or the wrong regional domain).
    #[error("Wonde has no {endpoint} (404){}", said(message.as_deref()))]
    NotFound { endpoint: String, message: Option<String> },
    /// 429 still answered after the retry budget was spent.
    #[error("Wonde rate-limited {endpoint} (429){}", retry_note(*.retry_after))]
    RateLimited { endpoint: String, retry_after: Option<Duration> },
    /// A 5xx still answered after the retry budget was spent.
    #[error("Wonde is failing: it answered {status} for {endpoint}{}", said(message.as_deref()))]
    Server { endpoint: String, status: u16, message: Option<String> },
    /// Any other refusal (400, 409, 422, ...): not retried.
    #[error("Wonde refused {endpoint} ({status}){}", said(message.as_deref()))]
    Status { endpoint: String, status: u16, message: Option<String> },
    #[error("Wonde request for {endpoint} timed out")]
    Timeout { endpoint: String },
    /// Could not connect, or the connection dropped before an answer.
    #[error("could not reach Wonde for {endpoint}: {detail}")]
    Connection { endpoint: String, detail: String },
    /// The answer stopped part-way (connection cut or JSON ended early).
    #[error("Wonde's answer for {endpoint} page {page} was cut off: {detail}")]
    Truncated { endpoint: String, page: u32, detail: String },
    /// A `200` that is not a whole answer: a body with an `error` member,
    /// or without a `data` array (list) or object (single record). Wonde
    /// sends these when it fails part-way, so it is retried like a 5xx;
    /// never read as an empty list, which would make a FULL run deactivate
    /// everyone on the missing page.
    #[error("Wonde's answer for {endpoint} page {page} was not whole: {detail}")]
    Incomplete { endpoint: String, page: u32, detail: String },
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

fn said(message: Option<&str>) -> String {
    message.map_or_else(String::new, |m| format!(": Wonde said \"{m}\""))
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
                | WondeError::Incomplete { .. }
        )
    }

    /// Wonde's own words for a refusal, when its answer had any.
    pub fn message(&self) -> Option<&str> {
        match self {
            WondeError::Unauthorized { message, .. }
            | WondeError::Forbidden { message, .. }
            | WondeError::NotFound { message, .. }
            | WondeError::Server { message, .. }
            | WondeError::Status { message, .. } => message.as_deref(),
            _ => None,
        }
    }

    /// No answer came at all: the connection failed, dropped or timed out.
    /// Only these are "could not be reached"; an answer, even a 5xx, is not.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            WondeError::Connection { .. } | WondeError::Timeout { .. } | WondeError::Truncated { .. }
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

/// The longest message of Wonde's we keep, in characters.
const MAX_MESSAGE: usize = 300;

/// Wonde's message as safe words: one line, at most [`MAX_MESSAGE`]
/// characters, with the token (when given) and anything token-like (a run
/// of 24 or more letters, digits, `-` or `_`) replaced by `[redacted]`.
/// `None` when nothing readable is left.
pub(crate) fn wonde_message(raw: &str, token: Option<&str>) -> Option<String> {
    let mut text = raw.to_owned();
    if let Some(token) = token.filter(|t| !t.is_empty()) {
        text = text.replace(token, "[redacted]");
    }
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.chars().count() >= 24 {
            out.push_str("[redacted]");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(if c.is_control() { ' ' } else { c });
        }
    }
    flush(&mut word, &mut out);
    let out = out.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = out.chars().take(MAX_MESSAGE).collect();
    if out.chars().count() == MAX_MESSAGE {
        out.push('…');
    }
    (!out.is_empty()).then_some(out)
}

/// Replaces every double-quoted or backquoted run in a parser message
/// with `"…"` (or `` `…` ``), since serde quotes the offending input (a
/// name, an email, a number) in its messages. A backquoted run after
/// "field " is a field's name (`missing field `id``) and stays.
pub(crate) fn scrub(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut inside: Option<(char, bool)> = None;
    for c in message.chars() {
        match inside {
            Some((quote, keep)) if c == quote => {
                if !keep {
                    out.push('…');
                }
                out.push(c);
                inside = None;
            }
            Some((_, true)) => out.push(c),
            Some((_, false)) => {}
            None => {
                let names_a_field = c == '`' && out.ends_with("field ");
                out.push(c);
                if c == '"' || c == '`' {
                    inside = Some((c, names_a_field));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_hides_backquoted_values() {
        assert_eq!(
            scrub("invalid type: floating point `1e+300`, expected i64"),
            "invalid type: floating point `…`, expected i64"
        );
        assert_eq!(scrub("missing field `id` at line 1"), "missing field `id` at line 1");
    }

    #[test]
    fn scrub_hides_values() {
        assert_eq!(
            scrub(r#"invalid type: string "Jane Smith", expected a date"#),
            r#"invalid type: string "…", expected a date"#
        );
    }

    #[test]
    fn wonde_messages_lose_tokens_and_length() {
        let token = "0123456789abcdef0123456789abcdef01234567";
        let raw = format!("Token {token} is\nnot allowed; key AbCdEfGhIjKlMnOpQrStUvWxYz12 too");
        assert_eq!(
            wonde_message(&raw, Some(token)).as_deref(),
            Some("Token [redacted] is not allowed; key [redacted] too")
        );
        assert_eq!(wonde_message("  \n ", None), None);
        let long = "word ".repeat(200);
        assert!(wonde_message(&long, None).is_some_and(|m| m.chars().count() == MAX_MESSAGE + 1));
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
