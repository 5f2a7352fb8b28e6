//! Sync runs: queued, claimed, finished. The database decides who runs
//! what, so several `onroll` processes on one PostgreSQL never run the same
//! school twice: a partial unique index allows one open (queued or running)
//! run per school, and a run is claimed by a conditional update that only
//! one process can win.

use chrono::{DateTime, Duration, Utc};
use entity::enums::{SyncKind, SyncStatus};
use entity::sync_run;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
    Statement, TransactionSession, TransactionTrait,
};

use super::ledger::RunCounts;

/// Queues a run for a school; when one is already queued or running, that
/// one is returned instead (`false`: nothing new was queued).
///
/// A queued run takes on what the request asks beyond it, since the
/// request is otherwise lost: a FULL request makes an INCREMENTAL or
/// WEBHOOK run FULL (a FULL run does all an incremental one would), and
/// `force` makes it forced. A SWEEP run is never changed: it needs no
/// Wonde, so the day's leavers leave even while Wonde is down. A running run is returned as it is (its `kind`
/// tells the caller), and a CSV run is never changed.
pub async fn enqueue<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    school_id: i32,
    kind: SyncKind,
    force: bool,
) -> Result<(sync_run::Model, bool), DbErr> {
    let row = sync_run::ActiveModel {
        school_id: Set(school_id),
        kind: Set(kind),
        status: Set(SyncStatus::Queued),
        force: Set(force),
        queued_at: Set(Utc::now()),
        started_at: Set(None),
        finished_at: Set(None),
        error: Set(None),
        claimed_by: Set(None),
        heartbeat_at: Set(None),
        ..zero_counts()
    };
    // The insert runs in a savepoint: on PostgreSQL a refused statement
    // aborts the whole transaction, and a caller inside one (a webhook, an
    // approval) must go on to read the open run.
    let savepoint = crate::db::begin_write(db).await?;
    let inserted = row.insert(&savepoint).await;
    match &inserted {
        Ok(_) => savepoint.commit().await?,
        Err(_) => savepoint.rollback().await?,
    }
    match inserted {
        Ok(run) => Ok((run, true)),
        Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            match open_run(db, school_id).await? {
                Some(run) if upgrades(&run, kind, force) => {
                    upgrade_queued(db, run.id, kind, force).await?;
                    // Look again: upgraded (it asks no more), claimed
                    // meanwhile (returned as it runs), or ended meanwhile
                    // (a new run is queued).
                    Box::pin(enqueue(db, school_id, kind, force)).await
                }
                Some(run) => Ok((run, false)),
                // It finished between our insert and our look: try once more.
                None => Box::pin(enqueue(db, school_id, kind, force)).await,
            }
        }
        Err(err) => Err(err),
    }
}

/// Whether a request of `kind` and `force` asks more of the open `run`
/// than it will do, and the run may still change (queued, not CSV).
fn upgrades(run: &sync_run::Model, kind: SyncKind, force: bool) -> bool {
    run.status == SyncStatus::Queued
        && run.kind != SyncKind::Csv
        && run.kind != SyncKind::Sweep
        && ((kind == SyncKind::Full && run.kind != SyncKind::Full) || (force && !run.force))
}

/// Makes a queued run FULL and/or forced, only while it is still queued:
/// a worker that claimed it meanwhile runs it as it was claimed. Both
/// changes only ever go one way, so concurrent upgrades agree.
async fn upgrade_queued<C: ConnectionTrait>(
    db: &C,
    run_id: i32,
    kind: SyncKind,
    force: bool,
) -> Result<(), DbErr> {
    let queued = || {
        sync_run::Entity::update_many()
            .filter(sync_run::Column::Id.eq(run_id))
            .filter(sync_run::Column::Status.eq(SyncStatus::Queued))
            .filter(sync_run::Column::Kind.is_not_in([SyncKind::Csv, SyncKind::Sweep]))
    };
    if kind == SyncKind::Full {
        queued().col_expr(sync_run::Column::Kind, Expr::value(SyncKind::Full.as_str())).exec(db).await?;
    }
    if force {
        queued().col_expr(sync_run::Column::Force, Expr::value(true)).exec(db).await?;
    }
    Ok(())
}

