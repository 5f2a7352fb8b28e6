//! The end of every run, whatever its source (Wonde or CSV): the batch is
//! reconciled and the run marked COMPLETED in one transaction, so the
//! directory and the run's status change together or not at all; events
//! are published only after the commit; a run that falls short ends FAILED
//! (or CANCELLED) with nothing applied, and its last status is reported as
//! progress.

use chrono::{NaiveDate, Utc};
use entity::enums::SyncStatus;
use entity::{class_student, form_student, guardian_link, school, student, sync_run, year_student};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, TransactionTrait,
};

use super::analyze::Deferred;
use super::batch_write::Written;
use super::ledger::{Guard, RunCounts};
use super::monitor::Interrupted;
use super::progress::Progress;
use super::reconcile::{Outcome, Scope, reconcile};
use super::runs;
use super::source::Batch;
use crate::events::EventBus;
use crate::parent_groups::membership;

/// How a run ended short of COMPLETED.
#[derive(Debug)]
pub(super) enum Failure {
    Cancelled,
    /// Words for an administrator: no token, no personal data.
    Run(String),
    Database(DbErr),
}

impl From<DbErr> for Failure {
    fn from(err: DbErr) -> Self {
        Self::Database(err)
    }
}

impl From<Interrupted> for Failure {
    fn from(err: Interrupted) -> Self {
        match err {
            Interrupted::Cancelled => Self::Cancelled,
            Interrupted::Database(err) => Self::Database(err),
        }
    }
}

/// A batch reconciled, with its run marked COMPLETED, in a transaction not
/// yet committed: the caller may add its own writes (Wonde's watermark)
/// before [`Applied::commit`].
pub(super) struct Applied {
    txn: DatabaseTransaction,
    outcome: Outcome,
    /// For the statistics refresh after the commit.
    db: DatabaseConnection,
    /// The batch spoke for the whole school (FULL, or a whole CSV).
    complete: bool,
}

/// Whether a write to these rows may change a school's parent groups,
/// which are made of links, pupils' status and their year, form and class
/// rows (`crate::parent_groups`).
fn changes_parent_groups(written: &Written) -> bool {
    written.wrote::<guardian_link::Entity>()
        || written.wrote::<student::Entity>()
        || written.wrote::<year_student::Entity>()
        || written.wrote::<form_student::Entity>()
        || written.wrote::<class_student::Entity>()
}

/// Reconciles `batch` in `txn`, with the school's parent groups as they
/// were before when the reconciliation changed them (for their change log),
/// `None` when it did not. The snapshot reads every link and membership of
/// the school, a third of a quiet run's reading (issue 15: a no-change
/// INCREMENTAL under 100 ms), so a batch that names no pupil, guardian,
/// link or group is first reconciled in a savepoint without one; the rare
/// such run that does change them (a leaving date that has come) is
/// rolled back to the savepoint and reconciled again after a snapshot.
async fn reconcile_noting_groups(
    txn: &DatabaseTransaction,
    scope: Scope,
    batch: &Batch,
    guard: Guard,
) -> Result<(Outcome, Option<membership::Snapshot>), DbErr> {
    if !batch.may_change_parent_groups() {
        let attempt = txn.begin().await?;
        let outcome = reconcile(&attempt, scope, batch, guard).await?;
        if !changes_parent_groups(&outcome.written) {
            attempt.commit().await?;
            return Ok((outcome, None));
        }
        attempt.rollback().await?;
    }
    let before = membership::snapshot(txn, scope.school_id).await?;
    let outcome = reconcile(txn, scope, batch, guard).await?;
    let changed = changes_parent_groups(&outcome.written);
    Ok((outcome, changed.then_some(before)))
}

