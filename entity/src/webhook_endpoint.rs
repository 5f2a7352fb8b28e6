//! An integrator's endpoint for outbound webhooks (Standard Webhooks 1.0).
crate::entity_macros::plain_entity!("webhook_endpoint", timestamps {
    pub trust_id: i32,
    pub url: String,
    pub description: Option<String>,
    /// Event types wanted, comma-separated (`DEACTIVATED,REACTIVATED`).
    pub event_types: String,
    /// School ids, comma-separated; `None`: every school of the trust.
    pub school_ids: Option<String>,
    /// The `whsec_` secret, sealed with the deployment's key.
    pub secret_sealed: String,
    /// The secret before the last rotation, sealed; it signs too until
    /// `previous_secret_expires_at`.
    pub previous_secret_sealed: Option<String>,
    pub previous_secret_expires_at: Option<DateTimeUtc>,
    pub enabled: bool,
    /// `ADMIN`, `GONE` (the endpoint answered 410) or `FAILING` (5 days).
    pub disabled_reason: Option<String>,
    /// The first failed attempt since the last success.
    pub failing_since: Option<DateTimeUtc>,
    /// The newest event id when the endpoint was created: older events
    /// reach it only by a replay.
    pub after_event_id: i64,
});
