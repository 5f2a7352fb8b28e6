//! One event to many subscribers: the rows it names (its school, its
//! person) are read once per process, not once per subscriber (issue 15:
//! 1,000 subscribers were 1,002 statements per event).

use serde_json::json;
use std::time::Duration;

use crate::on_both_engines;
use crate::support::fixture::Scenario;
use crate::support::ws::{self, next_within, subscribe};
use crate::support::{Engine, TestApp};

on_both_engines!(
    an_event_reads_its_rows_once_whatever_the_subscribers,
    a_replay_after_an_erasure_shows_the_erased_record
);

const WITH_PERSON: &str = "subscription { deactivations { cursor kind
    person { __typename ... on Student { forename surname status } } school { name } } }";

/// Sockets per measurement, and subscriptions on each.
const SUBSCRIPTIONS_PER_SOCKET: usize = 5;

/// Statements the server issues while one deactivation of Ann reaches
/// `sockets` × [`SUBSCRIPTIONS_PER_SOCKET`] subscribers, each of whom gets it.
/// Waits until the app's bus has exactly `count` receivers: the
/// subscriptions started are live, those of closed sockets gone. A fixed
/// sleep was not enough on a loaded machine, where each subscription's
/// token check and catch-up queued behind other work.
async fn listening(app: &TestApp, count: usize) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.events.receivers() != count {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "{} of {count} subscriptions listening after 10 s",
            app.events.receivers()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Waits until the app issues no statement for 200 ms.
async fn quiet(app: &TestApp) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let seen = app.statements();
        tokio::time::sleep(Duration::from_millis(200)).await;
        if app.statements() == seen {
            return Ok(());
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "the server never went quiet");
    }
}

/// `idle` is the bus's receivers with no subscription open.
async fn statements_for_one_event(
    app: &TestApp,
    s: &Scenario,
    idle: usize,
    sockets: usize,
) -> anyhow::Result<usize> {
    listening(app, idle).await?;
    let mut open = Vec::new();
    for _ in 0..sockets {
        let (mut socket, ack) = ws::connect(app.addr, Some(&s.integrator)).await?;
        anyhow::ensure!(ack["type"] == "connection_ack", "{ack}");
        for id in 0..SUBSCRIPTIONS_PER_SOCKET {
            subscribe(&mut socket, &id.to_string(), WITH_PERSON, json!({})).await?;
        }
        open.push(socket);
    }
    // Every subscription is listening before the event is published: one
    // that subscribed after it would wait for it in vain.
    listening(app, idle + sockets * SUBSCRIPTIONS_PER_SOCKET).await?;
    // A subscription is on the bus before its catch-up read ends: the
    // count starts once the server has gone quiet.
    quiet(app).await?;
    let before = app.statements();
    let event =
        onroll::events::log::append(app.db(), vec![crate::webhooks_out::deactivation_of_ann(s)]).await?;
    app.events.publish(&event);
    for socket in &mut open {
        for _ in 0..SUBSCRIPTIONS_PER_SOCKET {
            let got = next_within(socket, Duration::from_secs(10)).await?;
            let person = &got["payload"]["data"]["deactivations"]["person"];
            assert_eq!(person["forename"], s.ann_a.forename.as_str(), "{got}");
            assert_eq!(got["payload"]["data"]["deactivations"]["school"]["name"], "Ash Primary", "{got}");
        }
    }
    Ok(app.statements() - before)
}

async fn an_event_reads_its_rows_once_whatever_the_subscribers(engine: Engine) -> anyhow::Result<()> {
    // The token watch reads the tokens of open sockets on its own clock;
    // those reads are not the event's.
    let app = TestApp::spawn_with_token_watch(&engine, Duration::from_secs(3600)).await?;
    let s = Scenario::build(app.db()).await?;
    let idle = app.events.receivers();
    let few = statements_for_one_event(&app, &s, idle, 1).await?;
    let many = statements_for_one_event(&app, &s, idle, 8).await?;
    eprintln!(
        "statements per event: {few} for {} subscribers, {many} for {}",
        SUBSCRIPTIONS_PER_SOCKET,
        8 * SUBSCRIPTIONS_PER_SOCKET
    );
    assert_eq!(few, many, "the statements of one event grew with its subscribers");
    assert_eq!(few, 2, "one statement for the event's school, one for its person");
    Ok(())
}

const ERASE: &str = "mutation($p: ID!) { erasePerson(personId: $p, reason: SUBJECT_REQUEST) { erased } }";

/// Rows shared between subscribers are the rows as they are: once a person
/// is erased, a subscriber replaying an earlier event of theirs sees the
/// erased record (names empty), not the names another subscriber was sent
/// a moment before.
async fn a_replay_after_an_erasure_shows_the_erased_record(engine: Engine) -> anyhow::Result<()> {
    use sea_orm::Set;
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let query = "subscription($a: String) { deactivations(after: $a) { cursor
        person { ... on Student { forename surname } } } }";

    // A first subscriber is sent the leaver's deactivation, names and all.
    let (mut first, ack) = ws::connect(app.addr, Some(&s.integrator)).await?;
    anyhow::ensure!(ack["type"] == "connection_ack", "{ack}");
    let idle = app.events.receivers();
    subscribe(&mut first, "live", query, json!({})).await?;
    listening(&app, idle + 1).await?;
    let mut row = crate::webhooks_out::deactivation_of_ann(&s);
    row.school_id = Set(s.leaver.school_id);
    row.person_id = Set(Some(s.leaver.id));
    let event = onroll::events::log::append(app.db(), vec![row]).await?;
    app.events.publish(&event);
    let got = next_within(&mut first, Duration::from_secs(10)).await?;
    let person = &got["payload"]["data"]["deactivations"]["person"];
    assert_eq!(person["forename"], s.leaver.forename.as_str(), "{got}");

    // The leaver is erased; a second subscriber replays from before that event.
    let leaver = crate::support::fixture::gid(onroll::graphql::ids::NodeType::Student, s.leaver.id);
    app.query(&s.trust_admin, ERASE, json!({ "p": leaver })).await?;
    let before = event.first().map_or(0, |e| e.id - 1);
    let (mut second, ack) = ws::connect(app.addr, Some(&s.integrator)).await?;
    anyhow::ensure!(ack["type"] == "connection_ack", "{ack}");
    let after = onroll::graphql::pagination::encode_cursor(before);
    subscribe(&mut second, "replay", query, json!({ "a": after })).await?;
    let got = next_within(&mut second, Duration::from_secs(10)).await?;
    let person = &got["payload"]["data"]["deactivations"]["person"];
    assert_ne!(person["forename"], s.leaver.forename.as_str(), "an erased name was sent again: {got}");
    assert_ne!(person["surname"], s.leaver.surname.as_str(), "an erased name was sent again: {got}");
    Ok(())
}
