//! Leaver latency: from a student leaving in the MIS (the simulator) and an
//! admin's `triggerSync(INCREMENTAL)` to the deactivation reaching a
//! subscriber on `/graphql/ws`. Not a test: `cargo bench --bench
//! leaver_latency`. BENCH_LEAVERS (default 100) leavers, round-robin over
//! the schools of a trust of BENCH_SCHOOLS (3) schools of BENCH_STUDENTS
//! (1000) students. SQLite, and PostgreSQL too when ONROLL_BENCH_DATABASE_URL
//! (or ONROLL_TEST_DATABASE_URL) is set.
//!
//! The measurement is `onroll::bench::latency` (what `onroll bench` runs).
//! The baseline, measured in the same run the same way, is a triggered
//! INCREMENTAL run with nothing to change: trigger to the run's final
//! `syncProgress` event. The ratio is what a leaver adds to the pipeline's
//! own cost (fetch, reconcile, commit, publish, deliver).

mod support;
use support::{engines, env_number, library_engine};

use onroll::bench::latency::{LatencySize, measure};

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let size = LatencySize {
        schools: env_number("BENCH_SCHOOLS", 3),
        students: env_number("BENCH_STUDENTS", 1000),
        leavers: env_number("BENCH_LEAVERS", 100),
        baseline_runs: 20,
    };
    println!(
        "leaver_latency: {} leavers over {} schools of {} students; simulator in-process, 127.0.0.1",
        size.leavers, size.schools, size.students
    );
    println!(
        "{:<9} {:>8} {:>8} {:>8} {:>8} {:>14} {:>9} {:>9}",
        "engine", "leavers", "p50 ms", "p99 ms", "max ms", "baseline p50", "p50/base", "p99/base"
    );
    for engine in engines() {
        let row = runtime.block_on(measure(&library_engine(engine)?, size))?;
        let base = row.no_change_run.ms(0.5);
        let s = &row.subscriber;
        println!(
            "{:<9} {:>8} {:>8.1} {:>8.1} {:>8.1} {:>11.1} ms {:>8.2}x {:>8.2}x",
            engine,
            s.len(),
            s.ms(0.5),
            s.ms(0.99),
            s.ms(1.0),
            base,
            s.ms(0.5) / base,
            s.ms(0.99) / base
        );
    }
    Ok(())
}
