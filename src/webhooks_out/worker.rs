//! The task `serve` runs beside the sync worker: fan the log out into the
//! outbox, then send what is due, again whenever the event bus carries a
//! new event (a local commit, or another replica's, through the feed),
//! when the next retry falls due, or after the backstop interval.

use chrono::Utc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use super::delivery::{BATCH, Deliverer};
use super::fanout;

/// Runs until `stop` turns true; a batch in flight is finished first.
pub async fn run_until_stopped(deliverer: Deliverer, mut stop: watch::Receiver<bool>) {
    let mut bus = deliverer.events.subscribe();
    let backstop = deliverer.settings.backstop;
    loop {
        if *stop.borrow() {
            return;
        }
        let wait = match work(&deliverer).await {
            Ok(wait) => wait,
            Err(err) => {
                tracing::warn!(
                    db.error = crate::error::db_error_kind(&err),
                    "the webhook worker could not work"
                );
                backstop
            }
        };
        tokio::select! {
            _ = stop.changed() => {}
            received = bus.recv() => {
                if matches!(received, Err(RecvError::Closed)) {
                    tokio::time::sleep(wait).await;
                }
            }
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// One round: fan out, deliver everything due; answers how long to wait
/// for the next retry (at most the backstop).
async fn work(deliverer: &Deliverer) -> Result<Duration, sea_orm::DbErr> {
    fanout::catch_up(&deliverer.db).await?;
    while deliverer.deliver_due().await? as u64 == BATCH {}
    let backstop = deliverer.settings.backstop;
    Ok(match deliverer.next_due().await? {
        Some(due) => {
            (due - Utc::now()).to_std().unwrap_or(Duration::ZERO).min(backstop).max(Duration::from_millis(5))
        }
        None => backstop,
    })
}
