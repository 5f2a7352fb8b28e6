//! The Wonde catalog's refresh state (a single row, id 1).
use crate::enums::CatalogOutcome;
crate::entity_macros::plain_entity!("wonde_catalog_state", singleton {
    pub last_full_at: Option<DateTimeUtc>,
    pub last_incremental_at: Option<DateTimeUtc>,
    pub refreshing_since: Option<DateTimeUtc>,
    pub last_attempt_at: Option<DateTimeUtc>,
    pub last_outcome: CatalogOutcome,
    pub last_message: Option<String>,
});
