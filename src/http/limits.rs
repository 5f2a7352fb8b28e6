//! The limits at the HTTP edge (docs/limits.md): the status and headers of
//! an answer (429 with `Retry-After` for RATE_LIMITED, 503 for TIMEOUT,
//! `X-RateLimit-*` on every metered answer), the points budget of requests
//! without a working token, and running a request within its time limit
//! and no longer than its client waits.

use async_graphql::Value;
use async_graphql_axum::GraphQLResponse;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::limits::{Limits, RateKey, RateStatus, Refusal};

const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// A GraphQL answer as an HTTP response: the status its refusals call for
/// and the budget's headers.
pub fn respond(response: async_graphql::Response) -> Response {
    let code = |wanted: &str| {
        response.errors.iter().find(|e| {
            e.extensions.as_ref().and_then(|x| x.get("code")).is_some_and(|c| c == &Value::from(wanted))
        })
    };
    let status = if code("RATE_LIMITED").is_some() {
        StatusCode::TOO_MANY_REQUESTS
    } else if code("TIMEOUT").is_some() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let retry_after = code("RATE_LIMITED")
        .and_then(|e| e.extensions.as_ref().and_then(|x| x.get("retryAfter")).cloned())
        .and_then(|v| match v {
            Value::Number(n) => n.as_u64(),
            _ => None,
        });
    let budget = throttle(&response);
    let mut answer = GraphQLResponse::from(response).into_response();
    *answer.status_mut() = status;
    if let Some((limit, remaining)) = budget {
        budget_headers(answer.headers_mut(), limit, remaining);
    }
    if let Some(seconds) = retry_after {
        answer.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    answer
}

/// The budget `extensions.cost.throttleStatus` reports: (limit, remaining).
fn throttle(response: &async_graphql::Response) -> Option<(u64, u64)> {
    let Some(Value::Object(cost)) = response.extensions.get("cost") else { return None };
    let Some(Value::Object(status)) = cost.get("throttleStatus") else { return None };
    let number = |name: &str| match status.get(name) {
        Some(Value::Number(n)) => n.as_u64(),
        _ => None,
    };
    Some((number("maximumAvailable")?, number("currentlyAvailable")?))
}

/// `X-RateLimit-Limit`, `-Remaining` and `-Reset` (epoch seconds when the
/// budget is whole again), as GitHub sends them.
fn budget_headers(headers: &mut HeaderMap, limit: u64, remaining: u64) {
    let per_point = 60.0 / limit.max(1) as f64;
    let until_full = Duration::from_secs_f64(per_point * limit.saturating_sub(remaining) as f64);
    let reset = (SystemTime::now() + until_full)
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() + u64::from(d.subsec_nanos() > 0));
    headers.insert(LIMIT, HeaderValue::from(limit));
    headers.insert(REMAINING, HeaderValue::from(remaining));
    headers.insert(RESET, HeaderValue::from(reset));
}

/// A request without a working token spends a point of its address's
/// budget; the refusal to send instead of 401 when that budget is spent.
pub fn anonymous(limits: &Limits, address: IpAddr) -> Option<Response> {
    let status: RateStatus = limits.rate.charge(RateKey::Address(address), 1);
    let refusal = status.refusal(1)?;
    let mut answer = respond(refusal.to_response());
    budget_headers(answer.headers_mut(), status.limit.into(), status.remaining.into());
    Some(answer)
}

/// An upgrade refused before it happened: HTTP 429, the refusal's code.
pub fn too_many_sockets(refusal: &Refusal) -> Response {
    let mut answer = GraphQLResponse::from(refusal.to_response()).into_response();
    *answer.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    answer
}

/// Runs `work` (a request's execution) within the time limit. The work is
/// part of the handler's future, so when the client goes away and the
/// server drops the handler, the work stops with it (and says so in the log).
pub async fn run<T>(limits: &Limits, work: impl Future<Output = T>) -> Result<T, Refusal> {
    let mut watch = Unanswered { pending: true };
    let answered = limits.in_time(work).await;
    watch.pending = false;
    answered
}

/// Logs, when dropped before its request was answered, that it was stopped.
struct Unanswered {
    pending: bool,
}

impl Drop for Unanswered {
    fn drop(&mut self) {
        if self.pending {
            tracing::info!("the client went away; its request was stopped");
        }
    }
}
