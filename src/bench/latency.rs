//! Leaver latency and webhook delivery latency, in one `Demo` (simulator,
//! server with its worker, the demo's webhook receiver, all on 127.0.0.1).
//!
//! A student leaves in the simulator and an admin triggers an INCREMENTAL
//! run; timed from the leave to (1) the deactivation on a subscriber's
//! WebSocket and (2) the signed webhook at the receiver. Baselines, in the
//! same run: a triggered INCREMENTAL run with nothing to change, timed to
//! its final `syncProgress` event (what the pipeline costs without a
//! leaver), and for the webhook the subscriber's arrival of the same event
//! (what the outbox adds).

use serde_json::json;
use std::time::{Duration, Instant};

use super::support::{Engine, Samples};
use super::ws;
use crate::config::Every;
use crate::demo::{Api, Demo, DemoConfig};

const DEACTIVATIONS: &str =
    "subscription { deactivations { kind reason person { ... on Student { wondeId } } } }";
const PROGRESS: &str = "subscription($s: ID) { syncProgress(schoolId: $s) { phase run { id } } }";
const TRIGGER: &str = "mutation($s: ID!) { triggerSync(schoolId: $s, kind: INCREMENTAL) { id } }";
const LIMIT: Duration = Duration::from_secs(60);

/// The sizes of one latency measurement.
#[derive(Clone, Copy, Debug)]
pub struct LatencySize {
    pub schools: usize,
    pub students: usize,
    /// Leavers, round-robin over the schools.
    pub leavers: usize,
    /// No-change runs for the baseline.
    pub baseline_runs: usize,
}

/// Latency samples of one measurement.
#[derive(Clone, Debug, Default)]
pub struct LatencyFigures {
    /// Leave to the subscriber's deactivation event.
    pub subscriber: Samples,
    /// Leave to the signed webhook's arrival at the receiver.
    pub webhook: Samples,
    /// Trigger to a no-change run's final progress event.
    pub no_change_run: Samples,
}

/// Trigger to the run's final progress event, for runs with nothing to do.
async fn no_change_runs(
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

/// Waits for a verified STUDENT delivery among those after the first
/// `before`: its arrival time.
async fn webhook_arrival(demo: &Demo, before: usize) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + LIMIT;
    loop {
        let found = demo.receiver.received()[before..]
            .iter()
            .find(|d| d.body["data"]["kind"] == "STUDENT" && d.verified)
            .and_then(|d| d.arrived);
        if let Some(arrived) = found {
            return Ok(arrived);
        }
        anyhow::ensure!(Instant::now() < deadline, "the leaver's webhook did not arrive");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Leavers in the simulator, each triggered and timed to the subscriber
/// and to the receiver: (subscriber, webhook) samples.
async fn leavers(
    demo: &Demo,
    api: &Api,
    schools: &[(String, String)],
    count: usize,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let (mut socket, _) = ws::connect(demo.addr, Some(&demo.integrator_token)).await?;
    ws::subscribe(&mut socket, "d", DEACTIVATIONS, json!({})).await?;
    let (mut subscriber, mut webhook) = (Vec::with_capacity(count), Vec::with_capacity(count));
    for round in 0..count {
        let (wonde_school, school) = &schools[round % schools.len()];
        let truth = demo.sim.truth(wonde_school)?;
        let student = truth.students.first().ok_or_else(|| anyhow::anyhow!("school emptied"))?.id.clone();
        let before = demo.receiver.received().len();
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
        subscriber.push(started.elapsed());
        webhook.push(webhook_arrival(demo, before).await? - started);
    }
    Ok((subscriber, webhook))
}

/// Starts a demo of `size` on `engine` and measures it.
pub async fn measure(engine: &Engine, size: LatencySize) -> anyhow::Result<LatencyFigures> {
    let scratch = engine.scratch("latency").await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = DemoConfig {
        bind: ([127, 0, 0, 1], 0).into(),
        schools: size.schools,
        students: size.students,
        seed: 11,
        incremental_every: Every(None),
        database_url: Some(scratch.url.clone()),
        limits: Default::default(),
    };
    let demo = Demo::start(config, async move {
        let _ = stopped.await;
    })
    .await?;
    let api = demo.api();
    let schools = demo.schools().await?;
    // One run per school first, so that both measures start with warm pools.
    no_change_runs(&demo, &api, &schools, schools.len()).await?;
    let baseline = no_change_runs(&demo, &api, &schools, size.baseline_runs).await?;
    let (subscriber, webhook) = leavers(&demo, &api, &schools, size.leavers).await?;
    let _ = stop.send(());
    demo.finish().await?;
    scratch.drop_now().await?;
    Ok(LatencyFigures {
        subscriber: Samples::new(subscriber),
        webhook: Samples::new(webhook),
        no_change_run: Samples::new(baseline),
    })
}
