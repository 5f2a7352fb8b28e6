//! Lock order between the event log's advisory locks and row locks on
//! PostgreSQL (`events::log`: append last, and once).

use chrono::Utc;
use entity::enums::{AccountStatus, EventKind};
use entity::{event, student};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use std::time::Duration;

use crate::support::fixture::Fixture;
use crate::support::{Engine, TestDb};

/// A sync's apply transaction updates people rows first (reconcile) and
/// appends its events last (takes the `onroll-events` advisory lock).
/// `connections::disconnect(deactivate = true)` once took the same lock
/// first (appending CONNECTION_CHANGED) and then updated the school's
/// people rows. Run concurrently on one school, the two waited on each
/// other: PostgreSQL's deadlock detector aborted one of them, and the
/// admin's "disconnect and deactivate everyone" (or the sync) failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_suite), ignore = "PostgreSQL suite: set ONROLL_TEST_DATABASE_URL")]
async fn disconnect_and_a_sync_of_the_same_school_do_not_deadlock() -> anyhow::Result<()> {
    let engine = Engine::postgres()?;
    let data = TestDb::create(&engine).await?;
    let f = Fixture::new(&data.db);
    let trust = f.trust("T").await?;
    let school = f.school(&trust, "S").await?;
    let connection = f.connection(&school).await?;
    let pupil = f.student(&school, "w-1", "Ada", "Leaver", None).await?;

    // The "sync": its reconcile has updated the pupil's row (deactivated her
    // as a leaver) and has not yet appended its events.
    let sync = onroll::db::begin_write(&data.db).await?;
    student::Entity::update_many()
        .col_expr(student::Column::Status, Expr::value(AccountStatus::Deactivated.as_str()))
        .filter(student::Column::Id.eq(pupil.id))
        .exec(&sync)
        .await?;

    // The admin disconnects with deactivation, concurrently.
    let db = data.db.clone();
    let admin = tokio::spawn(async move {
        let txn = onroll::db::begin_write(&db).await?;
        let events = onroll::connections::disconnect(&txn, connection, true).await?;
        txn.commit().await?;
        Ok::<_, sea_orm::DbErr>(events)
    });
    // Let the disconnect take the events lock and block on the pupil's row.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The sync appends its DEACTIVATED event, as reconcile's append_events does.
    let row = event::ActiveModel {
        trust_id: Set(trust.id),
        school_id: Set(school.id),
        kind: Set(EventKind::Deactivated),
        person_kind: Set(Some(entity::enums::PersonKind::Student)),
        person_id: Set(Some(pupil.id)),
        reason: Set(None),
        sync_run_id: Set(None),
        payload: Set(None),
        occurred_at: Set(Utc::now()),
        ..Default::default()
    };
    let synced = tokio::time::timeout(Duration::from_secs(10), async {
        onroll::events::log::append(&sync, vec![row]).await?;
        sync.commit().await
    })
    .await;
    let disconnected = tokio::time::timeout(Duration::from_secs(10), admin).await;
    let synced = format!("{synced:?}");
    let disconnected = format!("{disconnected:?}");
    assert!(
        !synced.contains("Err") && !disconnected.contains("Err"),
        "one of them failed:\n sync: {synced}\n disconnect: {disconnected}"
    );
    Ok(())
}
