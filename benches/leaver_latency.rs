//! Leaver latency: from a student leaving in the MIS (the simulator) and an
//! admin's `triggerSync(INCREMENTAL)` to the deactivation reaching a
//! subscriber on `/graphql/ws`. Not a test: `cargo bench --bench
//! leaver_latency`. BENCH_LEAVERS (default 100) leavers, round-robin over
//! the schools of a trust of BENCH_SCHOOLS (3) schools of BENCH_STUDENTS
//! (1000) students. SQLite, and PostgreSQL too when ONROLL_BENCH_DATABASE_URL
//! (or ONROLL_TEST_DATABASE_URL) is set.
//!
//! The baseline, measured in the same run the same way, is a triggered
//! INCREMENTAL run with nothing to change: trigger to the run's final
//! `syncProgress` event. The ratio is what a leaver adds to the pipeline's
//! own cost (fetch, reconcile, commit, publish, deliver).

#[path = "../tests/api/support/ws.rs"]
mod ws;

mod support;
use support::{engines, env_number};

use onroll::config::Every;
use onroll::demo::{Api, Demo, DemoConfig};
use serde_json::json;
use std::time::{Duration, Instant};

const DEACTIVATIONS: &str =
    "subscription { deactivations { kind reason person { ... on Student { wondeId } } } }";
const PROGRESS: &str = "subscription($s: ID) { syncProgress(schoolId: $s) { phase run { id } } }";
const TRIGGER: &str = "mutation($s: ID!) { triggerSync(schoolId: $s, kind: INCREMENTAL) { id } }";
const LIMIT: Duration = Duration::from_secs(60);

/// The `q`-quantile (0..=1) of sorted samples, nearest rank.
fn quantile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

/// Trigger to the run's final progress event, for runs with nothing to do.
async fn baseline(
    demo: &Demo,
    api: &Api,
    schools: &[(String, String)],
    runs: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut samples = Vec::with_capacity(runs);
    let (mut socket, _) = ws::connect(demo.addr, Some(&demo.admin_token)).await?;
    ws::subscribe(&mut socket, "p", PROGRESS, json!({})).await?;
    for round in 0..runs {
        let (_, school) = &schools[round % schools.len()];
        let started = Instant::now();
        let run = api.call(TRIGGER, json!({ "s": school })).await?;
        let run_id = run["triggerSync"]["id"].clone();
        loop {
            let message = ws::next_message_within(&mut socket, LIMIT).await?;
            let event = &message["payload"]["data"]["syncProgress"];
            if event["run"]["id"] == run_id && event["phase"] == "COMPLETED" {
                break;
            }
            anyhow::ensure!(event["phase"] != "FAILED", "a baseline run failed");
        }
        samples.push(started.elapsed());
    }
    Ok(samples)
}

/// Leaver in the simulator, trigger, and the subscriber's event.
async fn leavers(
    demo: &Demo,
    api: &Api,
    schools: &[(String, String)],
    count: usize,
) -> anyhow::Result<Vec<Duration>> {
    let (mut socket, _) = ws::connect(demo.addr, Some(&demo.integrator_token)).await?;
    ws::subscribe(&mut socket, "d", DEACTIVATIONS, json!({})).await?;
    let mut samples = Vec::with_capacity(count);
    for round in 0..count {
        let (wonde_school, school) = &schools[round % schools.len()];
        let truth = demo.sim.truth(wonde_school)?;
        let student = truth.students.first().ok_or_else(|| anyhow::anyhow!("school emptied"))?.id.clone();
        let started = Instant::now();
        demo.sim.student_leaves(wonde_school, &student, None)?;
        api.call(TRIGGER, json!({ "s": school })).await?;
        loop {
            let message = ws::next_message_within(&mut socket, LIMIT).await?;
            let event = &message["payload"]["data"]["deactivations"];
            if event["kind"] == "STUDENT" && event["person"]["wondeId"] == student.as_str() {
                break;
            }
        }
        samples.push(started.elapsed());
    }
    Ok(samples)
}

struct Row {
    engine: &'static str,
    leavers: Vec<Duration>,
    baseline: Vec<Duration>,
}

async fn measure(engine: &'static str, schools: usize, students: usize, count: usize) -> anyhow::Result<Row> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = DemoConfig {
        bind: ([127, 0, 0, 1], 0).into(),
        schools,
        students,
        seed: 11,
        incremental_every: Every(None),
        database_url: Some(support::database_url(engine, "latency").await?),
        limits: Default::default(),
    };
    let demo = Demo::start(config, async move {
        let _ = stopped.await;
    })
    .await?;
    let api = demo.api();
    let schools = demo.schools().await?;
    // One run per school first, so both measures start with warm pools.
    baseline(&demo, &api, &schools, schools.len()).await?;
    let mut baseline = baseline(&demo, &api, &schools, 20).await?;
    let mut leavers = leavers(&demo, &api, &schools, count).await?;
    baseline.sort();
    leavers.sort();
    let _ = stop.send(());
    demo.finish().await?;
    Ok(Row { engine, leavers, baseline })
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let (schools, students, count) = (
        env_number("BENCH_SCHOOLS", 3),
        env_number("BENCH_STUDENTS", 1000),
        env_number("BENCH_LEAVERS", 100),
    );
    println!(
        "leaver_latency: {count} leavers over {schools} schools of {students} students; simulator in-process, 127.0.0.1"
    );
    println!(
        "{:<9} {:>8} {:>8} {:>8} {:>8} {:>14} {:>9} {:>9}",
        "engine", "leavers", "p50 ms", "p99 ms", "max ms", "baseline p50", "p50/base", "p99/base"
    );
    for engine in engines() {
        let row = runtime.block_on(measure(engine, schools, students, count))?;
        let base = quantile(&row.baseline, 0.5);
        let (p50, p99, max) =
            (quantile(&row.leavers, 0.5), quantile(&row.leavers, 0.99), quantile(&row.leavers, 1.0));
        println!(
            "{:<9} {:>8} {:>8.1} {:>8.1} {:>8.1} {:>11.1} ms {:>8.2}x {:>8.2}x",
            row.engine,
            row.leavers.len(),
            p50,
            p99,
            max,
            base,
            p50 / base,
            p99 / base
        );
    }
    Ok(())
}
