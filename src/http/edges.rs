//! What the HTTP edge refuses before any handler reads a body (issue 13):
//! `POST /graphql` takes `application/json` (at most [`MAX_JSON_BODY`]) or
//! `multipart/form-data` (CSV uploads, with their own larger cap), nothing
//! else; and request logs name paths, never query strings, which can carry
//! the webhook secret (`/webhooks/wonde?secret=...`).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The largest JSON body `POST /graphql` reads: 1 MiB. Uploads travel as
/// multipart and are capped by `super::MAX_GRAPHQL_BODY` instead.
pub const MAX_JSON_BODY: usize = 1024 * 1024;

/// What a `POST /graphql` body is, by its `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BodyKind {
    Json,
    Multipart,
}

fn body_kind(content_type: Option<&str>) -> Option<BodyKind> {
    let essence = content_type?.split(';').next()?.trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/json" | "application/graphql-response+json" => Some(BodyKind::Json),
        "multipart/form-data" => Some(BodyKind::Multipart),
        _ => None,
    }
}

/// Middleware of `POST /graphql`: 415 for any other content type (a
/// `text/plain` body would otherwise be executed, which lets a hostile page
/// post a mutation cross-site without a CORS preflight), 413 for a JSON
/// body over [`MAX_JSON_BODY`]. Both answers are GraphQL-shaped errors.
pub async fn graphql_body(request: Request, next: Next) -> Response {
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    match body_kind(content_type) {
        None => refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "POST /graphql takes `Content-Type: application/json`, or multipart/form-data for uploads",
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        Some(BodyKind::Multipart) => next.run(request).await,
        Some(BodyKind::Json) => {
            let (parts, body) = request.into_parts();
            match axum::body::to_bytes(body, MAX_JSON_BODY).await {
                Ok(bytes) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
                Err(_) => refusal(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "a JSON request body may be at most 1 MiB",
                    "PAYLOAD_TOO_LARGE",
                ),
            }
        }
    }
}

fn refusal(status: StatusCode, message: &str, code: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, axum::Json(body)).into_response()
}

/// The span each request is logged in: method, path and request id only.
/// The query string is left out everywhere, since `?secret=` authenticates
/// Wonde's webhooks; headers and bodies are never logged.
pub fn request_span(request: &Request) -> tracing::Span {
    let id = request.extensions().get::<super::request_id::RequestId>().map_or("", |id| id.0.as_str());
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_are_judged_by_their_essence() {
        assert_eq!(body_kind(Some("application/json")), Some(BodyKind::Json));
        assert_eq!(body_kind(Some("Application/JSON; charset=utf-8")), Some(BodyKind::Json));
        assert_eq!(body_kind(Some("multipart/form-data; boundary=x")), Some(BodyKind::Multipart));
        for refused in [None, Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("")] {
            assert_eq!(body_kind(refused), None, "{refused:?}");
        }
    }
}
