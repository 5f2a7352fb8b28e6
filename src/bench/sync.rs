//! FULL sync of a simulated trust against the client's paging floor, and
//! a no-change INCREMENTAL run a school after it.
//!
//! The FULL runs are queued and drained as `serve`'s worker drains them,
//! `runs_at_once` schools side by side. The floor is the same pages the
//! runs fetch, through the same client, parsed and dropped, `runs_at_once`
//! schools side by side too: what the runs would cost if writing were
//! free, so the ratio is what writing adds and never credits the runs with
//! paging two schools at once. The simulator runs in this process, so both
//! include its rendering time.

use chrono::Utc;
use entity::enums::{ConnectionStatus, SyncKind, SyncStatus};
use futures::{StreamExt, stream};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseConnection, EntityTrait};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wonde_sim::{SimConfig, SimHandle, Simulator};

use super::support::{Engine, peak_mib, reset_peak};
use crate::crypto::SecretKey;
use crate::events::EventBus;
use crate::sync::SyncEngine;
use crate::wonde::{GroupType, ListQuery, Pager, SchoolAccess, SecretToken, WondeClient, WondeConfig};

/// One FULL sync of `schools` schools and what followed it.
#[derive(Clone, Debug)]
pub struct SyncFigures {
    pub schools: usize,
    /// Pupils a school.
    pub students: usize,
    /// Schools paged (floor) and synced (FULL runs) side by side.
    pub runs_at_once: usize,
    /// Records the floor paged (every endpoint the sync reads).
    pub records: usize,
    /// Seconds to page everything through the client, writing nothing.
    pub floor_s: f64,
    /// Seconds for the FULL runs of every school, drained `runs_at_once`
    /// at a time.
    pub full_s: f64,
    /// The process's peak resident set during the FULL runs, MiB (the
    /// simulator's world included).
    pub peak_mib: f64,
    /// A no-change INCREMENTAL run, ms a school.
    pub incremental_ms: f64,
    /// What the quiet run's Wonde requests alone take, ms a school: the
    /// same lists asked for what changed since the FULL runs, one after
    /// another as the run asks them, parsed and dropped.
    pub incremental_floor_ms: f64,
}

impl SyncFigures {
    /// Records the FULL runs took in a second (the floor's record count).
    pub fn records_per_s(&self) -> f64 {
        self.records as f64 / self.full_s
    }

    /// The FULL runs' time over the paging floor's.
    pub fn ratio(&self) -> f64 {
        self.full_s / self.floor_s
    }
}

async fn drain<T: DeserializeOwned>(mut pager: Pager<T>) -> anyhow::Result<usize> {
    let mut records = 0;
    while let Some(page) = pager.next_page().await? {
        records += page.records.len();
    }
    Ok(records)
}

/// The floor: every page a FULL run of every school fetches, parsed and
/// dropped, `at_once` schools side by side. Seconds and records.
pub async fn paging_floor(
    client: &WondeClient,
    sim: &SimHandle,
    at_once: usize,
) -> anyhow::Result<(f64, usize)> {
    let started = Instant::now();
    let mut schools = stream::iter(sim.schools())
        .map(|school| async move {
            let access = SchoolAccess::new(school.wonde_id.clone(), SecretToken::new(school.token.clone()));
            let q = ListQuery::default();
            let mut records = drain(client.students(&access, &q)).await?;
            records += drain(client.leavers(&access, &q)).await?;
            records += drain(client.employees(&access, &q)).await?;
            records += drain(client.contacts(&access, &q)).await?;
            records += drain(client.classes(&access, &q)).await?;
            records += drain(client.groups(&access, GroupType::Year, &q)).await?;
            records += drain(client.groups(&access, GroupType::Registration, &q)).await?;
            anyhow::Ok(records)
        })
        .buffer_unordered(at_once.max(1));
    let mut records = 0;
    while let Some(paged) = schools.next().await {
        records += paged?;
    }
    Ok((started.elapsed().as_secs_f64(), records))
}

/// Where the runs' SQL time went, by statement (its first words),
/// printed to stderr when `BENCH_PROFILE` is set: what to cut next.
/// Without it, every method does nothing.
struct SqlProfile {
    enabled: bool,
    recording: Arc<AtomicBool>,
    shapes: Arc<Mutex<HashMap<String, (usize, Duration)>>>,
}

