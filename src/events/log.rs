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

use entity::enums::EventKind;
use entity::event;
use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, EntityTrait, Iterable, Statement, TransactionSession, TransactionTrait,
};

/// The PostgreSQL channel of the current schema's events, as a query (so
/// replicas on one schema share it, and tests on their own schemas do not).
pub const CHANNEL_QUERY: &str = "SELECT 'onroll_events_' || substr(md5(current_schema()), 1, 16)";

/// Appends `rows` and answers them in id order, but for the log-only ones
/// (never published: [`EventKind::log_only`]), which are written and not
/// read back. In a transaction the lock lasts until that transaction ends;
/// outside one, until the insert commits.
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
    let kinds: Vec<EventKind> = rows.iter().filter_map(|row| row.kind.try_as_ref().copied()).collect();
    let mut events = Vec::with_capacity(rows.len());
    let mut newest = None;
    // Chunks keep each statement well under the engines' parameter limits.
    // Log-only rows (parent groups joined and left; a first FULL run logs
    // one per guardian and group) are never published, so only their ids
    // come back: reading tens of thousands of rows back cost more than
    // writing them. Rows keep their order, so ids keep it too.
    let columns = <event::Entity as EntityTrait>::Column::iter().count();
    let size = crate::sync::batch_write::rows_per_statement(columns);
    let log_only = |row: &event::ActiveModel| row.kind.try_as_ref().is_some_and(|kind| kind.log_only());
    let mut rest = rows.as_slice();
    while let Some(first) = rest.first() {
        let class = log_only(first);
        let run = rest.iter().take(size).take_while(|row| log_only(row) == class).count();
        let (chunk, after) = rest.split_at(run);
        rest = after;
        let insert = event::Entity::insert_many(chunk.to_vec());
        if class {
            let ids = insert.exec_with_returning_keys(&txn).await?;
            newest = newest.max(ids.into_iter().max());
        } else {
            let appended = insert.exec_with_returning(&txn).await?;
            newest = newest.max(appended.iter().map(|e| e.id).max());
            events.extend(appended);
        }
    }
    events.sort_by_key(|e| e.id);
    crate::telemetry::events_appended(kinds.into_iter());
    if postgres && let Some(newest) = newest {
        let notify = Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("SELECT pg_notify(({CHANNEL_QUERY}), $1)"),
            [newest.to_string().into()],
        );
        txn.execute_raw(notify).await?;
    }
    txn.commit().await?;
    Ok(events)
}
