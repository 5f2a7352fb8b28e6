//! Prometheus metrics (`GET /metrics`), through the `metrics` facade and
//! `metrics-exporter-prometheus`. The recorder is process-wide: installed
//! once, the first time a server is built, and shared by every server of
//! the process (the test suite starts many).
//!
//! Every metric is named and documented in [`describe`] and in
//! docs/metrics.md. Labels are bounded: a Wonde endpoint is its path with
//! the school's id replaced by `{id}`, and a GraphQL operation name is
//! kept only when it is a GraphQL name and one of the first
//! [`MAX_OPERATION_NAMES`] seen (later ones are `other`), so a client
//! cannot grow the scrape without bound.

use entity::enums::{EventKind, SyncStatus};
use entity::sync_run;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// How many distinct GraphQL operation names get their own label.
pub const MAX_OPERATION_NAMES: usize = 200;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
static OPERATION_NAMES: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();

/// Installs the process's recorder (once) and answers its handle; `None`
/// when another recorder was installed first (then `/metrics` says so).
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets(&[
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
                ])
                .and_then(PrometheusBuilder::install_recorder);
            match installed {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(err) => {
                    tracing::warn!(error = %err, "no metrics: a recorder could not be installed");
                    None
                }
            }
        })
        .clone()
}

/// The scrape: Prometheus's text format (version 0.0.4).
pub fn render() -> Option<String> {
    let handle = HANDLE.get()?.as_ref()?;
    // Without the exporter's own HTTP listener nothing else drains the
    // histograms' buffers.
    handle.run_upkeep();
    Some(handle.render())
}

fn describe() {
    describe_counter!(
        "onroll_sync_runs_total",
        "Sync runs ended, by kind (FULL, INCREMENTAL, WEBHOOK, SWEEP, CSV) and status (COMPLETED, FAILED, CANCELLED)."
    );
    describe_histogram!(
        "onroll_sync_run_duration_seconds",
        metrics::Unit::Seconds,
        "Time from a run's start to its end, by kind and status."
    );
    describe_counter!(
        "onroll_sync_records_changed_total",
        "Records a completed run changed, by record (students, staff, guardians, groups) and change (created, updated, deactivated, reactivated, held)."
    );
    describe_counter!(
        "onroll_events_total",
        "Events appended to the log, by kind (DEACTIVATED, REACTIVATED, HELD, ...): deactivations and holds from runs, approvals and disconnections alike."
    );
    describe_counter!(
        "onroll_accounts_purged_total",
        "Accounts whose personal data was purged, by cause (retention, erasure) and kind (students, staff, guardians)."
    );
    describe_counter!(
        "onroll_wonde_requests_total",
        "Wonde HTTP attempts, by endpoint (the school's id as {id}) and status (the HTTP status, or `transport` when no answer came)."
    );
    describe_histogram!(
        "onroll_wonde_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time of one Wonde attempt until its body was read, by endpoint."
    );
    describe_counter!(
        "onroll_wonde_retries_total",
        "Wonde requests retried after a retryable failure, by endpoint."
    );
    describe_counter!(
        "onroll_graphql_requests_total",
        "GraphQL operations (HTTP and WebSocket), by operation name (`anonymous` without one, `other` past the first 200) and outcome (`ok`, or the first error's code)."
    );
    describe_histogram!(
        "onroll_graphql_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to answer a GraphQL operation, by operation name."
    );
    describe_histogram!(
        "onroll_graphql_request_cost",
        "Actual cost of an answered operation (docs/limits.md), by operation name."
    );
    describe_gauge!("onroll_subscription_sockets_open", "Subscription WebSockets open in this process.");
    describe_gauge!(
        "onroll_event_feed_lag_seconds",
        metrics::Unit::Seconds,
        "Age of the newest event this process's feed delivered, when it delivered it: how far this replica's subscribers trail the log."
    );
    describe_counter!(
        "onroll_webhook_deliveries_total",
        "Outbound webhook delivery attempts, by outcome (delivered, failed: to be retried or given up, gone: HTTP 410, the endpoint was disabled)."
    );
    describe_histogram!(
        "onroll_webhook_delivery_duration_seconds",
        metrics::Unit::Seconds,
        "One delivery attempt, from sending the request to reading the receiver's answer, by outcome."
    );
    describe_histogram!(
        "onroll_webhook_delivery_latency_seconds",
        metrics::Unit::Seconds,
        "From an event's time to its successful delivery to one endpoint: what a receiver waits, retries included."
    );
}

