//! Appending to the event log. On PostgreSQL, appenders take one
//! transaction-scoped advisory lock (per schema) before inserting, so ids
//! are assigned and committed in the same order: a reader that has seen id
//! N has seen every committed id below it, which is what lets the feeds
//! and subscribers resume "after N" without losing an event that committed
//! late. The same transaction notifies the schema's channel with the
//! newest id; PostgreSQL delivers the notification at commit, and never
//! for a rollback. SQLite has one writer at a time, so its ids are already
//! in commit order, and one process, so no notification is needed.
//!
//! The rule that keeps this lock free of deadlocks: **append last.** A
//! transaction takes its row locks (accounts, runs, connections, held
//! changes) first and appends its events just before it commits, taking
//! no row lock after the append. A sync's reconciliation, an approval, a
//! disconnection and a webhook all follow it.

use entity::event;
use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, EntityTrait, Iterable, Statement, TransactionSession, TransactionTrait,
};

/// The PostgreSQL channel of the current schema's events, as a query (so
/// replicas on one schema share it, and tests on their own schemas do not).
pub const CHANNEL_QUERY: &str = "SELECT 'onroll_events_' || substr(md5(current_schema()), 1, 16)";

/// Appends `rows` and answers them in id order. In a transaction the lock
/// lasts until that transaction ends; outside one, until the insert
/// commits.
pub async fn append<C>(db: &C, rows: Vec<event::ActiveModel>) -> Result<Vec<event::Model>, DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // A savepoint inside a caller's transaction, else a transaction of its
    // own: the advisory lock belongs to the outermost one either way.
    let txn = crate::db::begin_write(db).await?;
    let postgres = txn.get_database_backend() == DbBackend::Postgres;
    if postgres {
        txn.execute_unprepared(
            "SELECT pg_advisory_xact_lock(hashtext('onroll-events:' || current_schema()))",
        )
        .await?;
    }
    let mut events = Vec::with_capacity(rows.len());
    // Chunks keep each statement well under the engines' parameter limits
    // (a first FULL run logs a joined parent group per guardian and group).
    let columns = <event::Entity as EntityTrait>::Column::iter().count();
    for chunk in rows.chunks(crate::sync::batch_write::rows_per_statement(columns)) {
        events.extend(event::Entity::insert_many(chunk.to_vec()).exec_with_returning(&txn).await?);
    }
    events.sort_by_key(|e| e.id);
    crate::telemetry::events_appended(events.iter().map(|e| e.kind));
    if postgres && let Some(newest) = events.last() {
        let notify = Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("SELECT pg_notify(({CHANNEL_QUERY}), $1)"),
            [newest.id.to_string().into()],
        );
        txn.execute_raw(notify).await?;
    }
    txn.commit().await?;
    Ok(events)
}
