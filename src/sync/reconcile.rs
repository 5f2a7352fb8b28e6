//! Applying a [`Batch`] to a school's directory, in one transaction, by the
//! rules of product.md: upserts keyed by (school, Wonde id) with UPI
//! re-enrolment; leavers deactivated with their memberships and links
//! ended; guardians left with no active child at the school deactivated;
//! returners reactivated; one event per status change; and the
//! mass-deactivation guard over all of it.
//!
//! The caller owns the transaction: a refusal (the guard) or any error
//! rolls back everything, so a failed run leaves nothing half-applied.

use chrono::{DateTime, NaiveDate, Utc};
use entity::enums::{AccountStatus, DeactivationReason, EventKind, HeldEvidence, HeldTarget, PersonKind};
use entity::{event, guardian, guardian_link, staff, student};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QuerySelect,
};
use std::collections::{HashMap, HashSet};

use super::groups;
use super::guardian_links;
use super::holds::{Candidate, Holds};
use super::identity;
use super::ledger::{Evidence, Guard, RunCounts, StatusChange, Target, is_correction, transition};
use super::source::{Batch, DeletedKind, MisGuardian, MisStaff, MisStudent};
use crate::families::{email_key, is_placeholder_email, names_agree};

/// Who and when a reconciliation runs for.
#[derive(Clone, Copy, Debug)]
pub struct Scope {
    pub trust_id: i32,
    pub school_id: i32,
    pub run_id: Option<i32>,
    pub now: DateTime<Utc>,
    /// The school's date (in its own time zone, see [`crate::school_day`]):
    /// leaving dates on or before it, and employment end dates before it,
    /// have taken effect.
    pub today: NaiveDate,
}

/// What a reconciliation changed, and the events it appended (committed
/// with the transaction; publish them after commit).
#[derive(Debug, Default)]
pub struct Outcome {
    pub counts: RunCounts,
    /// The events appended (empty until [`Outcome::append_events`]).
    pub events: Vec<event::Model>,
    /// Each account's change of status, in the order made.
    pub changes: Vec<StatusChange>,
    /// The events still to append.
    to_append: Vec<event::ActiveModel>,
    /// Changes the guard held for a decision in this run (all kinds), in
    /// the order met.
    pub held: Vec<Candidate>,
    /// Records that matched more than one existing account by a
    /// re-identification rule: created new, never merged (a data-quality
    /// finding for the school).
    pub ambiguities: Vec<Ambiguity>,
}

/// A source record that two or more existing accounts could be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ambiguity {
    pub kind: PersonKind,
    /// The record's id at the source (Wonde id, or the CSV's id column).
    pub source_id: String,
    /// The rule that matched several: `upn`, `email`, `names_and_child`, `upi`.
    pub rule: &'static str,
    /// Ids of the accounts it matched.
    pub candidates: Vec<i32>,
}

/// An account as the membership and link steps need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Known {
    pub id: i32,
    pub active: bool,
}

/// Source id to account, for every account of the school after the
/// account steps.
pub type KnownAccounts = HashMap<String, Known>;

/// Mutable state of one reconciliation.
pub(super) struct Work {
    pub scope: Scope,
    pub counts: RunCounts,
    pub changes: Vec<StatusChange>,
    active_before: HashMap<PersonKind, i32>,
    ambiguities: Vec<Ambiguity>,
    pub holds: Holds,
}

impl Work {
    /// Counts one status change of an account that had status `was`, and
    /// queues its event. `counted`: the account's fields changed too and it
    /// is already counted as updated.
    fn record(
        &mut self,
        kind: PersonKind,
        id: i32,
        was: AccountStatus,
        counted: bool,
        change: (AccountStatus, Option<DeactivationReason>, entity::enums::EventKind, DeactivationReason),
    ) {
        let (_, _, event, reason) = change;
        let counts = self.counts.of(kind);
        if is_correction(was, event) {
            // A corrected reason takes no one's access away: an update, so
            // that `deactivated` and the guard count only accounts that
            // lost access in this run.
            counts.updated += i32::from(!counted);
        } else if event == entity::enums::EventKind::Reactivated {
            counts.reactivated += 1;
        } else {
            counts.deactivated += 1;
        }
        self.changes.push(StatusChange { kind, person_id: id, event, reason });
    }

    /// Records a record that several accounts could be (or several records
    /// claim one account): it is created new, and the school is told.
    fn ambiguous<T>(
        &mut self,
        kind: PersonKind,
        source_id: &str,
        rule: &'static str,
        candidates: &[usize],
        rows: &[T],
        id: impl Fn(&T) -> i32,
    ) {
        let candidates = candidates.iter().map(|&i| id(&rows[i])).collect();
        self.ambiguities.push(Ambiguity { kind, source_id: source_id.to_owned(), rule, candidates });
    }
}

/// When an account reaching `status` from `was` lost its access: now for a
/// deactivation, unchanged for a corrected reason, none once active.
fn deactivated_at(
    was: AccountStatus,
    at: Option<DateTime<Utc>>,
    status: AccountStatus,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    match (was, status) {
        (_, AccountStatus::Active) => None,
        (AccountStatus::Deactivated, AccountStatus::Deactivated) => at,
        (AccountStatus::Active, AccountStatus::Deactivated) => Some(now),
    }
}

