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
//!
//! A socket whose token is revoked or expires is closed with 4403 and a
//! reason: the process's revocation watch (`auth::revocation`) or the
//! socket's own timer (to the token's `expires_at`) ends it. Until then each
//! operation re-checks the token first ([`SocketExecutor`]), so none runs
//! with a token that has ended, even between two looks of the watch.
//! Sockets are capped (docs/limits.md): an address may hold
//! `ONROLL_WS_MAX_PENDING_PER_ADDRESS` sockets that have not yet sent
//! `connection_init` (more are refused before the upgrade: HTTP 429,
//! TOO_MANY_SOCKETS), each must send it within `ONROLL_WS_INIT_TIMEOUT`
//! (else 4408), and a token may hold `ONROLL_WS_MAX_PER_TOKEN` sockets
//! (more close with 4429). Operations on a socket are metered (cost,
//! points) as over HTTP, and a query or mutation gets HTTP's time limit
//! (TIMEOUT); a subscription waits for its events as long as it stays.
//! A client that starts an operation under an id still running on the
//! socket is closed with 4409, as `graphql-transport-ws` requires
//! ([`OperationIds`]).
//! Operations get the same context data as over HTTP (`AppState::provide`),
//! and their errors the same codes (`error::normalise`), so a query or
//! mutation sent over the socket answers as it would over HTTP.

use async_graphql::{Data, Executor, Request, ServerError};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use futures::channel::mpsc;
use futures::stream::BoxStream;
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use sea_orm::DatabaseConnection;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::AppState;
use super::operation_ids::OperationIds;
use crate::auth::{Ended, OpenSockets, authenticate, token_ended};
use crate::error::{AppError, normalise};
use crate::graphql::{AppSchema, RequestContext};
use crate::limits::sockets::Slot;
use crate::limits::{Limits, Refusal};

pub async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    // Taken before the upgrade, so a flood of upgrades is counted at once.
    let Some(pending) = state.limits.sockets.pending(peer.ip()) else {
        return super::limits::too_many_sockets(&Refusal::TooManySockets);
    };
    upgrade
        // An idle subscriber costs its buffers: tungstenite's defaults (128
        // KiB each way) made 10,000 subscribers 1.5 GB. Operations and
        // events are small; a larger message still arrives, in more reads.
        .read_buffer_size(WS_BUFFER_BYTES)
        .write_buffer_size(WS_BUFFER_BYTES)
        .max_message_size(WS_MAX_MESSAGE_BYTES)
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve(state, protocol, socket, pending))
}

/// Each socket's read and write buffer, in bytes.
const WS_BUFFER_BYTES: usize = 4 * 1024;

/// The largest message a client may send: as large as a POST /graphql
/// operation without files (an operation is far smaller; `cost::scan`
/// refuses documents over 32 KiB).
const WS_MAX_MESSAGE_BYTES: usize = 1024 * 1024;

async fn serve(
    state: AppState,
    protocol: GraphQLProtocol,
    socket: WebSocket,
    pending: Slot<std::net::IpAddr>,
) {
    let legacy = socket.protocol().is_some_and(|p| p.as_bytes() == b"graphql-ws");
    let (mut sink, mut stream) = socket.split();
    let first = match tokio::time::timeout(state.limits.config.ws_init_timeout, stream.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => text,
        Ok(_) => return,
        Err(_) => {
            let _ = sink.send(close(4408, "connection initialisation timeout")).await;
            return;
        }
    };
    drop(pending);
    let init: serde_json::Value = serde_json::from_str(first.as_str()).unwrap_or_default();
    let authorization = init["payload"]["authorization"]
        .as_str()
        .or_else(|| init["payload"]["Authorization"].as_str())
        .map(str::to_owned);
    let viewer = match (init["type"].as_str(), authorization) {
        (Some("connection_init"), Some(header)) => {
            authenticate(&state.db, &state.tokens, Some(&header)).await.ok()
        }
        _ => None,
    };
    let Some(viewer) = viewer else {
        let _ = sink.send(close(4403, "Forbidden: a valid token is required in connection_init")).await;
        return;
    };
    let Some(_slot) = state.limits.sockets.open(viewer.token_id) else {
        let _ = sink.send(close(4429, "Too many sockets: this token holds its cap of open sockets")).await;
        return;
    };
    // Registered before anything is served: from here on the watch sees it.
    let mut open = state.sockets.register(viewer.token_id);
    let _counted = crate::telemetry::OpenSocket::count();
    let expires_at = viewer.expires_at;
    let executor = SocketExecutor {
        schema: state.schema.clone(),
        limits: state.limits.clone(),
        db: state.db.clone(),
        sockets: state.sockets.clone(),
        token_id: viewer.token_id,
    };
    let mut data = Data::default();
    state.provide(&mut data);
    data.insert(RequestContext::for_subscription(state.db.clone(), viewer));
    data.insert(state.event_rows.clone());
    // Hand the init message back, so the protocol sees it and acknowledges.
    // A reused id ends what the protocol reads, and so the protocol. The
    // legacy `graphql-ws` has no 4409: there a second `start` replaces the
    // first, as its own servers do.
    let ids = OperationIds::default();
    let watch = ids.clone();
    let replayed =
        futures::stream::iter([Ok(Message::Text(first))]).chain(stream).take_while(move |message| {
            let go_on = legacy
                || match message {
                    Ok(Message::Text(text)) => watch.client_says(text.as_bytes()),
                    Ok(Message::Binary(bytes)) => watch.client_says(bytes),
                    _ => true,
                };
            futures::future::ready(go_on)
        });
    let (outgoing, writer) = with_keepalive(sink, state.ws_keepalive, legacy);
    let mut closer = outgoing.clone();
    // Noted as the protocol sends, in turn with what it reads: a late note
    // in the writer could free an id the client had meanwhile reused.
    let noted = ids.clone();
    let outgoing = outgoing.with(move |message: Message| {
        if let Message::Text(text) = &message {
            noted.server_says(text.as_str());
        }
        futures::future::ready(Ok::<_, mpsc::SendError>(message))
    });
    let protocol = GraphQLWebSocket::new_with_pair(outgoing, replayed, executor, protocol)
        .on_connection_init(move |_| async move { Ok(data) })
        .keepalive_timeout(state.ws_keepalive * 3)
        .serve();
    let ended = async {
        tokio::select! {
            why = open.ended() => why,
            () = until(expires_at) => Ended::Expired,
        }
    };
    tokio::select! {
        () = protocol => {
            if let Some(reason) = ids.reused() {
                let _ = closer.send(close(4409, reason)).await;
            }
        }
        why = ended => {
            // The protocol (and every subscription on the socket) is dropped
            // here; what it already queued is written before the close.
            tracing::info!(token.id = open.token_id(), reason = ?why, "closing a socket: its token ended");
            let _ = closer.send(close(4403, why.close_reason())).await;
        }
    }
    // The protocol's stream has ended and dropped its sender, and this is
    // the last one: the writer flushes what is left and stops.
    drop(closer);
    let _ = writer.await;
}

