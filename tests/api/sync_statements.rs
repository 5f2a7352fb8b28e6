//! A sync writes in batches: the SQL statements a FULL run issues are fixed
//! by the number of tables and batches, not by the number of pupils (issue
//! 15: row-by-row writes made a FULL sync on PostgreSQL five times the
//! client's paging floor). Counted at 50 and 500 pupils for a first FULL, a
//! no-change INCREMENTAL, and a FULL after a change of MIS (every account,
//! group and link re-keyed, so every row is updated).
//!
//! `ONROLL_SYNC_PROFILE=1` prints where each run's statements and time go.

use entity::enums::{SyncKind, SyncStatus};
use onroll::sync::SyncEngine;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wonde_sim::MisMigration;

use crate::on_both_engines;
use crate::support::Engine;
use crate::sync_wonde::World;

on_both_engines!(sync_statements_do_not_grow_with_the_pupils);

/// Statements per SQL shape (its first words), with their time.
type Profile = Arc<Mutex<HashMap<String, (usize, Duration)>>>;

/// What one run issued: SQL statements, Wonde pages fetched (each page
/// reports progress and beats the run's heartbeat or looks for a cancel:
/// the paging floor's own statements), and how long it took.
#[derive(Clone, Copy, Debug)]
struct Issued {
    statements: usize,
    pages: usize,
    took: Duration,
}

/// Statements a fetched page costs at most: its progress event (the events
/// lock, the insert, the notification) and the heartbeat or cancel check.
const PER_PAGE: usize = 5;

/// A world whose runs go through a pool that counts their statements.
struct Counted {
    world: World,
    engine: SyncEngine,
    statements: Arc<AtomicUsize>,
    profile: Profile,
    /// Statements that select rows by a subquery (`IN (SELECT`).
    subqueries: Arc<Mutex<Vec<String>>>,
}

impl Counted {
    async fn start(engine: &Engine, students: usize) -> anyhow::Result<Self> {
        let world = World::start(engine, 1, students).await?;
        let mut db = world.data.reconnect(engine).await?;
        let statements = Arc::new(AtomicUsize::new(0));
        let profile: Profile = Arc::default();
        let subqueries: Arc<Mutex<Vec<String>>> = Arc::default();
        let (counter, shapes, nested) = (statements.clone(), profile.clone(), subqueries.clone());
        db.set_metric_callback(move |info| {
            counter.fetch_add(1, Ordering::SeqCst);
            if info.statement.sql.contains(" IN (SELECT ")
                && let Ok(mut nested) = nested.lock()
            {
                nested.push(info.statement.sql.chars().take(200).collect());
            }
            let shape: String = info.statement.sql.chars().take(90).collect();
            if let Ok(mut shapes) = shapes.lock() {
                let entry = shapes.entry(shape).or_default();
                entry.0 += 1;
                entry.1 += info.elapsed;
            }
        });
        let engine = SyncEngine { db, ..world.engine.clone() };
        Ok(Self { world, engine, statements, profile, subqueries })
    }

    /// Runs one sync of the school; answers the statements it issued and
    /// the pages it fetched.
    async fn run(&self, kind: SyncKind, label: &str) -> anyhow::Result<Issued> {
        if let Ok(mut shapes) = self.profile.lock() {
            shapes.clear();
        }
        self.world.sim.clear_requests();
        let before = self.statements.load(Ordering::SeqCst);
        let started = std::time::Instant::now();
        let run = self.engine.run_now(self.world.schools[0].1.id, kind, false).await?;
        let elapsed = started.elapsed();
        anyhow::ensure!(run.status == SyncStatus::Completed, "{label}: {:?}", run.error);
        let statements = self.statements.load(Ordering::SeqCst) - before;
        if std::env::var_os("ONROLL_SYNC_PROFILE").is_some() {
            self.print_profile(label, statements, elapsed);
        }
        Ok(Issued { statements, pages: self.world.sim.requests().len(), took: elapsed })
    }

    fn print_profile(&self, label: &str, issued: usize, elapsed: Duration) {
        let Ok(shapes) = self.profile.lock() else { return };
        let mut rows: Vec<_> = shapes.iter().collect();
        rows.sort_by_key(|(_, (_, time))| std::cmp::Reverse(*time));
        let in_sql: Duration = shapes.values().map(|(_, time)| *time).sum();
        eprintln!("== {label}: {issued} statements, {elapsed:?} in all, {in_sql:?} in SQL");
        for (shape, (count, time)) in rows.into_iter().take(25) {
            eprintln!("{count:>6} {time:>12.3?}  {shape}");
        }
    }

