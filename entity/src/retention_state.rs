//! The retention purge's state: one row, claimed by conditional update so
//! that one replica purges at a time.
crate::entity_macros::plain_entity!("retention_state", singleton {
    pub purging_since: Option<DateTimeUtc>,
    pub last_purge_at: Option<DateTimeUtc>,
    pub last_purged: i32,
});
