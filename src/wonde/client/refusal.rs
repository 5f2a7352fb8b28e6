//! Turning a failed request into a [`WondeError`]: the status, Wonde's
//! words in the refusal's body (cleaned of anything token-like), and the
//! causes of a transport error.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::wonde::{SecretToken, WondeError};

/// Bodies of refusals longer than this are not read further.
const MAX_ERROR_BODY: usize = 16 * 1024;

/// Wonde's words in a refusal's body (`error`, `message` or
/// `error_description` of a JSON body, or short plain text), cleaned of
/// anything token-like. The body is read up to [`MAX_ERROR_BODY`] bytes.
pub(super) async fn error_body(mut response: reqwest::Response, token: &SecretToken) -> Option<String> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() >= MAX_ERROR_BODY {
            body.truncate(MAX_ERROR_BODY);
            break;
        }
    }
    let raw = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(doc) => {
            let field = |name: &str| match doc.get(name) {
                Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
                Some(serde_json::Value::Object(o)) => {
                    o.get("message").and_then(serde_json::Value::as_str).map(str::to_owned)
                }
                _ => None,
            };
            field("error").or_else(|| field("message")).or_else(|| field("error_description"))?
        }
        // Plain text, but not an HTML error page.
        Err(_) => {
            let text = String::from_utf8_lossy(&body).trim().to_owned();
            if text.is_empty() || text.starts_with('<') || text.len() > 500 {
                return None;
            }
            text
        }
    };
    crate::wonde::error::wonde_message(&raw, Some(token.expose_secret()))
}

pub(super) fn status_error(
    status: StatusCode,
    headers: &HeaderMap,
    endpoint: &str,
    message: Option<String>,
) -> WondeError {
    let endpoint = endpoint.to_owned();
    match status.as_u16() {
        401 => WondeError::Unauthorized { endpoint, message },
        403 => WondeError::Forbidden { endpoint, message },
        404 => WondeError::NotFound { endpoint, message },
        429 => WondeError::RateLimited {
            endpoint,
            retry_after: headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
        },
        s @ 500..=599 => WondeError::Server { endpoint, status: s, message },
        s => WondeError::Status { endpoint, status: s, message },
    }
}

pub(super) fn transport_error(e: &reqwest::Error, endpoint: &str) -> WondeError {
    if e.is_timeout() {
        WondeError::Timeout { endpoint: endpoint.to_owned() }
    } else {
        WondeError::Connection { endpoint: endpoint.to_owned(), detail: error_chain(e) }
    }
}

/// The causes of a reqwest error, without the URL reqwest puts first.
pub(super) fn error_chain(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    if parts.is_empty() { "transport error".to_owned() } else { parts.join(": ") }
}
