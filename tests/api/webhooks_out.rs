//! Outbound webhooks (issue 14) end to end: real receivers on 127.0.0.1
//! (`support/receiver.rs`) that verify every delivery with the
//! `standardwebhooks` crate, servers delivering from the outbox, on both
//! engines.

use entity::enums::{DeactivationReason, EventKind, PersonKind};
use entity::event;
use onroll::graphql::ids::NodeType;
use sea_orm::Set;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

use crate::on_both_engines;
use crate::support::fixture::{Scenario, gid};
use crate::support::receiver::Receiver;
use crate::support::{Engine, TestApp, test_webhook_settings};

on_both_engines!(
    a_failed_delivery_is_retried_with_one_webhook_id,
    gone_disables_the_endpoint,
    a_restart_mid_retry_loses_nothing,
    two_replicas_deliver_each_event_once,
    a_rotated_secret_verifies_with_both,
    deliveries_are_listed_redelivered_and_replayed,
    failing_for_five_days_fails_and_disables,
    an_erasure_reaches_the_endpoint,
);

const CREATE: &str = "mutation($input: CreateWebhookEndpointInput!) {
    createWebhookEndpoint(input: $input) { secret endpoint { id url enabled eventTypes schoolIds } } }";
const DELIVERIES: &str = "query($e: ID!, $s: WebhookDeliveryStatus) {
    webhookDeliveries(endpointId: $e, status: $s, first: 100) {
        totalCount edges { node { id webhookId eventCursor eventType status attemptCount lastStatusCode
            attempts { statusCode error durationMs attemptedAt } } } } }";
const DELIVERY_COUNT: &str = "query($e: ID!) { webhookDeliveries(endpointId: $e) { totalCount } }";
const ROTATE: &str =
    "mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret endpoint { previousSecretExpiresAt } } }";
const REDELIVER: &str = "mutation($d: ID!) { redeliverWebhook(deliveryId: $d) { status } }";
const REPLAY: &str = "mutation($e: ID!, $a: String) { replayWebhooks(endpointId: $e, after: $a) }";

/// The `CREATE` input of an endpoint at `url` for `events`.
pub(crate) fn endpoint_input(url: &str, events: &[&str]) -> Value {
    json!({ "input": { "url": url, "eventTypes": events } })
}

/// A server delivering webhooks with `settings`, the scenario in its
/// database, and a receiver that answers `script` (then 200s).
async fn delivering(
    engine: &Engine,
    settings: onroll::webhooks_out::WebhookSettings,
    script: &[u16],
) -> anyhow::Result<(TestApp, Scenario, Receiver)> {
    let app = TestApp::spawn_with_webhooks(engine, settings).await?;
    let s = Scenario::build(app.db()).await?;
    Ok((app, s, Receiver::start(script).await?))
}

/// Registers `receiver` for DEACTIVATED events; answers (endpoint ID, secret).
pub async fn register(app: &TestApp, token: &str, receiver: &Receiver) -> anyhow::Result<(String, String)> {
    let data = app.query(token, CREATE, endpoint_input(&receiver.url(), &["DEACTIVATED"])).await?;
    let created = &data["createWebhookEndpoint"];
    let secret = created["secret"].as_str().unwrap_or_default().to_owned();
    assert!(secret.starts_with("whsec_"), "{created}");
    receiver.add_secret(&secret);
    Ok((created["endpoint"]["id"].as_str().unwrap_or_default().to_owned(), secret))
}

/// A deactivation of the scenario's pupil Ann, as a sync would log it.
pub(crate) fn deactivation_of_ann(s: &Scenario) -> event::ActiveModel {
    deactivation_of(s, &s.ann_a, DeactivationReason::LeftSchool, chrono::Utc::now())
}