/// Applies `batch` to the school of `scope` inside `txn`, with the leaver
/// rules and the guard: what it doubts is held (see [`super::holds`]),
/// everything else applies. The caller commits (or, for a preview, rolls
/// back) and publishes the outcome's events after the commit.
pub async fn reconcile(
    txn: &DatabaseTransaction,
    scope: Scope,
    batch: &Batch,
    guard: Guard,
) -> Result<Outcome, DbErr> {
    let mut work = Work {
        scope,
        counts: RunCounts::default(),
        changes: Vec::new(),
        active_before: HashMap::new(),
        ambiguities: Vec::new(),
        holds: Holds::load(txn, scope.school_id, guard).await?,
    };
    let students = students(txn, &mut work, batch).await?;
    let staff = staff(txn, &mut work, batch).await?;
    let groups = groups::sync_groups(txn, &mut work, batch).await?;
    groups::sync_memberships(txn, &mut work, batch, &groups, &students, &staff).await?;
    let guardians = guardian_records(txn, &mut work, batch, &students).await?;
    let removed_with_child = guardian_links::sync_links(txn, &mut work, batch, &students, &guardians).await?;
    guardian_status(txn, &mut work, batch, &guardians, &removed_with_child).await?;

    let Work { scope, mut counts, changes, ambiguities, holds, .. } = work;
    let held =
        holds.finish(txn, (scope.trust_id, scope.school_id, scope.run_id), scope.now, &mut counts).await?;
    let to_append = event_rows(scope, &changes, (!held.is_empty()).then_some(&counts));
    Ok(Outcome { counts, events: Vec::new(), changes, to_append, held, ambiguities })
}

impl Outcome {
    /// Adds events to append after the outcome's own (parent group changes).
    pub fn queue_events(&mut self, rows: Vec<event::ActiveModel>) {
        self.to_append.extend(rows);
    }

    /// Appends the outcome's events to the log, and keeps them in `events`
    /// to publish after the commit. Call it last in the transaction, after
    /// every other write: appending takes the events lock (`events::log`).
    pub async fn append_events(&mut self, txn: &DatabaseTransaction) -> Result<(), DbErr> {
        let rows = std::mem::take(&mut self.to_append);
        self.events = crate::events::log::append(txn, rows).await?;
        Ok(())
    }
}

/// One event per status change, and, when the run held changes, one HELD
/// event whose payload counts them per kind.
fn event_rows(scope: Scope, changes: &[StatusChange], held: Option<&RunCounts>) -> Vec<event::ActiveModel> {
    let rows = changes.iter().map(|change| event::ActiveModel {
        trust_id: Set(scope.trust_id),
        school_id: Set(scope.school_id),
        kind: Set(change.event),
        person_kind: Set(Some(change.kind)),
        person_id: Set(Some(change.person_id)),
        reason: Set(Some(change.reason)),
        sync_run_id: Set(scope.run_id),
        payload: Set(None),
        occurred_at: Set(scope.now),
        ..Default::default()
    });
    let mut rows: Vec<event::ActiveModel> = rows.collect();
    if let Some(counts) = held {
        let payload = serde_json::json!({
            "students": counts.students.held,
            "staff": counts.staff.held,
            "guardians": counts.guardians.held,
            "groups": counts.groups.held,
        });
        rows.push(event::ActiveModel {
            trust_id: Set(scope.trust_id),
            school_id: Set(scope.school_id),
            kind: Set(EventKind::Held),
            person_kind: Set(None),
            person_id: Set(None),
            reason: Set(None),
            sync_run_id: Set(scope.run_id),
            payload: Set(Some(payload.to_string())),
            occurred_at: Set(scope.now),
            ..Default::default()
        });
    }
    rows
}

/// Finds an existing record by Wonde id, else by UPI (re-enrolment).
fn find<'a, T>(
    source_id: &str,
    upi: Option<&str>,
    by_id: &HashMap<String, usize>,
    by_upi: &HashMap<String, usize>,
    rows: &'a [T],
) -> Option<(usize, &'a T)> {
    by_id
        .get(source_id)
        .or_else(|| upi.filter(|u| !u.is_empty()).and_then(|u| by_upi.get(u)))
        .map(|&i| (i, &rows[i]))
}

fn student_target(mis: &MisStudent, today: NaiveDate) -> Target {
    if mis.inactive_in_mis {
        Target::Deactivated(DeactivationReason::SuspendedOrArchived)
    } else if mis.leaving_date.is_some_and(|d| d <= today) {
        Target::Deactivated(DeactivationReason::LeftSchool)
    } else {
        Target::Active
    }
}