/// Opens a run already RUNNING and claimed by `worker`, for work this
/// process does itself at once (a CSV import): it is never QUEUED, so no
/// worker's queue can pick it up and try Wonde with it. `Err` holds the
/// school's open run when there is one, since a school has one at a time.
pub async fn start<C: ConnectionTrait>(
    db: &C,
    school_id: i32,
    kind: SyncKind,
    force: bool,
    worker: &str,
) -> Result<Result<sync_run::Model, sync_run::Model>, DbErr> {
    let now = Utc::now();
    let row = sync_run::ActiveModel {
        school_id: Set(school_id),
        kind: Set(kind),
        status: Set(SyncStatus::Running),
        force: Set(force),
        queued_at: Set(now),
        started_at: Set(Some(now)),
        finished_at: Set(None),
        error: Set(None),
        claimed_by: Set(Some(worker.to_owned())),
        heartbeat_at: Set(Some(now)),
        ..zero_counts()
    };
    match row.insert(db).await {
        Ok(run) => Ok(Ok(run)),
        Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            match open_run(db, school_id).await? {
                Some(open) => Ok(Err(open)),
                // It finished between our insert and our look: try once more.
                None => Box::pin(start(db, school_id, kind, force, worker)).await,
            }
        }
        Err(err) => Err(err),
    }
}

fn zero_counts() -> sync_run::ActiveModel {
    sync_run::ActiveModel {
        students_created: Set(0),
        students_updated: Set(0),
        students_deactivated: Set(0),
        students_reactivated: Set(0),
        staff_created: Set(0),
        staff_updated: Set(0),
        staff_deactivated: Set(0),
        staff_reactivated: Set(0),
        guardians_created: Set(0),
        guardians_updated: Set(0),
        guardians_deactivated: Set(0),
        guardians_reactivated: Set(0),
        groups_created: Set(0),
        groups_updated: Set(0),
        groups_deactivated: Set(0),
        groups_reactivated: Set(0),
        students_reidentified: Set(0),
        staff_reidentified: Set(0),
        guardians_reidentified: Set(0),
        ..Default::default()
    }
}

/// The school's queued or running run, if any.
pub async fn open_run<C: ConnectionTrait>(db: &C, school_id: i32) -> Result<Option<sync_run::Model>, DbErr> {
    sync_run::Entity::find()
        .filter(sync_run::Column::SchoolId.eq(school_id))
        .filter(sync_run::Column::Status.is_in([SyncStatus::Queued, SyncStatus::Running]))
        .one(db)
        .await
}

/// Queued runs, oldest first.
pub async fn queued<C: ConnectionTrait>(db: &C) -> Result<Vec<sync_run::Model>, DbErr> {
    sync_run::Entity::find()
        .filter(sync_run::Column::Status.eq(SyncStatus::Queued))
        .order_by_asc(sync_run::Column::Id)
        .all(db)
        .await
}

/// Takes a queued run for `worker`; `None` when another worker won it.
pub async fn claim<C: ConnectionTrait>(
    db: &C,
    run_id: i32,
    worker: &str,
) -> Result<Option<sync_run::Model>, DbErr> {
    let now = Utc::now();
    let claimed = sync_run::Entity::update_many()
        .col_expr(sync_run::Column::Status, Expr::value(SyncStatus::Running.as_str()))
        .col_expr(sync_run::Column::StartedAt, Expr::value(now))
        .col_expr(sync_run::Column::HeartbeatAt, Expr::value(now))
        .col_expr(sync_run::Column::ClaimedBy, Expr::value(worker.to_owned()))
        .col_expr(
            sync_run::Column::Attempts,
            sea_orm::sea_query::ExprTrait::add(Expr::col(sync_run::Column::Attempts), 1),
        )
        .filter(sync_run::Column::Id.eq(run_id))
        .filter(sync_run::Column::Status.eq(SyncStatus::Queued))
        .exec(db)
        .await?;
    if claimed.rows_affected == 1 { sync_run::Entity::find_by_id(run_id).one(db).await } else { Ok(None) }
}

