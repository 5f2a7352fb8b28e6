//! The background loop of `onroll serve`: take over runs whose process
//! stopped (another replica's, or a killed `onroll sync`), queue what
//! the schedule says is due, run what is queued. Several replicas may run
//! it at once: the database hands each queued run to one of them.

use chrono::{Duration, Utc};
use std::sync::Arc;
use tokio::sync::{Notify, watch};

use super::engine::SyncEngine;
use super::schedule::Schedule;
use super::{runs, schedule};

/// A run with no heartbeat for this long belongs to a process that stopped
/// (only where no liveness lock can tell at once: see `runs::Liveness`).
pub const ABANDONED_AFTER: Duration = Duration::minutes(5);

/// One pass: recover, schedule, drain. Returns how many runs it ran.
pub async fn cycle(engine: &SyncEngine, schedule: &Schedule) -> Result<usize, sea_orm::DbErr> {
    let recovered = runs::recover_abandoned(&engine.db, ABANDONED_AFTER).await?;
    if recovered != runs::Recovered::default() {
        tracing::warn!(
            requeued = recovered.requeued,
            failed = recovered.failed,
            "took over sync runs whose process stopped"
        );
    }
    schedule::queue_due(&engine.db, schedule, Utc::now()).await?;
    schedule::queue_sweeps(&engine.db, engine.clock.now(), schedule.retry_after_failure).await?;
    engine.drain_queue(schedule.runs_at_once).await
}

/// Runs [`cycle`] every `tick`, or at once when `wake` is notified (a run
/// was queued by a webhook or a mutation), until `stop` turns true.
pub async fn run_until_stopped(
    engine: SyncEngine,
    schedule: Schedule,
    tick: std::time::Duration,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if let Err(err) = cycle(&engine, &schedule).await {
            tracing::error!(
                db.error = crate::error::db_error_kind(&err),
                "sync worker cycle failed; retrying next tick"
            );
        }
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            () = wake.notified() => {}
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
            }
        }
    }
    tracing::info!("sync worker stopped");
}
