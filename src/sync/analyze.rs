//! Refreshing PostgreSQL's planner statistics after a run that changed
//! tables a lot (a school's first FULL run fills them from nothing): with
//! statistics of a near-empty table the planner picks plans fit for ten
//! rows, and every later run and query pays for them until autovacuum
//! catches up. Run after the run commits, never inside its transaction
//! (ANALYZE inside it would hold its lock for the whole run, and its
//! failure would roll back a safeguarding run); a failure here is logged
//! and the run stays COMPLETED. SQLite plans without such statistics.
//!
//! ANALYZE of a school's first FULL run took about 0.3 s of a 2 s run on a
//! loaded machine, and nothing waits for statistics: it runs in the
//! background once the run has committed and published its events, one at
//! a time per process. The runs of one drain of the queue (a trust's FULL
//! runs, side by side) are analysed together, once ([`Deferred`]).

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

use super::batch_write::Written;

/// One ANALYZE at a time per process: runs that end together queue behind
/// it, and each re-reads the estimates the one before left, so a table
/// just analysed is not analysed again.
static ONE_AT_A_TIME: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// [`after_run`] on a task of its own: the run returns without waiting.
/// The handle answers the tables analysed (tests wait on it).
pub fn in_background(
    db: &DatabaseConnection,
    run_id: i32,
    written: Written,
) -> Option<tokio::task::JoinHandle<Vec<String>>> {
    if db.get_database_backend() != DbBackend::Postgres || written.tables().next().is_none() {
        return None;
    }
    let db = db.clone();
    // Taken before the task is spawned, so `settled` cannot miss it; only
    // while `settled` itself waits is it refused, and a command's runs
    // have all ended by then.
    let pending = PENDING.try_read().ok();
    Some(tokio::spawn(async move {
        let _pending = pending;
        let Ok(_turn) = ONE_AT_A_TIME.acquire().await else { return Vec::new() };
        after_run(&db, run_id, &written).await
    }))
}

/// Tables the runs of one drain of the queue changed, analysed together
/// once none of its runs is under way, or [`MAX_DEFER`] after the first
/// of them waited, whichever comes first. Analysed one run at a time,
/// five schools' FULL runs analysed every table five times, each time a
/// larger table, while the next schools wrote beside it on the same two
/// cores (issue 15: throwaway switches in `cargo bench --bench
/// sync_full`, five schools on PostgreSQL, gave 1.37-1.76 times the
/// paging floor without the analyses against 1.62-1.69 with them).
#[derive(Debug, Default)]
pub(crate) struct Deferred(std::sync::Mutex<Option<Waiting>>);

#[derive(Debug)]
struct Waiting {
    written: Written,
    /// The last run whose tables joined: the log line names it.
    run_id: i32,
    since: std::time::Instant,
}

/// How long the tables of a drain's runs wait for its end at most: a
/// drain of many schools is analysed on the way, so the API does not
/// plan with empty statistics for as long as a trust's first sync lasts.
pub const MAX_DEFER: std::time::Duration = std::time::Duration::from_secs(30);

impl Deferred {
    /// Adds the tables a run wrote (its commit's) to those waiting.
    pub(crate) fn add(&self, run_id: i32, written: Written) {
        let mut waiting = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match waiting.as_mut() {
            Some(waiting) => {
                waiting.written.absorb(written);
                waiting.run_id = run_id;
            }
            None => {
                *waiting = Some(Waiting { written, run_id, since: std::time::Instant::now() });
            }
        }
    }

    /// Starts the analysis of the tables waiting ([`in_background`]) when
    /// `quiet` (no run of the drain under way) or when they have waited
    /// [`MAX_DEFER`]; otherwise they wait on.
    pub(crate) fn analyse_if(&self, db: &DatabaseConnection, quiet: bool) {
        let mut waiting = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !quiet && waiting.as_ref().is_none_or(|waiting| waiting.since.elapsed() < MAX_DEFER) {
            return;
        }
        if let Some(Waiting { written, run_id, .. }) = waiting.take() {
            drop(waiting);
            in_background(db, run_id, written);
        }
    }
}

/// Held for reading by every analysis from its start to its end, so that
/// [`settled`] waits for them all by taking it for writing.
static PENDING: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Waits until every analysis started in this process has ended. A
/// command (`onroll sync`, `import-csv`) ends its runtime when it returns,
/// and that would drop an analysis its run started, perhaps before its
/// statement was sent.
pub async fn settled() {
    drop(PENDING.write().await);
}

/// A table is analysed when a run wrote more rows to it than this share of
/// the rows the planner believes it holds (or it was never analysed).
pub const SHARE: f64 = 0.2;

/// Analyses the tables `written` changed a lot (PostgreSQL only): one
/// statement reads the planner's row estimates, one analyses. Answers the
/// tables analysed; errors are logged, never returned.
pub async fn after_run(db: &DatabaseConnection, run_id: i32, written: &Written) -> Vec<String> {
    if db.get_database_backend() != DbBackend::Postgres || written.tables().next().is_none() {
        return Vec::new();
    }
    match analyse(db, written).await {
        Ok(tables) => {
            if !tables.is_empty() {
                tracing::info!(sync.run_id = run_id, tables = %tables.join(","), "tables analysed after the run");
            }
            tables
        }
        Err(err) => {
            tracing::warn!(sync.run_id = run_id, error = %err, "could not analyse the tables the run changed");
            Vec::new()
        }
    }
}

async fn analyse(db: &DatabaseConnection, written: &Written) -> Result<Vec<String>, DbErr> {
    // Our own entities' table names, quoted; `to_regclass` resolves each
    // in the connection's search_path, the schema the tables live in.
    let quoted = |table: &str| format!("\"{}\"", table.replace('"', "\"\""));
    let classes: Vec<String> = written
        .tables()
        .map(|(table, _)| format!("to_regclass('{}')", quoted(table).replace('\'', "''")))
        .collect();
    let sql = format!(
        "SELECT relname::text, reltuples::float8 FROM pg_class WHERE oid IN ({})",
        classes.join(", ")
    );
    let estimates = db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql)).await?;
    let mut tables = Vec::new();
    for row in estimates {
        let table: String = row.try_get_by_index(0)?;
        let believed: f64 = row.try_get_by_index(1)?;
        let rows = written.tables().find(|(name, _)| *name == table).map_or(0, |(_, rows)| rows);
        // reltuples is -1 for a table never analysed (PostgreSQL 14+).
        if believed < 0.0 || rows as f64 > SHARE * believed {
            tables.push(table);
        }
    }
    if !tables.is_empty() {
        let list: Vec<String> = tables.iter().map(|t| quoted(t)).collect();
        db.execute_unprepared(&format!("ANALYZE {}", list.join(", "))).await?;
    }
    Ok(tables)
}
