//! What the measurements share: the engine measured and a fresh database
//! on it, quantiles of latency samples, and the process's resident set.

use sea_orm::{ConnectionTrait, DatabaseConnection};
use std::time::Duration;

/// An engine to measure: SQLite (a temporary file), or PostgreSQL at a URL
/// (a fresh schema of it).
#[derive(Clone, Debug)]
pub enum Engine {
    /// A SQLite file in the temporary directory, per measurement.
    Sqlite,
    /// The PostgreSQL server at this URL; each measurement gets a schema.
    Postgres(String),
}

impl Engine {
    /// `sqlite` or `postgres`, as the table names it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// A fresh, empty database named for `purpose`, removed when dropped
    /// (`drop_now` for PostgreSQL, which needs a connection to do it).
    pub async fn scratch(&self, purpose: &str) -> anyhow::Result<Scratch> {
        // Unique per process and call, so concurrent runs never share one.
        let tag = format!("{}_{}_{}", purpose.replace('-', "_"), std::process::id(), unique());
        match self {
            Self::Sqlite => {
                let path = std::env::temp_dir().join(format!("onroll-bench-{tag}.db"));
                let url = format!("sqlite://{}?mode=rwc", path.display());
                Ok(Scratch { url, file: Some(path), schema: None })
            }
            Self::Postgres(url) => {
                let schema = format!("onroll_bench_{tag}");
                let admin = crate::db::connect(url, None).await?;
                admin.execute_unprepared(&format!("CREATE SCHEMA {schema}")).await?;
                let joiner = if url.contains('?') { '&' } else { '?' };
                let url = format!("{url}{joiner}options=-c%20search_path%3D{schema}");
                Ok(Scratch { url, file: None, schema: Some((admin, schema)) })
            }
        }
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A database made for one measurement: a SQLite file or a PostgreSQL schema.
pub struct Scratch {
    /// The URL servers and pools connect to (PostgreSQL: with the schema on
    /// the search path).
    pub url: String,
    file: Option<std::path::PathBuf>,
    schema: Option<(DatabaseConnection, String)>,
}

impl Scratch {
    /// The URL, migrated: a connection to it.
    pub async fn migrated(&self) -> anyhow::Result<DatabaseConnection> {
        let db = crate::db::connect(&self.url, None).await?;
        crate::db::migrate(&db).await?;
        Ok(db)
    }

    /// Removes the PostgreSQL schema (the SQLite file goes on drop).
    pub async fn drop_now(mut self) -> anyhow::Result<()> {
        if let Some((admin, schema)) = self.schema.take() {
            admin.execute_unprepared(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await?;
        }
        Ok(())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(path) = &self.file {
            for suffix in ["", "-wal", "-shm", ".key"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
    }
}

/// Latency samples, sorted: quantiles in milliseconds.
#[derive(Clone, Debug, Default)]
pub struct Samples(Vec<Duration>);

impl Samples {
    /// The samples, in any order.
    pub fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        Self(samples)
    }

    /// The `q`-quantile (0..=1) in ms, nearest rank; NaN when empty.
    pub fn ms(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let rank = ((q * self.0.len() as f64).ceil() as usize).clamp(1, self.0.len());
        self.0[rank - 1].as_secs_f64() * 1000.0
    }

    /// How many samples there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none (every quantile is then NaN).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A field of /proc/self/status in bytes (0 where it cannot be read).
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Resets the resident set's high-water mark (Linux: `5` to clear_refs), so
/// that [`peak_mib`] reads the peak from now on.
pub fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The process's peak resident set (`VmHWM`) in MiB since the last
/// [`reset_peak`]; everything in the process counts (simulator, server,
/// clients).
pub fn peak_mib() -> f64 {
    status_bytes("VmHWM:") as f64 / (1024.0 * 1024.0)
}

/// A school named "Bench School" in trust `trust_id`, fed by nothing: the
/// home of the rows a benchmark writes itself.
pub async fn bench_school(
    db: &sea_orm::DatabaseConnection,
    trust_id: i32,
) -> Result<entity::school::Model, sea_orm::DbErr> {
    use sea_orm::{ActiveModelTrait, Set};
    let now = chrono::Utc::now();
    entity::school::ActiveModel {
        trust_id: Set(trust_id),
        name: Set("Bench School".to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
}
