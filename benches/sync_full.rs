//! How fast a FULL sync mirrors a simulated trust, against the client's
//! paging floor measured in the same run. Not a test:
//! `cargo bench --bench sync_full`. BENCH_PROFILE=1 prints the runs' SQL
//! time by statement, BENCH_QUIET_ROUNDS repeats the quiet runs (both are
//! read by the measurement, so `onroll bench` heeds them too), RUST_LOG
//! logs. Sizes: BENCH_SCHOOLS (default "1,5,20")
//! schools of BENCH_STUDENTS (default 1000) students each, with their
//! guardians, staff, classes and groups, BENCH_RUNS_AT_ONCE (default the
//! worker's, 2) schools side by side, in the floor as in the runs. Runs on SQLite, and on PostgreSQL
//! too when ONROLL_BENCH_DATABASE_URL (or ONROLL_TEST_DATABASE_URL) is set.
//!
//! The measurement is `onroll::bench::sync` (what `onroll bench` runs). The
//! simulator runs in this process. Peak memory is the process's resident
//! high-water mark over the FULL runs (the simulator's world included).

mod support;
use support::{engines, env_number, library_engine};

fn main() -> anyhow::Result<()> {
    // RUST_LOG=onroll::sync=debug shows where a run's time went (each
    // phase's `took_ms`, each Wonde request's span).
    if std::env::var_os("RUST_LOG").is_some() {
        onroll::logging::init("warn")?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let sizes: Vec<usize> = std::env::var("BENCH_SCHOOLS")
        .unwrap_or_else(|_| "1,5,20".to_owned())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let students: usize = env_number("BENCH_STUDENTS", 1000);
    let at_once: usize = env_number("BENCH_RUNS_AT_ONCE", onroll::sync::schedule::DEFAULT_RUNS_AT_ONCE);
    println!(
        "sync_full: FULL sync of a simulated trust, {students} students a school, {at_once} schools at once, simulator in-process on 127.0.0.1"
    );
    println!(
        "{:<9} {:>7} {:>9} {:>9} {:>9} {:>7} {:>11} {:>9} {:>14} {:>14}",
        "engine",
        "schools",
        "records",
        "floor s",
        "FULL s",
        "ratio",
        "records/s",
        "peak MiB",
        "no-change INC",
        "its requests"
    );
    for engine in engines() {
        for &schools in &sizes {
            let row = runtime.block_on(onroll::bench::sync::measure(
                &library_engine(engine)?,
                schools,
                students,
                at_once,
            ))?;
            println!(
                "{:<9} {:>7} {:>9} {:>9.2} {:>9.2} {:>6.2}x {:>11.0} {:>9.1} {:>11.1} ms {:>11.1} ms",
                engine,
                row.schools,
                row.records,
                row.floor_s,
                row.full_s,
                row.ratio(),
                row.records_per_s(),
                row.peak_mib,
                row.incremental_ms,
                row.incremental_floor_ms,
            );
        }
    }
    Ok(())
}
