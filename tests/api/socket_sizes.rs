//! Sockets keep 4 KiB buffers (`http::subscriptions`): a subscription
//! document and an event each several buffers long still cross whole.

use serde_json::json;
use std::time::Duration;

use crate::on_both_engines;
use crate::support::ws::{self, next_within, subscribe};
use crate::support::{Engine, TestApp};

on_both_engines!(a_document_and_an_event_larger_than_a_buffer_cross_the_socket);

/// Aliases of `cursor` in the document (the cost limit allows 50).
const ALIASES: usize = 40;

async fn a_document_and_an_event_larger_than_a_buffer_cross_the_socket(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let fields: String = (0..ALIASES).map(|i| format!(" c{i}: cursor")).collect();
    let padding = format!("# {}\n", "x".repeat(12 * 1024));
    let query = format!(
        "{padding}subscription {{ deactivations {{{fields} person {{ ... on Student {{ forename }} }} }} }}"
    );
    assert!(query.len() > 8 * 1024, "the document is larger than two buffers");

    // A name of 16 KiB makes the event four buffers long.
    let long_name = "N".repeat(16 * 1024);
    let mut ann: entity::student::ActiveModel = s.ann_a.clone().into();
    ann.forename = sea_orm::Set(long_name.clone());
    sea_orm::ActiveModelTrait::update(ann, app.db()).await?;

    let idle = app.events.receivers();
    let (mut socket, ack) = ws::connect(app.addr, Some(&s.integrator)).await?;
    anyhow::ensure!(ack["type"] == "connection_ack", "{ack}");
    subscribe(&mut socket, "big", &query, json!({})).await?;
    app.listening(idle + 1).await?;
    let event =
        onroll::events::log::append(app.db(), vec![crate::webhooks_out::deactivation_of_ann(&s)]).await?;
    app.events.publish(&event);
    let got = next_within(&mut socket, Duration::from_secs(10)).await?;
    let answer = &got["payload"]["data"]["deactivations"];
    let cursors = answer.as_object().map_or(0, |o| o.values().filter(|v| v.is_string()).count());
    assert_eq!(cursors, ALIASES, "{got}");
    assert_eq!(answer["person"]["forename"], long_name.as_str());
    Ok(())
}
