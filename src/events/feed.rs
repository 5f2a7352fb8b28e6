//! Feeds one process's [`EventBus`] from the event log, so that every
//! replica's subscribers see every replica's events.
//!
//! It reads the log after the last id it delivered whenever something may
//! be new: a commit in this process ([`EventBus::publish`]), a PostgreSQL
//! notification from any replica ([`super::log`] sends one at each
//! commit), or every [`BACKSTOP`] in case a notification was lost or the
//! listening connection dropped. Published ids are committed in order
//! (see [`super::log`]) and only published rows are read, so reading
//! "after the last id" never skips an event, and each is broadcast once,
//! in order.

use entity::event;
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::EventBus;

/// How often the log is read even when nothing said it changed.
pub const BACKSTOP: Duration = Duration::from_secs(1);

/// How many log rows one read takes; a burst is read page after page.
const PAGE: u64 = 1_000;

/// The running feed; dropping it stops it.
pub struct Feed {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Feed {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Starts feeding `bus` from the log of `db`, from the newest event now
/// (what came before is the log's, for subscribers that ask for it by
/// cursor). A bus is fed once: a second feed for it is not started.
pub async fn start(db: DatabaseConnection, bus: EventBus) -> Result<Option<Feed>, DbErr> {
    let wake = Arc::new(Notify::new());
    if !bus.attach(wake.clone()) {
        return Ok(None);
    }
    let newest = super::log::newest_published(&db).await?;
    let mut tasks = Vec::new();
    if db.get_database_backend() == DbBackend::Postgres {
        let channel: String = db
            .query_one_raw(sea_orm::Statement::from_string(DbBackend::Postgres, super::log::CHANNEL_QUERY))
            .await?
            .ok_or_else(|| DbErr::Custom("no channel name".to_owned()))?
            .try_get_by_index(0)?;
        let mut listener = PgListener::connect_with(db.get_postgres_connection_pool())
            .await
            .map_err(|err| DbErr::Custom(format!("cannot listen for events: {err}")))?;
        listener
            .listen(&channel)
            .await
            .map_err(|err| DbErr::Custom(format!("cannot listen for events: {err}")))?;
        tasks.push(tokio::spawn(listen(listener, wake.clone())));
    }
    tasks.push(tokio::spawn(deliver(db, bus, wake, newest)));
    Ok(Some(Feed { tasks }))
}

/// Wakes the reader at every notification. A lost connection is
/// re-established by the listener; what was notified meanwhile the
/// backstop reads.
async fn listen(mut listener: PgListener, wake: Arc<Notify>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(_)) => wake.notify_one(),
            Ok(None) => {
                tracing::warn!("the event listener's connection dropped; reconnecting");
                wake.notify_one();
            }
            Err(err) => {
                tracing::warn!(error = %err, "the event listener failed; retrying");
                tokio::time::sleep(BACKSTOP).await;
            }
        }
    }
}

async fn deliver(db: DatabaseConnection, bus: EventBus, wake: Arc<Notify>, mut last: i64) {
    loop {
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(BACKSTOP) => {}
        }
        match read_after(&db, &bus, last).await {
            Ok(newest) => last = newest,
            Err(err) => {
                tracing::warn!(
                    db.error = crate::error::db_error_kind(&err),
                    "the event feed could not read the log"
                )
            }
        }
    }
}

/// Broadcasts every published event after `last`, page by page; answers
/// the newest id delivered. Log-only rows are never read: their ids may
/// commit out of order with published ones (`super::log`).
async fn read_after(db: &DatabaseConnection, bus: &EventBus, mut last: i64) -> Result<i64, DbErr> {
    loop {
        let page = event::Entity::find()
            .filter(event::Column::Id.gt(last))
            .filter(super::log::published())
            .order_by_asc(event::Column::Id)
            .limit(PAGE)
            .all(db)
            .await?;
        let done = (page.len() as u64) < PAGE;
        if let Some(newest) = page.last() {
            last = newest.id;
            crate::telemetry::feed_delivered(newest.occurred_at);
        }
        bus.broadcast(page.into_iter());
        if done {
            return Ok(last);
        }
    }
}
