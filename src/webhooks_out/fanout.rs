//! The event log into the outbox: events after a persisted cursor, one
//! delivery per (endpoint, event) the endpoint wants. The cursor row is
//! claimed (PostgreSQL: `FOR UPDATE`; SQLite: the write transaction) and
//! advanced in the transaction that queues, so two replicas never fan out
//! the same events, and a crash queues nothing twice nor loses anything.
//! Published ids commit in order (`events::log`) and only published rows
//! are read, so "after the cursor" skips none.

use chrono::Utc;
use entity::{event, webhook_endpoint as endpoint, webhook_fanout_state as state};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::endpoints::{queue, wants};
use super::payload::event_type;

/// How many events one pass reads.
const PAGE: u64 = 1_000;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub events: usize,
    pub queued: usize,
}

/// Fans out one page of the log after the cursor.
pub async fn pass(db: &DatabaseConnection) -> Result<Pass, DbErr> {
    let txn = crate::db::begin_write(db).await?;
    let mut find = state::Entity::find_by_id(1);
    if txn.get_database_backend() == DbBackend::Postgres {
        find = find.lock_exclusive();
    }
    let Some(cursor) = find.one(&txn).await? else {
        return Err(DbErr::RecordNotFound("webhook_fanout_state".to_owned()));
    };
    // Published rows only: a log-only id may commit before a lower
    // published one, and the cursor must never pass an uncommitted event.
    let events = event::Entity::find()
        .filter(event::Column::Id.gt(cursor.last_event_id))
        .filter(crate::events::log::published())
        .order_by_asc(event::Column::Id)
        .limit(PAGE)
        .all(&txn)
        .await?;
    let Some(newest) = events.last().map(|e| e.id) else {
        txn.commit().await?;
        return Ok(Pass::default());
    };
    let endpoints = endpoint::Entity::find().filter(endpoint::Column::Enabled.eq(true)).all(&txn).await?;
    let pairs: Vec<(i32, i64)> = events
        .iter()
        .filter(|e| event_type(e.kind).is_some())
        .flat_map(|e| {
            endpoints
                .iter()
                .filter(move |ep| e.id > ep.after_event_id && wants(ep, e))
                .map(move |ep| (ep.id, e.id))
        })
        .collect();
    queue(&txn, pairs.iter().copied(), Utc::now()).await?;
    let mut advanced: state::ActiveModel = cursor.into();
    advanced.last_event_id = Set(newest);
    advanced.update(&txn).await?;
    txn.commit().await?;
    Ok(Pass { events: events.len(), queued: pairs.len() })
}

/// Fans out everything after the cursor, page after page; answers how
/// many deliveries were queued.
pub async fn catch_up(db: &DatabaseConnection) -> Result<usize, DbErr> {
    let mut queued = 0;
    loop {
        let done = pass(db).await?;
        queued += done.queued;
        if (done.events as u64) < PAGE {
            return Ok(queued);
        }
    }
}
