//! Database connections: SQLite for the embedded default, PostgreSQL for
//! production. Both get the same migrations.

use chrono::{DateTime, Utc};
use migration::{Migrator, MigratorTrait};
use sea_orm::sea_query::Expr;
use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{
    ColumnTrait, Condition, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use std::str::FromStr;
use std::time::Duration;

/// Sets `column` of the row whose `id_column` is `id` to `now`, unless it
/// was set within `within` of `now` (null counts as long ago): a one-row
/// compare-and-set, so of two callers racing one wins. Answers whether this
/// call set it.
pub async fn stamp_unless_recent<C>(
    db: &impl ConnectionTrait,
    (id_column, id): (C, i32),
    column: C,
    now: DateTime<Utc>,
    within: chrono::Duration,
) -> Result<bool, DbErr>
where
    C: ColumnTrait,
    C::EntityName: EntityTrait<Column = C>,
{
    let stamped = <C::EntityName as EntityTrait>::update_many()
        .col_expr(column, Expr::value(now))
        .filter(id_column.eq(id))
        .filter(Condition::any().add(column.is_null()).add(column.lt(now - within)))
        .exec(db)
        .await?;
    Ok(stamped.rows_affected == 1)
}

/// Which engine a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    /// The engine a `DATABASE_URL` names, or the error that says it names
    /// none; checked before anything else is read from the configuration.
    pub fn require(url: &str) -> Result<Self, ConnectError> {
        Self::of(url).ok_or_else(|| ConnectError::UnknownScheme { scheme: scheme_of(url) })
    }

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

/// Why a database could not be opened, said so that the operator knows what
/// to change. Never carries the URL itself: it may hold a password.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("DATABASE_URL must start with sqlite: or postgres: (it starts with `{scheme}`)")]
    UnknownScheme { scheme: String },
    #[error("DATABASE_URL is not a valid {engine} URL: {reason}")]
    BadUrl { engine: &'static str, reason: String },
    #[error(
        "cannot connect to PostgreSQL at {host}:{port}: connection refused (is the server running and listening there?)"
    )]
    Refused { host: String, port: u16 },
    #[error(
        "cannot open the SQLite file {path}: {reason}{hint}",
        hint = if *.creates { "; check that its directory exists and is writable" } else { "; to create it when missing, add `?mode=rwc` to DATABASE_URL (as in sqlite://onroll.db?mode=rwc)" }
    )]
    SqliteCannotOpen { path: String, reason: String, creates: bool },
    #[error("cannot connect to the database: {0}")]
    Other(String),
}

impl From<DbErr> for ConnectError {
    fn from(err: DbErr) -> Self {
        Self::Other(err.to_string())
    }
}

/// Opens a pool. `search_path` puts PostgreSQL sessions in one schema (tests
/// give each test its own).
///
/// One direct connection is tried first: a pool retries a refused
/// connection until its acquire timeout and then reports only "pool timed
/// out", ten seconds later, which tells an operator nothing.
pub async fn connect(url: &str, search_path: Option<&str>) -> Result<DatabaseConnection, ConnectError> {
    let engine = Engine::require(url)?;
    preflight(engine, url).await?;
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    match engine {
        // SQLite allows one writer at a time; a small pool avoids writers
        // queueing on the file lock instead of in the pool. Six: the sync
        // worker's four runs under way (two paging, two waiting to page or
        // writing; each may wait on the writer with one connection) leave
        // two to the API.
        Engine::Sqlite => options.max_connections(6).min_connections(1),
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
    Ok(Database::connect(options).await?)
}

/// What comes before the first `:` of a URL, cut short: enough to say what
/// was given without echoing a password.
fn scheme_of(url: &str) -> String {
    let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
    scheme.chars().take(20).collect()
}

/// One connection, opened and closed, to turn the common mistakes into
/// their own errors.
async fn preflight(engine: Engine, url: &str) -> Result<(), ConnectError> {
    match engine {
        Engine::Postgres => {
            let options = sea_orm::sqlx::postgres::PgConnectOptions::from_str(url)
                .map_err(|err| ConnectError::BadUrl { engine: "PostgreSQL", reason: err.to_string() })?;
            open_once(&options).await.map_err(|err| match err {
                sea_orm::sqlx::Error::Io(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
                    ConnectError::Refused { host: options.get_host().to_owned(), port: options.get_port() }
                }
                err => ConnectError::Other(err.to_string()),
            })
        }
        Engine::Sqlite => {
            let options = sea_orm::sqlx::sqlite::SqliteConnectOptions::from_str(url)
                .map_err(|err| ConnectError::BadUrl { engine: "SQLite", reason: err.to_string() })?;
            open_once(&options).await.map_err(|err| ConnectError::SqliteCannotOpen {
                path: options.get_filename().display().to_string(),
                reason: match &err {
                    sea_orm::sqlx::Error::Database(db) => db.message().to_owned(),
                    other => other.to_string(),
                },
                creates: url.contains("mode=rwc") || url.contains("mode=memory"),
            })
        }
    }
}

/// Opens one connection and closes it again; only the opening is checked.
async fn open_once<O>(options: &O) -> Result<(), sea_orm::sqlx::Error>
where
    O: sea_orm::sqlx::ConnectOptions,
    O::Connection: Sized,
{
    use sea_orm::sqlx::Connection as _;
    let connection = options.connect().await?;
    let _ = connection.close().await;
    Ok(())
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
