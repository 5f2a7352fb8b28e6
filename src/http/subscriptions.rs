//! GET /graphql/ws: subscriptions over `graphql-transport-ws`.
//!
//! The token travels in `connection_init`'s payload as
//! `{"authorization": "Bearer ..."}`. We read that first message ourselves:
//! without a valid token there is no `connection_ack`, and the socket closes
//! with 4403 (Forbidden), as the protocol prescribes for a refused init.
//!
//! Once connected, the server sends a protocol `ping` every
//! `AppState::ws_keepalive`: proxies and load balancers drop sockets that
//! look idle, and a deactivations subscriber may wait hours for its next
//! event. A client that stops answering (no message, not even `pong`, for
//! three intervals) is closed, so dead subscribers do not pile up.

use async_graphql::Data;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures::channel::mpsc;
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use std::time::Duration;

use super::AppState;
use crate::auth::authenticate;
use crate::graphql::RequestContext;

/// How long a client may take to send `connection_init`.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn upgrade(
    State(state): State<AppState>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve(state, protocol, socket))
}

async fn serve(state: AppState, protocol: GraphQLProtocol, socket: WebSocket) {
    let legacy = socket.protocol().is_some_and(|p| p.as_bytes() == b"graphql-ws");
    let (mut sink, mut stream) = socket.split();
    let first = match tokio::time::timeout(INIT_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => text,
        Ok(_) => return,
        Err(_) => {
            let _ = sink.send(close(4408, "connection initialisation timeout")).await;
            return;
        }
    };
    let init: serde_json::Value = serde_json::from_str(first.as_str()).unwrap_or_default();
    let authorization = init["payload"]["authorization"]
        .as_str()
        .or_else(|| init["payload"]["Authorization"].as_str())
        .map(str::to_owned);
    let viewer = match (init["type"].as_str(), authorization) {
        (Some("connection_init"), Some(header)) => authenticate(&state.db, Some(&header)).await.ok(),
        _ => None,
    };
    let Some(viewer) = viewer else {
        let _ = sink.send(close(4403, "Forbidden: a valid token is required in connection_init")).await;
        return;
    };
    let mut data = Data::default();
    data.insert(RequestContext::for_subscription(state.db.clone(), viewer));
    data.insert(state.events.clone());
    // Hand the init message back, so the protocol sees it and acknowledges.
    let replayed = futures::stream::iter([Ok(Message::Text(first))]).chain(stream);
    let (outgoing, writer) = with_keepalive(sink, state.ws_keepalive, legacy);
    GraphQLWebSocket::new_with_pair(outgoing, replayed, state.schema.clone(), protocol)
        .on_connection_init(move |_| async move { Ok(data) })
        .keepalive_timeout(state.ws_keepalive * 3)
        .serve()
        .await;
    // The protocol's stream has ended and dropped its sender: the writer
    // flushes what is left and stops.
    let _ = writer.await;
}

/// Puts a writer between the protocol and the socket that also sends a
/// keep-alive message every `every`: `{"type":"ping"}` in
/// `graphql-transport-ws` (the client answers `pong`), `{"type":"ka"}` in
/// the legacy `graphql-ws` protocol.
fn with_keepalive(
    mut sink: SplitSink<WebSocket, Message>,
    every: Duration,
    legacy: bool,
) -> (mpsc::Sender<Message>, tokio::task::JoinHandle<()>) {
    let (sender, mut outgoing) = mpsc::channel::<Message>(32);
    let keepalive = if legacy { r#"{"type":"ka"}"# } else { r#"{"type":"ping"}"# };
    let writer = tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let message = tokio::select! {
                message = outgoing.next() => match message {
                    Some(message) => message,
                    None => break,
                },
                _ = ticks.tick() => Message::Text(keepalive.into()),
            };
            let closing = matches!(message, Message::Close(_));
            if sink.send(message).await.is_err() || closing {
                break;
            }
        }
    });
    (sender, writer)
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame { code, reason: reason.into() }))
}
