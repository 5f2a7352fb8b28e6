//! What the server benchmarks share: where PostgreSQL is, and a fresh
//! database for one engine.

use sea_orm::ConnectionTrait;

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
    let schema = format!("onroll_bench_{name}");
    let admin = onroll::db::connect(&url, None).await?;
    admin
        .execute_unprepared(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"))
        .await?;
    let joiner = if url.contains('?') { '&' } else { '?' };
    Ok(format!("{url}{joiner}options=-c%20search_path%3D{schema}"))
}
