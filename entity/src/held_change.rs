//! A change the mass-deactivation guard held for a decision: which row of
//! which table it would end, on what evidence, with what reason, and the
//! decision when made.
use crate::enums::*;
crate::entity_macros::plain_entity!("held_change" {
    pub trust_id: i32,
    pub school_id: i32,
    pub target: HeldTarget,
    /// The id of the account, group, membership or link row.
    pub target_id: i32,
    /// For a membership, its group; for a guardian link, its student.
    pub group_id: Option<i32>,
    /// For a membership, its member; for a guardian link, its guardian.
    pub member_id: Option<i32>,
    pub evidence: HeldEvidence,
    /// The reason an account would be deactivated with; `None` for groups,
    /// memberships and links, which end.
    pub reason: Option<DeactivationReason>,
    pub status: HeldStatus,
    pub sync_run_id: Option<i32>,
    pub held_at: DateTimeUtc,
    pub decided_at: Option<DateTimeUtc>,
    pub decided_by: Option<String>,
});
