//! One attempt at an outbound webhook delivery.
crate::entity_macros::plain_entity!("webhook_attempt" {
    pub outbox_id: i32,
    pub attempted_at: DateTimeUtc,
    /// The receiver's HTTP status; `None` when no answer came.
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
});
