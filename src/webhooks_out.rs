//! Outbound webhooks (issue 14): every event of the log that an
//! integrator's endpoint wants, POSTed to it signed in the Standard
//! Webhooks 1.0 format, retried from a durable outbox until it lands.
//!
//! - [`endpoints`]: registering, changing, rotating and removing endpoints.
//! - [`address_guard`]: which URLs and addresses may be called (SSRF).
//! - [`signing`]: secrets and the `webhook-signature` header.
//! - [`payload`]: the body and `webhook-id` of an event.
//! - [`fanout`]: the log, after a persisted cursor, into outbox rows.
//! - [`delivery`]: claiming due outbox rows, sending, recording attempts.
//! - [`retry`]: when a failed delivery is tried again.
//! - [`worker`]: the task `serve` runs, woken by the event bus.
//!
//! Not to be confused with `http/webhooks.rs` and `wonde_notices.rs`,
//! which receive Wonde's own (inbound) webhooks.

pub mod address_guard;
pub mod delivery;
pub mod endpoints;
pub mod fanout;
pub mod payload;
pub mod retry;
pub mod signing;
pub mod worker;

use std::time::Duration;

/// How outbound webhooks behave in this process.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// `ONROLL_WEBHOOKS_ALLOW_PRIVATE`: endpoints may be plain `http://`
    /// and resolve to loopback or private addresses (tests, the demo).
    pub allow_private: bool,
    /// The time base of the retry schedule: 1 s in production, so the
    /// delays are 5 s, 5 min, ...; tests shrink it to run retries in
    /// milliseconds. The 5 days after which a failing endpoint is disabled
    /// are counted in the same unit.
    pub retry_unit: Duration,
    /// How long one attempt may take before it counts as failed (15 s).
    pub timeout: Duration,
    /// How often the worker looks for work when nothing woke it.
    pub backstop: Duration,
    /// Deliveries in flight at once per process.
    pub concurrency: usize,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_private: false,
            retry_unit: Duration::from_secs(1),
            timeout: Duration::from_secs(15),
            backstop: Duration::from_secs(1),
            concurrency: 16,
        }
    }
}
