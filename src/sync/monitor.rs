//! Watching a run while it fetches: each page reports progress, checks that
//! the run was not cancelled, and beats the run's heartbeat (so other
//! processes know it is alive) at most once a second.
//!
//! A page is reported while the next one is read ([`RunMonitor::while_reporting`]):
//! the report's writes (an event appended and committed, the heartbeat) cost
//! a FULL run on PostgreSQL two commits a page, and waiting for them between
//! requests made the fetch half again as long as the client's paging (issue 15).

use sea_orm::{DatabaseConnection, DbErr};
use std::time::{Duration, Instant};

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
    /// The page last read and not yet reported: its phase and records.
    unreported: Option<(&'static str, usize)>,
    /// When this monitor last wrote the run's heartbeat.
    last_beat: Option<Instant>,
}

/// The heartbeat is written at most this often. A run's liveness lock is
/// what tells other processes it is alive; only where no lock can tell
/// (an in-memory SQLite database) do they judge it by the heartbeat, after
/// minutes without one (`worker::ABANDONED_AFTER`). Each beat is a commit:
/// a quiet INCREMENTAL run's eight empty lists paid eight (issue 15).
/// Between beats a page still looks for a cancel, with a read.
pub const BEAT_EVERY: Duration = Duration::from_secs(1);

impl<'p> RunMonitor<'p> {
    pub fn new(db: DatabaseConnection, run_id: i32, progress: &'p mut Progress) -> Self {
        Self { db, run: Some((run_id, progress)), unreported: None, last_beat: None }
    }

    /// A monitor for a fetch outside any run (a preview): no events, no
    /// heartbeat, no cancel.
    pub fn unwatched(db: DatabaseConnection) -> Self {
        Self { db, run: None, unreported: None, last_beat: None }
    }

    /// Called once a page: progress (of a page with records), heartbeat
    /// (at most every [`BEAT_EVERY`]), cancellation.
    pub async fn page(&mut self, phase: &str, records: usize) -> Result<(), Interrupted> {
        let Some((run_id, progress)) = self.run.as_mut() else { return Ok(()) };
        // An empty page (a quiet list of an incremental run) advances
        // nothing: no event, so a quiet run costs no events lock per list.
        if records > 0 {
            progress.advance(phase, records, None).await?;
        }
        let running = if self.last_beat.is_none_or(|beat| beat.elapsed() >= BEAT_EVERY) {
            self.last_beat = Some(Instant::now());
            runs::heartbeat(&self.db, *run_id).await?
        } else {
            runs::is_running(&self.db, *run_id).await?
        };
        if !running {
            return Err(Interrupted::Cancelled);
        }
        Ok(())
    }

    /// Awaits `read` (the next page's request) while the page read before
    /// it is reported. The report finishes before this returns, whatever
    /// `read` gives, so reports stay in page order and none outlives the
    /// fetch; a cancel is seen one page later than it would be in turn.
    pub async fn while_reporting<F: Future>(&mut self, read: F) -> Result<F::Output, Interrupted> {
        let (read, reported) = tokio::join!(read, self.flush());
        reported?;
        Ok(read)
    }

    /// Notes a page read in `phase`: it is reported during the next
    /// [`Self::while_reporting`], or by [`Self::flush`].
    pub fn read(&mut self, phase: &'static str, records: usize) {
        self.unreported = Some((phase, records));
    }

    /// Reports the page last read, if it is not yet: the end of a fetch,
    /// where a cancel meanwhile is seen before anything is applied.
    pub async fn flush(&mut self) -> Result<(), Interrupted> {
        match self.unreported.take() {
            Some((phase, records)) => self.page(phase, records).await,
            None => Ok(()),
        }
    }

    /// Reports a phase of the run (nothing for a preview).
    pub async fn report(&mut self, phase: &str) -> Result<(), DbErr> {
        match self.run.as_mut() {
            Some((_, progress)) => progress.report(phase, None).await,
            None => Ok(()),
        }
    }
}
