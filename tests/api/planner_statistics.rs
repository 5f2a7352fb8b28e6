//! Planner statistics after a run (issue 15, sync on PostgreSQL): a
//! school's first FULL run fills tables the planner believed empty, so the
//! tables it changed a lot are analysed once it has committed, in the
//! background, without holding up the run. SQLite keeps no such
//! statistics and nothing is started.

use entity::enums::SyncKind;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use std::time::{Duration, Instant};

use crate::on_both_engines;
use crate::support::Engine;
use crate::sync_wonde::World;

on_both_engines!(a_first_full_run_leaves_statistics_behind, a_cli_run_analyses_before_the_command_ends);

// PostgreSQL only: SQLite keeps no statistics, and nothing is analysed.
mod a_drains_runs_are_analysed_together {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(not(postgres_suite), ignore = "PostgreSQL suite: set ONROLL_TEST_DATABASE_URL")]
    async fn postgres() -> anyhow::Result<()> {
        super::a_drains_runs_are_analysed_together(crate::support::Engine::postgres()?).await
    }
}

/// The one value `sql` answers of the test's schema on PostgreSQL.
async fn one_value<T: sea_orm::TryGetable>(world: &World, sql: &str) -> anyhow::Result<T> {
    let row = world
        .db()
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row in the test's schema for {sql}"))?;
    Ok(row.try_get_by_index(0)?)
}

/// What the planner believes the `student` table holds: -1 when it was
/// never analysed (PostgreSQL 14 and later).
async fn believed_students(world: &World) -> anyhow::Result<f64> {
    one_value(world, "SELECT reltuples::float8 FROM pg_class WHERE oid = to_regclass('student')").await
}

/// How many times `student` was analysed by an `ANALYZE` statement (not
/// autovacuum). PostgreSQL 15 counts an analysis in its shared statistics
/// as it ends, so the count is read fresh.
async fn student_analyses(world: &World) -> anyhow::Result<i64> {
    one_value(world, "SELECT analyze_count FROM pg_stat_user_tables WHERE relid = to_regclass('student')")
        .await
}

/// Three schools' first FULL runs, drained side by side, are analysed
/// once, after the last: one at a time, each run's analysis went over
/// tables the next runs were still filling, three times for three schools
/// (issue 15: the analyses took the CPU the other schools' writes wanted).
async fn a_drains_runs_are_analysed_together(engine: Engine) -> anyhow::Result<()> {
    let world = World::start(&engine, 3, 40).await?;
    for (_, school) in &world.schools {
        onroll::sync::runs::enqueue(world.db(), school.id, SyncKind::Full, false).await?;
    }
    assert_eq!(world.engine.drain_queue(2).await?, 3, "every school's run ran");
    let deadline = Instant::now() + Duration::from_secs(20);
    while student_analyses(&world).await? == 0 {
        assert!(Instant::now() < deadline, "student was not analysed after the drain");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(believed_students(&world).await? >= 120.0, "analysed before the last run had written");
    // Any analysis still to come was started before the drain returned;
    // each of these takes a few milliseconds.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(student_analyses(&world).await?, 1, "the drain's runs were analysed one by one");
    Ok(())
}

async fn a_first_full_run_leaves_statistics_behind(engine: Engine) -> anyhow::Result<()> {
    let world = World::start(&engine, 1, 40).await?;
    let postgres = matches!(engine, Engine::Postgres(_));
    if postgres {
        assert!(believed_students(&world).await? <= 0.0, "analysed before any run");
    }
    let run = world.sync(0, SyncKind::Full).await?;
    assert_eq!(run.status, entity::enums::SyncStatus::Completed);
    if !postgres {
        let written = onroll::sync::batch_write::Written::default();
        assert!(onroll::sync::analyze::in_background(world.db(), run.id, written).is_none());
        return Ok(());
    }
    // The run has returned; the statistics follow within moments.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let believed = believed_students(&world).await?;
        if believed >= 40.0 {
            break;
        }
        assert!(Instant::now() < deadline, "student still believed to hold {believed} rows");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// `onroll sync` runs on the command's own runtime, which ends with the
/// command: the analysis its run started is waited for, not dropped with
/// the process, so the statistics are there once the command has exited.
async fn a_cli_run_analyses_before_the_command_ends(engine: Engine) -> anyhow::Result<()> {
    let data = crate::support::TestDb::create(&engine).await?;
    let (sim, _, school, key_text) =
        crate::support::sim::connected_school(&data.db, 43, 40, ("Stats Trust", "Stats School")).await?;
    let school_id = crate::support::fixture::gid(onroll::graphql::ids::NodeType::School, school.id);
    let (url, base) = (data.url(&engine), sim.base_url());
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_onroll"))
            .args(["sync", "--school", &school_id, "--full"])
            .env("DATABASE_URL", url)
            .env("ONROLL_SECRET_KEY", key_text)
            .env("WONDE_API_URL", base)
            .output()
    })
    .await??;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let said = String::from_utf8_lossy(&output.stderr);
    if matches!(engine, Engine::Postgres(_)) {
        let row = data
            .db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT reltuples::float8 FROM pg_class WHERE oid = to_regclass('student')",
            ))
            .await?
            .ok_or_else(|| anyhow::anyhow!("no student table in the test's schema"))?;
        let believed: f64 = row.try_get_by_index(0)?;
        assert!(believed >= 40.0, "student believed to hold {believed} rows once the command ended");
        // The command saw its analysis end (before, it ended first about
        // two runs in three, and the analysis only if already sent).
        assert!(said.contains("tables analysed after the run"), "{said}");
    }
    Ok(())
}
