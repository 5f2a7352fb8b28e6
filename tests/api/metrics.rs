//! `GET /metrics`: the Prometheus scrape moves with what the server does.
//!
//! The recorder is process-wide and the suite's tests run side by side, so
//! each assertion reads a series that only this test can move (an
//! operation name of its own) exactly, and shared series (runs, Wonde
//! requests, events) as "at least what this test did".

use entity::enums::SyncKind;
use serde_json::json;

use crate::on_both_engines;
use crate::support::{Engine, TestApp};
use crate::sync_wonde::World;

on_both_engines!(metrics_count_runs_requests_and_operations);

/// The scrape as (series with labels, value) pairs.
pub(crate) async fn scrape(app: &TestApp) -> anyhow::Result<(String, Vec<(String, f64)>)> {
    let response = app.http.get(app.url("/metrics")).send().await?;
    anyhow::ensure!(response.status() == 200, "GET /metrics answered {}", response.status());
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    anyhow::ensure!(content_type.starts_with("text/plain"), "content type {content_type}");
    let text = response.text().await?;
    let series = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' '))
        .filter_map(|(name, value)| Some((name.to_owned(), value.parse().ok()?)))
        .collect();
    Ok((text, series))
}

pub(crate) fn value(series: &[(String, f64)], name: &str, labels: &[(&str, &str)]) -> f64 {
    series
        .iter()
        .filter(|(s, _)| {
            s.split('{').next() == Some(name)
                && labels.iter().all(|(k, v)| s.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, v)| v)
        .sum()
}

async fn metrics_count_runs_requests_and_operations(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let world = World::start(&engine, 1, 30).await?;
    let (_, before) = scrape(&app).await?;

    // Runs, Wonde requests and deactivations: a FULL run, two leavers, an
    // INCREMENTAL run.
    world.sync(0, SyncKind::Full).await?;
    let (wonde_id, _) = world.schools[0].clone();
    let truth = world.truth(0)?;
    for student in truth.students.iter().take(2) {
        world.sim.student_leaves(&wonde_id, &student.id, None)?;
    }
    world.sync(0, SyncKind::Incremental).await?;

    // Operations: a name only this test uses, twice answered, once refused.
    let engine_name = if matches!(engine, Engine::Sqlite) { "Sqlite" } else { "Postgres" };
    let operation = format!("MetricsProbe{engine_name}");
    let query = format!("query {operation} {{ viewer {{ role }} }}");
    for _ in 0..2 {
        app.query(&s.trust_admin, &query, json!({})).await?;
    }
    let refused = app
        .http
        .post(app.url("/graphql"))
        .json(&json!({ "query": format!("query {operation} {{ viewer {{ role }} }}") }))
        .send()
        .await?;
    assert_eq!(refused.status(), 401);
    // A document that fails validation counts under the code clients see.
    let invalid = format!("query {operation}Invalid {{ nosuch }}");
    let answer: serde_json::Value = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth(&s.trust_admin)
        .json(&json!({ "query": invalid }))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(answer["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "{answer}");
    // A name the document does not define never becomes a label.
    let ghost = format!("{operation}Ghost");
    app.http
        .post(app.url("/graphql"))
        .bearer_auth(&s.trust_admin)
        .json(&json!({ "query": query, "operationName": ghost }))
        .send()
        .await?;
    // Over a WebSocket (graphql-transport-ws runs queries as streams).
    let (mut socket, ack) = crate::support::ws::connect(app.addr, Some(&s.trust_admin)).await?;
    assert_eq!(ack["type"], "connection_ack");
    let over_ws = format!("query {operation}Socket {{ viewer {{ role }} }}");
    crate::support::ws::subscribe(&mut socket, "1", &over_ws, json!({})).await?;
    let next = crate::support::ws::next(&mut socket).await?;
    assert_eq!(next["payload"]["data"]["viewer"]["role"], "TRUST_ADMIN", "{next}");

    let (text, after) = scrape(&app).await?;
    let moved =
        |name: &str, labels: &[(&str, &str)]| value(&after, name, labels) - value(&before, name, labels);
    assert!(moved("onroll_sync_runs_total", &[("kind", "FULL"), ("status", "COMPLETED")]) >= 1.0, "{text}");
    assert!(moved("onroll_sync_runs_total", &[("kind", "INCREMENTAL"), ("status", "COMPLETED")]) >= 1.0);
    assert!(moved("onroll_sync_run_duration_seconds_count", &[("kind", "FULL")]) >= 1.0, "{text}");
    assert!(
        moved("onroll_sync_records_changed_total", &[("record", "students"), ("change", "created")]) >= 30.0
    );
    assert!(
        moved("onroll_sync_records_changed_total", &[("record", "students"), ("change", "deactivated")])
            >= 2.0
    );
    assert!(moved("onroll_events_total", &[("kind", "DEACTIVATED")]) >= 2.0);
    assert!(
        moved("onroll_wonde_requests_total", &[("endpoint", "schools/{id}/students"), ("status", "200")])
            >= 2.0
    );
    assert!(
        moved("onroll_wonde_request_duration_seconds_count", &[("endpoint", "schools/{id}/students")]) >= 2.0
    );
    assert!(!text.contains(&wonde_id), "a school's Wonde id must not become a label");
    // Only this test uses the operation's name: exact counts.
    assert_eq!(
        value(&after, "onroll_graphql_requests_total", &[("operation", &operation), ("outcome", "ok")]),
        2.0
    );
    assert_eq!(
        value(
            &after,
            "onroll_graphql_requests_total",
            &[("operation", &operation), ("outcome", "UNAUTHENTICATED")]
        ),
        0.0,
        "a request refused before GraphQL runs (no token) is not an operation"
    );
    assert_eq!(
        value(&after, "onroll_graphql_request_duration_seconds_count", &[("operation", &operation)]),
        2.0
    );
    let invalid_name = format!("{operation}Invalid");
    let invalid_labels = [("operation", invalid_name.as_str()), ("outcome", "GRAPHQL_VALIDATION_FAILED")];
    assert_eq!(value(&after, "onroll_graphql_requests_total", &invalid_labels), 1.0, "{text}");
    assert!(!text.contains(&ghost), "an operationName the document lacks is not a label");
    let socket_name = format!("{operation}Socket");
    let socket_labels = [("operation", socket_name.as_str()), ("outcome", "ok")];
    assert_eq!(value(&after, "onroll_graphql_requests_total", &socket_labels), 1.0, "{text}");
    // Nothing personal and no secret in the scrape.
    for student in truth.students.iter().take(2) {
        assert!(!text.contains(&student.surname), "a name in the scrape");
    }
    assert!(!text.contains(&s.trust_admin), "a token in the scrape");
    Ok(())
}