/// Tells other processes the run is alive; `false` when it is no longer
/// running (cancelled), which is also how the run learns of a cancel.
pub async fn heartbeat<C: ConnectionTrait>(db: &C, run_id: i32) -> Result<bool, DbErr> {
    let beat = sync_run::Entity::update_many()
        .col_expr(sync_run::Column::HeartbeatAt, Expr::value(Utc::now()))
        .filter(sync_run::Column::Id.eq(run_id))
        .filter(sync_run::Column::Status.eq(SyncStatus::Running))
        .exec(db)
        .await?;
    Ok(beat.rows_affected == 1)
}

/// Whether the run is still running (not cancelled, not ended): a read,
/// for the pages between two heartbeats.
pub async fn is_running<C: ConnectionTrait>(db: &C, run_id: i32) -> Result<bool, DbErr> {
    let status: Option<SyncStatus> = sync_run::Entity::find_by_id(run_id)
        .select_only()
        .column(sync_run::Column::Status)
        .into_tuple()
        .one(db)
        .await?;
    Ok(status == Some(SyncStatus::Running))
}

/// Ends a run with its status, counts and error text.
pub async fn finish<C: ConnectionTrait>(
    db: &C,
    run: &sync_run::Model,
    status: SyncStatus,
    counts: &RunCounts,
    error: Option<String>,
) -> Result<sync_run::Model, DbErr> {
    let mut row: sync_run::ActiveModel = run.clone().into();
    row.status = Set(status);
    row.finished_at = Set(Some(Utc::now()));
    row.error = Set(error);
    let c = counts;
    row.students_created = Set(c.students.created);
    row.students_updated = Set(c.students.updated);
    row.students_deactivated = Set(c.students.deactivated);
    row.students_reactivated = Set(c.students.reactivated);
    row.staff_created = Set(c.staff.created);
    row.staff_updated = Set(c.staff.updated);
    row.staff_deactivated = Set(c.staff.deactivated);
    row.staff_reactivated = Set(c.staff.reactivated);
    row.guardians_created = Set(c.guardians.created);
    row.guardians_updated = Set(c.guardians.updated);
    row.guardians_deactivated = Set(c.guardians.deactivated);
    row.guardians_reactivated = Set(c.guardians.reactivated);
    row.groups_created = Set(c.groups.created);
    row.groups_updated = Set(c.groups.updated);
    row.groups_deactivated = Set(c.groups.deactivated);
    row.groups_reactivated = Set(c.groups.reactivated);
    row.students_reidentified = Set(c.students.reidentified);
    row.staff_reidentified = Set(c.staff.reidentified);
    row.guardians_reidentified = Set(c.guardians.reidentified);
    row.update(db).await
}

