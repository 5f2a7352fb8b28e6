//! Watching a run while it fetches: each page reports progress, checks that
//! the run was not cancelled, and beats the run's heartbeat (so other
//! processes know it is alive) at most once a second.
//!
//! Pages are reported by a task of their own beside the fetch
//! ([`RunMonitor::read`]), never between two requests: a report writes (an
//! event appended and committed, the heartbeat), and a write waits for
//! whoever holds the database's writer. On SQLite that is another school's
//! run applying what it fetched, for as long as its transaction lasts; on
//! PostgreSQL the event log's lock, which a run's apply holds from its
//! first event to its commit. Waiting for reports between requests made the
//! fetch half again as long as the client's paging, and later stopped one
//! school's fetch for every other school's write (issue 15). Pages read
//! while a report waits, or within [`REPORT_EVERY`] of the last report,
//! are reported together, in one event with their sum and the latest
//! phase. The fetch sees a cancel at the first page after
//! the reporter does, and waits for the reporter at its end
//! ([`RunMonitor::flush`]), so everything read is reported, and a cancel
//! seen, before anything is applied.

use sea_orm::{DatabaseConnection, DbErr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

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
    /// The task reporting pages, from the first page read to the flush.
    reporter: Option<Reporter>,
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

impl Drop for RunMonitor<'_> {
    /// A fetch that stopped before its flush (a Wonde error, a cancel)
    /// gives up its pages' reports; they still count in the run's end, so
    /// the count the run's last event carries never goes back.
    fn drop(&mut self) {
        if let (Some(reporter), Some((_, progress))) = (self.reporter.take(), self.run.as_mut()) {
            progress.count(reporter.sent);
        }
    }
}