/// Reconciles `batch` for a claimed, running run, judging dates by the
/// school's `today`. The guard, a database error or a cancel meanwhile
/// roll everything back. A completed run has done the day's sweep of
/// passed leaving dates, so it records `today` as the school's last sweep.
pub(super) async fn apply(
    db: &DatabaseConnection,
    run: &sync_run::Model,
    school: &school::Model,
    batch: &Batch,
    guard_share: f64,
    today: NaiveDate,
) -> Result<Applied, Failure> {
    let txn = crate::db::begin_write(db).await?;
    let scope = Scope {
        trust_id: school.trust_id,
        school_id: run.school_id,
        run_id: Some(run.id),
        now: Utc::now(),
        today,
    };
    let guard = Guard { share: guard_share, force: run.force };
    let (mut outcome, groups_before) = reconcile_noting_groups(&txn, scope, batch, guard).await?;
    if let Some(groups_before) = groups_before {
        let groups_after = membership::snapshot(&txn, run.school_id).await?;
        let origin = membership::Origin {
            trust_id: school.trust_id,
            school_id: run.school_id,
            run_id: Some(run.id),
            now: scope.now,
        };
        outcome.queue_events(membership::changes(&groups_before, &groups_after, origin));
    }
    // In the run's transaction: findings change exactly when the directory does.
    let fetched = crate::quality::Fetched {
        duplicates: &batch.duplicates,
        ambiguities: &outcome.ambiguities,
        unreadable: &batch.unreadable,
        kept_unread: &outcome.kept_unread,
        complete: batch.complete,
    };
    let occasion = crate::quality::Occasion::Run { run_id: run.id, fetched };
    crate::quality::refresh(&txn, run.school_id, occasion).await?;
    if !runs::finish_if_running(&txn, run.id, SyncStatus::Completed, &outcome.counts, None).await? {
        txn.rollback().await?;
        return Err(Failure::Cancelled);
    }
    school::Entity::update_many()
        .col_expr(school::Column::SweptOn, Expr::value(today.to_string()))
        .filter(school::Column::Id.eq(school.id))
        .exec(&txn)
        .await?;
    let warnings = batch.warnings();
    if !warnings.is_empty() {
        tracing::warn!(
            sync.run_id = run.id,
            school.id = run.school_id,
            warnings = warnings.len(),
            "sync run has warnings"
        );
    }
    runs::set_warnings(&txn, run.id, &warnings).await?;
    Ok(Applied { txn, outcome, db: db.clone(), complete: batch.complete })
}

impl Applied {
    pub(super) fn txn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// How many changes the guard held in this run.
    pub(super) fn held(&self) -> usize {
        self.outcome.held.len()
    }

    /// Appends the run's events (last: see `events::log`), commits, then
    /// publishes them. The tables a complete batch changed are analysed
    /// now, in the background, or join `deferred` (a drain's runs).
    pub(super) async fn commit(
        mut self,
        events: &EventBus,
        run: &sync_run::Model,
        deferred: Option<&Deferred>,
    ) -> Result<(), DbErr> {
        self.outcome.append_events(&self.txn).await?;
        self.txn.commit().await?;
        events.publish(&self.outcome.events);
        if self.complete {
            let written = std::mem::take(&mut self.outcome.written);
            match deferred {
                Some(deferred) => deferred.add(run.id, written),
                None => {
                    super::analyze::in_background(&self.db, run.id, written);
                }
            }
        }
        let counts = self.outcome.counts;
        tracing::info!(
            sync.run_id = run.id,
            school.id = run.school_id,
            sync.kind = run.kind.as_str(),
            deactivated =
                counts.students.deactivated + counts.staff.deactivated + counts.guardians.deactivated,
            "sync run completed"
        );
        Ok(())
    }
}

/// What `SyncRun.error` says when the database failed during a run.
pub(crate) fn database_failure(run_id: i32) -> String {
    format!(
        "the directory's database failed during the run; nothing was changed; \
         the log has the details (run {run_id})"
    )
}

/// Ends a run after its attempt: a failure is recorded as FAILED with its
/// words (a cancel is already recorded), and the run's final status is
/// reported as progress, through the run's own `progress` so that the end
/// carries the count the run reached (a subscriber reads the last event as
/// the run's result). Only a failure to record that is an error here.
pub(super) async fn conclude(
    db: &DatabaseConnection,
    events: &EventBus,
    run: &sync_run::Model,
    attempt: Result<(), Failure>,
    progress: Option<Progress>,
) -> Result<sync_run::Model, DbErr> {
    let error = match attempt {
        Ok(()) | Err(Failure::Cancelled) => None,
        Err(Failure::Run(message)) => Some(message),
        Err(Failure::Database(err)) => {
            // The driver's text (constraint names, "database is locked", pool
            // time-outs) is for operators: it goes to the log with the run's
            // id, and the run says where to look.
            tracing::error!(
                sync.run_id = run.id,
                school.id = run.school_id,
                db.error = crate::error::db_error_kind(&err),
                error = %err,
                "sync run failed in the database"
            );
            Some(database_failure(run.id))
        }
    };
    if let Some(message) = error {
        tracing::warn!(sync.run_id = run.id, school.id = run.school_id, "sync run failed");
        runs::finish_if_running(db, run.id, SyncStatus::Failed, &RunCounts::default(), Some(message)).await?;
    }
    let finished = sync_run::Entity::find_by_id(run.id).one(db).await?;
    let finished = finished.ok_or_else(|| DbErr::RecordNotFound(format!("sync run {}", run.id)))?;
    crate::telemetry::run_ended(&finished);
    let progress = match progress {
        Some(progress) => Some(progress),
        // The attempt stopped before it began counting (no school, say).
        None => school::Entity::find_by_id(run.school_id)
            .one(db)
            .await?
            .map(|school| Progress::new(db.clone(), events.clone(), school.trust_id, school.id, run.id)),
    };
    if let Some(mut progress) = progress {
        progress.report(finished.status.as_str(), None).await?;
    }
    Ok(finished)
}