/// Ends a run that is still running; `false` when it was cancelled (or
/// ended) meanwhile, in which case the caller must not apply its work.
pub async fn finish_if_running<C: ConnectionTrait>(
    db: &C,
    run_id: i32,
    status: SyncStatus,
    counts: &RunCounts,
    error: Option<String>,
) -> Result<bool, DbErr> {
    let c = counts;
    let set = [
        (sync_run::Column::StudentsCreated, c.students.created),
        (sync_run::Column::StudentsUpdated, c.students.updated),
        (sync_run::Column::StudentsDeactivated, c.students.deactivated),
        (sync_run::Column::StudentsReactivated, c.students.reactivated),
        (sync_run::Column::StaffCreated, c.staff.created),
        (sync_run::Column::StaffUpdated, c.staff.updated),
        (sync_run::Column::StaffDeactivated, c.staff.deactivated),
        (sync_run::Column::StaffReactivated, c.staff.reactivated),
        (sync_run::Column::GuardiansCreated, c.guardians.created),
        (sync_run::Column::GuardiansUpdated, c.guardians.updated),
        (sync_run::Column::GuardiansDeactivated, c.guardians.deactivated),
        (sync_run::Column::GuardiansReactivated, c.guardians.reactivated),
        (sync_run::Column::GroupsCreated, c.groups.created),
        (sync_run::Column::GroupsUpdated, c.groups.updated),
        (sync_run::Column::GroupsDeactivated, c.groups.deactivated),
        (sync_run::Column::GroupsReactivated, c.groups.reactivated),
        (sync_run::Column::StudentsReidentified, c.students.reidentified),
        (sync_run::Column::StaffReidentified, c.staff.reidentified),
        (sync_run::Column::GuardiansReidentified, c.guardians.reidentified),
        (sync_run::Column::StudentsHeld, c.students.held),
        (sync_run::Column::StaffHeld, c.staff.held),
        (sync_run::Column::GuardiansHeld, c.guardians.held),
        (sync_run::Column::GroupsHeld, c.groups.held),
    ];
    let mut update = sync_run::Entity::update_many()
        .col_expr(sync_run::Column::Status, Expr::value(status.as_str()))
        .col_expr(sync_run::Column::FinishedAt, Expr::value(Utc::now()))
        .col_expr(sync_run::Column::Error, Expr::value(error));
    for (column, value) in set {
        update = update.col_expr(column, Expr::value(value));
    }
    let done = update
        .filter(sync_run::Column::Id.eq(run_id))
        .filter(sync_run::Column::Status.eq(SyncStatus::Running))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Records a run's warnings (a JSON array of sentences); none leaves NULL.
pub async fn set_warnings<C: ConnectionTrait>(db: &C, run_id: i32, warnings: &[String]) -> Result<(), DbErr> {
    if warnings.is_empty() {
        return Ok(());
    }
    let text = serde_json::to_string(warnings).map_err(|err| DbErr::Custom(err.to_string()))?;
    sync_run::Entity::update_many()
        .col_expr(sync_run::Column::Warnings, Expr::value(text))
        .filter(sync_run::Column::Id.eq(run_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Cancels a queued or running run; a running one stops within two page
/// requests (a page's report, which sees the cancel, runs during the next
/// page's request) and applies nothing. A run already applying its batch
/// finishes: on SQLite the cancel waits for its commit and finds it
/// COMPLETED. Returns the run as it now stands.
pub async fn cancel<C: ConnectionTrait>(db: &C, run_id: i32) -> Result<Option<sync_run::Model>, DbErr> {
    sync_run::Entity::update_many()
        .col_expr(sync_run::Column::Status, Expr::value(SyncStatus::Cancelled.as_str()))
        .col_expr(sync_run::Column::FinishedAt, Expr::value(Utc::now()))
        .filter(sync_run::Column::Id.eq(run_id))
        .filter(sync_run::Column::Status.is_in([SyncStatus::Queued, SyncStatus::Running]))
        .exec(db)
        .await?;
    sync_run::Entity::find_by_id(run_id).one(db).await
}

/// Changes the guard held in `run`, all kinds together.
pub fn held(run: &sync_run::Model) -> i32 {
    run.students_held + run.staff_held + run.guardians_held + run.groups_held
}

/// The error text of a run whose process stopped.
pub const ABANDONED: &str = "abandoned: the process running it stopped; nothing of it was applied";

/// Whether a failed run failed because its process stopped, not because of
/// Wonde or the data: such a failure says nothing about the school.
pub fn was_abandoned(run: &sync_run::Model) -> bool {
    run.error.as_deref() == Some(ABANDONED)
}

/// The first key of the advisory locks that mark runs alive is a hash of
/// this and the schema's name: advisory locks are shared by the whole
/// PostgreSQL database, and run ids repeat in every schema that holds an
/// Onroll (two deployments, or tests side by side), so a run's lock in one
/// schema must not answer for a run of the same id in another.
const LIVENESS_LOCKS: &str = "onroll-run:";

/// How many times a run is taken over after its process died before it
/// is failed instead: a run that kills every process that runs it must not
/// go round the replicas for ever.
pub const MAX_ATTEMPTS: i32 = 3;

/// Proof, visible to other processes, that this process is running a run.
///
/// On PostgreSQL it is a transaction on a connection of its own holding an
/// advisory lock keyed by the run: when the process dies, PostgreSQL ends
/// its session and the lock goes with it, so another replica knows at once
/// that the run is orphaned. On SQLite it is an exclusive lock on a file
/// beside the database (`<database>-run-<id>.lock`), which the operating
/// system releases when the process dies, so `serve` knows at once that a
/// killed `onroll sync` is gone.
pub struct Liveness(Held);

enum Held {
    Postgres(DatabaseTransaction),
    File(std::fs::File, std::path::PathBuf),
    /// An in-memory SQLite database: one process, nothing to show.
    Nothing,
}

impl Liveness {
    /// Takes the run's lock; `None` when another process holds it.
    pub async fn take(db: &DatabaseConnection, run_id: i32) -> Result<Option<Self>, DbErr> {
        if db.get_database_backend() != DbBackend::Postgres {
            let Some(path) = lock_file(db, run_id) else { return Ok(Some(Self(Held::Nothing))) };
            return Ok(lock_path(&path)?.map(|file| Self(Held::File(file, path))));
        }
        let txn = db.begin().await?;
        if try_lock(&txn, run_id).await? {
            Ok(Some(Self(Held::Postgres(txn))))
        } else {
            txn.rollback().await?;
            Ok(None)
        }
    }

    pub async fn release(self) {
        match self.0 {
            Held::Postgres(txn) => {
                let _ = txn.rollback().await;
            }
            Held::File(file, path) => {
                // Remove first: a process that opens the path meanwhile
                // locks a file nobody will look at again.
                let _ = std::fs::remove_file(&path);
                drop(file);
            }
            Held::Nothing => {}
        }
    }
}

/// The lock file of a run of a file-backed SQLite database.
fn lock_file(db: &DatabaseConnection, run_id: i32) -> Option<std::path::PathBuf> {
    let options = db.get_sqlite_connection_pool().connect_options();
    let database = options.get_filename();
    let name = database.file_name()?.to_str()?;
    if name.is_empty() || name.starts_with(":memory:") || name.contains("mode=memory") {
        return None;
    }
    Some(database.with_file_name(format!("{name}-run-{run_id}.lock")))
}

/// Opens and locks `path`; `None` when another process holds it.
fn lock_path(path: &std::path::Path) -> Result<Option<std::fs::File>, DbErr> {
    let file =
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path).map_err(|err| {
            DbErr::Custom(format!("cannot open the run's lock file {}: {err}", path.display()))
        })?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(err)) => {
            Err(DbErr::Custom(format!("cannot lock the run's lock file {}: {err}", path.display())))
        }
    }
}

async fn try_lock<C: ConnectionTrait>(db: &C, run_id: i32) -> Result<bool, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_try_advisory_xact_lock(hashtext($1 || current_schema()), $2) AS held",
            [LIVENESS_LOCKS.into(), run_id.into()],
        ))
        .await?;
    row.map(|r| r.try_get::<bool>("", "held")).transpose().map(|held| held.unwrap_or(false))
}