async fn students(txn: &DatabaseTransaction, work: &mut Work, batch: &Batch) -> Result<KnownAccounts, DbErr> {
    let school = work.scope.school_id;
    // A purged row is nobody any more: no rule may match it (retention.rs).
    let rows = student::Entity::find()
        .filter(student::Column::SchoolId.eq(school))
        .filter(student::Column::PurgedAt.is_null())
        .all(txn)
        .await?;
    work.active_before.insert(PersonKind::Student, count_active(rows.iter().map(|r| r.status)));
    let by_id: HashMap<String, usize> =
        rows.iter().enumerate().map(|(i, r)| (r.wonde_id.clone(), i)).collect();
    let by_upi: HashMap<String, usize> =
        rows.iter().enumerate().filter_map(|(i, r)| r.upi.clone().map(|u| (u, i))).collect();
    // The target of every row the batch speaks of, with what it rests on;
    // rows it is silent on keep their status (or, in a complete batch, are
    // gone). Explicit evidence is entered first: it wins over silence.
    let mut targets: HashMap<usize, (Target, Evidence)> = HashMap::new();
    let mut updates: HashMap<usize, student::ActiveModel> = HashMap::new();
    let mut inserts = Vec::new();
    let today = work.scope.today;
    if batch.types.students {
        // A record with an unknown id and UPI may be a known pupil re-keyed
        // by a MIS change: the same UPN at this school is the same child.
        let by_upn = identity::index(&rows, |r| identity::upn_key(r.upn.as_deref()));
        let gone = |i: usize| may_be_rekeyed(batch, DeletedKind::Student, &rows[i].wonde_id, rows[i].status);
        let matched = reidentify(&batch.students, &rows, &by_id, &by_upi, gone, |mis| {
            (
                mis.source_id.as_str(),
                mis.upi.as_deref(),
                identity::candidates(&by_upn, identity::upn_key(mis.upn.as_deref())),
            )
        });
        for (mis, matched) in batch.students.iter().zip(matched) {
            let target = student_target(mis, today);
            match matched {
                Matched::Row(i, how) => {
                    let row = &rows[i];
                    let mut model: student::ActiveModel = row.clone().into();
                    let rekeyed = how == How::Reidentified;
                    model.wonde_id.set_if_not_equals(mis.source_id.clone());
                    model.upi.set_if_not_equals(mis.upi.clone());
                    model.mis_id.set_if_not_equals(mis.mis_id.clone());
                    model.upn.set_if_not_equals(mis.upn.clone());
                    model.forename.set_if_not_equals(mis.forename.clone());
                    model.surname.set_if_not_equals(mis.surname.clone());
                    model.email.set_if_not_equals(mis.email.clone());
                    model.leaving_date.set_if_not_equals(mis.leaving_date.map(|d| d.to_string()));
                    count_match(&mut work.counts.students, rekeyed, model.is_changed());
                    updates.insert(i, model);
                    spoke(work, HeldTarget::Student, row.id, target);
                    targets.insert(i, (target, Evidence::Explicit));
                }
                Matched::Ambiguous(candidates) => {
                    work.ambiguous(PersonKind::Student, &mis.source_id, "upn", &candidates, &rows, |r| r.id);
                    if target == Target::Active {
                        inserts.push(new_student(school, mis, work.scope.now));
                    }
                }
                // A leaver or suspended record we never knew is not imported.
                Matched::New if target == Target::Active => {
                    inserts.push(new_student(school, mis, work.scope.now))
                }
                Matched::New => {}
            }
        }
        // The leavers list keeps old records: one that is on roll again
        // (restored, or re-enrolled under a new id) answers for itself.
        for mis in &batch.leavers {
            if let Some((i, _)) = find(&mis.source_id, mis.upi.as_deref(), &by_id, &by_upi, &rows) {
                targets
                    .entry(i)
                    .or_insert((Target::Deactivated(DeactivationReason::LeftSchool), Evidence::Explicit));
            }
        }
    }
    // A stored leaving date that has come takes effect in every run, with
    // no change to the record needed (the daily sweep is such a run).
    for (i, row) in rows.iter().enumerate() {
        let left =
            row.leaving_date.as_deref().and_then(|d| d.parse::<NaiveDate>().ok()).is_some_and(|d| d <= today);
        if left && row.status == AccountStatus::Active {
            targets
                .entry(i)
                .or_insert((Target::Deactivated(DeactivationReason::LeftSchool), Evidence::Explicit));
        }
    }
    if batch.types.students {
        // A deletion does not override a present record's own answer.
        weak_targets(&mut targets, batch, DeletedKind::Student, rows.len(), &by_id);
    }
    let active = work.active_before.get(&PersonKind::Student).copied().unwrap_or(0);
    let targets = judge_accounts(&mut work.holds, HeldTarget::Student, (active, 0), targets, |i| {
        (rows[i].id, rows[i].status)
    });
    settle::<student::Entity>(txn, work, &rows, targets, updates, inserts).await
}

/// Records that a present record speaks for its account (it came back, if
/// it was held), unless it says the account is leaving.
fn spoke(work: &mut Work, target: HeldTarget, id: i32, to: Target) {
    if to == Target::Active {
        work.holds.spoke((target, id));
    }
}

/// Adds the weak evidence of a batch: its deletions of `kind`, then, in a
/// complete batch, the absence of every row it did not speak of.
fn weak_targets(
    targets: &mut HashMap<usize, (Target, Evidence)>,
    batch: &Batch,
    kind: DeletedKind,
    rows: usize,
    by_id: &HashMap<String, usize>,
) {
    let gone = Target::Deactivated(DeactivationReason::RemovedFromMis);
    for deletion in batch.deletions.iter().filter(|d| d.kind == kind) {
        if let Some(&i) = by_id.get(&deletion.source_id) {
            targets.entry(i).or_insert((gone, Evidence::Weak(HeldEvidence::DeletedInMis)));
        }
    }
    if batch.absence_is_evidence() {
        for i in 0..rows {
            targets.entry(i).or_insert((gone, Evidence::Weak(HeldEvidence::AbsentFromFullFetch)));
        }
    }
}