    /// First FULL, no-change INCREMENTAL, FULL after a change of MIS.
    async fn three_runs(&self, size: usize) -> anyhow::Result<[Issued; 3]> {
        let first = self.run(SyncKind::Full, &format!("first FULL, {size} pupils")).await?;
        let quiet = self.run(SyncKind::Incremental, &format!("no-change INCREMENTAL, {size} pupils")).await?;
        // A run that changes no link or membership leaves the parent
        // groups as they were: a quiet run reads no snapshot of them (the
        // snapshot's pairs of every class), a third of its reading.
        let snapshot = r#"SELECT "class_student"."class_id", "class_student"."student_id" FROM"#;
        let shapes: Vec<(String, usize)> = self
            .profile
            .lock()
            .map(|p| p.iter().map(|(shape, (count, _))| (shape.clone(), *count)).collect())
            .unwrap_or_default();
        assert!(!shapes.is_empty(), "the quiet run's statements were recorded");
        assert!(
            !shapes.iter().any(|(shape, _)| shape.starts_with(snapshot)),
            "a no-change INCREMENTAL read the parent groups: {shapes:#?}"
        );
        // Nor does it read whole membership tables (a class table is 10,000
        // rows): only the current rows whose member or group has gone.
        for table in ["year_student", "form_student", "form_tutor", "class_student", "class_teacher"] {
            let whole = format!(r#"SELECT "{table}"."id", "#);
            assert!(
                !shapes.iter().any(|(shape, _)| shape.starts_with(&whole)),
                "a no-change INCREMENTAL read every row of {table}: {shapes:#?}"
            );
        }
        // Nor every guardian link with all its fields: only the current
        // links of students or guardians who have gone.
        let whole_links = r#"SELECT "guardian_link"."id", "guardian_link"."school_id", "#;
        assert!(
            !shapes.iter().any(|(shape, _)| shape.starts_with(whole_links)),
            "a no-change INCREMENTAL read every guardian link: {shapes:#?}"
        );
        // Each page looks for a cancel, but the heartbeat, a commit, is
        // written at most once a second, not once for each quiet list.
        let beats: usize = shapes
            .iter()
            .filter(|(shape, _)| shape.starts_with(r#"UPDATE "sync_run" SET "heartbeat_at""#))
            .map(|(_, count)| count)
            .sum();
        let most = 1 + usize::try_from(quiet.took.as_secs()).unwrap_or(usize::MAX);
        assert!(
            (1..=most).contains(&beats),
            "{beats} heartbeats in a quiet run of {:?} over {} pages",
            quiet.took,
            quiet.pages
        );
        assert!(beats < quiet.pages, "{beats} heartbeats for {} pages", quiet.pages);
        let school = self.world.schools[0].0.clone();
        self.world.sim.migrate_mis(&school, MisMigration { new_upis: true })?;
        let rekeyed = self.run(SyncKind::Full, &format!("FULL after a MIS change, {size} pupils")).await?;
        self.world.assert_mirrors(0).await?;
        // Without statistics for a school's new rows (its first run, before
        // ANALYZE), PostgreSQL believes a subquery on them yields one row
        // and joins by nested loop: 1.2 s for one parent-group snapshot of
        // a 1,000-pupil school. A run reads each table on its own and
        // matches rows in Rust.
        let nested = self.subqueries.lock().map(|n| n.clone()).unwrap_or_default();
        assert!(nested.is_empty(), "a run selected rows by a subquery: {nested:#?}");
        Ok([first, quiet, rekeyed])
    }
}

async fn sync_statements_do_not_grow_with_the_pupils(engine: Engine) -> anyhow::Result<()> {
    let small = Counted::start(&engine, 50).await?.three_runs(50).await?;
    let large = Counted::start(&engine, 500).await?.three_runs(500).await?;
    let names = ["first FULL", "no-change INCREMENTAL", "FULL after a MIS change"];
    let mut grew = Vec::new();
    for ((name, at_50), at_500) in names.iter().zip(small).zip(large) {
        eprintln!("{name}: {at_50:?} at 50 pupils, {at_500:?} at 500");
        // Ten times the pupils may fill a few more batches (a statement's
        // bound parameters are capped) and fetch more pages, never cost a
        // statement per row: 450 more pupils bring hundreds more rows of
        // each table.
        let pages = at_500.pages.saturating_sub(at_50.pages);
        if at_500.statements > at_50.statements + 12 + PER_PAGE * pages {
            grew.push(format!("{name}: {at_50:?} at 50 pupils, {at_500:?} at 500"));
        }
    }
    assert!(grew.is_empty(), "statements grew with the pupils: {grew:#?}");
    Ok(())
}
