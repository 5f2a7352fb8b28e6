//! A `graphql-transport-ws` client over a real WebSocket: `onroll bench`'s
//! subscribers, and the tests' and cargo benchmarks' (through
//! `tests/api/support/ws.rs`).

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A client's socket to `/graphql/ws`.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `/graphql/ws`, sends `connection_init` with the token (if any) and
/// answers the server's first message.
pub async fn connect(addr: SocketAddr, token: Option<&str>) -> anyhow::Result<(Socket, Value)> {
    let mut request = format!("ws://{addr}/graphql/ws").into_client_request()?;
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let payload = token.map_or(json!({}), |t| json!({ "authorization": format!("Bearer {t}") }));
    socket.send(Message::text(json!({ "type": "connection_init", "payload": payload }).to_string())).await?;
    let first = next(&mut socket).await?;
    Ok((socket, first))
}

/// The next message as JSON; a close frame as `{"close": code}`.
pub async fn next(socket: &mut Socket) -> anyhow::Result<Value> {
    next_within(socket, Duration::from_secs(10)).await
}

/// The next message as JSON within `limit` (a close frame as `{"close": code}`).
pub async fn next_within(socket: &mut Socket, limit: Duration) -> anyhow::Result<Value> {
    loop {
        let message = tokio::time::timeout(limit, socket.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("socket ended"))??;
        match message {
            Message::Text(text) => return Ok(serde_json::from_str(text.as_str())?),
            Message::Close(frame) => return Ok(json!({ "close": frame.map(|f| u16::from(f.code)) })),
            _ => {}
        }
    }
}

/// The next message that is not the server's keep-alive `ping` (answered
/// with `pong`, as a client must), within `limit` in all: for waits long
/// enough to meet a ping (every 15 s) on a loaded machine.
pub async fn next_message_within(socket: &mut Socket, limit: Duration) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let message = next_within(socket, left).await?;
        if message["type"] != "ping" {
            return Ok(message);
        }
        socket.send(Message::text(json!({ "type": "pong" }).to_string())).await?;
    }
}

/// Sends `subscribe` for `query` with `variables` under the operation id `id`.
pub async fn subscribe(socket: &mut Socket, id: &str, query: &str, variables: Value) -> anyhow::Result<()> {
    let message =
        json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } });
    socket.send(Message::text(message.to_string())).await?;
    Ok(())
}
