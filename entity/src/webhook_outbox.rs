//! One outbound webhook delivery: an event for an endpoint, until it is
//! delivered or its retries are exhausted.
use crate::enums::*;
crate::entity_macros::plain_entity!("webhook_outbox" {
    pub endpoint_id: i32,
    pub event_id: i64,
    pub status: OutboxStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    /// A replica's lease while it delivers; others leave the row alone.
    pub claimed_until: Option<DateTimeUtc>,
    pub last_status_code: Option<i32>,
    /// A short reason, never the secret nor the receiver's body beyond 4 KiB.
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub last_attempt_at: Option<DateTimeUtc>,
    pub delivered_at: Option<DateTimeUtc>,
});
