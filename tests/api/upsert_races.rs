//! A sync run's batched writes must not bring back a row that another
//! transaction (the retention purge, an erasure) deleted while the run was
//! under way. Row by row, the run's `UPDATE` of a deleted row changed
//! nothing and the run failed; an `INSERT ... ON CONFLICT DO UPDATE`
//! inserts the whole row again, personal data and all, when its conflict
//! has gone. On SQLite a writer excludes the other, so the race is
//! PostgreSQL's; the test runs on both engines all the same.

use entity::guardian_link;
use onroll::sync::ledger::Guard;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::on_both_engines;
use crate::reconcile::{apply, guardian_row, school_mis, student_row};
use crate::support::fixture::Fixture;
use crate::support::{Engine, TestDb};

on_both_engines!(a_link_deleted_during_a_run_is_not_brought_back);

/// Cal's link to P2 is deleted by another transaction (as the purge
/// deletes the links of a purged guardian) after the run has read it and
/// before the run writes its change (a new contact priority); once the
/// deletion commits, the link stays deleted, whether the run then fails
/// or completes.
async fn a_link_deleted_during_a_run_is_not_brought_back(engine: Engine) -> anyhow::Result<()> {
    let data = TestDb::create(&engine).await?;
    let f = Fixture::new(&data.db);
    let trust = f.trust("Race Trust").await?;
    let school = f.school(&trust, "Race School").await?;
    apply(&data.db, &school, &school_mis(), Guard::default()).await?;
    let cal = student_row(&data.db, &school, "S3").await?;
    let p2 = guardian_row(&data.db, &school, "P2").await?;
    let the_link = || {
        guardian_link::Entity::find()
            .filter(guardian_link::Column::StudentId.eq(cal.id))
            .filter(guardian_link::Column::GuardianId.eq(p2.id))
    };
    assert_eq!(the_link().count(&data.db).await?, 1);

    // The purge's transaction: the link deleted, not yet committed.
    let other = data.reconnect(&engine).await?;
    let purge = onroll::db::begin_write(&other).await?;
    guardian_link::Entity::delete_many()
        .filter(guardian_link::Column::StudentId.eq(cal.id))
        .filter(guardian_link::Column::GuardianId.eq(p2.id))
        .exec(&purge)
        .await?;

    let mut changed = school_mis();
    for link in changed.links.iter_mut().filter(|l| l.student == "S3") {
        link.priority = Some(2);
    }
    let run = {
        let (db, school) = (data.db.clone(), school.clone());
        tokio::spawn(async move { apply(&db, &school, &changed, Guard::default()).await })
    };
    // Long enough for the run to read the link and wait on its row.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    purge.commit().await?;
    let ran = run.await?;

    assert_eq!(
        the_link().count(&data.db).await?,
        0,
        "the run brought back a link deleted while it ran (run: {:?})",
        ran.as_ref().map(|_| "completed")
    );
    Ok(())
}
