//! POST /webhooks/wonde: Wonde's notifications.
//!
//! Wonde does not sign webhooks; the URL registered with Wonde carries our
//! shared secret (`?secret=` or `X-Webhook-Secret`), compared in constant
//! time. A wrong or missing secret is 401, a malformed body 400, a payload
//! we do not act on (or a school we do not know) is acknowledged and
//! ignored, so Wonde does not retry it forever.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use entity::enums::{ConnectionStatus, SyncKind};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use crate::connections;
use crate::crypto::Secret;
use crate::sync::runs;

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
    match handle(&state, kind, &school_id, &payload).await {
        Ok(response) => response,
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

async fn handle(
    state: &AppState,
    kind: &str,
    school_id: &str,
    payload: &Value,
) -> Result<Response, sea_orm::DbErr> {
    let token = text(payload, "school_token");
    if kind == "schoolApproved" && token.is_none() {
        return Ok(answer(StatusCode::BAD_REQUEST, "invalid", "`school_token` is missing"));
    }
    if !matches!(kind, "schoolApproved" | "accessRevoked" | "accessDeclined" | "schoolMigration") {
        return Ok(answer(StatusCode::OK, "ignored", "this notification needs no action"));
    }
    let txn = crate::db::begin_write(&state.db).await?;
    let Some(connection) = connections::by_wonde_id(&txn, school_id).await? else {
        tracing::info!(webhook.kind = kind, "webhook for a school we never connected or requested; ignored");
        return Ok(answer(StatusCode::OK, "ignored", "no school here has that Wonde id"));
    };
    let detail = match kind {
        "schoolApproved" => {
            let token = Secret::new(token.unwrap_or_default());
            // The catalog first: the connection's change appends an event,
            // which comes last in a transaction (see `events::log`).
            crate::catalog::set_access_status(&txn, school_id, ConnectionStatus::Approved).await?;
            let (_, run) = connections::approve(&txn, connection, &token, &state.secret_key).await?;
            if run.is_some() { "approved; the first full sync is queued" } else { "token updated" }
        }
        "accessRevoked" | "accessDeclined" => {
            let (status, reason_field) = if kind == "accessRevoked" {
                (ConnectionStatus::Revoked, "revoke_reason")
            } else {
                (ConnectionStatus::Declined, "decline_reason")
            };
            crate::catalog::set_access_status(&txn, school_id, status).await?;
            connections::set_status(&txn, connection, status, text(payload, reason_field)).await?;
            "recorded; scheduled syncs stop and nobody is deactivated"
        }
        _ if connection.status == ConnectionStatus::Approved => {
            // A finished MIS migration may have changed anything: look now.
            runs::enqueue(&txn, connection.school_id, SyncKind::Webhook, false).await?;
            "a sync is queued"
        }
        _ => "the school is not approved; nothing to sync",
    };
    txn.commit().await?;
    state.sync_wake.notify_one();
    tracing::info!(webhook.kind = kind, "webhook applied");
    Ok(answer(StatusCode::OK, "accepted", detail))
}

/// A field as text: Wonde sends some identifiers as numbers.
fn text(payload: &Value, field: &str) -> Option<String> {
    match payload.get(field)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn answer(status: StatusCode, outcome: &str, detail: &str) -> Response {
    (status, axum::Json(json!({ "status": outcome, "detail": detail }))).into_response()
}