/// A deactivation of `pupil`, of the scenario's trust, for `reason` at
/// `at`, as a sync would log it.
pub(crate) fn deactivation_of(
    s: &Scenario,
    pupil: &entity::student::Model,
    reason: DeactivationReason,
    at: chrono::DateTime<chrono::Utc>,
) -> event::ActiveModel {
    event::ActiveModel {
        trust_id: Set(s.trust.id),
        school_id: Set(pupil.school_id),
        kind: Set(EventKind::Deactivated),
        person_kind: Set(Some(PersonKind::Student)),
        person_id: Set(Some(pupil.id)),
        reason: Set(Some(reason)),
        sync_run_id: Set(None),
        payload: Set(None),
        occurred_at: Set(at),
        ..Default::default()
    }
}

/// `count` deactivations of the scenario's pupil, appended to the log as a
/// sync would, and published on the app's bus.
async fn leave(app: &TestApp, s: &Scenario, count: usize) -> anyhow::Result<Vec<event::Model>> {
    let rows = (0..count).map(|_| deactivation_of_ann(s)).collect();
    let events = onroll::events::log::append(app.db(), rows).await?;
    app.events.publish(&events);
    Ok(events)
}

fn all_verified(received: &[crate::support::receiver::Received]) -> bool {
    received.iter().all(|r| !r.verified.is_empty() && r.verified.iter().all(|ok| *ok))
}

async fn a_failed_delivery_is_retried_with_one_webhook_id(engine: Engine) -> anyhow::Result<()> {
    let (app, s, receiver) = delivering(&engine, test_webhook_settings(), &[500]).await?;
    let (endpoint, _) = register(&app, &s.trust_admin, &receiver).await?;
    let (_, before) = crate::metrics::scrape(&app).await?;
    let events = leave(&app, &s, 1).await?;

    let received = receiver.wait_for(2, Duration::from_secs(10)).await?;
    assert_eq!(received.len(), 2);
    assert!(all_verified(&received), "every delivery verifies: {received:?}");
    assert_eq!(received[0].webhook_id, format!("evt_{}", events[0].id));
    assert_eq!(received[0].webhook_id, received[1].webhook_id, "one webhook-id across retries");
    assert_eq!((received[0].answered, received[1].answered), (500, 200));
    // Each attempt is stamped afresh, after the one before.
    let stamp = |r: &crate::support::receiver::Received| r.timestamp.parse::<i64>().unwrap_or(0);
    assert!(stamp(&received[1]) >= stamp(&received[0]) && stamp(&received[0]) > 0);
    assert!(received[1].arrived > received[0].arrived);
    let body = &received[1].body;
    assert_eq!(body["type"], "account.deactivated");
    assert_eq!(body["data"]["person"]["id"], Value::from(gid(NodeType::Student, s.ann_a.id)));
    assert_eq!(body["data"]["reason"], "LEFT_SCHOOL");
    assert_eq!(body["data"]["school"]["id"], Value::from(gid(NodeType::School, s.school_a.id)));

    // The outbox says the same: delivered at the second attempt.
    let deliveries = wait_delivered(&app, &s.trust_admin, &endpoint, 1).await?;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0]["status"], "DELIVERED");
    assert_eq!(deliveries[0]["attemptCount"], 2);
    assert_eq!(deliveries[0]["webhookId"], Value::from(received[0].webhook_id.clone()));
    let codes: Vec<i64> = deliveries[0]["attempts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["statusCode"].as_i64())
        .collect();
    assert_eq!(codes, vec![500, 200]);

    // The scrape counts both attempts by outcome, and the delivered one's
    // latency from the event. The recorder is shared by the suite's tests,
    // so "at least what this test did".
    let (text, after) = crate::metrics::scrape(&app).await?;
    let moved = |name: &str, labels: &[(&str, &str)]| {
        crate::metrics::value(&after, name, labels) - crate::metrics::value(&before, name, labels)
    };
    assert!(moved("onroll_webhook_deliveries_total", &[("outcome", "failed")]) >= 1.0, "{text}");
    assert!(moved("onroll_webhook_deliveries_total", &[("outcome", "delivered")]) >= 1.0, "{text}");
    assert!(moved("onroll_webhook_delivery_duration_seconds_count", &[("outcome", "delivered")]) >= 1.0);
    assert!(moved("onroll_webhook_delivery_latency_seconds_count", &[]) >= 1.0, "{text}");
    Ok(())
}

