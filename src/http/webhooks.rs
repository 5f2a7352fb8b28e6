//! POST /webhooks/wonde: Wonde's notifications.
//!
//! Wonde does not sign webhooks; the URL registered with Wonde carries our
//! shared secret (`?secret=` or `X-Webhook-Secret`), compared in constant
//! time. A wrong or missing secret is 401, a malformed body 400, a payload
//! we do not act on (or a school we do not know) is acknowledged and
//! ignored, so Wonde does not retry it forever. Whether a notice is
//! believed (an approval's token checked with Wonde, repeats recognised) is
//! `wonde_notices`'s job: a disbelieved approval is 403, one Wonde could not
//! be asked about 503.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use crate::crypto::Secret;
use crate::wonde_notices::{self, Notice, Notices, Outcome};

#[derive(Deserialize)]
pub struct SecretParam {
    secret: Option<String>,
}

pub async fn wonde(
    State(state): State<AppState>,
    Query(param): Query<SecretParam>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let provided = param
        .secret
        .or_else(|| headers.get("x-webhook-secret").and_then(|v| v.to_str().ok()).map(str::to_owned));
    let authentic = match (&state.webhook_secret, provided) {
        (Some(secret), Some(provided)) => secret.matches(&provided),
        _ => false,
    };
    if !authentic {
        return answer(StatusCode::UNAUTHORIZED, "refused", "a valid webhook secret is required");
    }
    let payload: Value = match serde_json::from_slice(&body) {
        Ok(Value::Object(map)) => Value::Object(map),
        _ => return answer(StatusCode::BAD_REQUEST, "invalid", "the body must be a JSON object"),
    };
    let Some(kind) = payload.get("payload_type").and_then(Value::as_str) else {
        return answer(StatusCode::BAD_REQUEST, "invalid", "`payload_type` is missing");
    };
    let Some(school_id) = text(&payload, "school_id") else {
        return match kind {
            "schoolApproved" | "accessRevoked" | "accessDeclined" | "schoolMigration" => {
                answer(StatusCode::BAD_REQUEST, "invalid", "`school_id` is missing")
            }
            _ => answer(StatusCode::OK, "ignored", "this notification needs no action"),
        };
    };
    let notice = match kind {
        "schoolApproved" => match text(&payload, "school_token") {
            Some(token) => Notice::Approved { token: Secret::new(token) },
            None => return answer(StatusCode::BAD_REQUEST, "invalid", "`school_token` is missing"),
        },
        "accessRevoked" => Notice::Revoked { reason: text(&payload, "revoke_reason") },
        "accessDeclined" => Notice::Declined { reason: text(&payload, "decline_reason") },
        "schoolMigration" => Notice::Migration,
        _ => return answer(StatusCode::OK, "ignored", "this notification needs no action"),
    };
    let notices = Notices { db: &state.db, wonde: &state.wonde, key: &state.secret_key };
    let outcome = notices.handle(&school_id, &wonde_notices::digest(&body), notice).await;
    match outcome {
        Ok(Outcome::Applied(detail)) => {
            state.sync_wake.notify_one();
            tracing::info!(webhook.kind = kind, "webhook applied");
            answer(StatusCode::OK, "accepted", detail)
        }
        Ok(Outcome::Ignored(detail)) => {
            tracing::info!(webhook.kind = kind, detail, "webhook ignored");
            answer(StatusCode::OK, "ignored", detail)
        }
        Ok(Outcome::Repeated) => {
            tracing::info!(webhook.kind = kind, "a repeated webhook delivery; nothing changed");
            answer(StatusCode::OK, "repeated", "this delivery was already handled; nothing changed")
        }
        Ok(Outcome::Refused(detail)) => answer(StatusCode::FORBIDDEN, "refused", detail),
        Ok(Outcome::Unverified) => answer(
            StatusCode::SERVICE_UNAVAILABLE,
            "error",
            "Wonde could not be asked to confirm this; nothing changed, retry later",
        ),
        Err(err) => {
            tracing::error!(
                webhook.kind = kind,
                db.error = crate::error::db_error_kind(&err),
                "webhook could not be applied"
            );
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "error",
                "the directory could not record this; retry later",
            )
        }
    }
}

/// A field as text: Wonde sends some identifiers as numbers. Text holding
/// a NUL is no identifier, and PostgreSQL cannot store it (the lookup
/// failed as a database error, 503): it counts as missing, a 400.
fn text(payload: &Value, field: &str) -> Option<String> {
    match payload.get(field)? {
        Value::String(s) if !s.trim().is_empty() && !s.contains('\0') => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn answer(status: StatusCode, outcome: &str, detail: &str) -> Response {
    (status, axum::Json(json!({ "status": outcome, "detail": detail }))).into_response()
}
