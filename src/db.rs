//! Database connections: SQLite for the embedded default, PostgreSQL for
//! production. Both get the same migrations.

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DbErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use std::time::Duration;

/// Which engine a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn of(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

/// Opens a pool. `search_path` puts PostgreSQL sessions in one schema (tests
/// give each test its own).
pub async fn connect(url: &str, search_path: Option<&str>) -> Result<DatabaseConnection, DbErr> {
    let engine = Engine::of(url)
        .ok_or_else(|| DbErr::Custom("DATABASE_URL must start with sqlite: or postgres:".to_owned()))?;
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    match engine {
        // SQLite allows one writer at a time; a small pool avoids writers
        // queueing on the file lock instead of in the pool.
        Engine::Sqlite => options.max_connections(4).min_connections(1),
        Engine::Postgres => options.max_connections(16),
    };
    if let Some(schema) = search_path {
        options.set_schema_search_path(schema.to_owned());
    }
    // WAL lets readers work while a sync writes; the busy timeout turns a
    // momentary lock into a short wait rather than an error.
    options.map_sqlx_sqlite_opts(|opts| {
        opts.journal_mode(SqliteJournalMode::Wal).busy_timeout(Duration::from_secs(10)).foreign_keys(true)
    });
    Database::connect(options).await
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Begins a transaction that will write. On SQLite it takes the write lock
/// at `BEGIN` (IMMEDIATE), so it waits its turn under the busy timeout; a
/// deferred transaction that read first and then tried to write after
/// another writer committed would fail at once with "database is locked"
/// (the busy timeout does not apply to that upgrade). PostgreSQL ignores
/// the mode; inside a transaction this is a savepoint.
pub async fn begin_write<C: TransactionTrait>(db: &C) -> Result<C::Transaction, DbErr> {
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    };
    db.begin_with_options(options).await
}
