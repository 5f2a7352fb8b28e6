//! Running a CSV import: validate every row, then apply the files as one
//! run of kind CSV, through the same reconciliation, guard and events as a
//! Wonde run.
//!
//! - Files that fail validation are refused with all their errors, and
//!   nothing is written: no run row either, since a run that never started
//!   would only clutter the school's sync history.
//! - A valid import opens its run already RUNNING and claimed by this
//!   process ([`runs::start`]): it is never QUEUED, so the background
//!   worker, which would try Wonde, never sees it. The run holds its
//!   liveness lock while it applies, so other replicas leave it alone.
//! - A school has one open run at a time: when another is open, the import
//!   is refused ([`CsvImportError::RunInProgress`]) rather than kept waiting.
//! - A school synced from Wonde (APPROVED, or PENDING: it becomes APPROVED
//!   on Wonde's webhook, with no one asked) is refused, since two sources
//!   would fight over the same records. No connection, or a DISCONNECTED,
//!   DECLINED or REVOKED one, is fine.

use chrono::{NaiveDate, Utc};
use entity::enums::{ConnectionStatus, SyncKind, SyncStatus};
use entity::{school, sync_run, wonde_connection};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};

use super::apply::{Failure, apply, conclude};
use super::csv_source::{self, CsvFiles, CsvRowError};
use super::engine::SyncEngine;
use super::monitor::RunMonitor;
use super::progress::Progress;
use super::runs;
use super::source::Batch;
use crate::events::EventBus;
use crate::school_day;

/// What an import needs: the database, the bus its events go on, the
/// mass-deactivation guard's share, and this process's name for
/// `sync_run.claimed_by`.
#[derive(Clone)]
pub struct CsvImporter {
    pub db: DatabaseConnection,
    pub events: EventBus,
    pub guard_share: f64,
    pub worker: String,
}

impl From<&SyncEngine> for CsvImporter {
    fn from(engine: &SyncEngine) -> Self {
        Self {
            db: engine.db.clone(),
            events: engine.events.clone(),
            guard_share: engine.guard_share,
            worker: engine.worker.clone(),
        }
    }
}

/// How an import ended.
#[derive(Debug)]
pub enum CsvImportOutcome {
    /// Validation refused the files: every error (at most
    /// [`csv_source::MAX_ERRORS`], then a count); nothing was written.
    Refused(Vec<CsvRowError>),
    /// The files were valid and ran: COMPLETED (applied; what the
    /// mass-deactivation guard doubted is held, counted in `*_held`),
    /// FAILED (the database; nothing applied, the reason in `error`) or
    /// CANCELLED (nothing applied).
    Ran(Box<sync_run::Model>),
}

/// Why an import could not start. The messages are safe to show an
/// administrator.
#[derive(Debug, thiserror::Error)]
pub enum CsvImportError {
    #[error("no school with id {0}")]
    SchoolNotFound(i32),
    #[error(
        "the school is synced from Wonde (its connection is {}): disconnect it from Wonde before \
         importing CSV files, or the two sources would overwrite each other",
        .0.as_str()
    )]
    WondeConnected(ConnectionStatus),
    #[error(
        "another sync run (id {run_id}, {} {}) is open for this school: wait for it to end or cancel it, \
         then import again",
        .kind.as_str(),
        .status.as_str()
    )]
    RunInProgress { run_id: i32, kind: SyncKind, status: SyncStatus },
    #[error("the CSV files could not be validated: the validator stopped unexpectedly")]
    Validator,
    #[error("the directory's database failed during the CSV import: {0}")]
    Database(#[from] DbErr),
}

impl CsvImportError {
    fn in_progress(run: &sync_run::Model) -> Self {
        Self::RunInProgress { run_id: run.id, kind: run.kind, status: run.status }
    }
}

