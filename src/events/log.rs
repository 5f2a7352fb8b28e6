//! Appending to the event log. On PostgreSQL, appenders take a
//! transaction-scoped advisory lock before inserting, so ids are assigned
//! and committed in the same order for whoever reads them "after N":
//!
//! - published rows (deactivations, holds, ...) take one lock per schema.
//!   The feeds, subscribers and webhook fan-out read every school's
//!   published rows after the last id they saw, so a reader that has seen
//!   id N must have seen every committed published id below it. They read
//!   only published rows ([`published`], [`newest_published`]): a log-only
//!   id can commit before a lower published one;
//! - log-only rows (parent groups joined and left: [`EventKind::log_only`])
//!   take one lock per school. Their only reader,
//!   `groupMembershipChanges`, reads one school's after a cursor, so only
//!   that school's appenders need to commit in id order. Before a row
//!   named a group's guardians together, a school's first FULL run logged
//!   one per guardian and group (about 22,000 for 1,000 pupils, 0.3 s of
//!   inserts on PostgreSQL), and under the schema's lock every other
//!   school's run waited for them (up to 0.7 s seen).
//!
//! The same transaction notifies the schema's channel with the newest
//! published id; PostgreSQL delivers the notification at commit, and never
//! for a rollback. SQLite has one writer at a time, so its ids are already
//! in commit order, and one process, so no notification is needed.
//!
//! The rules that keep these locks free of deadlocks: **append last, and
//! once.** A transaction takes its row locks (accounts, runs, connections,
//! held changes) first and appends its events in one call just before it
//! commits, taking no row lock after the append; within the call, school
//! locks come before the schema's lock, in school order. A sync's
//! reconciliation, an approval, a disconnection and a webhook all follow
//! them.

use entity::enums::EventKind;
use entity::event;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, Iterable, QueryFilter, QuerySelect,
    Statement, TransactionSession, TransactionTrait,
};
use std::collections::BTreeSet;

/// The PostgreSQL channel of the current schema's events, as a query (so
/// replicas on one schema share it, and tests on their own schemas do not).
pub const CHANNEL_QUERY: &str = "SELECT 'onroll_events_' || substr(md5(current_schema()), 1, 16)";

/// Appends `rows` and answers the published ones in id order (log-only
/// ones, [`EventKind::log_only`], are written and not read back). Log-only
/// rows are inserted first, then the published ones; each keeps the order
/// given, and so do their ids. In a transaction the locks last until that
/// transaction ends; outside one, until the insert commits. Call it once
/// per transaction (module docs).
pub async fn append<C>(db: &C, rows: Vec<event::ActiveModel>) -> Result<Vec<event::Model>, DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // A savepoint inside a caller's transaction, else a transaction of its
    // own: advisory locks belong to the outermost one either way.
    let txn = crate::db::begin_write(db).await?;
    let postgres = txn.get_database_backend() == DbBackend::Postgres;
    let kinds: Vec<EventKind> = rows.iter().filter_map(|row| row.kind.try_as_ref().copied()).collect();
    let (log_only, published): (Vec<_>, Vec<_>) =
        rows.into_iter().partition(|row| row.kind.try_as_ref().is_some_and(|kind| kind.log_only()));

    if !log_only.is_empty() {
        if postgres {
            let schools: BTreeSet<i32> =
                log_only.iter().filter_map(|row| row.school_id.try_as_ref().copied()).collect();
            for school in schools {
                lock(&txn, "onroll-group-log:", Some(school)).await?;
            }
        }
        // Nothing publishes them, so they are not read back (when a row
        // named one guardian, reading back a first run's 22,000 cost more
        // than writing them).
        for chunk in log_only.chunks(rows_per_statement()) {
            event::Entity::insert_many(chunk.to_vec()).exec_with_returning_keys(&txn).await?;
        }
    }

    let mut events = Vec::with_capacity(published.len());
    if !published.is_empty() {
        if postgres {
            lock(&txn, "onroll-events:", None).await?;
        }
        for chunk in published.chunks(rows_per_statement()) {
            events.extend(event::Entity::insert_many(chunk.to_vec()).exec_with_returning(&txn).await?);
        }
        events.sort_by_key(|e| e.id);
        if postgres && let Some(newest) = events.last().map(|e| e.id) {
            let notify = Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!("SELECT pg_notify(({CHANNEL_QUERY}), $1)"),
                [newest.to_string().into()],
            );
            txn.execute_raw(notify).await?;
        }
    }
    crate::telemetry::events_appended(kinds.into_iter());
    txn.commit().await?;
    Ok(events)
}

/// The published rows of the log, the only ones whose ids commit in order
/// across schools (module docs). A reader that resumes "after the last id
/// it saw" reads only these: a log-only id may commit before a lower
/// published one, and a cursor moved past it would skip that event.
pub fn published() -> sea_orm::sea_query::SimpleExpr {
    event::Column::Kind.is_not_in(EventKind::LOG_ONLY)
}

/// The newest published id now (0 for a log without one): where a reader
/// that resumes after an id starts when it wants only what comes next.
pub async fn newest_published<C: ConnectionTrait>(db: &C) -> Result<i64, DbErr> {
    Ok(event::Entity::find()
        .select_only()
        .column_as(event::Column::Id.max(), "newest")
        .filter(published())
        .into_tuple::<Option<i64>>()
        .one(db)
        .await?
        .flatten()
        .unwrap_or(0))
}

/// Rows a statement inserts: well under the engines' parameter limits.
fn rows_per_statement() -> usize {
    crate::sync::batch_write::rows_per_statement(<event::Entity as EntityTrait>::Column::iter().count())
}

/// Takes the transaction-scoped advisory lock named `name` (and `school`,
/// for a school's own), in the current schema's key space so that tests and
/// trusts on other schemas never wait on it. PostgreSQL keeps one-key and
/// two-key advisory locks apart, so a school's lock never waits on the
/// schema's.
async fn lock(txn: &impl ConnectionTrait, name: &str, school: Option<i32>) -> Result<(), DbErr> {
    let sql = match school {
        None => "SELECT pg_advisory_xact_lock(hashtext($1 || current_schema()))",
        Some(_) => "SELECT pg_advisory_xact_lock(hashtext($1 || current_schema()), $2)",
    };
    let mut values = vec![name.into()];
    values.extend(school.map(Into::into));
    txn.execute_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, values)).await?;
    Ok(())
}
