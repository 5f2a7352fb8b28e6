//! `onroll bench`: measures this machine and prints one markdown table.
//!
//! Everything runs in this process on 127.0.0.1: the Wonde simulator,
//! Onroll's servers, the clients. Each engine gets fresh databases (a
//! temporary SQLite file; a schema of its own in the PostgreSQL given,
//! dropped afterwards). Every figure stands beside a baseline measured in
//! the same run, and their ratio. One module a measurement: `sync` (FULL
//! and INCREMENTAL against the paging floor), `latency` (leavers to a
//! subscriber and to a webhook receiver), `queries` (issue 15's three
//! shapes under load), `fanout` (one event to many subscribers, and
//! across replicas); `table` renders. The cargo benchmarks in `benches/`
//! call the same functions.

pub mod fanout;
pub mod latency;
pub mod queries;
pub mod support;
pub mod sync;
pub mod table;
pub mod ws;

use std::time::Duration;

pub use support::Engine;

/// How big a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Issue 15's sizes: 1, 5 and 20 schools of 1,000 pupils, 10,000
    /// subscribers. About ten minutes on two cores (release build).
    Full,
    /// Smaller sizes; under two minutes on two cores.
    Quick,
    /// The smallest sizes that still measure everything: for the tests.
    Tiny,
}

/// The sizes of every measurement in one mode.
#[derive(Clone, Debug)]
pub struct Sizes {
    /// The mode these sizes are for, named in the table's heading.
    pub mode: Mode,
    /// Schools of each FULL sync measured.
    pub sync_schools: Vec<usize>,
    /// Pupils a school in the syncs.
    pub sync_students: usize,
    pub latency: latency::LatencySize,
    pub load: queries::LoadSize,
    /// Subscribers of the fan-out.
    pub subscribers: usize,
    /// Events of the cross-replica measurement.
    pub replica_events: usize,
}

impl Sizes {
    /// The sizes `mode` measures.
    pub fn of(mode: Mode) -> Self {
        let (sync_schools, sync_students) = match mode {
            Mode::Full => (vec![1, 5, 20], 1000),
            Mode::Quick => (vec![1, 5], 200),
            Mode::Tiny => (vec![1, 2], 20),
        };
        let latency = match mode {
            Mode::Full => {
                latency::LatencySize { schools: 3, students: 1000, leavers: 100, baseline_runs: 20 }
            }
            Mode::Quick => latency::LatencySize { schools: 2, students: 200, leavers: 20, baseline_runs: 10 },
            Mode::Tiny => latency::LatencySize { schools: 1, students: 20, leavers: 3, baseline_runs: 2 },
        };
        let load = match mode {
            Mode::Full => {
                queries::LoadSize { students: 1000, connections: 16, phase: Duration::from_secs(10) }
            }
            Mode::Quick => queries::LoadSize { students: 300, connections: 8, phase: Duration::from_secs(2) },
            Mode::Tiny => {
                queries::LoadSize { students: 30, connections: 2, phase: Duration::from_millis(300) }
            }
        };
        let (subscribers, replica_events) = match mode {
            Mode::Full => (10_000, 100),
            Mode::Quick => (1_000, 20),
            Mode::Tiny => (20, 3),
        };
        Self { mode, sync_schools, sync_students, latency, load, subscribers, replica_events }
    }

    /// The sizes in words, for the table's heading.
    pub fn describe(&self) -> String {
        let mode = match self.mode {
            Mode::Full => "full",
            Mode::Quick => "--quick",
            Mode::Tiny => "tiny (tests)",
        };
        let schools: Vec<String> = self.sync_schools.iter().map(ToString::to_string).collect();
        format!(
            "{mode}: FULL sync of {} school(s) of {} pupils; {} leavers over {} school(s) of {}; \
             queries on a school of {} at {} connections, {:.1} s a phase; {} subscribers; {} cross-replica events",
            schools.join(", "),
            self.sync_students,
            self.latency.leavers,
            self.latency.schools,
            self.latency.students,
            self.load.students,
            self.load.connections,
            self.load.phase.as_secs_f64(),
            self.subscribers,
            self.replica_events,
        )
    }
}

/// What one engine measured.
#[derive(Clone, Debug)]
pub struct EngineFigures {
    /// `sqlite` or `postgres`.
    pub engine: &'static str,
    pub syncs: Vec<sync::SyncFigures>,
    pub latency: latency::LatencyFigures,
    pub queries: queries::QueriesFigures,
    /// Time to the last of `subscribers` subscribers, and to one alone.
    pub fan_out: (Duration, Duration),
    /// Same-replica and cross-replica samples (PostgreSQL only).
    pub replicas: Option<(support::Samples, support::Samples)>,
}

/// Measures every engine at `sizes`; progress on standard error.
pub async fn measure(engines: &[Engine], sizes: &Sizes) -> anyhow::Result<Vec<EngineFigures>> {
    let mut all = Vec::with_capacity(engines.len());
    for engine in engines {
        let name = engine.name();
        let mut syncs = Vec::with_capacity(sizes.sync_schools.len());
        for &schools in &sizes.sync_schools {
            eprintln!("{name}: FULL sync of {schools} school(s)...");
            syncs.push(
                sync::measure(
                    engine,
                    schools,
                    sizes.sync_students,
                    crate::sync::schedule::DEFAULT_RUNS_AT_ONCE,
                )
                .await?,
            );
        }
        eprintln!("{name}: leaver and webhook latency...");
        let latency = latency::measure(engine, sizes.latency).await?;
        eprintln!("{name}: queries under load...");
        let queries = queries::measure(engine, sizes.load).await?;
        eprintln!("{name}: fan-out to {} subscribers...", sizes.subscribers);
        let fan_out = fanout::fan_out(engine, sizes.subscribers).await?;
        let replicas = match engine {
            Engine::Postgres(url) => {
                eprintln!("{name}: cross-replica latency...");
                Some(fanout::cross_replica(url, sizes.replica_events).await?)
            }
            Engine::Sqlite => None,
        };
        all.push(EngineFigures { engine: name, syncs, latency, queries, fan_out, replicas });
    }
    Ok(all)
}

/// `onroll bench`: SQLite, and PostgreSQL too when `postgres` is given;
/// prints the table on standard output.
pub async fn run(mode: Mode, postgres: Option<String>) -> anyhow::Result<String> {
    let mut engines = vec![Engine::Sqlite];
    if let Some(url) = postgres {
        engines.push(Engine::Postgres(url));
    }
    let sizes = Sizes::of(mode);
    let started = std::time::Instant::now();
    let figures = measure(&engines, &sizes).await?;
    Ok(table::render(&sizes, &figures, started.elapsed()))
}