impl CsvImporter {
    /// Imports `files` into a school. With `full`, an account of a type
    /// whose file is given and that the file lacks is deactivated
    /// (REMOVED_FROM_MIS); without, only the records present are upserted.
    /// `force` bypasses the mass-deactivation guard.
    pub async fn import(
        &self,
        school_id: i32,
        files: CsvFiles,
        full: bool,
        force: bool,
    ) -> Result<CsvImportOutcome, CsvImportError> {
        let school = school::Entity::find_by_id(school_id)
            .one(&self.db)
            .await?
            .ok_or(CsvImportError::SchoolNotFound(school_id))?;
        let connection = wonde_connection::Entity::find()
            .filter(wonde_connection::Column::SchoolId.eq(school_id))
            .one(&self.db)
            .await?;
        if let Some(connection) = connection
            && matches!(connection.status, ConnectionStatus::Approved | ConnectionStatus::Pending)
        {
            return Err(CsvImportError::WondeConnected(connection.status));
        }
        // Refuse before the validation work when the answer is known.
        if let Some(open) = runs::open_run(&self.db, school_id).await? {
            return Err(CsvImportError::in_progress(&open));
        }
        // The school's today: its zone, else its trust's (CSV schools name
        // none of their own), else Europe/London.
        let today = school_day::today(school_day::school_zone(&self.db, &school).await?, Utc::now());
        // Parsing megabytes is CPU work: off the async threads.
        let parsed = tokio::task::spawn_blocking(move || csv_source::parse(&files, full, today))
            .await
            .map_err(|_| CsvImportError::Validator)?;
        let batch = match parsed {
            Ok(batch) => batch,
            Err(errors) => {
                tracing::info!(
                    school.id = school_id,
                    errors = errors.len(),
                    "csv import refused by validation"
                );
                return Ok(CsvImportOutcome::Refused(errors));
            }
        };
        let run = match runs::start(&self.db, school_id, SyncKind::Csv, force, &self.worker).await? {
            Ok(run) => run,
            Err(open) => return Err(CsvImportError::in_progress(&open)),
        };
        // One progress for the whole run, so its end keeps the run's count.
        let mut progress =
            Progress::new(self.db.clone(), self.events.clone(), school.trust_id, school.id, run.id);
        let (liveness, attempt) = match runs::Liveness::take(&self.db, run.id).await {
            Ok(liveness) => (liveness, self.attempt(&school, &run, &batch, &mut progress, today).await),
            Err(err) => (None, Err(Failure::Database(err))),
        };
        let finished = conclude(&self.db, &self.events, &run, attempt, Some(progress)).await;
        if let Some(liveness) = liveness {
            liveness.release().await;
        }
        Ok(CsvImportOutcome::Ran(Box::new(finished?)))
    }

    async fn attempt(
        &self,
        school: &school::Model,
        run: &sync_run::Model,
        batch: &Batch,
        progress: &mut Progress,
        today: NaiveDate,
    ) -> Result<(), Failure> {
        let mut monitor = RunMonitor::new(self.db.clone(), run.id, progress);
        let types = batch.types;
        for (given, phase, records) in [
            (types.students, "students", batch.students.len()),
            (types.staff, "staff", batch.staff.len()),
            (types.guardians, "guardians", batch.links.len()),
        ] {
            if given {
                monitor.page(phase, records).await?;
            }
        }
        monitor.report("applying").await?;
        let applied = apply(&self.db, run, school, batch, self.guard_share, today).await?;
        applied.commit(&self.events, run, None).await?;
        Ok(())
    }
}

/// How the API says it (`extensions.code`): the error converts itself
/// where it is defined, so `error.rs` depends on nothing above it.
impl From<CsvImportError> for crate::error::AppError {
    fn from(err: CsvImportError) -> Self {
        use CsvImportError as E;
        match err {
            E::SchoolNotFound(_) => {
                Self::NotFound("no school with that ID is visible to this token".to_owned())
            }
            E::WondeConnected(_) | E::RunInProgress { .. } => Self::BadInput(err.to_string()),
            E::Validator => Self::Internal("the CSV validator stopped"),
            E::Database(err) => Self::Database(err),
        }
    }
}
