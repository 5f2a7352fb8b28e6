//! The mass-deactivation guard inside one reconciliation: which changes
//! resting on weak evidence a run applies, and which it holds for an
//! administrator's decision (product.md, the guard).
//!
//! - Each kind is judged on its own: students, staff and guardians by the
//!   accounts weak evidence would deactivate; a group kind by the groups it
//!   would end, less those the run creates (a new year's classes replacing
//!   the old are no loss); a membership or link table by the members it
//!   would leave in no group of the kind at all (a pupil moving class is no
//!   loss either).
//! - A held target keeps its state, and what would follow from it waits
//!   with it: the memberships and links of a held pupil stay, so their
//!   guardians keep their access; approval applies the ordinary cascade.
//! - A target already held by an earlier run is neither counted nor held
//!   again; one the batch speaks for again (it came back), or that ends on
//!   other evidence, leaves the held set (WITHDRAWN).

use chrono::{DateTime, Utc};
use entity::enums::{DeactivationReason, HeldEvidence, HeldStatus, HeldTarget};
use entity::{
    class, class_student, class_teacher, form_group, form_student, form_tutor, guardian, guardian_link,
    held_change, staff, student, year_group, year_student,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
    QuerySelect,
};
use std::collections::{BTreeMap, HashMap, HashSet};

use super::ledger::{Guard, RunCounts};
use entity::enums::AccountStatus;

/// A row some change would end: which table, which row.
pub type Key = (HeldTarget, i32);

/// A change resting on weak evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub key: Key,
    pub evidence: HeldEvidence,
    /// The reason an account would be deactivated with; `None` for rows
    /// that end (groups, memberships, links).
    pub reason: Option<DeactivationReason>,
    /// For a membership, its group and member; for a link, its student
    /// and guardian.
    pub pair: Option<(i32, i32)>,
}

/// The guard's state through one reconciliation.
pub struct Holds {
    guard: Guard,
    /// Entries of earlier runs still waiting: target to entry id.
    pending: HashMap<Key, i32>,
    /// This run's new holds, in the order met.
    pub new: Vec<Candidate>,
    /// Every target kept as it is for a decision (pending or new).
    kept: HashSet<Key>,
    /// Targets the batch spoke for positively: a record present, a group
    /// listed, a membership or link wanted.
    spoken: HashSet<Key>,
}

impl Holds {
    /// The school's pending entries, for a run judged by `guard`.
    pub async fn load(txn: &DatabaseTransaction, school: i32, guard: Guard) -> Result<Self, DbErr> {
        let pending: Vec<(i32, HeldTarget, i32)> = held_change::Entity::find()
            .select_only()
            .columns([held_change::Column::Id, held_change::Column::Target, held_change::Column::TargetId])
            .filter(held_change::Column::SchoolId.eq(school))
            .filter(held_change::Column::Status.eq(HeldStatus::Pending))
            .into_tuple()
            .all(txn)
            .await?;
        let pending: HashMap<Key, i32> =
            pending.into_iter().map(|(id, target, target_id)| ((target, target_id), id)).collect();
        // A forced run applies what is pending too.
        let kept = if guard.force { HashSet::new() } else { pending.keys().copied().collect() };
        Ok(Self { guard, pending, new: Vec::new(), kept, spoken: HashSet::new() })
    }

    /// Whether `key` is held (by this run or an earlier one): it keeps its
    /// state, and so does what would follow from it.
    pub fn is_kept(&self, key: Key) -> bool {
        self.kept.contains(&key)
    }

    /// The ids of `target`'s table that are held (by this run or before).
    pub fn kept_ids(&self, target: HeldTarget) -> Vec<i32> {
        let mut ids: Vec<i32> = self.kept.iter().filter(|(t, _)| *t == target).map(|(_, id)| *id).collect();
        ids.sort_unstable();
        ids
    }

    /// Records that the batch spoke for `key` positively. A target held by
    /// an earlier run that the batch speaks for came back: from here on it
    /// is no longer kept, so what follows from it (its memberships and
    /// links) is what the batch says.
    pub fn spoke(&mut self, key: Key) {
        self.spoken.insert(key);
        if self.pending.contains_key(&key) {
            self.kept.remove(&key);
        }
    }

    /// Judges one kind's weak-evidence changes. `candidates` are the
    /// changes of targets not already kept; `judged` what the guard weighs
    /// against `active` (see the module's rules). Held candidates are kept
    /// and recorded; returns whether they were held.
    pub fn decide(&mut self, active: i32, judged: i32, candidates: &[Candidate]) -> bool {
        if candidates.is_empty() || !self.guard.holds(active, judged) {
            return false;
        }
        for candidate in candidates {
            if self.kept.insert(candidate.key) {
                self.new.push(*candidate);
            }
        }
        true
    }

    /// Holds a change that follows another held change (a guardian whose
    /// only remaining children are held): kept and recorded for its own
    /// decision, never counted by the guard. Unless the run is forced, in
    /// which case its cause applies too and so does it.
    pub fn hold_following(&mut self, candidate: Candidate) {
        if !self.guard.force && self.kept.insert(candidate.key) {
            self.new.push(candidate);
        }
    }

