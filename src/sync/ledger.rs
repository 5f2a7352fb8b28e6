//! What a reconciliation did: counts per entity, status changes to record
//! as events, and the mass-deactivation guard that judges them.

use entity::enums::{AccountStatus, DeactivationReason, EventKind, HeldEvidence, PersonKind};

/// Created, updated, deactivated and reactivated counts of one entity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub created: i32,
    pub updated: i32,
    pub deactivated: i32,
    pub reactivated: i32,
    /// Known accounts matched under a new source key (a MIS change).
    pub reidentified: i32,
    /// Changes the guard held for a decision (for groups: groups and
    /// memberships; for guardians: accounts and links).
    pub held: i32,
}

/// Counts of a run, per entity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunCounts {
    pub students: Counts,
    pub staff: Counts,
    pub guardians: Counts,
    pub groups: Counts,
}

impl RunCounts {
    pub fn of(&mut self, kind: PersonKind) -> &mut Counts {
        match kind {
            PersonKind::Student => &mut self.students,
            PersonKind::Staff => &mut self.staff,
            PersonKind::Guardian => &mut self.guardians,
        }
    }
}

/// One account's change of status, to become an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusChange {
    pub kind: PersonKind,
    pub person_id: i32,
    pub event: EventKind,
    /// For a reactivation, why the account had been deactivated.
    pub reason: DeactivationReason,
}

/// The status an account should end the run with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Active,
    Deactivated(DeactivationReason),
}

/// How an account's status columns change to reach `target`, and the
/// event that records it; `None` when nothing changes.
///
/// A deactivated account keeps its first reason, with one exception:
/// REMOVED_FROM_MIS yields to LEFT_SCHOOL. A deletion (or absence) and a
/// leaver record both say the account went, but only the leaver record
/// says it left; a run that saw the deletion first (the student left
/// between two fetches) must not have the last word. The correction is a
/// new DEACTIVATED event with LEFT_SCHOOL (see [`is_correction`]): the
/// account never had access back, so it is not a reactivation, and
/// integrators, who key on the reason, learn the right one.
pub fn transition(
    status: AccountStatus,
    reason: Option<DeactivationReason>,
    target: Target,
) -> Option<(AccountStatus, Option<DeactivationReason>, EventKind, DeactivationReason)> {
    match (status, target) {
        (AccountStatus::Active, Target::Deactivated(why)) => {
            Some((AccountStatus::Deactivated, Some(why), EventKind::Deactivated, why))
        }
        (AccountStatus::Deactivated, Target::Deactivated(DeactivationReason::LeftSchool))
            if reason == Some(DeactivationReason::RemovedFromMis) =>
        {
            let why = DeactivationReason::LeftSchool;
            Some((AccountStatus::Deactivated, Some(why), EventKind::Deactivated, why))
        }
        (AccountStatus::Deactivated, Target::Active) => Some((
            AccountStatus::Active,
            None,
            EventKind::Reactivated,
            reason.unwrap_or(DeactivationReason::RemovedFromMis),
        )),
        _ => None,
    }
}

/// Whether a change from `status` only corrects the reason of an account
/// already deactivated: it takes no one's access away, so it counts as an
/// update, not a deactivation (nor toward the guard), and keeps the
/// account's `deactivated_at`.
pub fn is_correction(status: AccountStatus, event: EventKind) -> bool {
    status == AccountStatus::Deactivated && event == EventKind::Deactivated
}

/// The guard's share unless `ONROLL_DEACTIVATION_GUARD` says otherwise.
pub const DEFAULT_GUARD_SHARE: f64 = 0.5;

/// The server's guard share (`ONROLL_DEACTIVATION_GUARD`), as the API's
/// resolvers read it from their context: CSV runs and previews started over
/// the API are judged by it.
#[derive(Clone, Copy, Debug)]
pub struct GuardShare(pub f64);

/// What a change rests on. Explicit evidence is the MIS speaking about
/// that person (a leaving date that has come, the leavers list, employment
/// ended, suspended or archived) and always applies; weak evidence is only
/// silence or a deletion, and the guard judges it (product.md, the guard).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evidence {
    Explicit,
    Weak(HeldEvidence),
}

/// The mass-deactivation guard: weak evidence may end at most `share` of
/// a school's active accounts (or groups, or members of a group kind) of
/// one kind in a run; beyond that, those changes are held for a decision.
/// `force` applies everything.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Guard {
    pub share: f64,
    pub force: bool,
}

impl Default for Guard {
    fn default() -> Self {
        Self { share: DEFAULT_GUARD_SHARE, force: false }
    }
}

impl Guard {
    /// Whether `judged` weak-evidence changes out of `active` (before the
    /// run) are too many to apply without a decision.
    pub fn holds(&self, active: i32, judged: i32) -> bool {
        !self.force && judged > 0 && f64::from(judged) > self.share * f64::from(active.max(0))
    }
}

/// How many items there are, as the `i32` a run's counts hold (saturating).
pub(crate) fn count<T>(items: impl Iterator<Item = T>) -> i32 {
    i32::try_from(items.count()).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_record_one_event_per_status_change() {
        use AccountStatus::*;
        use DeactivationReason::*;
        assert_eq!(transition(Active, None, Target::Active), None);
        assert_eq!(transition(Deactivated, Some(LeftSchool), Target::Deactivated(RemovedFromMis)), None);
        assert_eq!(transition(Deactivated, Some(RemovedFromMis), Target::Deactivated(RemovedFromMis)), None);
        assert_eq!(
            transition(Deactivated, Some(SuspendedOrArchived), Target::Deactivated(LeftSchool)),
            None,
            "only REMOVED_FROM_MIS yields"
        );
        assert_eq!(
            transition(Active, None, Target::Deactivated(LeftSchool)),
            Some((Deactivated, Some(LeftSchool), EventKind::Deactivated, LeftSchool))
        );
        // A leaver record after a deletion corrects the reason, with an event.
        let corrected = transition(Deactivated, Some(RemovedFromMis), Target::Deactivated(LeftSchool));
        assert_eq!(corrected, Some((Deactivated, Some(LeftSchool), EventKind::Deactivated, LeftSchool)));
        assert!(is_correction(Deactivated, EventKind::Deactivated));
        assert!(!is_correction(Active, EventKind::Deactivated));
        assert!(!is_correction(Deactivated, EventKind::Reactivated));
        assert_eq!(
            transition(Deactivated, Some(NoActiveChildren), Target::Active),
            Some((Active, None, EventKind::Reactivated, NoActiveChildren))
        );
    }

    #[test]
    fn guard_allows_up_to_its_share_and_yields_to_force() {
        let guard = Guard::default();
        assert!(!guard.holds(10, 5));
        assert!(guard.holds(10, 6));
        assert!(!Guard { force: true, ..guard }.holds(10, 10));
        assert!(!guard.holds(0, 0));
        // Nothing active before, yet something to end: always judged.
        assert!(guard.holds(0, 1));
        assert!(!guard.holds(7, 1), "one deletion of seven");
    }
}
