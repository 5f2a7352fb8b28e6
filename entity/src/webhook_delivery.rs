//! A Wonde webhook delivery acted on, by digest, so that a repeated
//! delivery (equal to its school's last one) is recognised and changes
//! nothing.
crate::entity_macros::plain_entity!("webhook_delivery" {
    /// SHA-256 (hex) of the delivery; never the body (it may hold a token).
    pub digest: String,
    pub payload_type: String,
    pub wonde_school_id: Option<String>,
    /// `APPLIED`, `IGNORED` or `REFUSED`.
    pub outcome: String,
    pub received_at: DateTimeUtc,
});
