//! The worker drains its queue `runs_at_once` schools side by side (issue
//! 15: while one run fetches from Wonde another writes): runs of different
//! schools overlap, never more fetching at once than asked, a run's fetch
//! place goes to the next run as soon as its fetch ends, and each ends as
//! it would alone.

use entity::enums::{EventKind, SyncKind, SyncStatus};
use entity::{event, sync_run};
use onroll::sync::runs;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};
use std::time::Duration;
use wonde_sim::{FaultKind, FaultSpec};

use crate::on_both_engines;
use crate::support::Engine;
use crate::sync_wonde::{World, assert_progress_ends_with_its_count};

on_both_engines!(
    queued_runs_of_schools_go_side_by_side,
    a_run_queued_during_a_drain_takes_a_free_place,
    a_run_fetches_while_the_one_before_writes,
    paging_goes_on_while_progress_waits_to_be_written,
    a_run_cancelled_while_it_pages_stops_and_applies_nothing,
    a_run_that_fails_while_it_pages_ends_with_its_whole_count,
    the_api_keeps_connections_while_runs_wait_for_the_writer,
    pages_are_reported_at_most_every_report_every
);

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

/// The run's page reports (every progress event after "fetching" and
/// before "applying"): the first is written after its first page was read,
/// so after it took its place to page; the last before it gave the place
/// back.
async fn pages_reported(
    world: &World,
    run: &sync_run::Model,
) -> anyhow::Result<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> {
    let events = progress_of(world, run).await?;
    let mut pages = Vec::new();
    for (phase, _, at) in &events {
        match phase.as_str() {
            "fetching" => {}
            "applying" => break,
            _ => pages.push(*at),
        }
    }
    match (pages.first(), pages.last()) {
        (Some(first), Some(last)) => Ok((*first, *last)),
        _ => anyhow::bail!("run {} reported no page: {events:?}", run.id),
    }
}

/// The run's progress events in order: phase, count, when.
async fn progress_of(
    world: &World,
    run: &sync_run::Model,
) -> anyhow::Result<Vec<(String, Option<i64>, chrono::DateTime<chrono::Utc>)>> {
    let events = event::Entity::find()
        .filter(event::Column::SyncRunId.eq(run.id))
        .filter(event::Column::Kind.eq(EventKind::SyncProgress))
        .order_by_asc(event::Column::Id)
        .all(world.db())
        .await?;
    let mut progress = Vec::with_capacity(events.len());
    for e in events {
        let payload: serde_json::Value = serde_json::from_str(e.payload.as_deref().unwrap_or("{}"))?;
        let phase = payload["phase"].as_str().unwrap_or_default().to_owned();
        progress.push((phase, payload["processed"].as_i64(), e.occurred_at));
    }
    Ok(progress)
}

/// Whether the simulator was asked for the form groups, the last listing a
/// run pages.
fn asked_for_form_groups(world: &World) -> bool {
    world.sim.requests().into_iter().any(|r| {
        r.endpoint == "groups"
            && r.query.as_deref().unwrap_or_default().to_ascii_lowercase().contains("registration")
    })
}

async fn queued_runs_of_schools_go_side_by_side(engine: Engine) -> anyhow::Result<()> {
    let world = World::start(&engine, 3, 60).await?;

    let runs = drain(&world, 2).await?;
    let [first, second] = [span(&runs[0])?, span(&runs[1])?];
    assert!(second.0 < first.1, "the second run started while the first ran: {runs:#?}");
    // Two page at once at most: the one that paged last began after one of
    // the other two ended its paging.
    let mut paged = Vec::new();
    for run in &runs {
        paged.push(pages_reported(&world, run).await?);
    }
    paged.sort();
    assert!(paged[2].0 >= paged[0].1.min(paged[1].1), "three paged at once: {paged:?}");
    for (i, run) in runs.iter().enumerate() {
        world.assert_mirrors(i).await?;
        assert_progress_ends_with_its_count(world.db(), run).await?;
    }

    // One paging at a time, as asked: each run's paging begins after the
    // one before it ended its paging.
    let runs = drain(&world, 1).await?;
    let mut paged = Vec::new();
    for run in &runs {
        paged.push(pages_reported(&world, run).await?);
    }
    paged.sort();
    for pair in paged.windows(2) {
        assert!(pair[1].0 >= pair[0].1, "pagings overlapped: {pair:?}");
    }
    Ok(())
}

