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
/// last report (its status) continues its count.
pub struct RunMonitor<'p> {
    db: DatabaseConnection,
    run_id: i32,
    progress: &'p mut Progress,
}

impl<'p> RunMonitor<'p> {
    pub fn new(db: DatabaseConnection, run_id: i32, progress: &'p mut Progress) -> Self {
        Self { db, run_id, progress }
    }

    /// Called once a page: progress, heartbeat, cancellation.
    pub async fn page(&mut self, phase: &str, records: usize) -> Result<(), Interrupted> {
        self.progress.advance(phase, records, None).await?;
        if !runs::heartbeat(&self.db, self.run_id).await? {
            return Err(Interrupted::Cancelled);
        }
        Ok(())
    }

    pub fn progress(&mut self) -> &mut Progress {
        self.progress
    }
}
