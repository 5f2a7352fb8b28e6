//! Outbound webhook endpoints and their deliveries, as admins see them.
//! The secret is never a field here: it is answered once, by
//! `createWebhookEndpoint` and `rotateWebhookSecret`.

use async_graphql::{Enum, ID, Object, SimpleObject};
use entity::enums::EventKind;
use entity::{webhook_attempt, webhook_endpoint, webhook_outbox};

use crate::graphql::ids::{NodeType, encode};
use crate::graphql::pagination::encode_cursor;
use crate::graphql::scalars::DateTime;
use crate::webhooks_out::endpoints::{event_types, school_ids};
use crate::webhooks_out::payload::{event_type, webhook_id};

/// The events an endpoint may ask for (the body's `type` in brackets).
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookEventType {
    /// An account was deactivated (`account.deactivated`).
    Deactivated,
    /// An account was reactivated (`account.reactivated`).
    Reactivated,
    /// A person's records were erased (`erasePerson`, docs/data-protection.md):
    /// erase your copies too (`account.erased`).
    Erased,
    /// A run held doubted changes for a decision (`changes.held`).
    Held,
    /// A school's Wonde connection changed (`connection.changed`).
    ConnectionChanged,
    /// Onroll disabled a webhook endpoint (`webhook_endpoint.disabled`).
    WebhookEndpointDisabled,
}

impl From<WebhookEventType> for EventKind {
    fn from(kind: WebhookEventType) -> Self {
        match kind {
            WebhookEventType::Deactivated => Self::Deactivated,
            WebhookEventType::Reactivated => Self::Reactivated,
            WebhookEventType::Erased => Self::Erased,
            WebhookEventType::Held => Self::Held,
            WebhookEventType::ConnectionChanged => Self::ConnectionChanged,
            WebhookEventType::WebhookEndpointDisabled => Self::WebhookEndpointDisabled,
        }
    }
}

impl WebhookEventType {
    fn of(kind: EventKind) -> Option<Self> {
        Some(match kind {
            EventKind::Deactivated => Self::Deactivated,
            EventKind::Reactivated => Self::Reactivated,
            EventKind::Erased => Self::Erased,
            EventKind::Held => Self::Held,
            EventKind::ConnectionChanged => Self::ConnectionChanged,
            EventKind::WebhookEndpointDisabled => Self::WebhookEndpointDisabled,
            _ => return None,
        })
    }
}

/// Where a delivery stands.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::OutboxStatus")]
pub enum WebhookDeliveryStatus {
    /// Waiting for its next attempt (`nextAttemptAt`).
    Pending,
    /// A 2xx answer came.
    Delivered,
    /// Retries exhausted, or the endpoint answered 410 Gone.
    Failed,
}

/// An integrator's endpoint for signed webhooks (docs/webhooks.md).
pub struct WebhookEndpoint(pub webhook_endpoint::Model);

#[Object]
impl WebhookEndpoint {
    async fn id(&self) -> ID {
        encode(NodeType::WebhookEndpoint, self.0.id)
    }

    /// Where deliveries are POSTed.
    async fn url(&self) -> &str {
        &self.0.url
    }

    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// The event types delivered.
    async fn event_types(&self) -> Vec<WebhookEventType> {
        event_types(&self.0).into_iter().filter_map(WebhookEventType::of).collect()
    }

    /// The schools whose events are delivered (School IDs); null: every
    /// school of the trust, present and future.
    async fn school_ids(&self) -> Option<Vec<ID>> {
        school_ids(&self.0).map(|ids| ids.into_iter().map(|id| encode(NodeType::School, id)).collect())
    }

    /// False once disabled (by an admin, a 410 answer, or 5 days of
    /// failures); a disabled endpoint gets nothing until enabled again.
    async fn enabled(&self) -> bool {
        self.0.enabled
    }

    /// ADMIN, GONE (it answered 410) or FAILING (5 days of failures).
    async fn disabled_reason(&self) -> Option<&str> {
        self.0.disabled_reason.as_deref()
    }

    /// When its deliveries started failing without a success since.
    async fn failing_since(&self) -> Option<DateTime> {
        self.0.failing_since.map(DateTime)
    }

    /// Until when the secret before the last rotation still signs too.
    async fn previous_secret_expires_at(&self) -> Option<DateTime> {
        self.0.previous_secret_expires_at.map(DateTime)
    }

    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
}

/// An endpoint with its secret (`whsec_...`), shown only in this answer:
/// store it where the receiver verifies signatures.
#[derive(SimpleObject)]
pub struct WebhookEndpointWithSecret {
    pub endpoint: WebhookEndpoint,
    /// The signing secret, `whsec_` + base64 of 32 random bytes.
    pub secret: String,
}

/// One attempt at a delivery.
#[derive(SimpleObject)]
pub struct WebhookAttempt {
    pub attempted_at: DateTime,
    /// The receiver's HTTP status; null when no answer came.
    pub status_code: Option<i32>,
    /// Why it failed, in a few words (at most 200 characters of the
    /// receiver's answer); null on success.
    pub error: Option<String>,
    /// How long the attempt took, in milliseconds.
    pub duration_ms: i32,
}

impl From<webhook_attempt::Model> for WebhookAttempt {
    fn from(row: webhook_attempt::Model) -> Self {
        Self {
            attempted_at: DateTime(row.attempted_at),
            status_code: row.status_code,
            error: row.error,
            duration_ms: row.duration_ms,
        }
    }
}

/// One event for one endpoint, and its attempts.
pub struct WebhookDelivery {
    pub row: webhook_outbox::Model,
    pub kind: Option<EventKind>,
    /// Its attempts, oldest first.
    pub attempts: Vec<webhook_attempt::Model>,
}

#[Object]
impl WebhookDelivery {
    async fn id(&self) -> ID {
        encode(NodeType::WebhookDelivery, self.row.id)
    }

    /// The `webhook-id` header: `evt_` and the event's id, the same on
    /// every retry and for every endpoint.
    async fn webhook_id(&self) -> String {
        webhook_id(self.row.event_id)
    }

    /// The event's cursor in the log (`deactivationEvents(after:)`,
    /// `replayWebhooks(after:)`).
    async fn event_cursor(&self) -> String {
        encode_cursor(self.row.event_id)
    }

    /// The body's `type` (`account.deactivated`, ...).
    async fn event_type(&self) -> Option<&str> {
        self.kind.and_then(event_type)
    }

    async fn status(&self) -> WebhookDeliveryStatus {
        self.row.status.into()
    }

    /// Attempts made so far.
    async fn attempt_count(&self) -> i32 {
        self.row.attempts
    }

    /// When a PENDING delivery is next tried.
    async fn next_attempt_at(&self) -> Option<DateTime> {
        (self.row.status == entity::enums::OutboxStatus::Pending)
            .then_some(DateTime(self.row.next_attempt_at))
    }

    async fn last_status_code(&self) -> Option<i32> {
        self.row.last_status_code
    }

    async fn last_error(&self) -> Option<&str> {
        self.row.last_error.as_deref()
    }

    async fn last_attempt_at(&self) -> Option<DateTime> {
        self.row.last_attempt_at.map(DateTime)
    }

    async fn delivered_at(&self) -> Option<DateTime> {
        self.row.delivered_at.map(DateTime)
    }

    async fn created_at(&self) -> DateTime {
        DateTime(self.row.created_at)
    }

    /// Every attempt, oldest first: when, the status code, the error.
    async fn attempts(&self) -> Vec<WebhookAttempt> {
        self.attempts.iter().cloned().map(Into::into).collect()
    }
}
