//! The worker drains its queue `runs_at_once` schools side by side (issue
//! 15: while one run fetches from Wonde another writes): runs of different
//! schools overlap, never more than asked, and each ends as it would alone.

use entity::enums::{SyncKind, SyncStatus};
use entity::sync_run;
use onroll::sync::runs;
use sea_orm::EntityTrait;
use std::time::Duration;
use wonde_sim::{FaultKind, FaultSpec};

use crate::on_both_engines;
use crate::support::Engine;
use crate::sync_wonde::{World, assert_progress_ends_with_its_count};

on_both_engines!(queued_runs_of_schools_go_side_by_side, a_run_queued_during_a_drain_takes_a_free_place);

/// Queues a FULL run of every school of `world`, drains the queue
/// `at_once` at a time, and answers the runs in the order they started.
async fn drain(world: &World, at_once: usize) -> anyhow::Result<Vec<sync_run::Model>> {
    let mut ids = Vec::new();
    for (_, school) in &world.schools {
        ids.push(runs::enqueue(world.db(), school.id, SyncKind::Full, true).await?.0.id);
    }
    let ran = world.engine.drain_queue(at_once).await?;
    assert_eq!(ran, ids.len(), "every queued run ran");
    let mut finished = Vec::new();
    for id in ids {
        let run = sync_run::Entity::find_by_id(id).one(world.db()).await?;
        let run = run.ok_or_else(|| anyhow::anyhow!("run {id} is gone"))?;
        assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
        finished.push(run);
    }
    finished.sort_by_key(|run| run.started_at);
    Ok(finished)
}

fn span(
    run: &sync_run::Model,
) -> anyhow::Result<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> {
    match (run.started_at, run.finished_at) {
        (Some(started), Some(finished)) => Ok((started, finished)),
        _ => anyhow::bail!("run {} has no start or end: {run:?}", run.id),
    }
}

async fn queued_runs_of_schools_go_side_by_side(engine: Engine) -> anyhow::Result<()> {
    let world = World::start(&engine, 3, 60).await?;

    let runs = drain(&world, 2).await?;
    let [first, second, third] = [span(&runs[0])?, span(&runs[1])?, span(&runs[2])?];
    assert!(second.0 < first.1, "the second run started while the first ran: {runs:#?}");
    assert!(third.0 >= first.1.min(second.1), "the third waited for one of the first two to end: {runs:#?}");
    for (i, run) in runs.iter().enumerate() {
        world.assert_mirrors(i).await?;
        assert_progress_ends_with_its_count(world.db(), run).await?;
    }

    // One at a time, as asked: each run starts after the one before ended.
    let runs = drain(&world, 1).await?;
    for pair in runs.windows(2) {
        assert!(span(&pair[1])?.0 >= span(&pair[0])?.1, "runs overlapped: {pair:#?}");
    }
    Ok(())
}

/// A run queued while a drain is under way (a leaver's `triggerSync`)
/// starts in a free place at once, not after the runs before it end.
async fn a_run_queued_during_a_drain_takes_a_free_place(engine: Engine) -> anyhow::Result<()> {
    let world = World::start(&engine, 2, 30).await?;
    let (first_school, second_school) = (&world.schools[0], &world.schools[1]);
    // The first school's students answer after 3 s: its run is still
    // fetching when the second is queued.
    let slow = FaultSpec::new("students", FaultKind::Latency { ms: 3000 }, 1).for_school(&first_school.0);
    world.sim.inject_fault(slow);
    let first = runs::enqueue(world.db(), first_school.1.id, SyncKind::Full, false).await?.0;
    let drain = world.engine.drain_queue(2);
    let queue_second = async {
        while world.sim.pending_faults() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        anyhow::Ok(runs::enqueue(world.db(), second_school.1.id, SyncKind::Full, false).await?.0)
    };
    let (ran, second) = tokio::join!(drain, queue_second);
    assert_eq!(ran?, 2, "the drain ran the run queued meanwhile too");
    let [first, second] = [first.id, second?.id];
    let load = |id| sync_run::Entity::find_by_id(id).one(world.db());
    let (first, second) = (load(first).await?, load(second).await?);
    let (Some(first), Some(second)) = (first, second) else { anyhow::bail!("a run is gone") };
    for run in [&first, &second] {
        assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    }
    assert!(
        span(&second)?.0 < span(&first)?.1,
        "the second run started while the first was still fetching: {first:#?} {second:#?}"
    );
    Ok(())
}
