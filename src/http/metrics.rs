//! `GET /metrics`: the Prometheus scrape (docs/metrics.md). It holds counts
//! and timings only, never personal data nor secrets; like `/healthz` it
//! asks for no token, so expose it to the monitoring network only.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

pub async fn scrape() -> Response {
    match crate::telemetry::render() {
        Some(text) => {
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
        }
        None => (StatusCode::SERVICE_UNAVAILABLE, "metrics are off: no recorder could be installed")
            .into_response(),
    }
}