impl SqlProfile {
    fn from_env() -> Self {
        let enabled = std::env::var_os("BENCH_PROFILE").is_some();
        Self { enabled, recording: Arc::default(), shapes: Arc::default() }
    }

    /// Counts `db`'s statements while recording. Set before the engine
    /// takes its clone of `db`: a clone keeps the callback it was made with.
    fn attach(&self, db: &mut DatabaseConnection) {
        if !self.enabled {
            return;
        }
        let (recording, shapes) = (self.recording.clone(), self.shapes.clone());
        db.set_metric_callback(move |info| {
            if !recording.load(Ordering::Relaxed) {
                return;
            }
            let shape: String = info.statement.sql.chars().take(100).collect();
            if let Ok(mut shapes) = shapes.lock() {
                let entry = shapes.entry(shape).or_default();
                entry.0 += 1;
                entry.1 += info.elapsed;
            }
        });
    }

    fn start(&self) {
        self.recording.store(true, Ordering::Relaxed);
    }

    /// Stops recording, prints what was recorded since the start, and
    /// forgets it.
    fn finish(&self, label: impl FnOnce() -> String) {
        self.recording.store(false, Ordering::Relaxed);
        if !self.enabled {
            return;
        }
        let Ok(mut shapes) = self.shapes.lock() else { return };
        let shapes = std::mem::take(&mut *shapes);
        let mut rows: Vec<_> = shapes.iter().collect();
        rows.sort_by_key(|(_, (_, time))| std::cmp::Reverse(*time));
        let count: usize = shapes.values().map(|(count, _)| count).sum();
        let in_sql: Duration = shapes.values().map(|(_, time)| *time).sum();
        // Each statement's own time: BEGIN and COMMIT are not counted, and
        // runs side by side add up (the sum can pass the wall time).
        eprintln!("== {}: {count} statements, {in_sql:.1?} in their own time (commits aside)", label());
        for (shape, (count, time)) in rows.into_iter().take(30) {
            eprintln!("{count:>6} {time:>10.2?}  {shape}");
        }
    }
}

/// The quiet INCREMENTAL run's requests for every school of `sim`, in
/// turn: deletions, then each list with `updated_after` set to `since`
/// (students with their classes, as an incremental run asks). Ms a school.
pub async fn incremental_floor(
    client: &WondeClient,
    sim: &SimHandle,
    since: chrono::DateTime<Utc>,
) -> anyhow::Result<f64> {
    let schools = sim.schools();
    let started = Instant::now();
    for school in &schools {
        let access = SchoolAccess::new(school.wonde_id.clone(), SecretToken::new(school.token.clone()));
        let q = ListQuery { updated_after: Some(since), includes: None };
        drain(client.deletions(&access, None, &q)).await?;
        drain(client.students(&access, &crate::sync::wonde_source::with_classes(&q))).await?;
        drain(client.leavers(&access, &q)).await?;
        drain(client.employees(&access, &q)).await?;
        drain(client.contacts(&access, &q)).await?;
        drain(client.classes(&access, &q)).await?;
        drain(client.groups(&access, GroupType::Year, &q)).await?;
        drain(client.groups(&access, GroupType::Registration, &q)).await?;
    }
    Ok(started.elapsed().as_secs_f64() * 1000.0 / schools.len().max(1) as f64)
}

