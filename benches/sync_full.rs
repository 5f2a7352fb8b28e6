//! How fast a FULL sync mirrors a simulated trust, against the client's
//! paging floor measured in the same run. Not a test:
//! `cargo bench --bench sync_full`. Sizes: BENCH_SCHOOLS (default "1,5,20")
//! schools of BENCH_STUDENTS (default 1000) students each, with their
//! guardians, staff, classes and groups. Runs on SQLite, and on PostgreSQL
//! too when ONROLL_BENCH_DATABASE_URL (or ONROLL_TEST_DATABASE_URL) is set.
//!
//! The simulator runs in this process. Peak memory is the growth of the
//! resident set's high-water mark over the syncs, above the resident set
//! when they start (the simulator's world is already resident by then; its
//! page buffers while serving are counted, so this overstates the sync).

use chrono::Utc;
use entity::enums::{ConnectionStatus, SyncKind, SyncStatus};
use onroll::crypto::SecretKey;
use onroll::events::EventBus;
use onroll::sync::SyncEngine;
use onroll::wonde::{GroupType, ListQuery, Pager, SchoolAccess, SecretToken, WondeClient, WondeConfig};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait};
use serde::de::DeserializeOwned;
use std::time::Instant;
use wonde_sim::{SimConfig, SimHandle, Simulator};

mod support;
use support::{engines, env_number, postgres_url};

/// A field of /proc/self/status, in bytes.
fn status_bytes(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Resets the resident-set high-water mark (Linux: `5` to clear_refs) and
/// returns the resident set now.
fn reset_peak() -> usize {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    status_bytes("VmRSS:")
}

fn peak_since(base: usize) -> usize {
    status_bytes("VmHWM:").saturating_sub(base)
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

async fn drain<T: DeserializeOwned>(mut pager: Pager<T>) -> anyhow::Result<usize> {
    let mut records = 0;
    while let Some(page) = pager.next_page().await? {
        records += page.records.len();
    }
    Ok(records)
}

/// The floor: the same pages the sync fetches, through the same client,
/// parsed and dropped.
async fn floor(client: &WondeClient, sim: &SimHandle) -> anyhow::Result<(f64, usize)> {
    let started = Instant::now();
    let mut records = 0;
    let q = ListQuery::default();
    for school in sim.schools() {
        let access = SchoolAccess::new(school.wonde_id.clone(), SecretToken::new(school.token.clone()));
        records += drain(client.students(&access, &q)).await?;
        records += drain(client.leavers(&access, &q)).await?;
        records += drain(client.employees(&access, &q)).await?;
        records += drain(client.contacts(&access, &q)).await?;
        records += drain(client.classes(&access, &q)).await?;
        records += drain(client.groups(&access, GroupType::Year, &q)).await?;
        records += drain(client.groups(&access, GroupType::Registration, &q)).await?;
    }
    Ok((started.elapsed().as_secs_f64(), records))
}

struct Row {
    engine: &'static str,
    schools: usize,
    students: usize,
    floor_s: f64,
    full_s: f64,
    records: usize,
    peak_mib: f64,
    incremental_ms: f64,
}

async fn measure(engine: &'static str, schools: usize, students: usize) -> anyhow::Result<Row> {
    let sim = Simulator::start(SimConfig {
        schools,
        students_per_school: students,
        seed: 5,
        ..SimConfig::default()
    })
    .await?;
    let client = WondeClient::new(WondeConfig { base_url: Some(sim.base_url()), ..WondeConfig::default() })?;
    let (floor_s, records) = floor(&client, &sim).await?;

    let tag = format!("{schools}x{students}");
    let (_, db) = support::migrated_database(engine, &tag).await?;
    let key = SecretKey::generate();
    let trust = onroll::tenancy::create_trust(&db, "Bench Trust").await?;
    let mut ours = Vec::new();
    for school in sim.schools() {
        let now = Utc::now();
        let row = entity::school::ActiveModel {
            trust_id: Set(trust.id),
            wonde_id: Set(Some(school.wonde_id.clone())),
            name: Set(school.name.clone()),
            urn: Set(None),
            la_code: Set(None),
            establishment_number: Set(None),
            phase: Set(None),
            mis: Set(None),
            postcode: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&db)
        .await?;
        let token = onroll::crypto::Secret::new(school.token.clone());
        onroll::connections::create(
            &db,
            row.id,
            &school.wonde_id,
            ConnectionStatus::Approved,
            Some((&token, &key)),
        )
        .await?;
        ours.push(row.id);
    }
    let sync = SyncEngine {
        db: db.clone(),
        key,
        events: EventBus::default(),
        client,
        guard_share: 0.5,
        worker: "bench".to_owned(),
        clock: Default::default(),
    };
    let base = reset_peak();
    let started = Instant::now();
    for school in &ours {
        let run = sync.run_now(*school, SyncKind::Full, false).await?;
        anyhow::ensure!(run.status == SyncStatus::Completed, "FULL failed: {:?}", run.error);
    }
    let full_s = started.elapsed().as_secs_f64();
    let peak_mib = mib(peak_since(base));
    let started = Instant::now();
    for school in &ours {
        let run = sync.run_now(*school, SyncKind::Incremental, false).await?;
        anyhow::ensure!(run.status == SyncStatus::Completed, "INCREMENTAL failed: {:?}", run.error);
    }
    let incremental_ms = started.elapsed().as_secs_f64() * 1000.0 / ours.len() as f64;
    if let Some(url) = postgres_url().filter(|_| engine == "postgres") {
        let admin = onroll::db::connect(&url, None).await?;
        admin
            .execute_unprepared(&format!("DROP SCHEMA IF EXISTS {} CASCADE", support::schema_name(&tag)))
            .await?;
    }
    Ok(Row { engine, schools, students, floor_s, full_s, records, peak_mib, incremental_ms })
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let sizes: Vec<usize> = std::env::var("BENCH_SCHOOLS")
        .unwrap_or_else(|_| "1,5,20".to_owned())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let students: usize = env_number("BENCH_STUDENTS", 1000);
    println!(
        "sync_full: FULL sync of a simulated trust, {students} students a school, simulator in-process on 127.0.0.1"
    );
    println!(
        "{:<9} {:>7} {:>9} {:>9} {:>9} {:>7} {:>11} {:>9} {:>14}",
        "engine",
        "schools",
        "records",
        "floor s",
        "FULL s",
        "ratio",
        "records/s",
        "peak MiB",
        "no-change INC"
    );
    for engine in engines() {
        for &schools in &sizes {
            let row = runtime.block_on(measure(engine, schools, students))?;
            println!(
                "{:<9} {:>7} {:>9} {:>9.2} {:>9.2} {:>6.2}x {:>11.0} {:>9.1} {:>11.1} ms",
                row.engine,
                row.schools,
                row.records,
                row.floor_s,
                row.full_s,
                row.full_s / row.floor_s,
                row.records as f64 / row.full_s,
                row.peak_mib,
                row.incremental_ms,
            );
            let _ = row.students;
        }
    }
    Ok(())
}