/// The guard over one kind of account: the deactivations of active
/// accounts that rest on weak evidence are judged together; those held,
/// and those an earlier run held, keep their status. Answers the targets
/// to apply.
///
/// They are weighed against the accounts the run could leave in place:
/// the kind's `active` accounts before the run, less those leaving on
/// explicit evidence in it (`leaving` more, counted by the caller) and
/// those already held. So an answer that would empty what an earlier
/// doubted answer left is doubted too, and a day of many explicit leavers
/// does not make silence about the rest look small.
fn judge_accounts(
    holds: &mut Holds,
    target: HeldTarget,
    (active, leaving): (i32, i32),
    targets: HashMap<usize, (Target, Evidence)>,
    state: impl Fn(usize) -> (i32, AccountStatus),
) -> HashMap<usize, Target> {
    let mut candidates: Vec<(usize, Candidate)> = Vec::new();
    let mut apply: HashMap<usize, Target> = HashMap::new();
    let mut explicit = leaving;
    for (i, (to, evidence)) in targets {
        let (id, status) = state(i);
        if matches!(
            (to, evidence, status),
            (Target::Deactivated(_), Evidence::Explicit, AccountStatus::Active)
        ) {
            explicit += 1;
        }
        match (to, evidence) {
            (Target::Deactivated(reason), Evidence::Weak(evidence)) if status == AccountStatus::Active => {
                if !holds.is_kept((target, id)) {
                    candidates.push((
                        i,
                        Candidate { key: (target, id), evidence, reason: Some(reason), pair: None },
                    ));
                }
            }
            _ => {
                apply.insert(i, to);
            }
        }
    }
    candidates.sort_by_key(|(_, c)| c.key.1);
    let list: Vec<Candidate> = candidates.iter().map(|(_, c)| *c).collect();
    let judged = i32::try_from(list.len()).unwrap_or(i32::MAX);
    let held_before = i32::try_from(holds.kept_ids(target).len()).unwrap_or(i32::MAX);
    let weighed_against = active.saturating_sub(explicit).saturating_sub(held_before);
    if !holds.decide(weighed_against, judged, &list) {
        apply.extend(
            candidates.into_iter().map(|(i, c)| {
                (i, Target::Deactivated(c.reason.unwrap_or(DeactivationReason::RemovedFromMis)))
            }),
        );
    }
    apply
}