/// A trust on `db` with every school of `sim`, each with an approved Wonde
/// connection, and the engine that syncs them: the trust's id, the
/// schools' ids, the engine.
pub async fn connected_trust(
    db: &DatabaseConnection,
    sim: &SimHandle,
) -> anyhow::Result<(i32, Vec<i32>, SyncEngine)> {
    let client = WondeClient::new(WondeConfig { base_url: Some(sim.base_url()), ..WondeConfig::default() })?;
    let key = SecretKey::generate();
    let trust = crate::tenancy::create_trust(db, "Bench Trust").await?;
    let mut ours = Vec::new();
    for school in sim.schools() {
        let now = Utc::now();
        let row = entity::school::ActiveModel {
            trust_id: Set(trust.id),
            wonde_id: Set(Some(school.wonde_id.clone())),
            name: Set(school.name.clone()),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await?;
        let token = crate::crypto::Secret::new(school.token.clone());
        crate::connections::create(
            db,
            row.id,
            &school.wonde_id,
            ConnectionStatus::Approved,
            Some((&token, &key)),
        )
        .await?;
        ours.push(row.id);
    }
    let engine = SyncEngine {
        db: db.clone(),
        key,
        events: EventBus::default(),
        client,
        guard_share: 0.5,
        worker: "bench".to_owned(),
        clock: Default::default(),
    };
    Ok((trust.id, ours, engine))
}

/// Runs one `kind` run of each school in turn; each must complete.
pub async fn run_each(engine: &SyncEngine, schools: &[i32], kind: SyncKind) -> anyhow::Result<()> {
    for school in schools {
        let run = engine.run_now(*school, kind, false).await?;
        anyhow::ensure!(run.status == SyncStatus::Completed, "a {kind:?} run failed: {:?}", run.error);
    }
    Ok(())
}

/// Queues a `kind` run of each school and drains the queue as the worker
/// does, `at_once` side by side; each must complete.
pub async fn drain_each(
    engine: &SyncEngine,
    schools: &[i32],
    kind: SyncKind,
    at_once: usize,
) -> anyhow::Result<()> {
    let mut queued = Vec::with_capacity(schools.len());
    for school in schools {
        queued.push(crate::sync::runs::enqueue(&engine.db, *school, kind, false).await?.0.id);
    }
    engine.drain_queue(at_once).await?;
    for id in queued {
        let run = entity::sync_run::Entity::find_by_id(id).one(&engine.db).await?;
        let run = run.ok_or_else(|| anyhow::anyhow!("run {id} is gone"))?;
        anyhow::ensure!(run.status == SyncStatus::Completed, "a {kind:?} run failed: {:?}", run.error);
    }
    Ok(())
}

/// A trust of `schools` simulated schools of `students` pupils: the floor,
/// the FULL runs (`at_once` side by side) and a no-change INCREMENTAL run
/// of each, on `engine`.
pub async fn measure(
    engine: &Engine,
    schools: usize,
    students: usize,
    at_once: usize,
) -> anyhow::Result<SyncFigures> {
    let sim = Simulator::start(SimConfig::trust(schools, students, 5)).await?;
    let client = WondeClient::new(WondeConfig { base_url: Some(sim.base_url()), ..WondeConfig::default() })?;
    let (floor_s, records) = paging_floor(&client, &sim, at_once).await?;

    let scratch = engine.scratch(&format!("sync{schools}")).await?;
    let mut db = scratch.migrated().await?;
    let profile = SqlProfile::from_env();
    profile.attach(&mut db);
    let (_, ours, sync) = connected_trust(&db, &sim).await?;
    reset_peak();
    profile.start();
    // The quiet runs ask from their watermark, their FULL run's start, less
    // the overlap; their floor asks from the same moment.
    let since = Utc::now() - crate::sync::engine::WATERMARK_OVERLAP;
    let started = Instant::now();
    drain_each(&sync, &ours, SyncKind::Full, at_once).await?;
    let full_s = started.elapsed().as_secs_f64();
    // The drain's runs are analysed after it, in the background (not part
    // of the sync's time): done before the quiet runs, so they do not
    // share the machine with it.
    crate::sync::analyze::settled().await;
    profile.finish(|| format!("{} FULL runs, {at_once} at once, {full_s:.2} s", ours.len()));
    let peak_mib = peak_mib();
    profile.start();
    // BENCH_QUIET_ROUNDS repeats the quiet runs (a steadier mean, and a
    // profile of them that the FULL runs do not drown).
    let rounds: usize =
        std::env::var("BENCH_QUIET_ROUNDS").ok().and_then(|n| n.parse().ok()).unwrap_or(1).max(1);
    let started = Instant::now();
    for _ in 0..rounds {
        run_each(&sync, &ours, SyncKind::Incremental).await?;
    }
    let incremental_ms = started.elapsed().as_secs_f64() * 1000.0 / (ours.len() * rounds) as f64;
    profile.finish(|| {
        format!("{} no-change INCREMENTAL runs, {incremental_ms:.1} ms a school", ours.len() * rounds)
    });
    let mut incremental_floor_ms = 0.0;
    for _ in 0..rounds {
        incremental_floor_ms += incremental_floor(&client, &sim, since).await? / rounds as f64;
    }
    drop((sync, db));
    sim.shutdown().await;
    scratch.drop_now().await?;
    Ok(SyncFigures {
        schools,
        students,
        runs_at_once: at_once,
        records,
        floor_s,
        full_s,
        peak_mib,
        incremental_ms,
        incremental_floor_ms,
    })
}