/// Records a run that has ended (`conclude` reads its final row).
pub fn run_ended(run: &sync_run::Model) {
    let kind = run.kind.as_str();
    let status = run.status.as_str();
    counter!("onroll_sync_runs_total", "kind" => kind, "status" => status).increment(1);
    if let (Some(started), Some(finished)) = (run.started_at, run.finished_at) {
        let seconds = (finished - started).to_std().map_or(0.0, |d| d.as_secs_f64());
        histogram!("onroll_sync_run_duration_seconds", "kind" => kind, "status" => status).record(seconds);
    }
    if run.status != SyncStatus::Completed {
        return;
    }
    for (record, counts) in run.counts_by_record() {
        for (change, n) in sync_run::CHANGES.into_iter().zip(counts) {
            if let Ok(n) = u64::try_from(n)
                && n > 0
            {
                counter!("onroll_sync_records_changed_total", "record" => record, "change" => change)
                    .increment(n);
            }
        }
    }
}

/// Records accounts whose personal data was purged, by `cause`
/// (`retention`: the daily job; `erasure`: `erasePerson`) and person kind.
pub fn accounts_purged(cause: &'static str, students: u64, staff: u64, guardians: u64) {
    for (kind, n) in [("students", students), ("staff", staff), ("guardians", guardians)] {
        if n > 0 {
            counter!("onroll_accounts_purged_total", "cause" => cause, "kind" => kind).increment(n);
        }
    }
}

/// Records events appended to the log.
pub fn events_appended(kinds: impl Iterator<Item = EventKind>) {
    for kind in kinds {
        counter!("onroll_events_total", "kind" => kind.as_str()).increment(1);
    }
}

/// Records one Wonde attempt; `status` is `None` when no answer came.
pub fn wonde_attempt(endpoint: &str, status: Option<u16>, took: Duration) {
    let endpoint = endpoint_label(endpoint);
    let status = status.map_or_else(|| "transport".to_owned(), |s| s.to_string());
    counter!("onroll_wonde_requests_total", "endpoint" => endpoint.clone(), "status" => status).increment(1);
    histogram!("onroll_wonde_request_duration_seconds", "endpoint" => endpoint).record(took.as_secs_f64());
}

/// Records a retried Wonde request.
pub fn wonde_retry(endpoint: &str) {
    counter!("onroll_wonde_retries_total", "endpoint" => endpoint_label(endpoint)).increment(1);
}

/// The label of operations whose name is not counted on its own.
pub const OTHER: &str = "other";

/// Records one answered GraphQL operation under `name` (a label made by
/// [`operation_label`], or [`OTHER`]).
pub fn graphql_answered(name: &str, outcome: &str, took: Duration, cost: u64) {
    let name = name.to_owned();
    counter!("onroll_graphql_requests_total", "operation" => name.clone(), "outcome" => outcome.to_owned())
        .increment(1);
    histogram!("onroll_graphql_request_duration_seconds", "operation" => name.clone())
        .record(took.as_secs_f64());
    #[allow(clippy::cast_precision_loss)] // costs are capped far below 2^52
    histogram!("onroll_graphql_request_cost", "operation" => name).record(cost as f64);
}

/// Records one outbound webhook attempt: its `outcome` (`delivered`,
/// `failed`, `gone`), how long it took, and for a delivered one how long
/// after the event's `occurred_at` it arrived.
pub fn webhook_attempt(
    outcome: &'static str,
    took: Duration,
    occurred_at: Option<chrono::DateTime<chrono::Utc>>,
) {
    counter!("onroll_webhook_deliveries_total", "outcome" => outcome).increment(1);
    histogram!("onroll_webhook_delivery_duration_seconds", "outcome" => outcome).record(took.as_secs_f64());
    if let Some(occurred_at) = occurred_at {
        let latency = (chrono::Utc::now() - occurred_at).to_std().map_or(0.0, |d| d.as_secs_f64());
        histogram!("onroll_webhook_delivery_latency_seconds").record(latency);
    }
}

