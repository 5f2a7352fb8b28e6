//! A webhook receiver on 127.0.0.1, as an integrator would run one: it
//! answers each delivery with the next status of its script (200 once the
//! script is spent) and verifies every signature with the
//! `standardwebhooks` crate against each secret it is given.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use onroll::demo_receiver::{Loopback, serve_on_loopback};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One delivery as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub webhook_id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Value,
    /// Per secret given to the receiver (in order): whether the delivery
    /// verified with it.
    pub verified: Vec<bool>,
    pub arrived: Instant,
    pub answered: u16,
}

#[derive(Default)]
struct Shared {
    script: VecDeque<u16>,
    secrets: Vec<String>,
    received: Vec<Received>,
}

/// The receiver; it stops when dropped.
pub struct Receiver {
    server: Loopback,
    shared: Arc<Mutex<Shared>>,
}

impl Receiver {
    /// Starts a receiver answering `script` first, then 200.
    pub async fn start(script: &[u16]) -> anyhow::Result<Self> {
        let shared =
            Arc::new(Mutex::new(Shared { script: script.iter().copied().collect(), ..Default::default() }));
        let app = axum::Router::new().route("/hook", post(receive)).with_state(shared.clone());
        let server = serve_on_loopback(app, "the tests' webhook receiver").await?;
        Ok(Self { server, shared })
    }

    /// The URL to register.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.server.addr)
    }

    /// Verifies what arrives from now on with `secret` too.
    pub fn add_secret(&self, secret: &str) {
        self.lock().secrets.push(secret.to_owned());
    }

    /// Answers the next deliveries with `statuses`.
    pub fn script(&self, statuses: &[u16]) {
        self.lock().script = statuses.iter().copied().collect();
    }

    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// Waits until at least `count` deliveries have arrived.
    pub async fn wait_for(&self, count: usize, within: Duration) -> anyhow::Result<Vec<Received>> {
        let deadline = Instant::now() + within;
        loop {
            let received = self.received();
            if received.len() >= count {
                return Ok(received);
            }
            if Instant::now() > deadline {
                anyhow::bail!("{} of {count} deliveries arrived within {within:?}", received.len());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

async fn receive(State(shared): State<Arc<Mutex<Shared>>>, headers: HeaderMap, body: String) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let mut shared = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let verified = shared
        .secrets
        .iter()
        .map(|secret| {
            standardwebhooks::Webhook::new(secret)
                .is_ok_and(|hook| hook.verify(body.as_bytes(), &headers).is_ok())
        })
        .collect();
    let answered = shared.script.pop_front().unwrap_or(200);
    shared.received.push(Received {
        webhook_id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
        verified,
        arrived: Instant::now(),
        answered,
    });
    StatusCode::from_u16(answered).unwrap_or(StatusCode::OK)
}
