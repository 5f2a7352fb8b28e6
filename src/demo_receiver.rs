//! The demo's webhook receiver: an integrator's endpoint in miniature, on
//! 127.0.0.1. It verifies each delivery's signature as a Standard Webhooks
//! library would (HMAC-SHA256 of `id.timestamp.body`, any of the
//! signatures, a timestamp within 5 minutes) and lists what it received at
//! `GET /deliveries`, newest last. The benchmark reads arrival times from it.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::oneshot;

use crate::crypto::Secret;
use crate::webhooks_out::signing::signature;

/// How far a delivery's timestamp may be from now, in seconds.
const TOLERANCE: i64 = 300;

/// How many deliveries are kept (the oldest go first).
const KEEP: usize = 100_000;

/// A router served on 127.0.0.1 until this is dropped: a receiver's whole
/// life, here and in the tests' own.
pub struct Loopback {
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

/// Serves `app` on 127.0.0.1 (a free port); `name` says which stopped,
/// should serving fail.
pub async fn serve_on_loopback(app: axum::Router, name: &'static str) -> std::io::Result<Loopback> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let served = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = stopped.await;
        });
        if let Err(err) = served.await {
            tracing::warn!(error = %err, "{name} stopped");
        }
    });
    Ok(Loopback { addr, _stop: stop })
}

/// One delivery as the receiver saw it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceivedDelivery {
    pub webhook_id: String,
    /// The body's `type`.
    pub event_type: String,
    /// Whether a signature matched the registered secret.
    pub verified: bool,
    pub body: Value,
    #[serde(skip)]
    pub arrived: Option<Instant>,
}

#[derive(Default)]
struct Shared {
    secret: Option<Secret>,
    received: Vec<ReceivedDelivery>,
}

/// A running receiver; it stops when dropped.
pub struct DemoReceiver {
    pub server: Loopback,
    shared: Arc<Mutex<Shared>>,
}

impl DemoReceiver {
    /// Binds 127.0.0.1 on a free port and serves.
    pub async fn start() -> std::io::Result<Self> {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let app = axum::Router::new()
            .route("/hook", post(receive))
            .route("/deliveries", get(list))
            .with_state(shared.clone());
        let server = serve_on_loopback(app, "the demo's webhook receiver").await?;
        Ok(Self { server, shared })
    }

    /// The URL to register as an endpoint.
    pub fn hook_url(&self) -> String {
        format!("http://{}/hook", self.server.addr)
    }

    /// Where its deliveries can be seen (JSON).
    pub fn deliveries_url(&self) -> String {
        format!("http://{}/deliveries", self.server.addr)
    }

    /// The secret deliveries are verified with (the one registration gave).
    pub fn set_secret(&self, secret: &str) {
        lock(&self.shared).secret = Some(Secret::new(secret));
    }

    /// What arrived so far, oldest first.
    pub fn received(&self) -> Vec<ReceivedDelivery> {
        lock(&self.shared).received.clone()
    }
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether the headers sign `body` with `secret`.
fn verify(secret: &Secret, headers: &HeaderMap, body: &str) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(id), Some(timestamp), Some(signatures)) =
        (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"))
    else {
        return false;
    };
    let Ok(timestamp) = timestamp.parse::<i64>() else { return false };
    if (chrono::Utc::now().timestamp() - timestamp).abs() > TOLERANCE {
        return false;
    }
    let Ok(expected) = signature(secret.expose(), id, timestamp, body) else { return false };
    signatures.split(' ').any(|candidate| Secret::new(expected.as_str()).matches(candidate))
}

async fn receive(State(shared): State<Arc<Mutex<Shared>>>, headers: HeaderMap, body: String) -> StatusCode {
    let arrived = Instant::now();
    let mut shared = lock(&shared);
    let verified = shared.secret.as_ref().is_some_and(|secret| verify(secret, &headers, &body));
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let delivery = ReceivedDelivery {
        webhook_id: headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned(),
        event_type: body["type"].as_str().unwrap_or_default().to_owned(),
        verified,
        body,
        arrived: Some(arrived),
    };
    if shared.received.len() >= KEEP {
        shared.received.remove(0);
    }
    shared.received.push(delivery);
    if verified { StatusCode::NO_CONTENT } else { StatusCode::UNAUTHORIZED }
}

async fn list(State(shared): State<Arc<Mutex<Shared>>>) -> Json<Vec<ReceivedDelivery>> {
    let shared = lock(&shared);
    let start = shared.received.len().saturating_sub(100);
    Json(shared.received[start..].to_vec())
}