/// Records the age of the newest event a feed delivered.
pub fn feed_delivered(occurred_at: chrono::DateTime<chrono::Utc>) {
    let lag = (chrono::Utc::now() - occurred_at).to_std().map_or(0.0, |d| d.as_secs_f64());
    gauge!("onroll_event_feed_lag_seconds").set(lag);
}

/// Counts an open subscription socket for as long as it lives.
pub struct OpenSocket(());

impl OpenSocket {
    pub fn count() -> Self {
        gauge!("onroll_subscription_sockets_open").increment(1.0);
        Self(())
    }
}

impl Drop for OpenSocket {
    fn drop(&mut self) {
        gauge!("onroll_subscription_sockets_open").decrement(1.0);
    }
}

/// What may follow `schools/{id}/` in a Wonde endpoint's label: the
/// collections and actions the client calls.
const SCHOOL_PATHS: &[&str] = &[
    "students",
    "students-leaver",
    "contacts",
    "employees",
    "classes",
    "groups",
    "deletions",
    "request-access",
    "revoke-access",
];

/// `schools/A123/students` → `schools/{id}/students`; `schools/all` stays.
/// Anything else (a school id holding a `/`, typed by an admin) is `other`:
/// a label never carries what a user typed.
pub(crate) fn endpoint_label(endpoint: &str) -> String {
    let parts: Vec<&str> = endpoint.split('/').collect();
    match parts.as_slice() {
        ["schools", "all"] => "schools/all".to_owned(),
        ["schools", _] => "schools/{id}".to_owned(),
        ["schools", _, path] if SCHOOL_PATHS.contains(path) => format!("schools/{{id}}/{path}"),
        _ => OTHER.to_owned(),
    }
}

/// An operation's name as a bounded label: `anonymous` without one, and
/// [`OTHER`] for a name that is not a GraphQL name or comes after the first
/// [`MAX_OPERATION_NAMES`].
pub fn operation_label(operation: Option<&str>) -> String {
    let Some(name) = operation.filter(|n| !n.is_empty()) else { return "anonymous".to_owned() };
    let valid = name.len() <= 64
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return OTHER.to_owned();
    }
    let names = OPERATION_NAMES.get_or_init(|| Mutex::new(HashSet::new()));
    let Ok(mut names) = names.lock() else { return OTHER.to_owned() };
    if names.contains(name) || names.len() < MAX_OPERATION_NAMES {
        names.insert(name.to_owned());
        name.to_owned()
    } else {
        OTHER.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_lose_their_school_ids() {
        assert_eq!(endpoint_label("schools/A1930499544/students"), "schools/{id}/students");
        assert_eq!(endpoint_label("schools/A1930499544"), "schools/{id}");
        assert_eq!(endpoint_label("schools/all"), "schools/all");
        assert_eq!(endpoint_label("schools/A1/students-leaver"), "schools/{id}/students-leaver");
        assert_eq!(endpoint_label("schools/A1/Jane Doe 2014-03-02"), "other");
        assert_eq!(endpoint_label("schools/A1/a/b/c"), "other");
    }

    #[test]
    fn operation_names_are_bounded() {
        assert_eq!(operation_label(None), "anonymous");
        assert_eq!(operation_label(Some("Roster")), "Roster");
        assert_eq!(operation_label(Some("drop table; --")), "other");
        assert_eq!(operation_label(Some(&"x".repeat(65))), "other");
        for i in 0..MAX_OPERATION_NAMES + 10 {
            operation_label(Some(&format!("Op{i}")));
        }
        assert_eq!(operation_label(Some("OneTooMany")), "other");
        assert_eq!(operation_label(Some("Roster")), "Roster", "a name seen before keeps its label");
    }
}
