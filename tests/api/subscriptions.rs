//! Subscriptions over a real WebSocket (`graphql-transport-ws`): refused
//! without a token; deactivations replayed after a cursor then live, with no
//! gap and no duplicate; scoped to the token's schools.

use entity::enums::EventKind;
use futures::SinkExt;
use onroll::graphql::ids::NodeType;
use onroll::graphql::pagination::encode_cursor;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

use crate::on_both_engines;
use crate::support::fixture::{Fixture, Scenario, gid};
use crate::support::ws::{self, next, subscribe};
use crate::support::{Engine, TestApp};

async fn connect(app: &TestApp, token: Option<&str>) -> anyhow::Result<(ws::Socket, serde_json::Value)> {
    ws::connect(app.addr, token).await
}

on_both_engines!(
    no_token_no_ack,
    deactivations_replay_then_live_once_each,
    subscribers_see_only_their_schools,
    sync_progress_of_one_run,
    keepalive_pings_and_silent_clients_closed,
    subscription_refusals,
    an_id_in_use_closes_the_socket
);

/// Seen: a client that subscribed twice under one id lost the first
/// subscription without a word, and with it one school's leavers. The
/// protocol closes the socket with 4409; an id is free again once either
/// side completed it.
async fn an_id_in_use_closes_the_socket(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let (mut socket, ack) = connect(&app, Some(&s.integrator)).await?;
    assert_eq!(ack["type"], "connection_ack");
    let school = |id: i32| json!({ "school": gid(NodeType::School, id) });
    // Completed by the server (a query's answer): the id is free.
    subscribe(&mut socket, "q", "{ viewer { role } }", json!({})).await?;
    assert_eq!(next(&mut socket).await?["type"], "next");
    assert_eq!(next(&mut socket).await?, json!({ "id": "q", "type": "complete" }));
    subscribe(&mut socket, "q", DEACTIVATIONS, school(s.school_a.id)).await?;
    // Completed by the client: free again.
    socket.send(Message::text(json!({ "id": "q", "type": "complete" }).to_string())).await?;
    subscribe(&mut socket, "q", DEACTIVATIONS, school(s.school_a.id)).await?;
    // The server's own `complete` for the first one comes too; it does not
    // free the id, which the second one holds.
    assert_eq!(next(&mut socket).await?, json!({ "id": "q", "type": "complete" }));
    // Still running: a second subscribe under it closes the socket.
    subscribe(&mut socket, "q", DEACTIVATIONS, school(s.school_b.id)).await?;
    let closed = ws::next_message_within(&mut socket, Duration::from_secs(10)).await?;
    assert_eq!(closed, json!({ "close": 4409 }), "{closed}");
    Ok(())
}

const DEACTIVATIONS: &str = "subscription($school: ID, $after: String) {
    deactivations(schoolId: $school, after: $after) { cursor reactivated reason kind
        person { ... on Student { forename status } } school { name } } }";

async fn no_token_no_ack(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    for token in [None, Some("onr_wrong")] {
        let (_, first) = connect(&app, token).await?;
        assert_eq!(first, json!({ "close": 4403 }), "{token:?}");
    }
    let (_, first) = connect(&app, Some(&s.integrator)).await?;
    assert_eq!(first["type"], "connection_ack");
    Ok(())
}

async fn deactivations_replay_then_live_once_each(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let f = Fixture::new(app.db());
    let (mut socket, ack) = connect(&app, Some(&s.integrator)).await?;
    assert_eq!(ack["type"], "connection_ack");
    // From the start of the log: Cara's deactivation is replayed.
    subscribe(&mut socket, "1", DEACTIVATIONS, json!({ "after": encode_cursor(0) })).await?;
    let replayed = next(&mut socket).await?;
    assert_eq!(replayed["type"], "next", "{replayed}");
    let event = &replayed["payload"]["data"]["deactivations"];
    assert_eq!(event["person"]["forename"], "Cara");
    assert_eq!(event["reason"], "LEFT_SCHOOL");
    let replayed_cursor = event["cursor"].clone();

    // Live: Ben leaves; the bus also repeats Cara's event (as if committed
    // during the replay): it must not come twice.
    let cara_again = entity::event::Entity::find()
        .filter(entity::event::Column::PersonId.eq(s.leaver.id))
        .one(app.db())
        .await?
        .ok_or_else(|| anyhow::anyhow!("Cara's event"))?;
    let ben = f.deactivate_student(&s.solo, entity::enums::DeactivationReason::RemovedFromMis).await?;
    let ben_event = f.deactivation_event(&ben, &s.trust, None, EventKind::Deactivated).await?;
    app.events.publish(&[cara_again, ben_event.clone()]);
    let live = next(&mut socket).await?;
    let event = &live["payload"]["data"]["deactivations"];
    assert_eq!(event["person"]["forename"], "Ben", "{live}");
    assert_eq!(event["person"]["status"], "DEACTIVATED");
    assert_ne!(event["cursor"], replayed_cursor);

    // A second subscriber resuming after Cara's cursor gets Ben, and only him.
    let (mut resumed, _) = connect(&app, Some(&s.trust_admin)).await?;
    subscribe(&mut resumed, "2", DEACTIVATIONS, json!({ "after": replayed_cursor })).await?;
    let first = next(&mut resumed).await?;
    assert_eq!(first["payload"]["data"]["deactivations"]["person"]["forename"], "Ben");
    // Then a reactivation arrives live for both.
    let back = f.deactivation_event(&ben, &s.trust, None, EventKind::Reactivated).await?;
    app.events.publish(&[back]);
    for socket in [&mut socket, &mut resumed] {
        let event = next(socket).await?;
        assert_eq!(event["payload"]["data"]["deactivations"]["reactivated"], true, "{event}");
    }
    Ok(())
}