/// How long a CSV run just opened is left alone by recovery (see
/// [`recover_abandoned`]), in seconds.
const CSV_START_GRACE_SECS: i64 = 10;

/// What became of runs whose process stopped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Queued again, for this or another process to run now.
    pub requeued: u64,
    /// Failed: CSV runs (their files went with the process) and runs taken
    /// over [`MAX_ATTEMPTS`] times.
    pub failed: u64,
}

/// Finds running runs whose process stopped and takes them over: queued
/// again (a Wonde run or a sweep) or failed (see [`Recovered`]). Their
/// changes were never committed (a run applies in one transaction at its
/// end), so nothing needs undoing. A run's process is known gone when its
/// liveness lock is free: at once on PostgreSQL and for file-backed
/// SQLite; an in-memory SQLite database (or a run of an older version)
/// falls back to no heartbeat for `stale_after`.
pub async fn recover_abandoned(db: &DatabaseConnection, stale_after: Duration) -> Result<Recovered, DbErr> {
    let running =
        sync_run::Entity::find().filter(sync_run::Column::Status.eq(SyncStatus::Running)).all(db).await?;
    let mut recovered = Recovered::default();
    let cutoff: DateTime<Utc> = Utc::now() - stale_after;
    for run in running {
        // A CSV import opens its run already RUNNING, then takes its
        // liveness lock: a moment in which the lock is free though the
        // process lives. Give such a run that moment.
        let starting = run.kind == SyncKind::Csv
            && run.started_at.is_some_and(|at| Utc::now() - at < Duration::seconds(CSV_START_GRACE_SECS));
        if starting {
            continue;
        }
        let stale = run.heartbeat_at.is_none_or(|beat| beat < cutoff);
        let recovered_one = if db.get_database_backend() == DbBackend::Postgres {
            let probe = db.begin().await?;
            let done = if try_lock(&probe, run.id).await? { take_over(&probe, &run).await? } else { None };
            probe.commit().await?;
            done
        } else {
            match lock_file(db, run.id) {
                Some(path) if path.exists() => match lock_path(&path)? {
                    Some(file) => {
                        let done = take_over(db, &run).await?;
                        let _ = std::fs::remove_file(&path);
                        drop(file);
                        done
                    }
                    None => None,
                },
                _ if stale => take_over(db, &run).await?,
                _ => None,
            }
        };
        match recovered_one {
            Some(SyncStatus::Queued) => recovered.requeued += 1,
            Some(_) => recovered.failed += 1,
            None => {}
        }
    }
    Ok(recovered)
}