async fn deliveries(
    app: &TestApp,
    token: &str,
    endpoint: &str,
    status: Option<&str>,
) -> anyhow::Result<Vec<Value>> {
    let data = app.query(token, DELIVERIES, json!({ "e": endpoint, "s": status })).await?;
    Ok(data["webhookDeliveries"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["node"].clone())
        .collect())
}

/// The endpoint's DELIVERED deliveries once there are `count` (an
/// answer is recorded just after the receiver sent it).
async fn wait_delivered(
    app: &TestApp,
    token: &str,
    endpoint: &str,
    count: usize,
) -> anyhow::Result<Vec<Value>> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let delivered = deliveries(app, token, endpoint, Some("DELIVERED")).await?;
        if delivered.len() >= count || std::time::Instant::now() > deadline {
            return Ok(delivered);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn endpoint_state(app: &TestApp, token: &str) -> anyhow::Result<Value> {
    let data = app.query(token, "{ webhookEndpoints { id enabled disabledReason } }", json!({})).await?;
    Ok(data["webhookEndpoints"][0].clone())
}

async fn gone_disables_the_endpoint(engine: Engine) -> anyhow::Result<()> {
    let (app, s, receiver) = delivering(&engine, test_webhook_settings(), &[410]).await?;
    register(&app, &s.trust_admin, &receiver).await?;
    leave(&app, &s, 1).await?;
    receiver.wait_for(1, Duration::from_secs(10)).await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let state = loop {
        let state = endpoint_state(&app, &s.trust_admin).await?;
        if state["enabled"] == false || std::time::Instant::now() > deadline {
            break state;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(state["enabled"], false, "{state}");
    assert_eq!(state["disabledReason"], "GONE");
    // Admins find it in the log.
    let logged = <event::Entity as sea_orm::EntityTrait>::find()
        .all(app.db())
        .await?
        .into_iter()
        .filter(|e| e.kind == EventKind::WebhookEndpointDisabled)
        .count();
    assert_eq!(logged, 1);
    // Nothing more is sent to it.
    leave(&app, &s, 1).await?;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(receiver.received().len(), 1);
    Ok(())
}

async fn a_restart_mid_retry_loses_nothing(engine: Engine) -> anyhow::Result<()> {
    let (mut app, s, receiver) = delivering(&engine, test_webhook_settings(), &[500; 50]).await?;
    let (endpoint, _) = register(&app, &s.trust_admin, &receiver).await?;
    leave(&app, &s, 1).await?;
    receiver.wait_for(1, Duration::from_secs(10)).await?;
    app.stop_server().await?;
    let before = receiver.received().len();
    receiver.script(&[]);
    // The same database, a new process.
    let _restarted = app.webhook_replica(&engine, test_webhook_settings()).await?;
    let received = receiver.wait_for(before + 1, Duration::from_secs(15)).await?;
    let last = received.last().ok_or_else(|| anyhow::anyhow!("nothing"))?;
    assert_eq!(last.answered, 200);
    assert!(received.iter().all(|r| r.webhook_id == received[0].webhook_id));
    assert!(all_verified(&received));
    // The answer is recorded just after it arrived (read from the
    // database: the first server no longer answers).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let rows = loop {
        let rows = <entity::webhook_outbox::Entity as sea_orm::EntityTrait>::find().all(app.db()).await?;
        let done = rows.iter().all(|r| r.status == entity::enums::OutboxStatus::Delivered);
        if done || std::time::Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, entity::enums::OutboxStatus::Delivered);
    assert_eq!(rows[0].attempts as usize, received.len());
    assert!(!endpoint.is_empty());
    Ok(())
}

async fn two_replicas_deliver_each_event_once(engine: Engine) -> anyhow::Result<()> {
    let app = TestApp::spawn_with_webhooks(&engine, test_webhook_settings()).await?;
    let _second = app.webhook_replica(&engine, test_webhook_settings()).await?;
    let s = Scenario::build(app.db()).await?;
    let receiver = Receiver::start(&[]).await?;
    register(&app, &s.trust_admin, &receiver).await?;
    let events = leave(&app, &s, 60).await?;
    receiver.wait_for(events.len(), Duration::from_secs(20)).await?;
    // Anything twice would arrive within a backstop or two.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let received = receiver.received();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in &received {
        *counts.entry(r.webhook_id.clone()).or_default() += 1;
    }
    assert_eq!(counts.len(), events.len());
    assert!(counts.values().all(|n| *n == 1), "each event once: {counts:?}");
    assert!(all_verified(&received));
    Ok(())
}

async fn a_rotated_secret_verifies_with_both(engine: Engine) -> anyhow::Result<()> {
    let (app, s, receiver) = delivering(&engine, test_webhook_settings(), &[]).await?;
    let (endpoint, old) = register(&app, &s.trust_admin, &receiver).await?;
    let data = app.query(&s.trust_admin, ROTATE, json!({ "id": endpoint })).await?;
    let new = data["rotateWebhookSecret"]["secret"].as_str().unwrap_or_default().to_owned();
    assert!(new.starts_with("whsec_") && new != old);
    assert!(data["rotateWebhookSecret"]["endpoint"]["previousSecretExpiresAt"].is_string());
    receiver.add_secret(&new);
    leave(&app, &s, 1).await?;
    let received = receiver.wait_for(1, Duration::from_secs(10)).await?;
    assert_eq!(received[0].verified, vec![true, true], "the old and the new secret both verify");
    assert_eq!(received[0].signature.split(' ').count(), 2);
    // The list never shows a secret.
    let listed = app.query(&s.trust_admin, "{ webhookEndpoints { id url } }", json!({})).await?;
    assert!(!listed.to_string().contains("whsec_"));
    Ok(())
}

async fn deliveries_are_listed_redelivered_and_replayed(engine: Engine) -> anyhow::Result<()> {
    let (app, s, receiver) = delivering(&engine, test_webhook_settings(), &[]).await?;
    let (endpoint, _) = register(&app, &s.trust_admin, &receiver).await?;
    let events = leave(&app, &s, 3).await?;
    receiver.wait_for(3, Duration::from_secs(10)).await?;
    let delivered = wait_delivered(&app, &s.trust_admin, &endpoint, 3).await?;
    assert_eq!(delivered.len(), 3);
    assert!(deliveries(&app, &s.trust_admin, &endpoint, Some("FAILED")).await?.is_empty());

    // One delivery again: the same webhook-id arrives a second time.
    let first = delivered[0]["id"].as_str().unwrap_or_default();
    app.query(&s.trust_admin, REDELIVER, json!({ "d": first })).await?;
    let received = receiver.wait_for(4, Duration::from_secs(10)).await?;
    assert_eq!(received[3].webhook_id, delivered[0]["webhookId"].as_str().unwrap_or_default());

    // Everything after the first event's cursor again: the other two.
    let cursor = delivered[0]["eventCursor"].as_str().unwrap_or_default();
    let data = app.query(&s.trust_admin, REPLAY, json!({ "e": endpoint, "a": cursor })).await?;
    assert_eq!(data["replayWebhooks"], 2);
    let received = receiver.wait_for(6, Duration::from_secs(10)).await?;
    let mut replayed: Vec<String> = received[4..].iter().map(|r| r.webhook_id.clone()).collect();
    replayed.sort();
    let mut expected: Vec<String> = events[1..].iter().map(|e| format!("evt_{}", e.id)).collect();
    expected.sort();
    assert_eq!(replayed, expected);
    assert!(all_verified(&received));

    // An integrator may not look; a school admin of another school's
    // endpoint sees nothing.
    let (status, body) = app.post(Some(&s.integrator), DELIVERY_COUNT, json!({ "e": endpoint })).await?;
    assert_eq!(status, 200);
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
    let (_, body) = app.post(Some(&s.school_a_admin), DELIVERY_COUNT, json!({ "e": endpoint })).await?;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "a trust-wide endpoint is not a school admin's"
    );
    Ok(())
}