fn new_student(school: i32, mis: &MisStudent, now: DateTime<Utc>) -> student::ActiveModel {
    student::ActiveModel {
        school_id: Set(school),
        wonde_id: Set(mis.source_id.clone()),
        upi: Set(mis.upi.clone()),
        mis_id: Set(mis.mis_id.clone()),
        upn: Set(mis.upn.clone()),
        forename: Set(mis.forename.clone()),
        surname: Set(mis.surname.clone()),
        email: Set(mis.email.clone()),
        // A future leaving date is kept, so that the day it comes the
        // pupil leaves without waiting for a change to the record.
        leaving_date: Set(mis.leaving_date.map(|d| d.to_string())),
        status: Set(AccountStatus::Active),
        deactivated_at: Set(None),
        deactivation_reason: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// How a batch record found its account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum How {
    /// By its own source id or UPI.
    Keys,
    /// By the second rule of [`identity`]: a MIS re-keyed it.
    Reidentified,
}

enum Matched {
    Row(usize, How),
    Ambiguous(Vec<usize>),
    New,
}

/// Matches each record to a row: by id, else by UPI (re-enrolment), else,
/// for records whose keys are all unknown, by the candidates `second`
/// gives (see [`identity::resolve`]) among the rows that may have been
/// re-keyed (`gone`): a row only the batch's silence could vouch for.
fn reidentify<M, T>(
    records: &[M],
    rows: &[T],
    by_id: &HashMap<String, usize>,
    by_upi: &HashMap<String, usize>,
    gone: impl Fn(usize) -> bool,
    second: impl Fn(&M) -> (&str, Option<&str>, Vec<usize>),
) -> Vec<Matched> {
    let first: Vec<Option<usize>> = records
        .iter()
        .map(|mis| {
            let (id, upi, _) = second(mis);
            find(id, upi, by_id, by_upi, rows).map(|(i, _)| i)
        })
        .collect();
    let claimed: HashSet<usize> = first.iter().flatten().copied().collect();
    let wanted: Vec<Vec<usize>> = records
        .iter()
        .zip(&first)
        .map(|(mis, found)| match found {
            Some(_) => Vec::new(),
            None => second(mis).2.into_iter().filter(|&row| gone(row)).collect(),
        })
        .collect();
    first
        .into_iter()
        .zip(identity::resolve(&wanted, &claimed))
        .map(|(found, second)| match (found, second) {
            (Some(i), _) => Matched::Row(i, How::Keys),
            (None, identity::Resolution::Same(i)) => Matched::Row(i, How::Reidentified),
            (None, identity::Resolution::Ambiguous(rows)) => Matched::Ambiguous(rows),
            (None, identity::Resolution::New) => Matched::New,
        })
        .collect()
}

/// Rows a second rule may match: in a complete batch, any (its silence
/// says whom the MIS no longer has under the old keys); in a partial one,
/// only rows the batch deletes or that are already deactivated, since an
/// account the batch is merely silent on is still someone, and a new
/// record sharing their email or name is someone else.
fn may_be_rekeyed(batch: &Batch, kind: DeletedKind, source_id: &str, status: AccountStatus) -> bool {
    batch.complete
        || status == AccountStatus::Deactivated
        || batch.deletions.iter().any(|d| d.kind == kind && d.source_id == source_id)
}

/// Counts a matched record: re-identified (its keys carried over, whatever
/// else changed with them) or updated (any field changed, keys included).
fn count_match(counts: &mut super::ledger::Counts, rekeyed: bool, changed: bool) {
    if rekeyed {
        counts.reidentified += 1;
    } else if changed {
        counts.updated += 1;
    }
}

fn staff_target(mis: &MisStaff) -> Target {
    if mis.inactive_in_mis {
        Target::Deactivated(DeactivationReason::SuspendedOrArchived)
    } else if !mis.current {
        Target::Deactivated(DeactivationReason::LeftSchool)
    } else {
        Target::Active
    }
}

async fn staff(txn: &DatabaseTransaction, work: &mut Work, batch: &Batch) -> Result<KnownAccounts, DbErr> {
    let school = work.scope.school_id;
    // A purged row is nobody any more: no rule may match it (retention.rs).
    let rows = staff::Entity::find()
        .filter(staff::Column::SchoolId.eq(school))
        .filter(staff::Column::PurgedAt.is_null())
        .all(txn)
        .await?;
    work.active_before.insert(PersonKind::Staff, count_active(rows.iter().map(|r| r.status)));
    let by_id: HashMap<String, usize> =
        rows.iter().enumerate().map(|(i, r)| (r.wonde_id.clone(), i)).collect();
    let by_upi: HashMap<String, usize> =
        rows.iter().enumerate().filter_map(|(i, r)| r.upi.clone().map(|u| (u, i))).collect();
    let mut targets: HashMap<usize, (Target, Evidence)> = HashMap::new();
    let mut updates: HashMap<usize, staff::ActiveModel> = HashMap::new();
    let mut inserts = Vec::new();
    let today = work.scope.today;
    if batch.types.staff {
        // Staff re-keyed by a MIS change: UPI first (the usual lookup),
        // then the work email; a record without an email, by the same
        // names (a name two people share is ambiguous, and never merged).
        let by_email = identity::index(&rows, |r| identifying_email(r.email.as_deref()));
        let by_names = identity::index(&rows, |r| identity::names_key(&r.forename, &r.surname));
        let gone = |i: usize| may_be_rekeyed(batch, DeletedKind::Staff, &rows[i].wonde_id, rows[i].status);
        let matched = reidentify(&batch.staff, &rows, &by_id, &by_upi, gone, |mis| {
            let candidates = match identifying_email(mis.email.as_deref()) {
                Some(email) => identity::candidates(&by_email, Some(email)),
                None => identity::candidates(&by_names, identity::names_key(&mis.forename, &mis.surname)),
            };
            (mis.source_id.as_str(), mis.upi.as_deref(), candidates)
        });
        for (mis, matched) in batch.staff.iter().zip(matched) {
            let target = staff_target(mis);
            match matched {
                Matched::Row(i, how) => {
                    let mut model: staff::ActiveModel = rows[i].clone().into();
                    model.wonde_id.set_if_not_equals(mis.source_id.clone());
                    model.upi.set_if_not_equals(mis.upi.clone());
                    model.mis_id.set_if_not_equals(mis.mis_id.clone());
                    model.title.set_if_not_equals(mis.title.clone());
                    model.forename.set_if_not_equals(mis.forename.clone());
                    model.surname.set_if_not_equals(mis.surname.clone());
                    model.email.set_if_not_equals(mis.email.clone());
                    model.employment_end.set_if_not_equals(mis.employment_end.map(|d| d.to_string()));
                    count_match(&mut work.counts.staff, how == How::Reidentified, model.is_changed());
                    updates.insert(i, model);
                    spoke(work, HeldTarget::Staff, rows[i].id, target);
                    targets.insert(i, (target, Evidence::Explicit));
                }
                Matched::Ambiguous(candidates) => {
                    let rule =
                        if identifying_email(mis.email.as_deref()).is_some() { "email" } else { "names" };
                    work.ambiguous(PersonKind::Staff, &mis.source_id, rule, &candidates, &rows, |r| r.id);
                    if target == Target::Active {
                        inserts.push(new_staff(school, mis, work.scope.now));
                    }
                }
                Matched::New if target == Target::Active => {
                    inserts.push(new_staff(school, mis, work.scope.now))
                }
                Matched::New => {}
            }
        }
    }
    // Employment that has ended takes effect in every run, as leaving
    // dates do: the day after the last day, with no record change needed.
    for (i, row) in rows.iter().enumerate() {
        let ended = row
            .employment_end
            .as_deref()
            .and_then(|d| d.parse::<NaiveDate>().ok())
            .is_some_and(|d| d < today);
        if ended && row.status == AccountStatus::Active {
            targets
                .entry(i)
                .or_insert((Target::Deactivated(DeactivationReason::LeftSchool), Evidence::Explicit));
        }
    }
    if batch.types.staff {
        weak_targets(&mut targets, batch, DeletedKind::Staff, rows.len(), &by_id);
    }
    let active = work.active_before.get(&PersonKind::Staff).copied().unwrap_or(0);
    let targets = judge_accounts(&mut work.holds, HeldTarget::Staff, (active, 0), targets, |i| {
        (rows[i].id, rows[i].status)
    });
    settle::<staff::Entity>(txn, work, &rows, targets, updates, inserts).await
}

fn new_staff(school: i32, mis: &MisStaff, now: DateTime<Utc>) -> staff::ActiveModel {
    staff::ActiveModel {
        school_id: Set(school),
        wonde_id: Set(mis.source_id.clone()),
        upi: Set(mis.upi.clone()),
        mis_id: Set(mis.mis_id.clone()),
        title: Set(mis.title.clone()),
        forename: Set(mis.forename.clone()),
        surname: Set(mis.surname.clone()),
        email: Set(mis.email.clone()),
        employment_end: Set(mis.employment_end.map(|d| d.to_string())),
        status: Set(AccountStatus::Active),
        deactivated_at: Set(None),
        deactivation_reason: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// Guardians whose status is settled by the children rule, and those the
/// MIS itself removed or suspended.
pub(super) struct GuardianRecords {
    pub known: KnownAccounts,
    /// Guardian ids the MIS says are gone or suspended, with why.
    pub removed: HashMap<i32, DeactivationReason>,
}

/// Upserts guardian records. New guardians are imported only when the batch
/// links them to a student on roll: a contact with no child here is no
/// account here. Status is settled later, once links are known.
async fn guardian_records(
    txn: &DatabaseTransaction,
    work: &mut Work,
    batch: &Batch,
    students: &KnownAccounts,
) -> Result<GuardianRecords, DbErr> {
    let school = work.scope.school_id;
    // A purged row is nobody any more: no rule may match it (retention.rs).
    let rows = guardian::Entity::find()
        .filter(guardian::Column::SchoolId.eq(school))
        .filter(guardian::Column::PurgedAt.is_null())
        .all(txn)
        .await?;
    work.active_before.insert(PersonKind::Guardian, count_active(rows.iter().map(|r| r.status)));
    let by_id: HashMap<String, usize> =
        rows.iter().enumerate().map(|(i, r)| (r.wonde_id.clone(), i)).collect();
    let by_upi: HashMap<String, usize> =
        rows.iter().enumerate().filter_map(|(i, r)| r.upi.clone().map(|u| (u, i))).collect();
    let mut removed: HashMap<i32, DeactivationReason> = HashMap::new();
    let mut inserts = Vec::new();
    if batch.types.guardians {
        let linked: HashSet<&str> = batch
            .links
            .iter()
            .filter(|l| students.get(&l.student).is_some_and(|s| s.active))
            .map(|l| l.guardian.as_str())
            .collect();
        let mut seen: HashSet<usize> = HashSet::new();
        let second = SecondRule::load(txn, school, &rows, batch, students).await?;
        let gone = |i: usize| may_be_rekeyed(batch, DeletedKind::Guardian, &rows[i].wonde_id, rows[i].status);
        let matched = reidentify(&batch.guardians, &rows, &by_id, &by_upi, gone, |mis| {
            (mis.source_id.as_str(), mis.upi.as_deref(), second.candidates(mis, &rows))
        });
        for (mis, matched) in batch.guardians.iter().zip(matched) {
            let new = !mis.inactive_in_mis && linked.contains(mis.source_id.as_str());
            match matched {
                Matched::Row(i, how) => {
                    let row = &rows[i];
                    seen.insert(i);
                    if mis.inactive_in_mis {
                        removed.insert(row.id, DeactivationReason::SuspendedOrArchived);
                    } else {
                        work.holds.spoke((HeldTarget::Guardian, row.id));
                    }
                    let mut model: guardian::ActiveModel = row.clone().into();
                    model.wonde_id.set_if_not_equals(mis.source_id.clone());
                    model.upi.set_if_not_equals(mis.upi.clone());
                    apply_guardian_fields(&mut model, mis);
                    let changed = model.is_changed();
                    count_match(&mut work.counts.guardians, how == How::Reidentified, changed);
                    if changed {
                        model.updated_at = Set(work.scope.now);
                        model.update(txn).await?;
                    }
                }
                Matched::Ambiguous(candidates) => {
                    let rule = if identifying_email(mis.email.as_deref()).is_some() {
                        "email"
                    } else {
                        "names_and_child"
                    };
                    work.ambiguous(PersonKind::Guardian, &mis.source_id, rule, &candidates, &rows, |r| r.id);
                    if new {
                        inserts.push(new_guardian(school, mis, work.scope.now));
                    }
                }
                Matched::New if new => inserts.push(new_guardian(school, mis, work.scope.now)),
                Matched::New => {}
            }
        }
        let mut weak: HashMap<usize, (Target, Evidence)> = HashMap::new();
        weak_targets(&mut weak, batch, DeletedKind::Guardian, rows.len(), &by_id);
        weak.retain(|i, _| !seen.contains(i));
        // The cascade follows its cause: a guardian whose children all go
        // in this run goes with them, and one whose only children left are
        // held waits with them (held too, for its own decision, but never
        // counted); neither is judged on its own. Only a guardian who would
        // keep a child here is.
        let fates = children_after(txn, school, students, &work.holds).await?;
        let holds = &mut work.holds;
        weak.retain(|i, (target, evidence)| match fates.get(&rows[*i].id) {
            Some(Fate::Staying) => true,
            Some(Fate::Held) => {
                if let (Target::Deactivated(why), Evidence::Weak(evidence)) = (*target, *evidence)
                    && rows[*i].status == AccountStatus::Active
                {
                    let key = (HeldTarget::Guardian, rows[*i].id);
                    holds.hold_following(Candidate { key, evidence, reason: Some(why), pair: None });
                }
                false
            }
            None => {
                if let Target::Deactivated(why) = target {
                    removed.insert(rows[*i].id, *why);
                }
                false
            }
        });
        let active = work.active_before.get(&PersonKind::Guardian).copied().unwrap_or(0);
        let leaving =
            rows.iter().filter(|r| r.status == AccountStatus::Active && removed.contains_key(&r.id));
        let leaving = i32::try_from(leaving.count()).unwrap_or(i32::MAX);
        let weak = judge_accounts(&mut work.holds, HeldTarget::Guardian, (active, leaving), weak, |i| {
            (rows[i].id, rows[i].status)
        });
        for (i, target) in weak {
            if let Target::Deactivated(why) = target {
                removed.insert(rows[i].id, why);
            }
        }
    }
    work.counts.guardians.created += i32::try_from(inserts.len()).unwrap_or(i32::MAX);
    for chunk in inserts.chunks(500) {
        guardian::Entity::insert_many(chunk.to_vec()).exec_without_returning(txn).await?;
    }
    let known =
        known(guardian::Entity::find().filter(guardian::Column::SchoolId.eq(school)).all(txn).await?, |r| {
            (r.wonde_id.clone(), r.id, r.status)
        });
    Ok(GuardianRecords { known, removed })
}

/// What becomes of a guardian's children at the school in this run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    /// At least one stays active, and not only because it is held.
    Staying,
    /// The only ones left are held for a decision.
    Held,
}

/// Guardians with a current link to a child who ends the run active (held
/// or not); a guardian not in the map has no such child.
async fn children_after(
    txn: &DatabaseTransaction,
    school: i32,
    students: &KnownAccounts,
    holds: &Holds,
) -> Result<HashMap<i32, Fate>, DbErr> {
    let active: HashSet<i32> = students.values().filter(|k| k.active).map(|k| k.id).collect();
    let links: Vec<(i32, i32)> = guardian_link::Entity::find()
        .select_only()
        .columns([guardian_link::Column::GuardianId, guardian_link::Column::StudentId])
        .filter(guardian_link::Column::SchoolId.eq(school))
        .filter(guardian_link::Column::Active.eq(true))
        .into_tuple()
        .all(txn)
        .await?;
    let mut fates: HashMap<i32, Fate> = HashMap::new();
    for (guardian, student) in links.into_iter().filter(|(_, student)| active.contains(student)) {
        let fate = if holds.is_kept((HeldTarget::Student, student)) { Fate::Held } else { Fate::Staying };
        let entry = fates.entry(guardian).or_insert(fate);
        if fate == Fate::Staying {
            *entry = Fate::Staying;
        }
    }
    Ok(fates)
}

fn new_guardian(school: i32, mis: &MisGuardian, now: DateTime<Utc>) -> guardian::ActiveModel {
    let mut model = guardian::ActiveModel {
        school_id: Set(school),
        status: Set(AccountStatus::Active),
        deactivated_at: Set(None),
        deactivation_reason: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    apply_guardian_fields(&mut model, mis);
    model
}

/// The second rule for guardians whose keys a MIS change made unknown: the
/// same email (trimmed, case-folded) is the same person; a record without
/// one is the guardian of the same names already linked to one of the
/// children the record is linked to.
struct SecondRule {
    by_email: HashMap<String, Vec<usize>>,
    by_names: HashMap<String, Vec<usize>>,
    /// Guardian row index to the student account ids it is linked to.
    children_of_row: HashMap<usize, HashSet<i32>>,
    /// Record source id to the student account ids the batch links it to.
    children_of_record: HashMap<String, HashSet<i32>>,
}

impl SecondRule {
    async fn load(
        txn: &DatabaseTransaction,
        school: i32,
        rows: &[guardian::Model],
        batch: &Batch,
        students: &KnownAccounts,
    ) -> Result<Self, DbErr> {
        let row_of: HashMap<i32, usize> = rows.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
        let mut children_of_row: HashMap<usize, HashSet<i32>> = HashMap::new();
        let links: Vec<(i32, i32)> = guardian_link::Entity::find()
            .select_only()
            .columns([guardian_link::Column::GuardianId, guardian_link::Column::StudentId])
            .filter(guardian_link::Column::SchoolId.eq(school))
            .into_tuple()
            .all(txn)
            .await?;
        for (guardian_id, student_id) in links {
            if let Some(&i) = row_of.get(&guardian_id) {
                children_of_row.entry(i).or_default().insert(student_id);
            }
        }
        let mut children_of_record: HashMap<String, HashSet<i32>> = HashMap::new();
        for link in &batch.links {
            if let Some(student) = students.get(&link.student) {
                children_of_record.entry(link.guardian.clone()).or_default().insert(student.id);
            }
        }
        Ok(Self {
            by_email: identity::index(rows, |r| identifying_email(r.email.as_deref())),
            by_names: identity::index(rows, |r| identity::names_key(&r.forename, &r.surname)),
            children_of_row,
            children_of_record,
        })
    }

    fn candidates(&self, mis: &MisGuardian, rows: &[guardian::Model]) -> Vec<usize> {
        if let Some(email) = identifying_email(mis.email.as_deref()) {
            // One email is one person only when the names agree too (the
            // family rule): a shared office address is not an identity.
            return identity::candidates(&self.by_email, Some(email))
                .into_iter()
                .filter(|&i| {
                    let row = &rows[i];
                    names_agree([
                        (row.forename.as_str(), row.surname.as_str()),
                        (&mis.forename, &mis.surname),
                    ])
                })
                .collect();
        }
        let Some(children) = self.children_of_record.get(&mis.source_id) else { return Vec::new() };
        identity::candidates(&self.by_names, identity::names_key(&mis.forename, &mis.surname))
            .into_iter()
            .filter(|i| self.children_of_row.get(i).is_some_and(|linked| !linked.is_disjoint(children)))
            .collect()
    }
}

/// An email that can say who someone is: not blank, not a placeholder
/// (`noemail@...`), as its family key.
fn identifying_email(email: Option<&str>) -> Option<String> {
    email.filter(|e| !is_placeholder_email(e)).and_then(email_key)
}

fn apply_guardian_fields(model: &mut guardian::ActiveModel, mis: &MisGuardian) {
    model.wonde_id.set_if_not_equals(mis.source_id.clone());
    model.upi.set_if_not_equals(mis.upi.clone());
    model.mis_id.set_if_not_equals(mis.mis_id.clone());
    model.title.set_if_not_equals(mis.title.clone());
    model.forename.set_if_not_equals(mis.forename.clone());
    model.surname.set_if_not_equals(mis.surname.clone());
    model.email.set_if_not_equals(mis.email.clone());
    model.email_key.set_if_not_equals(mis.email.as_deref().and_then(email_key));
}

/// The children rule: a guardian is active exactly when the MIS still has
/// them and they have an active link to an active student at this school.
async fn guardian_status(
    txn: &DatabaseTransaction,
    work: &mut Work,
    batch: &Batch,
    guardians: &GuardianRecords,
    removed_with_child: &HashSet<i32>,
) -> Result<(), DbErr> {
    let school = work.scope.school_id;
    let present: HashSet<&str> =
        batch.guardians.iter().filter(|g| !g.inactive_in_mis).map(|g| g.source_id.as_str()).collect();
    // A removed guardian whose links ended only with the removal goes for
    // the MIS's reason, not for having no child.
    let mut with_children = guardian_links::guardians_with_active_children(txn, school).await?;
    with_children.extend(removed_with_child.iter().copied());
    let rows = guardian::Entity::find().filter(guardian::Column::SchoolId.eq(school)).all(txn).await?;
    for row in rows {
        let removed = guardians.removed.get(&row.id).copied();
        let back = present.contains(row.wonde_id.as_str());
        let target = if !with_children.contains(&row.id) {
            // The cascade's rule first: no active child here, no account here.
            Target::Deactivated(DeactivationReason::NoActiveChildren)
        } else if let Some(why) = removed {
            Target::Deactivated(why)
        } else if row.status == AccountStatus::Deactivated
            && row.deactivation_reason != Some(DeactivationReason::NoActiveChildren)
            && !back
        {
            // Removed or suspended earlier, and not back in this batch.
            continue;
        } else {
            Target::Active
        };
        if let Some(change) = transition(row.status, row.deactivation_reason, target) {
            let mut model: guardian::ActiveModel = row.clone().into();
            model.status = Set(change.0);
            model.deactivation_reason = Set(change.1);
            model.deactivated_at =
                Set(deactivated_at(row.status, row.deactivated_at, change.0, work.scope.now));
            model.updated_at = Set(work.scope.now);
            model.update(txn).await?;
            // A guardian's targets never say LEFT_SCHOOL, so never correct one.
            work.record(PersonKind::Guardian, row.id, row.status, false, change);
        }
    }
    Ok(())
}

/// The columns the leaver rules act on, which the student and staff tables
/// share, so that one [`settle`] applies a batch's targets to either.
trait AccountTable: EntityTrait {
    const KIND: PersonKind;
    fn school_column() -> Self::Column;
    /// Id, source id, status, reason and when access was lost.
    fn state(
        row: &Self::Model,
    ) -> (i32, &str, AccountStatus, Option<DeactivationReason>, Option<DateTime<Utc>>);
    fn set_state(
        model: &mut Self::ActiveModel,
        status: AccountStatus,
        reason: Option<DeactivationReason>,
        deactivated_at: Option<DateTime<Utc>>,
    );
    fn touch(model: &mut Self::ActiveModel, now: DateTime<Utc>);
    fn counts(counts: &mut RunCounts) -> &mut super::ledger::Counts;
}

macro_rules! account_table {
    ($table:ident, $kind:ident, $counts:ident) => {
        impl AccountTable for $table::Entity {
            const KIND: PersonKind = PersonKind::$kind;
            fn school_column() -> Self::Column {
                $table::Column::SchoolId
            }
            fn state(
                row: &$table::Model,
            ) -> (i32, &str, AccountStatus, Option<DeactivationReason>, Option<DateTime<Utc>>) {
                (row.id, &row.wonde_id, row.status, row.deactivation_reason, row.deactivated_at)
            }
            fn set_state(
                model: &mut $table::ActiveModel,
                status: AccountStatus,
                reason: Option<DeactivationReason>,
                deactivated_at: Option<DateTime<Utc>>,
            ) {
                model.status = Set(status);
                model.deactivation_reason = Set(reason);
                model.deactivated_at = Set(deactivated_at);
            }
            fn touch(model: &mut $table::ActiveModel, now: DateTime<Utc>) {
                model.updated_at = Set(now);
            }
            fn counts(counts: &mut RunCounts) -> &mut super::ledger::Counts {
                &mut counts.$counts
            }
        }
    };
}

account_table!(student, Student, students);
account_table!(staff, Staff, staff);

/// Applies each row's target (status, reason, events), saves what changed,
/// inserts the new accounts, and answers the school's accounts as they now
/// stand.
async fn settle<E>(
    txn: &DatabaseTransaction,
    work: &mut Work,
    rows: &[E::Model],
    targets: HashMap<usize, Target>,
    mut updates: HashMap<usize, E::ActiveModel>,
    inserts: Vec<E::ActiveModel>,
) -> Result<KnownAccounts, DbErr>
where
    E: AccountTable,
    E::Model: Clone + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    let (school, now) = (work.scope.school_id, work.scope.now);
    for (i, target) in targets {
        let row = &rows[i];
        let (id, _, status, reason, lost_at) = E::state(row);
        let model = updates.entry(i).or_insert_with(|| row.clone().into_active_model());
        if let Some(change) = transition(status, reason, target) {
            let counted = model.is_changed();
            E::set_state(model, change.0, change.1, deactivated_at(status, lost_at, change.0, now));
            work.record(E::KIND, id, status, counted, change);
        }
    }
    for (_, mut model) in updates {
        if model.is_changed() {
            E::touch(&mut model, now);
            model.update(txn).await?;
        }
    }
    E::counts(&mut work.counts).created += i32::try_from(inserts.len()).unwrap_or(i32::MAX);
    for chunk in inserts.chunks(500) {
        E::insert_many(chunk.to_vec()).exec_without_returning(txn).await?;
    }
    let rows = E::find().filter(E::school_column().eq(school)).all(txn).await?;
    Ok(known(rows, |r| {
        let (id, source_id, status, _, _) = E::state(r);
        (source_id.to_owned(), id, status)
    }))
}

fn count_active(statuses: impl Iterator<Item = AccountStatus>) -> i32 {
    i32::try_from(statuses.filter(|s| *s == AccountStatus::Active).count()).unwrap_or(i32::MAX)
}

fn known<T>(rows: Vec<T>, key: impl Fn(&T) -> (String, i32, AccountStatus)) -> KnownAccounts {
    rows.iter()
        .map(|row| {
            let (source_id, id, status) = key(row);
            (source_id, Known { id, active: status == AccountStatus::Active })
        })
        .collect()
}
