//! The append-only event log; `id` is the monotonically increasing cursor.
use crate::enums::*;
crate::entity_macros::plain_entity!("event", id: i64 {
    pub trust_id: i32,
    pub school_id: i32,
    pub kind: EventKind,
    pub person_kind: Option<PersonKind>,
    pub person_id: Option<i32>,
    pub reason: Option<DeactivationReason>,
    pub sync_run_id: Option<i32>,
    pub payload: Option<String>,
    pub occurred_at: DateTimeUtc,
});
