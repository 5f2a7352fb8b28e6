//! Applying a [`Batch`] to a school's directory, in one transaction, by the
//! rules of product.md: upserts keyed by (school, Wonde id) with UPI
//! re-enrolment; leavers deactivated with their memberships and links
//! ended; guardians left with no active child at the school deactivated;
//! returners reactivated; one event per status change; and the
//! mass-deactivation guard over all of it.
//!
//! The caller owns the transaction: a refusal (the guard) or any error
//! rolls back everything, so a failed run leaves nothing half-applied.
//!
//! The steps, one module each: [`students`] and [`staff`] upsert their
//! accounts, [`guardians`] upserts guardian records, and
//! [`children_rule`] settles guardians' status once links are known;
//! [`matching`] finds each record's account, [`guard`] judges the
//! deactivations that rest on weak evidence, and [`settle`] applies the
//! targets.

use chrono::{DateTime, NaiveDate, Utc};
use entity::enums::{AccountStatus, DeactivationReason, EventKind, PersonKind};
use entity::event;
use sea_orm::{ActiveValue::Set, DatabaseTransaction, DbErr};
use std::collections::HashMap;

use super::batch_write::Written;
use super::groups;
use super::guardian_links;
use super::holds::{Candidate, Holds};
use super::ledger::{Guard, RunCounts, StatusChange, is_correction};
use super::memberships;
use super::source::Batch;

mod accounts;
mod children_rule;
mod guard;
mod guardians;
mod matching;
mod settle;
mod staff;
mod students;

pub(super) use guardians::GuardianRecords;

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
    /// Rows written per table (see [`super::analyze`]).
    pub written: Written,
    /// Active accounts the batch was silent on, kept because a record of
    /// their listing could not be read (a data-quality finding).
    pub kept_unread: Vec<KeptUnread>,
}

/// Active accounts of one kind that a complete batch did not list, kept
/// only because their listing held a record that could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptUnread {
    pub kind: PersonKind,
    /// Account ids, in the order met.
    pub ids: Vec<i32>,
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
    pub written: Written,
    kept_unread: Vec<KeptUnread>,
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
        written: Written::default(),
        kept_unread: Vec::new(),
    };
    let students = students::sync_students(txn, &mut work, batch).await?;
    let staff = staff::sync_staff(txn, &mut work, batch).await?;
    let groups = groups::sync_groups(txn, &mut work, batch, &students, &staff).await?;
    memberships::sync_memberships(txn, &mut work, batch, &groups, &students, &staff).await?;
    let guardians = guardians::guardian_records(txn, &mut work, batch, &students).await?;
    let removed_with_child = guardian_links::sync_links(txn, &mut work, batch, &students, &guardians).await?;
    children_rule::guardian_status(txn, &mut work, batch, guardians, &removed_with_child).await?;

    let Work { scope, mut counts, changes, ambiguities, holds, written, kept_unread, .. } = work;
    let held =
        holds.finish(txn, (scope.trust_id, scope.school_id, scope.run_id), scope.now, &mut counts).await?;
    let to_append = event_rows(scope, &changes, (!held.is_empty()).then_some(&counts));
    Ok(Outcome { counts, events: Vec::new(), changes, to_append, held, ambiguities, written, kept_unread })
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