async fn subscribers_see_only_their_schools(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let f = Fixture::new(app.db());
    // A school admin of A may not subscribe to school B.
    let (mut socket, _) = connect(&app, Some(&s.school_a_admin)).await?;
    subscribe(&mut socket, "1", DEACTIVATIONS, json!({ "school": gid(NodeType::School, s.school_b.id) }))
        .await?;
    let refused = next(&mut socket).await?;
    // An execution error: the protocol's `next` with errors and no data.
    assert_eq!(refused["payload"]["data"], Value::Null, "{refused}");
    assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND");

    // An integrator of school B, subscribed to everything it may see, gets
    // B's event and not A's.
    let idle = app.events.receivers();
    let (mut b_only, _) = connect(&app, Some(&s.integrator_b)).await?;
    subscribe(&mut b_only, "1", DEACTIVATIONS, json!({})).await?;
    // The subscription is on the bus before anything is published.
    app.listening(idle + 1).await?;
    let amy = f.deactivate_student(&s.ann_a, entity::enums::DeactivationReason::LeftSchool).await?;
    let tom = f.deactivate_student(&s.ann_b, entity::enums::DeactivationReason::LeftSchool).await?;
    let a_event = f.deactivation_event(&amy, &s.trust, None, EventKind::Deactivated).await?;
    let b_event = f.deactivation_event(&tom, &s.trust, None, EventKind::Deactivated).await?;
    app.events.publish(&[a_event, b_event]);
    let got = next(&mut b_only).await?;
    assert_eq!(got["payload"]["data"]["deactivations"]["person"]["forename"], "Tom", "{got}");
    assert_eq!(got["payload"]["data"]["deactivations"]["school"]["name"], "Birch Secondary");
    Ok(())
}

async fn sync_progress_of_one_run(engine: Engine) -> anyhow::Result<()> {
    use onroll::sync::progress::Progress;
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let f = Fixture::new(app.db());
    let run =
        f.sync_run(&s.school_a, entity::enums::SyncKind::Full, entity::enums::SyncStatus::Running).await?;
    let other =
        f.sync_run(&s.school_b, entity::enums::SyncKind::Full, entity::enums::SyncStatus::Running).await?;
    let idle = app.events.receivers();
    let (mut socket, _) = connect(&app, Some(&s.trust_admin)).await?;
    let query = "subscription($run: ID) { syncProgress(runId: $run) { cursor phase processed total run { id status } } }";
    subscribe(&mut socket, "1", query, json!({ "run": gid(NodeType::SyncRun, run.id) })).await?;
    app.listening(idle + 1).await?;
    // Another run's progress is not this subscription's business.
    let mut elsewhere =
        Progress::new(app.db().clone(), app.events.clone(), s.trust.id, s.school_b.id, other.id);
    elsewhere.advance("students", 10, None).await?;
    let mut progress = Progress::new(app.db().clone(), app.events.clone(), s.trust.id, s.school_a.id, run.id);
    progress.advance("students", 200, None).await?;
    progress.advance("students", 150, None).await?;
    progress.report("COMPLETED", None).await?;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let event = next(&mut socket).await?;
        let p = &event["payload"]["data"]["syncProgress"];
        assert_eq!(p["run"]["id"], gid(NodeType::SyncRun, run.id), "{event}");
        seen.push((
            p["phase"].as_str().unwrap_or_default().to_owned(),
            p["processed"].as_i64().unwrap_or(-1),
        ));
    }
    assert_eq!(
        seen,
        vec![("students".to_owned(), 200), ("students".to_owned(), 350), ("COMPLETED".to_owned(), 350)]
    );
    Ok(())
}

