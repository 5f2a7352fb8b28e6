//! Watching a run while it fetches: each page reports progress, beats the
//! run's heartbeat (so other processes know it is alive) and checks that
//! the run was not cancelled.

use sea_orm::{DatabaseConnection, DbErr};

use super::progress::Progress;
use super::runs;

/// Why a fetch stopped before its end, other than a Wonde error.
#[derive(Debug, thiserror::Error)]
pub enum Interrupted {
    #[error("cancelled")]
    Cancelled,
    #[error("the database could not record the run's progress: {0}")]
    Database(#[from] DbErr),
}

/// Borrows the run's [`Progress`], which outlives the fetch: the run's
/// last report (its status) continues its count. A preview's fetch has no
/// run: it is watched by nobody and reports nothing.
pub struct RunMonitor<'p> {
    db: DatabaseConnection,
    run: Option<(i32, &'p mut Progress)>,
}

impl<'p> RunMonitor<'p> {
    pub fn new(db: DatabaseConnection, run_id: i32, progress: &'p mut Progress) -> Self {
        Self { db, run: Some((run_id, progress)) }
    }

    /// A monitor for a fetch outside any run (a preview): no events, no
    /// heartbeat, no cancel.
    pub fn unwatched(db: DatabaseConnection) -> Self {
        Self { db, run: None }
    }

    /// Called once a page: progress (of a page with records), heartbeat,
    /// cancellation.
    pub async fn page(&mut self, phase: &str, records: usize) -> Result<(), Interrupted> {
        let Some((run_id, progress)) = self.run.as_mut() else { return Ok(()) };
        // An empty page (a quiet list of an incremental run) advances
        // nothing: no event, so a quiet run costs no events lock per list.
        if records > 0 {
            progress.advance(phase, records, None).await?;
        }
        if !runs::heartbeat(&self.db, *run_id).await? {
            return Err(Interrupted::Cancelled);
        }
        Ok(())
    }

    /// Reports a phase of the run (nothing for a preview).
    pub async fn report(&mut self, phase: &str) -> Result<(), DbErr> {
        match self.run.as_mut() {
            Some((_, progress)) => progress.report(phase, None).await,
            None => Ok(()),
        }
    }
}
