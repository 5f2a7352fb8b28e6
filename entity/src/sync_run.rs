//! One sync of one school: its kind, lifecycle and per-entity counts.
use crate::enums::*;
crate::entity_macros::plain_entity!("sync_run" {
    pub school_id: i32,
    pub kind: SyncKind,
    pub status: SyncStatus,
    pub force: bool,
    pub queued_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub error: Option<String>,
    pub claimed_by: Option<String>,
    pub heartbeat_at: Option<DateTimeUtc>,
    pub students_created: i32,
    pub students_updated: i32,
    pub students_deactivated: i32,
    pub students_reactivated: i32,
    pub staff_created: i32,
    pub staff_updated: i32,
    pub staff_deactivated: i32,
    pub staff_reactivated: i32,
    pub guardians_created: i32,
    pub guardians_updated: i32,
    pub guardians_deactivated: i32,
    pub guardians_reactivated: i32,
    pub groups_created: i32,
    pub groups_updated: i32,
    pub groups_deactivated: i32,
    pub groups_reactivated: i32,
    pub students_reidentified: i32,
    pub staff_reidentified: i32,
    pub guardians_reidentified: i32,
    /// Changes the mass-deactivation guard held for a decision, per kind.
    pub students_held: i32,
    pub staff_held: i32,
    pub guardians_held: i32,
    pub groups_held: i32,
    /// How many times a process claimed the run (a run whose process
    /// died is taken over, a bounded number of times).
    pub attempts: i32,
    /// What the run worked around without failing, as a JSON array of
    /// sentences (`NULL`: none).
    pub warnings: Option<String>,
});

/// The changes a run counts for each kind of record, in the order
/// [`Model::counts_by_record`] gives them.
/// Groups are never re-identified: their `reidentified` is always 0.
pub const CHANGES: [&str; 6] = ["created", "updated", "deactivated", "reactivated", "reidentified", "held"];

impl Model {
    /// The run's counts for each kind of record (`students`, `staff`,
    /// `guardians`, `groups`), each in [`CHANGES`] order: the one place
    /// that maps the count columns to what they count.
    pub fn counts_by_record(&self) -> [(&'static str, [i32; 6]); 4] {
        [
            (
                "students",
                [
                    self.students_created,
                    self.students_updated,
                    self.students_deactivated,
                    self.students_reactivated,
                    self.students_reidentified,
                    self.students_held,
                ],
            ),
            (
                "staff",
                [
                    self.staff_created,
                    self.staff_updated,
                    self.staff_deactivated,
                    self.staff_reactivated,
                    self.staff_reidentified,
                    self.staff_held,
                ],
            ),
            (
                "guardians",
                [
                    self.guardians_created,
                    self.guardians_updated,
                    self.guardians_deactivated,
                    self.guardians_reactivated,
                    self.guardians_reidentified,
                    self.guardians_held,
                ],
            ),
            (
                "groups",
                [
                    self.groups_created,
                    self.groups_updated,
                    self.groups_deactivated,
                    self.groups_reactivated,
                    0,
                    self.groups_held,
                ],
            ),
        ]
    }
}
