//! Appending to the event log (`events::log`). On both engines: of a mix
//! of published and log-only rows, the log-only ones are stored first and
//! the published ones after, each in the order given, with ids in that
//! order, and every field stored as given: payloads with quotes,
//! backslashes, newlines and non-ASCII text, and absent fields as NULL. On
//! PostgreSQL: a school's log-only rows wait only for that school's, and
//! published rows for every other published row.

use chrono::{TimeZone, Utc};
use entity::enums::{DeactivationReason, EventKind, PersonKind};
use entity::event;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, QueryOrder, TransactionTrait};

use crate::on_both_engines;
use crate::support::fixture::Fixture;
use crate::support::{Engine, TestDb};

on_both_engines!(appended_rows_keep_their_order_and_their_fields);

async fn appended_rows_keep_their_order_and_their_fields(engine: Engine) -> anyhow::Result<()> {
    let data = TestDb::create(&engine).await?;
    let f = Fixture::new(&data.db);
    let trust = f.trust("Log Trust").await?;
    let school = f.school(&trust, "Log School").await?;
    // PostgreSQL keeps microseconds: the digits below are cut, as sqlx cuts
    // them when it binds a time; SQLite keeps the text whole.
    let at = Utc.with_ymd_and_hms(2026, 3, 29, 0, 59, 59).single().ok_or_else(|| anyhow::anyhow!("time"))?
        + chrono::Duration::nanoseconds(123_456_789);
    let stored_at = match engine {
        Engine::Postgres(_) => at - chrono::Duration::nanoseconds(789),
        Engine::Sqlite => at,
    };
    let payloads = [Some(r#"{"say":"\"quoted\" \\ back\nslash","name":"Zoë Ó'Brien ✓"}"#), None, Some("")];
    let mut rows = Vec::new();
    for i in 0..30 {
        let log_only = i % 3 != 0;
        rows.push(event::ActiveModel {
            trust_id: Set(trust.id),
            school_id: Set(school.id),
            kind: Set(if log_only { EventKind::GuardianJoinedGroup } else { EventKind::Deactivated }),
            person_kind: Set((i % 2 == 0).then_some(PersonKind::Student)),
            person_id: Set(Some(1_000 + i)),
            reason: Set((!log_only).then_some(DeactivationReason::LeftSchool)),
            sync_run_id: Set(None),
            payload: Set(payloads[i as usize % 3].map(str::to_owned)),
            occurred_at: Set(at),
            ..Default::default()
        });
    }
    let published = onroll::events::log::append(&data.db, rows.clone()).await?;
    // The published rows come back, in order; log-only ones do not.
    let persons: Vec<Option<i32>> = published.iter().map(|e| e.person_id).collect();
    let expected: Vec<Option<i32>> = (0..30).filter(|i| i % 3 == 0).map(|i| Some(1_000 + i)).collect();
    assert_eq!(persons, expected);

    let stored = event::Entity::find().order_by_asc(event::Column::Id).all(&data.db).await?;
    assert_eq!(stored.len(), rows.len());
    let is_log_only = |row: &&event::ActiveModel| row.kind.clone().unwrap().log_only();
    let log_only_first: Vec<&event::ActiveModel> =
        rows.iter().filter(is_log_only).chain(rows.iter().filter(|row| !is_log_only(row))).collect();
    for (row, given) in stored.iter().zip(log_only_first) {
        let given = (
            given.kind.clone().unwrap(),
            given.person_kind.clone().unwrap(),
            given.person_id.clone().unwrap(),
            given.reason.clone().unwrap(),
            given.payload.clone().unwrap(),
        );
        assert_eq!((row.kind, row.person_kind, row.person_id, row.reason, row.payload.clone()), given);
        assert_eq!(
            (row.trust_id, row.school_id, row.sync_run_id, row.occurred_at),
            (trust.id, school.id, None, stored_at)
        );
    }
    for (published, stored) in
        published.iter().zip(stored.iter().filter(|e| e.kind == EventKind::Deactivated))
    {
        assert_eq!(published, stored);
    }
    Ok(())
}

/// A row for school `school` of `kind`, for the lock tests.
fn row(trust: i32, school: i32, kind: EventKind) -> event::ActiveModel {
    event::ActiveModel {
        trust_id: Set(trust),
        school_id: Set(school),
        kind: Set(kind),
        person_kind: Set(Some(PersonKind::Guardian)),
        person_id: Set(Some(1)),
        reason: Set(None),
        sync_run_id: Set(None),
        payload: Set(None),
        occurred_at: Set(Utc::now()),
        ..Default::default()
    }
}

/// Appends `rows` in a transaction of its own that gives up waiting for a
/// lock after `lock_timeout`; answers whether it committed.
async fn append_within(
    db: &sea_orm::DatabaseConnection,
    rows: Vec<event::ActiveModel>,
    lock_timeout: &str,
) -> anyhow::Result<bool> {
    let txn = onroll::db::begin_write(db).await?;
    txn.execute_unprepared(&format!("SET LOCAL lock_timeout = '{lock_timeout}'")).await?;
    match onroll::events::log::append(&txn, rows).await {
        Ok(_) => {
            txn.commit().await?;
            Ok(true)
        }
        Err(DbErr::Exec(err) | DbErr::Query(err)) if err.to_string().contains("lock timeout") => Ok(false),
        Err(err) => Err(err.into()),
    }
}

/// A school's first FULL run logs tens of thousands of parent-group joins
/// (log-only rows) and holds its locks until it commits. Another school's
/// run must not wait for them: only the same school's group log, and
/// every published event (the feeds read those trust-wide, in id order),
/// queue behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_suite), ignore = "PostgreSQL suite: set ONROLL_TEST_DATABASE_URL")]
async fn a_schools_group_log_waits_only_for_its_own_school() -> anyhow::Result<()> {
    let engine = Engine::postgres()?;
    let data = TestDb::create(&engine).await?;
    let f = Fixture::new(&data.db);
    let trust = f.trust("Lock Trust").await?;
    let a = f.school(&trust, "School A").await?;
    let b = f.school(&trust, "School B").await?;
    let (t, joined, deactivated) = (trust.id, EventKind::GuardianJoinedGroup, EventKind::Deactivated);

    // School A's run has appended its events and not yet committed.
    let run_a = data.db.begin().await?;
    onroll::events::log::append(&run_a, vec![row(t, a.id, deactivated), row(t, a.id, joined)]).await?;

    assert!(
        append_within(&data.db, vec![row(t, b.id, joined)], "5s").await?,
        "school B's group log waited for school A's run"
    );
    assert!(
        !append_within(&data.db, vec![row(t, a.id, joined)], "300ms").await?,
        "school A's group log did not wait for school A's open run"
    );
    assert!(
        !append_within(&data.db, vec![row(t, b.id, deactivated)], "300ms").await?,
        "a published event did not wait for the open run's published event"
    );
    run_a.commit().await?;

    // Once A's run commits, both wait no more: A's log goes on after it.
    assert!(append_within(&data.db, vec![row(t, a.id, joined), row(t, b.id, deactivated)], "5s").await?);
    let a_log: Vec<i64> = event::Entity::find()
        .order_by_asc(event::Column::Id)
        .all(&data.db)
        .await?
        .into_iter()
        .filter(|e| e.school_id == a.id && e.kind == joined)
        .map(|e| e.id)
        .collect();
    assert_eq!(a_log.len(), 2, "school A's log: its run's join and the one after");
    Ok(())
}

/// A school's parent-group log commits outside the lock published events
/// take, so its ids can commit before a lower published id. The event
/// feed and the webhook fan-out resume "after the last id they saw": had
/// they read the log-only rows, their cursor would pass a DEACTIVATED
/// still being committed, and that leaver would reach no subscriber and
/// no endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_suite), ignore = "PostgreSQL suite: set ONROLL_TEST_DATABASE_URL")]
async fn a_published_event_committed_late_is_not_skipped() -> anyhow::Result<()> {
    use entity::webhook_fanout_state as fanout_state;
    let engine = Engine::postgres()?;
    let data = TestDb::create(&engine).await?;
    let f = Fixture::new(&data.db);
    let trust = f.trust("Late Trust").await?;
    let a = f.school(&trust, "School A").await?;
    let b = f.school(&trust, "School B").await?;
    let bus = onroll::events::EventBus::default();
    let mut heard = bus.subscribe();
    let _feed = onroll::events::feed::start(data.db.clone(), bus.clone()).await?;
    let cursor = || async {
        let state = fanout_state::Entity::find_by_id(1).one(&data.db).await?;
        anyhow::Ok(state.map(|s| s.last_event_id))
    };

    // School A's run has appended its leaver and not committed yet; school
    // B's run logs only parent-group joins, and commits.
    let run_a = data.db.begin().await?;
    let leaver =
        onroll::events::log::append(&run_a, vec![row(trust.id, a.id, EventKind::Deactivated)]).await?;
    let leaver_id = leaver.first().map(|e| e.id).ok_or_else(|| anyhow::anyhow!("no event"))?;
    onroll::events::log::append(&data.db, vec![row(trust.id, b.id, EventKind::GuardianJoinedGroup); 3])
        .await?;
    // Both readers read the log now.
    bus.publish(&[]);
    onroll::webhooks_out::fanout::catch_up(&data.db).await?;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        cursor().await?.is_some_and(|last| last < leaver_id),
        "the fan-out's cursor passed an uncommitted event"
    );

    run_a.commit().await?;
    bus.publish(&[]);
    let got = tokio::time::timeout(std::time::Duration::from_secs(5), heard.recv()).await;
    let got = got.map_err(|_| anyhow::anyhow!("the feed never delivered the leaver"))??;
    assert_eq!((got.id, got.kind), (leaver_id, EventKind::Deactivated));
    onroll::webhooks_out::fanout::catch_up(&data.db).await?;
    assert_eq!(cursor().await?, Some(leaver_id), "the fan-out reads the leaver, and only published rows");
    Ok(())
}
