//! Liveness and readiness probes.

use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;

/// The process answers.
pub async fn live() -> &'static str {
    "ok"
}

/// The database answers too: a replica that cannot reach it takes no traffic.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match state.db.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(_) => {
            tracing::warn!("readiness check failed: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
    }
}
