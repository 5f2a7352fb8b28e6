//! A request id on every request: taken from the client's `x-request-id`
//! when it is a short plain token (a proxy's or a caller's, so their logs
//! and ours join up), otherwise made here (16 random hex digits). It is on
//! the request's log span (`request_id`, so every line the request logs
//! carries it) and on the answer's `x-request-id` header. tower-http's
//! request-id layers would keep any client text, including text that
//! forges log lines; this one keeps only what it can vouch for.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use rand::RngCore;

/// The header, in and out.
pub const HEADER: &str = "x-request-id";

/// A request's id, in its extensions (read by the log span).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Gives the request its id and the answer its header.
pub async fn assign(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map_or_else(generate, str::to_owned);
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

/// 1 to 64 characters of letters, digits, `-`, `_`, `.` (UUIDs, ULIDs,
/// trace ids).
fn acceptable(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn generate() -> String {
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_short_ids_are_kept() {
        assert!(acceptable("3f2c9a1e-77b0-4c1e-9d1a-0b6f1c2d3e4f"));
        assert!(acceptable("01HZX3J6Q8"));
        for refused in ["", "a b", "line\nbreak", "x\"}", &"a".repeat(65)] {
            assert!(!acceptable(refused), "{refused:?}");
        }
        let made = generate();
        assert_eq!(made.len(), 16);
        assert!(acceptable(&made));
        assert_ne!(made, generate());
    }
}