/// The schedule's time base shrunk to ten microseconds: the waits between
/// the 8 attempts of one delivery add up to about a second, and "5 days"
/// (432,000 units) of failures to 4.3 s. At one microsecond the window was
/// under half a second, and on a loaded machine eight real attempts took
/// longer than that: the endpoint was disabled before its first delivery
/// had failed for good.
async fn failing_for_five_days_fails_and_disables(engine: Engine) -> anyhow::Result<()> {
    let settings = onroll::webhooks_out::WebhookSettings {
        retry_unit: Duration::from_micros(10),
        backstop: Duration::from_millis(50),
        ..test_webhook_settings()
    };
    let (app, s, receiver) = delivering(&engine, settings, &[500; 10_000]).await?;
    let (endpoint, _) = register(&app, &s.trust_admin, &receiver).await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let state = loop {
        leave(&app, &s, 1).await?;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let state = endpoint_state(&app, &s.trust_admin).await?;
        if state["enabled"] == false || std::time::Instant::now() > deadline {
            break state;
        }
    };
    assert_eq!(state["enabled"], false, "{state}");
    assert_eq!(state["disabledReason"], "FAILING");
    // The first delivery ran through the whole schedule: 1 + 7 retries.
    let failed = deliveries(&app, &s.trust_admin, &endpoint, Some("FAILED")).await?;
    let first = failed.first().ok_or_else(|| anyhow::anyhow!("no failed delivery"))?;
    assert_eq!(first["attemptCount"], 8, "{first}");
    assert_eq!(first["lastStatusCode"], 500);
    assert!(all_verified(&receiver.received()));
    Ok(())
}