    /// Writes this run's holds, counts them, and withdraws pending entries
    /// the run settled: spoken for again, or no longer active (ended on
    /// other evidence, or by a forced run).
    pub async fn finish(
        self,
        txn: &DatabaseTransaction,
        scope: (i32, i32, Option<i32>),
        now: DateTime<Utc>,
        counts: &mut RunCounts,
    ) -> Result<Vec<Candidate>, DbErr> {
        let (trust_id, school_id, run_id) = scope;
        for candidate in &self.new {
            *held_count(counts, candidate.key.0) += 1;
        }
        let rows: Vec<held_change::ActiveModel> = self
            .new
            .iter()
            .map(|c| held_change::ActiveModel {
                trust_id: Set(trust_id),
                school_id: Set(school_id),
                target: Set(c.key.0),
                target_id: Set(c.key.1),
                group_id: Set(c.pair.map(|p| p.0)),
                member_id: Set(c.pair.map(|p| p.1)),
                evidence: Set(c.evidence),
                reason: Set(c.reason),
                status: Set(HeldStatus::Pending),
                sync_run_id: Set(run_id),
                held_at: Set(now),
                decided_at: Set(None),
                decided_by: Set(None),
                ..Default::default()
            })
            .collect();
        for chunk in rows.chunks(500) {
            held_change::Entity::insert_many(chunk.to_vec()).exec_without_returning(txn).await?;
        }
        let mut by_target: BTreeMap<&str, (HeldTarget, Vec<i32>)> = BTreeMap::new();
        for key in self.pending.keys().filter(|key| !self.spoken.contains(key)) {
            by_target.entry(key.0.as_str()).or_insert((key.0, Vec::new())).1.push(key.1);
        }
        let mut active: HashSet<Key> = HashSet::new();
        for (target, ids) in by_target.into_values() {
            active.extend(active_ids(txn, target, &ids).await?.into_iter().map(|id| (target, id)));
        }
        let settled: Vec<i32> =
            self.pending.iter().filter(|(key, _)| !active.contains(key)).map(|(_, &id)| id).collect();
        for chunk in settled.chunks(500) {
            held_change::Entity::update_many()
                .col_expr(held_change::Column::Status, Expr::value(HeldStatus::Withdrawn.as_str()))
                .col_expr(held_change::Column::DecidedAt, Expr::value(now))
                .filter(held_change::Column::Id.is_in(chunk.iter().copied()))
                // A decision committed meanwhile stands.
                .filter(held_change::Column::Status.eq(HeldStatus::Pending))
                .exec(txn)
                .await?;
        }
        Ok(self.new)
    }
}

/// Where a held target is counted in a run's [`RunCounts`]: accounts by
/// their kind, guardian links with guardians, groups and memberships with
/// groups.
fn held_count(counts: &mut RunCounts, target: HeldTarget) -> &mut i32 {
    match target {
        HeldTarget::Student => &mut counts.students.held,
        HeldTarget::Staff => &mut counts.staff.held,
        HeldTarget::Guardian | HeldTarget::GuardianLink => &mut counts.guardians.held,
        _ => &mut counts.groups.held,
    }
}

/// Of `ids` in `target`'s table, those still active (an account ACTIVE, a
/// group, membership or link current).
pub async fn active_ids<C: ConnectionTrait>(
    db: &C,
    target: HeldTarget,
    ids: &[i32],
) -> Result<Vec<i32>, DbErr> {
    macro_rules! active {
        ($ids:expr, $module:ident, $condition:expr) => {
            $module::Entity::find()
                .select_only()
                .column($module::Column::Id)
                .filter($module::Column::Id.is_in($ids.iter().copied()))
                .filter($condition)
                .into_tuple()
                .all(db)
                .await
        };
    }
    let mut found = Vec::new();
    for ids in ids.chunks(500) {
        let chunk: Vec<i32> = match target {
            HeldTarget::Student => active!(ids, student, student::Column::Status.eq(AccountStatus::Active))?,
            HeldTarget::Staff => active!(ids, staff, staff::Column::Status.eq(AccountStatus::Active))?,
            HeldTarget::Guardian => {
                active!(ids, guardian, guardian::Column::Status.eq(AccountStatus::Active))?
            }
            HeldTarget::YearGroup => active!(ids, year_group, year_group::Column::Active.eq(true))?,
            HeldTarget::FormGroup => active!(ids, form_group, form_group::Column::Active.eq(true))?,
            HeldTarget::Class => active!(ids, class, class::Column::Active.eq(true))?,
            HeldTarget::YearGroupMembership => {
                active!(ids, year_student, year_student::Column::Active.eq(true))?
            }
            HeldTarget::FormGroupMembership => {
                active!(ids, form_student, form_student::Column::Active.eq(true))?
            }
            HeldTarget::FormTutor => active!(ids, form_tutor, form_tutor::Column::Active.eq(true))?,
            HeldTarget::ClassMembership => {
                active!(ids, class_student, class_student::Column::Active.eq(true))?
            }
            HeldTarget::ClassTeacher => active!(ids, class_teacher, class_teacher::Column::Active.eq(true))?,
            HeldTarget::GuardianLink => active!(ids, guardian_link, guardian_link::Column::Active.eq(true))?,
        };
        found.extend(chunk);
    }
    Ok(found)
}