async fn keepalive_pings_and_silent_clients_closed(engine: Engine) -> anyhow::Result<()> {
    let every = Duration::from_millis(300);
    let app = TestApp::spawn_with_keepalive(&engine, every).await?;
    let s = Scenario::build(app.db()).await?;
    let (mut socket, first) = connect(&app, Some(&s.integrator)).await?;
    assert_eq!(first["type"], "connection_ack");
    // A client that answers stays connected across many intervals.
    for _ in 0..5 {
        assert_eq!(next(&mut socket).await?, json!({ "type": "ping" }));
        socket.send(Message::text(json!({ "type": "pong" }).to_string())).await?;
    }
    // One that goes silent is closed within three intervals (and a bit).
    let started = std::time::Instant::now();
    let closed = loop {
        let message = next(&mut socket).await?;
        if message["type"] != "ping" {
            break message;
        }
    };
    assert_eq!(closed, json!({ "close": 3008 }));
    assert!(started.elapsed() >= every * 2, "closed after {:?}", started.elapsed());
    Ok(())
}

/// Each refusal arrives as the protocol's `next` with an error code and no
/// data, and the socket stays usable.
async fn subscription_refusals(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let (mut socket, ack) = connect(&app, Some(&s.integrator_b)).await?;
    assert_eq!(ack["type"], "connection_ack");
    let progress = "subscription($s: ID, $r: ID) { syncProgress(schoolId: $s, runId: $r) { phase } }";
    let a = gid(NodeType::School, s.school_a.id);
    let run_at_a = gid(NodeType::SyncRun, s.run.id);
    let cases = [
        ("1", progress, json!({ "s": a }), "NOT_FOUND"),
        ("2", progress, json!({ "r": run_at_a }), "NOT_FOUND"),
        ("3", progress, json!({ "r": "nonsense" }), "BAD_USER_INPUT"),
        ("4", DEACTIVATIONS, json!({ "after": "not-a-cursor" }), "BAD_USER_INPUT"),
        ("5", DEACTIVATIONS, json!({ "school": a }), "NOT_FOUND"),
    ];
    for (id, query, variables, expected) in cases {
        subscribe(&mut socket, id, query, variables.clone()).await?;
        let refused = next(&mut socket).await?;
        assert_eq!(refused["id"], id, "{refused}");
        assert_eq!(refused["payload"]["data"], Value::Null, "{variables} {refused}");
        assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], expected, "{variables} {refused}");
        assert_eq!(next(&mut socket).await?, json!({ "id": id, "type": "complete" }));
    }
    Ok(())
}

on_both_engines!(a_burst_reaches_every_subscriber_once_in_order);

/// Seen: `disconnectWonde(deactivateAccounts: true)` at a school of 2,500
/// pupils logged 5,636 events and a prompt subscriber received 4,596. A
/// burst five times the bus's capacity reaches subscribers with and
/// without `after`, each event once, in order, and nothing from before a
/// subscriber's own start.
async fn a_burst_reaches_every_subscriber_once_in_order(engine: Engine) -> anyhow::Result<()> {
    use crate::webhooks_out::deactivation_of;
    use entity::enums::DeactivationReason;
    const BURST: usize = 20_000;
    const CURSORS: &str = "subscription($a: String) { deactivations(after: $a) { cursor } }";
    let (app, s) = TestApp::with_scenario(&engine).await?;
    // Something already in the log: a subscriber without `after` must not
    // be sent it, even when it falls behind before its first event.
    let before = entity::event::Entity::find().all(app.db()).await?;
    let newest = before.iter().map(|e| e.id).max().unwrap_or(0);
    let idle = app.events.receivers();
    let (mut fresh, _) = ws::connect(app.addr, Some(&s.integrator)).await?;
    subscribe(&mut fresh, "1", CURSORS, json!({})).await?;
    let (mut resuming, _) = ws::connect(app.addr, Some(&s.trust_admin)).await?;
    subscribe(&mut resuming, "1", CURSORS, json!({ "a": encode_cursor(newest) })).await?;
    app.listening(idle + 2).await?;

    let now = chrono::Utc::now();
    let rows: Vec<entity::event::ActiveModel> = (0..BURST)
        .map(|_| deactivation_of(&s, &s.leaver, DeactivationReason::SchoolDisconnected, now))
        .collect();
    let burst = onroll::events::log::append(app.db(), rows).await?;
    app.events.publish(&burst);
    let expected: Vec<i64> = burst.iter().map(|e| e.id).collect();

    for (name, socket) in [("without after", &mut fresh), ("after a cursor", &mut resuming)] {
        let mut received = Vec::with_capacity(BURST);
        while received.len() < BURST {
            let message = next(socket).await?;
            // A keep-alive ping may come between events on a slow machine.
            if message["type"] == "ping" {
                continue;
            }
            let cursor = message["payload"]["data"]["deactivations"]["cursor"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("{name}: not an event: {message}"))?;
            received.push(onroll::graphql::pagination::decode_cursor(cursor)?);
        }
        assert_eq!(received, expected, "{name}: every event once, in order");
        // Nothing more (a keep-alive ping may come, on a slow machine).
        while let Ok(extra) = ws::next_within(socket, Duration::from_millis(500)).await {
            assert_ne!(extra["type"], "next", "{name}: nothing more: {extra}");
        }
    }
    Ok(())
}