/// A run whose write is held up does not hold up the next run's paging
/// (issue 15: a school's apply kept its lane idle). On PostgreSQL a lock
/// on the pupils' table stops the first run's write; the second school's
/// pupils must be asked for meanwhile. SQLite has one writer, and the test
/// cannot hold it without holding up the runs' own bookkeeping, so there
/// the drain is only checked to end with every school mirrored.
async fn a_run_fetches_while_the_one_before_writes(engine: Engine) -> anyhow::Result<()> {
    let world = World::start(&engine, 2, 30).await?;
    let mut ids = Vec::new();
    for (_, school) in &world.schools {
        ids.push(runs::enqueue(world.db(), school.id, SyncKind::Full, false).await?.0.id);
    }
    let second_school = world.schools[1].0.clone();
    world.sim.clear_requests();
    let postgres = world.db().get_database_backend() == DbBackend::Postgres;
    let lock = world.db().begin().await?;
    if postgres {
        lock.execute_unprepared("LOCK TABLE student IN SHARE ROW EXCLUSIVE MODE").await?;
    }
    let drain = world.engine.drain_queue(1);
    let watch = async {
        let paging = async {
            loop {
                let asked = world
                    .sim
                    .requests()
                    .into_iter()
                    .any(|r| r.endpoint == "students" && r.path.contains(second_school.as_str()));
                if asked {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let seen =
            if postgres { tokio::time::timeout(Duration::from_secs(20), paging).await.is_ok() } else { true };
        lock.commit().await?;
        anyhow::Ok(seen)
    };
    let (ran, seen) = tokio::join!(drain, watch);
    assert!(seen?, "the second school was not paged while the first run waited to write");
    assert_eq!(ran?, 2);
    for (i, id) in ids.into_iter().enumerate() {
        let run = sync_run::Entity::find_by_id(id).one(world.db()).await?;
        let run = run.ok_or_else(|| anyhow::anyhow!("run {id} is gone"))?;
        assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
        world.assert_mirrors(i).await?;
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

/// Paging goes on while the run's progress waits to be written (issue 15:
/// each page's report, a write, was awaited before the page after next,
/// and a write waits for whoever holds the writer). On PostgreSQL the test
/// holds the event log's lock, as another school's apply does from its
/// first event to its commit: the run must still ask for its last listing
/// (the form groups). Once the lock goes, every page is reported before the
/// apply. SQLite's writer cannot be held without holding up the claim, so
/// there the run is only checked to end as it should.
async fn paging_goes_on_while_progress_waits_to_be_written(engine: Engine) -> anyhow::Result<()> {
    let world = World::start(&engine, 1, 30).await?;
    let id = runs::enqueue(world.db(), world.schools[0].1.id, SyncKind::Full, false).await?.0.id;
    world.sim.clear_requests();
    let postgres = world.db().get_database_backend() == DbBackend::Postgres;
    let lock = world.db().begin().await?;
    let drain = async {
        // Claimed first, so that the claim's own report is not what waits.
        let ran = world.engine.drain_queue(1).await;
        anyhow::Ok(ran?)
    };
    let watch = async {
        if postgres {
            // Let the run be claimed and report that it is fetching, then
            // take the lock every later report needs.
            let reported = event::Entity::find().filter(event::Column::SyncRunId.eq(id));
            while reported.clone().one(world.db()).await?.is_none() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            lock.execute_unprepared(
                "SELECT pg_advisory_xact_lock(hashtext('onroll-events:' || current_schema()))",
            )
            .await?;
        }
        let last_listing = async {
            while !asked_for_form_groups(&world) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let seen = if postgres {
            tokio::time::timeout(Duration::from_secs(20), last_listing).await.is_ok()
        } else {
            true
        };
        lock.commit().await?;
        anyhow::Ok(seen)
    };
    let (ran, seen) = tokio::join!(drain, watch);
    assert!(seen?, "paging stopped while a progress report waited for the event log");
    assert_eq!(ran?, 1);
    let run = sync_run::Entity::find_by_id(id).one(world.db()).await?;
    let run = run.ok_or_else(|| anyhow::anyhow!("run {id} is gone"))?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    world.assert_mirrors(0).await?;
    assert_progress_ends_with_its_count(world.db(), &run).await?;
    Ok(())
}

/// A run cancelled while it pages stops paging and applies nothing: its
/// reporter sees the cancel at the report of the page under way, and the
/// paging stops at the next page (the last listing, the form groups, is
/// never asked for).
async fn a_run_cancelled_while_it_pages_stops_and_applies_nothing(engine: Engine) -> anyhow::Result<()> {
    let world = World::start(&engine, 1, 30).await?;
    let (wonde_id, school) = world.schools[0].clone();
    // The pupils answer after 1.5 s: the run is paging when it is cancelled.
    world
        .sim
        .inject_fault(FaultSpec::new("students", FaultKind::Latency { ms: 1500 }, 1).for_school(&wonde_id));
    let id = runs::enqueue(world.db(), school.id, SyncKind::Full, false).await?.0.id;
    world.sim.clear_requests();
    let cancel = async {
        while world.sim.pending_faults() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let cancelled = runs::cancel(world.db(), id).await?;
        anyhow::Ok(cancelled.map(|run| run.status))
    };
    let (ran, cancelled) = tokio::join!(world.engine.drain_queue(1), cancel);
    assert_eq!(cancelled?, Some(SyncStatus::Cancelled));
    ran?;
    let run = sync_run::Entity::find_by_id(id).one(world.db()).await?;
    let run = run.ok_or_else(|| anyhow::anyhow!("run {id} is gone"))?;
    assert_eq!(run.status, SyncStatus::Cancelled, "{:?}", run.error);
    let pupils = entity::student::Entity::find()
        .filter(entity::student::Column::SchoolId.eq(school.id))
        .count(world.db())
        .await?;
    assert_eq!(pupils, 0, "a cancelled run applied nothing");
    assert!(!asked_for_form_groups(&world), "paging went on to the end after the cancel");
    assert_counts_never_go_back(&world, &run).await
}

/// The progress a run reports never goes back, and its status is the last
/// event, however its paging ends: pages whose reports a stopped fetch gave
/// up still count in the run's end. A run whose last listing Wonde refuses
/// fails after the pages before it were read and reported.
async fn a_run_that_fails_while_it_pages_ends_with_its_whole_count(engine: Engine) -> anyhow::Result<()> {
    let world = World::start(&engine, 1, 30).await?;
    let (wonde_id, school) = world.schools[0].clone();
    // 400 is not retried: the form groups' listing fails the run.
    let refused = FaultSpec::new("groups", FaultKind::ServerError { status: 400 }, 100).for_school(&wonde_id);
    world.sim.inject_fault(refused);
    let id = runs::enqueue(world.db(), school.id, SyncKind::Full, false).await?.0.id;
    world.engine.drain_queue(1).await?;
    world.sim.clear_faults();
    let run = sync_run::Entity::find_by_id(id).one(world.db()).await?;
    let run = run.ok_or_else(|| anyhow::anyhow!("run {id} is gone"))?;
    assert_eq!(run.status, SyncStatus::Failed, "{run:?}");
    assert_counts_never_go_back(&world, &run).await
}

/// The run's progress events in order: counts that never fall, and its
/// status last.
async fn assert_counts_never_go_back(world: &World, run: &sync_run::Model) -> anyhow::Result<()> {
    let seen: Vec<(String, Option<i64>)> =
        progress_of(world, run).await?.into_iter().map(|(phase, processed, _)| (phase, processed)).collect();
    assert!(seen.len() > 2, "pages were reported before the end: {seen:?}");
    assert!(seen.windows(2).all(|pair| pair[0].1 <= pair[1].1), "a count went back: {seen:?}");
    assert_eq!(seen.last().map(|(phase, _)| phase.as_str()), Some(run.status.as_str()), "{seen:?}");
    Ok(())
}

/// Runs under way leave the API pooled connections while they wait for the
/// database's writer (a trial found four SQLite runs under way took the
/// whole pool of four, and eight PostgreSQL runs at `runs_at_once` 4 took
/// all sixteen connections). Something else holds the writer (SQLite: a
/// write transaction of another process; PostgreSQL: a lock on the run
/// table, which every claim writes) while the most runs the worker allows
/// are queued; an API read must still get a connection at once.
async fn the_api_keeps_connections_while_runs_wait_for_the_writer(engine: Engine) -> anyhow::Result<()> {
    let postgres = matches!(engine, Engine::Postgres(_));
    let (schools, at_once) = if postgres { (8, 4) } else { (4, 2) };
    let world = World::start(&engine, schools, 10).await?;
    for (_, school) in &world.schools {
        runs::enqueue(world.db(), school.id, SyncKind::Full, false).await?;
    }
    let other = onroll::db::connect(&world.data.url(&engine), None).await?;
    let hold = onroll::db::begin_write(&other).await?;
    if postgres {
        hold.execute_unprepared("LOCK TABLE sync_run IN EXCLUSIVE MODE").await?;
    } else {
        hold.execute_unprepared("UPDATE school SET name = name WHERE id < 0").await?;
    }
    let drain = world.engine.drain_queue(at_once);
    let probe = async {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let started = std::time::Instant::now();
        let read = world
            .db()
            .query_one_raw(sea_orm::Statement::from_string(world.db().get_database_backend(), "SELECT 1"));
        let waited = tokio::time::timeout(Duration::from_secs(2), read).await.map(|_| started.elapsed());
        hold.commit().await?;
        anyhow::Ok(waited)
    };
    let (ran, waited) = tokio::join!(drain, probe);
    let waited = waited?;
    assert_eq!(ran?, schools, "every run ran once the writer was free");
    assert!(
        waited.as_ref().is_ok_and(|waited| *waited < Duration::from_millis(500)),
        "an API read waited for a pooled connection while runs waited for the writer: {waited:?}"
    );
    Ok(())
}

/// A run whose pages come every 60 ms reports them at most every
/// `REPORT_EVERY` (issue 15: a report per page was as many statements as
/// the rest of a FULL run on PostgreSQL), pages read in between counted in
/// the next report, the last ones at the fetch's end; the count still ends
/// whole.
async fn pages_are_reported_at_most_every_report_every(engine: Engine) -> anyhow::Result<()> {
    let world = World::start(&engine, 1, 30).await?;
    let (wonde_id, school) = world.schools[0].clone();
    world.sim.inject_fault(FaultSpec::new("*", FaultKind::Latency { ms: 60 }, 25).for_school(&wonde_id));
    let run = world.engine.run_now(school.id, SyncKind::Full, false).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    let events = progress_of(&world, &run).await?;
    let pages: Vec<_> = events
        .iter()
        .skip_while(|(phase, _, _)| phase == "fetching")
        .take_while(|(phase, _, _)| phase != "applying")
        .collect();
    assert!(pages.len() >= 3, "the fetch of 25 slow requests reported {} times: {events:?}", pages.len());
    let every = chrono::Duration::from_std(onroll::sync::monitor::REPORT_EVERY)?;
    // The last report is the fetch's end, which waits for nobody.
    for pair in pages[..pages.len() - 1].windows(2) {
        let gap = pair[1].2 - pair[0].2;
        assert!(gap >= every, "reports {gap} apart: {events:?}");
    }
    assert_progress_ends_with_its_count(world.db(), &run).await?;
    Ok(())
}
