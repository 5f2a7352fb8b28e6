//! Queries over HTTP run on the schema without extensions, metered and
//! ordered at the edge (`graphql::query_path`); over the socket they run
//! on the full schema. The same document answers the same on both: data
//! byte for byte (so in the same order), and the same errors.

use futures::{SinkExt, StreamExt};
use onroll::graphql::ids::NodeType;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::on_both_engines;
use crate::support::fixture::gid;
use crate::support::{Engine, TestApp, ws};

on_both_engines!(a_query_answers_alike_over_http_and_the_socket);

/// The text of the first `"data":` value in `text`, as written.
fn data_text(text: &str) -> Option<&str> {
    let start = text.find("\"data\":")? + "\"data\":".len();
    let bytes = text.as_bytes();
    let (mut depth, mut at, mut in_string) = (0usize, start, false);
    while at < bytes.len() {
        match (bytes[at], in_string) {
            (b'\\', true) => at += 1,
            (b'"', _) => in_string = !in_string,
            (b'{' | b'[', false) => depth += 1,
            (b'}' | b']', false) => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return text.get(start..=at);
                }
            }
            (b'n', false) if depth == 0 => return text.get(start..start + 4),
            _ => {}
        }
        at += 1;
    }
    None
}

async fn a_query_answers_alike_over_http_and_the_socket(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let school = gid(NodeType::School, s.school_a.id);
    let ordered = crate::selection_order::ORDERED;
    let cases: Vec<(&str, Option<&str>, Value)> = vec![
        (ordered, None, json!({ "school": school })),
        ("query A { viewer { role } } query B { zz: __typename viewer { role } }", Some("B"), json!({})),
        ("query Only { b: __typename a: __typename }", None, json!({})),
        ("{ viewer { role } nope }", None, json!({})),
        ("query($n: Int) { trusts { schools(first: $n) { totalCount } } }", None, json!({ "n": "abc" })),
        ("query($n: Int!) { trusts { schools(first: $n) { totalCount } } }", None, json!({})),
        ("query($x: Boolean!) { a: __typename viewer @skip(if: $x) { role } }", None, json!({ "x": true })),
        ("{ node(id: \"garbage\") { id } z: __typename }", None, json!({})),
        (
            "{ __type(name: \"RateLimit\") { name fields { name } } __schema { queryType { name } } }",
            None,
            json!({}),
        ),
        ("{ rateLimit { limit } }", None, json!({})),
        ("query A { __typename } query B { __typename }", None, json!({})),
        ("query A { __typename }", Some("B"), json!({})),
        ("{ __typename ", None, json!({})),
    ];
    let (mut socket, ack) = ws::connect(app.addr, Some(&s.trust_admin)).await?;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    for (at, (query, operation, variables)) in cases.into_iter().enumerate() {
        let body = json!({ "query": query, "operationName": operation, "variables": variables });
        let over_http =
            app.http.post(app.url("/graphql")).bearer_auth(&s.trust_admin).json(&body).send().await?;
        assert_eq!(over_http.status(), 200, "{query}");
        let over_http = over_http.text().await?;
        let id = format!("op{at}");
        let message = json!({ "id": id, "type": "subscribe", "payload": body });
        socket.send(Message::text(message.to_string())).await?;
        let over_socket = loop {
            let next = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
                .await?
                .ok_or_else(|| anyhow::anyhow!("socket ended"))??;
            if let Message::Text(text) = next {
                let value: Value = serde_json::from_str(text.as_str())?;
                if value["type"] == "next" || value["type"] == "error" {
                    break text.as_str().to_owned();
                }
            }
        };
        let (http, socket_answer): (Value, Value) =
            (serde_json::from_str(&over_http)?, serde_json::from_str(&over_socket)?);
        let socket_answer = if socket_answer["type"] == "error" {
            json!({ "errors": socket_answer["payload"] })
        } else {
            socket_answer["payload"].clone()
        };
        assert_eq!(
            http["errors"], socket_answer["errors"],
            "{query}\nHTTP: {over_http}\nsocket: {over_socket}"
        );
        if http.get("data").is_some_and(|d| !d.is_null()) {
            assert_eq!(
                data_text(&over_http),
                data_text(&over_socket),
                "{query}\nHTTP: {over_http}\nsocket: {over_socket}"
            );
        }
        // The socket's operation ends (complete) unless it was refused whole.
        if socket_answer.get("data").is_some() {
            let end = ws::next_message_within(&mut socket, std::time::Duration::from_secs(10)).await?;
            assert_eq!(end["type"], "complete", "{end}");
        }
    }
    Ok(())
}