/// Resolves at `at` (never, for `None`).
async fn until(at: Option<DateTime<Utc>>) {
    match at {
        Some(at) => tokio::time::sleep((at - Utc::now()).to_std().unwrap_or(Duration::ZERO)).await,
        None => std::future::pending().await,
    }
}

/// The schema as one socket runs it: each operation first checks that the
/// socket's token still works, and its errors get codes as over HTTP.
#[derive(Clone)]
struct SocketExecutor {
    schema: AppSchema,
    limits: Arc<Limits>,
    db: DatabaseConnection,
    sockets: OpenSockets,
    token_id: i32,
}

/// An operation refused before it ran, as a response with the error's code.
fn refused(err: &AppError) -> async_graphql::Response {
    err.log();
    let mut error = ServerError::new(err.to_string(), None);
    error.extensions.get_or_insert_with(Default::default).set("code", err.code());
    async_graphql::Response::from_errors(vec![error])
}

impl Executor for SocketExecutor {
    async fn execute(&self, request: Request) -> async_graphql::Response {
        match token_ended(&self.db, self.token_id).await {
            Ok(None) => match self.limits.in_time(self.schema.execute(request)).await {
                Ok(response) => normalise(response),
                Err(refusal) => refusal.to_response(),
            },
            Ok(Some(why)) => {
                self.sockets.end(self.token_id, why);
                refused(&why.error())
            }
            Err(err) => refused(&AppError::Database(err)),
        }
    }

    fn execute_stream(
        &self,
        request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, async_graphql::Response> {
        let this = self.clone();
        Box::pin(async_stream::stream! {
            match token_ended(&this.db, this.token_id).await {
                Ok(None) => {
                    // A query or mutation answers once, within the time
                    // limit; a subscription's stream waits for events.
                    let once = !is_subscription(&request);
                    let mut responses = Executor::execute_stream(&this.schema, request, session_data);
                    loop {
                        let next = if once {
                            match this.limits.in_time(responses.next()).await {
                                Ok(next) => next,
                                Err(refusal) => {
                                    yield refusal.to_response();
                                    break;
                                }
                            }
                        } else {
                            responses.next().await
                        };
                        let Some(response) = next else { break };
                        yield normalise(response);
                    }
                }
                Ok(Some(why)) => {
                    yield refused(&why.error());
                    // Resumed once the refusal is queued for the client: the
                    // socket's close follows it.
                    this.sockets.end(this.token_id, why);
                }
                Err(err) => yield refused(&AppError::Database(err)),
            }
        })
    }
}

/// Whether `request` runs a subscription. A document the schema will
/// refuse (`query_path::operation_run` says which) is not: it is answered
/// with its error at once.
fn is_subscription(request: &Request) -> bool {
    crate::graphql::query_path::operation_run(request)
        .is_some_and(|(_, kind)| kind == async_graphql::parser::types::OperationType::Subscription)
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

fn close(code: u16, reason: impl Into<axum::extract::ws::Utf8Bytes>) -> Message {
    Message::Close(Some(CloseFrame { code, reason: reason.into() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A subscription is told apart by the operation the request runs.
    #[test]
    fn the_operation_run_decides() {
        let request = |query: &str, name: Option<&str>| {
            let mut request = Request::new(query);
            request.operation_name = name.map(str::to_owned);
            request
        };
        let both = "query Q { __typename } subscription S { deactivations { __typename } }";
        assert!(is_subscription(&request("subscription { deactivations { __typename } }", None)));
        assert!(is_subscription(&request(both, Some("S"))));
        assert!(!is_subscription(&request(both, Some("Q"))));
        assert!(!is_subscription(&request(both, Some("R"))));
        assert!(!is_subscription(&request("subscription { deactivations { __typename", None)));
    }

    /// A document past the scan's ceilings is never parsed here: it is
    /// not a subscription, and the schema refuses it (DOCUMENT_TOO_LARGE).
    /// Parsing this one (1 MiB, the socket's largest message) took 0.7 s
    /// of a debug build's worker; the scan refuses it in under 1 ms.
    #[test]
    fn nothing_past_the_scan_is_parsed() {
        let aliases = (0..55_000).map(|i| format!("a{i}: __typename")).collect::<Vec<_>>().join(" ");
        let huge = format!("subscription {{ deactivations {{ {aliases} }} }}");
        assert!(!is_subscription(&Request::new(huge.as_str())));
    }
}
