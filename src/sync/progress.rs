//! Progress of a run: appended to the event log (so a subscriber that
//! reconnects can resume) and published on the bus: during a fetch at
//! most every `monitor::REPORT_EVERY`, with the pages read since.
//! One `Progress` follows a run from its first event to its last, so the
//! end (the run's status as the phase) carries the count the run reached.

use chrono::Utc;
use entity::enums::EventKind;
use entity::event;
use sea_orm::{ActiveValue::Set, DatabaseConnection, DbErr};
use serde_json::json;

use crate::events::EventBus;

/// Reports one run's progress. A clone counts on from where the original
/// stood (the fetch's reporter reports on a clone and hands it back).
#[derive(Clone)]
pub struct Progress {
    db: DatabaseConnection,
    events: EventBus,
    trust_id: i32,
    school_id: i32,
    run_id: i32,
    processed: i64,
    /// The run's total, once a report has known it; later reports repeat it.
    total: Option<u64>,
}

impl Progress {
    pub fn new(db: DatabaseConnection, events: EventBus, trust_id: i32, school_id: i32, run_id: i32) -> Self {
        Self { db, events, trust_id, school_id, run_id, processed: 0, total: None }
    }

    /// Records `count` more records processed in `phase`.
    pub async fn advance(&mut self, phase: &str, count: usize, total: Option<u64>) -> Result<(), DbErr> {
        self.count(count);
        self.report(phase, total).await
    }

    /// Counts `count` more records processed without reporting them: pages
    /// a stopped fetch read, whose reports it gave up, still count in the
    /// run's end.
    pub fn count(&mut self, count: usize) {
        self.processed = self.processed.saturating_add(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Records a phase without new records (a start, the end). `total`
    /// `None` repeats the last total known.
    pub async fn report(&mut self, phase: &str, total: Option<u64>) -> Result<(), DbErr> {
        if total.is_some() {
            self.total = total;
        }
        let payload = json!({ "phase": phase, "processed": self.processed, "total": self.total });
        let row = event::ActiveModel {
            trust_id: Set(self.trust_id),
            school_id: Set(self.school_id),
            kind: Set(EventKind::SyncProgress),
            person_kind: Set(None),
            person_id: Set(None),
            reason: Set(None),
            sync_run_id: Set(Some(self.run_id)),
            payload: Set(Some(payload.to_string())),
            occurred_at: Set(Utc::now()),
            ..Default::default()
        };
        let rows = crate::events::log::append(&self.db, vec![row]).await?;
        self.events.publish(&rows);
        Ok(())
    }

    pub fn processed(&self) -> i64 {
        self.processed
    }
}
