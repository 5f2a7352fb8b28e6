//! The one row that says how far outbound webhooks have fanned out the
//! event log; claimed and advanced in one transaction.
crate::entity_macros::plain_entity!("webhook_fanout_state", singleton {
    pub last_event_id: i64,
});