/// Queues an orphaned run again, or fails it; `None` when it was no longer
/// running (it ended meanwhile).
async fn take_over<C: ConnectionTrait>(db: &C, run: &sync_run::Model) -> Result<Option<SyncStatus>, DbErr> {
    let retry = run.kind != SyncKind::Csv && run.attempts < MAX_ATTEMPTS;
    let mut update = sync_run::Entity::update_many();
    if retry {
        update = update
            .col_expr(sync_run::Column::Status, Expr::value(SyncStatus::Queued.as_str()))
            .col_expr(sync_run::Column::ClaimedBy, Expr::value(Option::<String>::None))
            .col_expr(sync_run::Column::StartedAt, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(sync_run::Column::HeartbeatAt, Expr::value(Option::<DateTime<Utc>>::None));
    } else {
        update = update
            .col_expr(sync_run::Column::Status, Expr::value(SyncStatus::Failed.as_str()))
            .col_expr(sync_run::Column::FinishedAt, Expr::value(Utc::now()))
            .col_expr(sync_run::Column::Error, Expr::value(ABANDONED));
    }
    let done = update
        .filter(sync_run::Column::Id.eq(run.id))
        .filter(sync_run::Column::Status.eq(SyncStatus::Running))
        .exec(db)
        .await?;
    if done.rows_affected == 0 {
        return Ok(None);
    }
    tracing::warn!(
        sync.run_id = run.id,
        school.id = run.school_id,
        attempts = run.attempts,
        taken_over = retry,
        "a sync run's process stopped"
    );
    Ok(Some(if retry { SyncStatus::Queued } else { SyncStatus::Failed }))
}

/// Names this process in `sync_run.claimed_by`: host and process id.
pub fn worker_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "onroll".to_owned());
    format!("{host}:{}", std::process::id())
}