/// The task that reports a fetch's pages, with its own copy of the run's
/// progress (handed back at the flush) and the flag it raises on a cancel.
struct Reporter {
    pages: mpsc::UnboundedSender<(&'static str, usize)>,
    /// Records of the pages sent, for the run's count if the fetch stops
    /// before its flush.
    sent: usize,
    cancelled: Arc<AtomicBool>,
    task: Option<JoinHandle<Result<Progress, Interrupted>>>,
}

impl Drop for Reporter {
    /// A fetch that failed is not flushed: its pages need no more reports
    /// (the run's end is reported next, and must be the last).
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A fetch's pages are reported at most this often: pages read in
/// between go in the next report together, and the fetch's last pages
/// are reported at its end without waiting. Each report is an event
/// appended under the event log's lock, a notification and a read of the
/// run's status; a school's FULL run of 1,000 pupils read 18 pages in
/// about a second, and on PostgreSQL their reports were as many
/// statements as the rest of the run (issue 15). A subscriber still sees
/// the count rise five times a second, and a cancel is seen within this.
pub const REPORT_EVERY: Duration = Duration::from_millis(200);

/// Reports the pages received, at most every [`REPORT_EVERY`] (pages
/// received meanwhile, or while a report was written, go in the next one
/// together), until the fetch ends, then hands the progress back; stops
/// at a cancel.
async fn report_pages(
    db: DatabaseConnection,
    run_id: i32,
    mut progress: Progress,
    mut pages: mpsc::UnboundedReceiver<(&'static str, usize)>,
    cancelled: Arc<AtomicBool>,
) -> Result<Progress, Interrupted> {
    let mut last_beat: Option<Instant> = None;
    let mut due = tokio::time::Instant::now();
    let mut ended = false;
    while !ended {
        let Some((mut phase, mut records)) = pages.recv().await else { break };
        loop {
            tokio::select! {
                page = pages.recv() => match page {
                    Some((later, more)) => {
                        phase = later;
                        records += more;
                    }
                    None => {
                        ended = true;
                        break;
                    }
                },
                () = tokio::time::sleep_until(due) => break,
            }
        }
        let reported = report_page(&db, run_id, &mut progress, &mut last_beat, phase, records).await;
        if matches!(reported, Err(Interrupted::Cancelled)) {
            cancelled.store(true, Ordering::Relaxed);
        }
        reported?;
        due = tokio::time::Instant::now() + REPORT_EVERY;
    }
    Ok(progress)
}

/// Reports one page: progress (of a page with records), heartbeat (at
/// most every [`BEAT_EVERY`] since `last_beat`), cancellation.
async fn report_page(
    db: &DatabaseConnection,
    run_id: i32,
    progress: &mut Progress,
    last_beat: &mut Option<Instant>,
    phase: &str,
    records: usize,
) -> Result<(), Interrupted> {
    // An empty page (a quiet list of an incremental run) advances nothing:
    // no event, so a quiet run costs no events lock per list.
    if records > 0 {
        progress.advance(phase, records, None).await?;
    }
    let running = if last_beat.is_none_or(|beat| beat.elapsed() >= BEAT_EVERY) {
        *last_beat = Some(Instant::now());
        runs::heartbeat(db, run_id).await?
    } else {
        runs::is_running(db, run_id).await?
    };
    if running { Ok(()) } else { Err(Interrupted::Cancelled) }
}

impl<'p> RunMonitor<'p> {
    pub fn new(db: DatabaseConnection, run_id: i32, progress: &'p mut Progress) -> Self {
        Self { db, run: Some((run_id, progress)), reporter: None, last_beat: None }
    }

    /// A monitor for a fetch outside any run (a preview): no events, no
    /// heartbeat, no cancel.
    pub fn unwatched(db: DatabaseConnection) -> Self {
        Self { db, run: None, reporter: None, last_beat: None }
    }

    /// Reports a page in turn, waiting for the report: progress (of a page
    /// with records), heartbeat (at most every [`BEAT_EVERY`]),
    /// cancellation. For fetches that do not page over HTTP (a CSV file).
    pub async fn page(&mut self, phase: &str, records: usize) -> Result<(), Interrupted> {
        let Some((run_id, progress)) = self.run.as_mut() else { return Ok(()) };
        report_page(&self.db, *run_id, progress, &mut self.last_beat, phase, records).await
    }

    /// Awaits `read` (the next page's request); a cancel the reporter has
    /// seen stops the fetch here.
    pub async fn while_reporting<F: Future>(&mut self, read: F) -> Result<F::Output, Interrupted> {
        let read = read.await;
        match &self.reporter {
            Some(reporter) if reporter.cancelled.load(Ordering::Relaxed) => Err(Interrupted::Cancelled),
            _ => Ok(read),
        }
    }

    /// Notes a page read in `phase`, for the reporter to report.
    pub fn read(&mut self, phase: &'static str, records: usize) {
        let Some((run_id, progress)) = self.run.as_mut() else { return };
        let reporter = self.reporter.get_or_insert_with(|| {
            let (pages, received) = mpsc::unbounded_channel();
            let cancelled = Arc::new(AtomicBool::new(false));
            let task = tokio::spawn(report_pages(
                self.db.clone(),
                *run_id,
                progress.clone(),
                received,
                cancelled.clone(),
            ));
            Reporter { pages, sent: 0, cancelled, task: Some(task) }
        });
        reporter.sent = reporter.sent.saturating_add(records);
        // Sending fails only once the reporter stopped at a cancel, which
        // the next request or the flush answers.
        let _ = reporter.pages.send((phase, records));
    }

    /// Waits for every page read to be reported: the end of a fetch, where
    /// a cancel meanwhile is seen before anything is applied.
    pub async fn flush(&mut self) -> Result<(), Interrupted> {
        let Some(mut reporter) = self.reporter.take() else { return Ok(()) };
        let sent = reporter.sent;
        let Some(task) = reporter.task.take() else { return Ok(()) };
        drop(reporter);
        let reported = match task.await {
            Ok(reported) => reported,
            Err(err) => Err(DbErr::Custom(format!("the run's progress reporter stopped: {err}")).into()),
        };
        let Some((_, progress)) = self.run.as_mut() else { return reported.map(drop) };
        match reported {
            Ok(reported) => {
                **progress = reported;
                Ok(())
            }
            Err(err) => {
                progress.count(sent);
                Err(err)
            }
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
