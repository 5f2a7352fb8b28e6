//! What the server benchmarks share: their settings from the environment,
//! the engines to measure (where PostgreSQL is), and a fresh database for
//! one engine.

use sea_orm::{ConnectionTrait, DatabaseConnection};

/// The number in the environment variable `name`, or `default` when it is
/// unset or not a number.
pub fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|n| n.parse().ok()).unwrap_or(default)
}

/// The engines to measure: SQLite, and PostgreSQL when `postgres_url` has one.
pub fn engines() -> Vec<&'static str> {
    let mut engines = vec!["sqlite"];
    if postgres_url().is_some() {
        engines.push("postgres");
    }
    engines
}

/// `ONROLL_BENCH_DATABASE_URL`, else `ONROLL_TEST_DATABASE_URL`; `None`
/// when neither is set (the PostgreSQL rows are then skipped).
pub fn postgres_url() -> Option<String> {
    std::env::var("ONROLL_BENCH_DATABASE_URL")
        .or_else(|_| std::env::var("ONROLL_TEST_DATABASE_URL"))
        .ok()
        .filter(|u| !u.is_empty())
}

/// A fresh, empty database for `engine` (`sqlite` or `postgres`), named
/// for the benchmark: the SQLite file `onroll-bench-{name}.db` in the
/// temporary directory, or the PostgreSQL schema `onroll_bench_{name}`
/// (dropped and made again) put first on the search path.
pub async fn database_url(engine: &str, name: &str) -> anyhow::Result<String> {
    if engine == "sqlite" {
        let path = std::env::temp_dir().join(format!("onroll-bench-{}.db", name.replace('_', "-")));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        return Ok(format!("sqlite://{}?mode=rwc", path.display()));
    }
    let url = postgres_url().ok_or_else(|| anyhow::anyhow!("no PostgreSQL URL"))?;
    let schema = schema_name(name);
    let admin = onroll::db::connect(&url, None).await?;
    admin
        .execute_unprepared(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"))
        .await?;
    let joiner = if url.contains('?') { '&' } else { '?' };
    Ok(format!("{url}{joiner}options=-c%20search_path%3D{schema}"))
}

/// The PostgreSQL schema `database_url` makes for the benchmark `name`.
pub fn schema_name(name: &str) -> String {
    format!("onroll_bench_{name}")
}

/// `database_url`, migrated: the URL and a connection to it.
// leaver_latency and query_load hand the URL to a demo server, which migrates.
#[allow(dead_code)]
pub async fn migrated_database(engine: &str, name: &str) -> anyhow::Result<(String, DatabaseConnection)> {
    let url = database_url(engine, name).await?;
    let db = onroll::db::connect(&url, None).await?;
    onroll::db::migrate(&db).await?;
    Ok((url, db))
}

/// `engine` (`sqlite` or `postgres`) as the library's measurements take it.
// Not every benchmark calls the library's measurements.
#[allow(dead_code)]
pub fn library_engine(engine: &str) -> anyhow::Result<onroll::bench::Engine> {
    match engine {
        "sqlite" => Ok(onroll::bench::Engine::Sqlite),
        _ => postgres_url()
            .map(onroll::bench::Engine::Postgres)
            .ok_or_else(|| anyhow::anyhow!("no PostgreSQL URL")),
    }
}
