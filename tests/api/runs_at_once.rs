//! The worker drains its queue `runs_at_once` schools side by side (issue
//! 15: while one run fetches from Wonde another writes): runs of different
//! schools overlap, never more than asked, and each ends as it would alone.

use entity::enums::{SyncKind, SyncStatus};
use entity::sync_run;
use onroll::sync::runs;
use sea_orm::EntityTrait;

use crate::on_both_engines;
use crate::support::Engine;
use crate::sync_wonde::{World, assert_progress_ends_with_its_count};

on_both_engines!(queued_runs_of_schools_go_side_by_side);

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