/// Issue 18's erasure, pushed: an endpoint for ERASED gets `account.erased`
/// for the person a trust admin erased, and nothing personal in the body.
async fn an_erasure_reaches_the_endpoint(engine: Engine) -> anyhow::Result<()> {
    let (app, s, receiver) = delivering(&engine, test_webhook_settings(), &[]).await?;
    let data = app.query(&s.trust_admin, CREATE, endpoint_input(&receiver.url(), &["ERASED"])).await?;
    let created = &data["createWebhookEndpoint"];
    assert_eq!(created["endpoint"]["eventTypes"], json!(["ERASED"]), "{created}");
    receiver.add_secret(created["secret"].as_str().unwrap_or_default());
    // A deactivation is not what this endpoint asked for.
    leave(&app, &s, 1).await?;
    let erase = "mutation($p: ID!) { erasePerson(personId: $p, reason: SUBJECT_REQUEST) { erased } }";
    let done = app.query(&s.trust_admin, erase, json!({ "p": gid(NodeType::Student, s.leaver.id) })).await?;
    assert_eq!(done["erasePerson"]["erased"], 1, "{done}");

    let received = receiver.wait_for(1, Duration::from_secs(10)).await?;
    assert!(all_verified(&received), "{received:?}");
    let body = &received[0].body;
    assert_eq!(body["type"], "account.erased", "only the erasure: {body}");
    assert_eq!(body["data"]["erased"], true);
    assert_eq!(body["data"]["person"]["id"], Value::from(gid(NodeType::Student, s.leaver.id)));
    assert!(!body.to_string().contains(&s.leaver.surname), "no name in the body: {body}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1, "nothing else was delivered");
    Ok(())
}
