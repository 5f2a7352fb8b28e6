//! Sync runs: one open run per school whoever asks, one winner per claim,
//! abandoned runs failed.

use chrono::Duration;
use entity::enums::{SyncKind, SyncStatus};
use entity::sync_run;
use onroll::sync::ledger::RunCounts;
use onroll::sync::runs;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};

use crate::on_both_engines;
use crate::support::fixture::Fixture;
use crate::support::{Engine, TestDb};

on_both_engines!(one_open_run_per_school_and_one_claim_winner, abandoned_runs_are_taken_over);

async fn one_open_run_per_school_and_one_claim_winner(engine: Engine) -> anyhow::Result<()> {
    let data = TestDb::create(&engine).await?;
    let f = Fixture::new(&data.db);
    let trust = f.trust("Runs Trust").await?;
    let school = f.school(&trust, "Runs School").await?;
    let other = f.school(&trust, "Other School").await?;

    // Ten concurrent triggers, as from several processes: one run.
    let db = data.reconnect(&engine).await?;
    let triggers = (0..10).map(|_| {
        let db = db.clone();
        let school = school.id;
        tokio::spawn(async move { runs::enqueue(&db, school, SyncKind::Incremental, false).await })
    });
    let mut ids = Vec::new();
    for trigger in triggers {
        ids.push(trigger.await??.0.id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every trigger got the same run: {ids:?}");
    let (other_run, new) = runs::enqueue(&data.db, other.id, SyncKind::Full, false).await?;
    assert!(new, "another school runs independently");

    // Two workers race to claim it: exactly one wins.
    let run_id = ids[0];
    let (first, second) =
        tokio::join!(runs::claim(&data.db, run_id, "worker-1"), runs::claim(&db, run_id, "worker-2"));
    assert_eq!(usize::from(first?.is_some()) + usize::from(second?.is_some()), 1);
    // A trigger while it runs returns the running run.
    let (running, new) = runs::enqueue(&data.db, school.id, SyncKind::Full, true).await?;
    assert_eq!((running.id, running.status, new), (run_id, SyncStatus::Running, false));

    let finished =
        runs::finish(&data.db, &running, SyncStatus::Completed, &RunCounts::default(), None).await?;
    assert_eq!(finished.status, SyncStatus::Completed);
    let (next, new) = runs::enqueue(&data.db, school.id, SyncKind::Full, false).await?;
    assert!(new && next.id != run_id, "after it finished, a new run can be queued");
    assert_eq!(
        runs::queued(&data.db).await?.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![other_run.id, next.id]
    );
    Ok(())
}

async fn abandoned_runs_are_taken_over(engine: Engine) -> anyhow::Result<()> {
    let data = TestDb::create(&engine).await?;
    let f = Fixture::new(&data.db);
    let trust = f.trust("Runs Trust").await?;
    let school = f.school(&trust, "Runs School").await?;
    let (run, _) = runs::enqueue(&data.db, school.id, SyncKind::Full, false).await?;
    let mut run_id = run.id;
    for attempt in 1..=runs::MAX_ATTEMPTS {
        let liveness =
            runs::Liveness::take(&data.db, run_id).await?.ok_or_else(|| anyhow::anyhow!("liveness"))?;
        let run =
            runs::claim(&data.db, run_id, "killed-worker").await?.ok_or_else(|| anyhow::anyhow!("claim"))?;
        assert_eq!(run.attempts, attempt);
        // Alive: its liveness lock is held (or its heartbeat is recent).
        assert_eq!(
            runs::recover_abandoned(&data.db, Duration::minutes(2)).await?,
            runs::Recovered::default()
        );
        // Another process cannot take a live run's lock.
        let other = data.reconnect(&engine).await?;
        assert!(runs::Liveness::take(&other, run.id).await?.is_none(), "attempt {attempt}");
        // The process dies: its lock goes, its heartbeat stops.
        liveness.release().await;
        let mut stale: sync_run::ActiveModel = run.into();
        stale.heartbeat_at = Set(Some(chrono::Utc::now() - Duration::minutes(10)));
        let run = stale.update(&data.db).await?;
        let recovered = runs::recover_abandoned(&data.db, Duration::minutes(2)).await?;
        let run = sync_run::Entity::find_by_id(run.id)
            .one(&data.db)
            .await?
            .ok_or_else(|| anyhow::anyhow!("run"))?;
        if attempt < runs::MAX_ATTEMPTS {
            // Taken over: queued again for any process to run.
            assert_eq!((recovered.requeued, recovered.failed), (1, 0));
            assert_eq!((run.status, run.claimed_by.as_deref()), (SyncStatus::Queued, None));
        } else {
            // A run that outlived every process it ran on is failed.
            assert_eq!((recovered.requeued, recovered.failed), (0, 1));
            assert_eq!(run.status, SyncStatus::Failed);
            assert!(run.error.unwrap_or_default().contains("abandoned"));
        }
        run_id = run.id;
    }
    // A CSV run's files went with its process: it fails at once.
    let (csv, _) = runs::enqueue(&data.db, school.id, SyncKind::Csv, false).await?;
    let csv =
        runs::claim(&data.db, csv.id, "killed-importer").await?.ok_or_else(|| anyhow::anyhow!("claim"))?;
    // Just opened, before its importer has taken its lock: left alone.
    let mut opening: sync_run::ActiveModel = csv.clone().into();
    opening.heartbeat_at = Set(Some(chrono::Utc::now() - Duration::minutes(10)));
    opening.update(&data.db).await?;
    assert_eq!(runs::recover_abandoned(&data.db, Duration::minutes(2)).await?, runs::Recovered::default());
    let mut stale: sync_run::ActiveModel = csv.into();
    stale.heartbeat_at = Set(Some(chrono::Utc::now() - Duration::minutes(10)));
    stale.started_at = Set(Some(chrono::Utc::now() - Duration::minutes(10)));
    let csv = stale.update(&data.db).await?;
    assert_eq!(runs::recover_abandoned(&data.db, Duration::minutes(2)).await?.failed, 1);
    let csv =
        sync_run::Entity::find_by_id(csv.id).one(&data.db).await?.ok_or_else(|| anyhow::anyhow!("run"))?;
    assert_eq!(csv.status, SyncStatus::Failed);
    Ok(())
}
