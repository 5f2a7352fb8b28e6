//! A school larger than one SQL statement may bind: SQLite refuses more
//! than 32,766 bound values in a statement and PostgreSQL more than 65,535.
//! Statements whose lists grow with a school must be cut, or the work that
//! runs them fails, and fails again on every retry: a school office that
//! added UPNs to every pupil of a large CSV school saw each later run of
//! the school refused ("too many SQL variables").

use chrono::Utc;
use entity::enums::{AccountStatus, DataQualityKind, EventKind, SyncKind, SyncStatus};
use entity::*;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::on_both_engines;
use crate::support::fixture::Fixture;
use crate::support::{Engine, TestDb};

on_both_engines!(
    findings_past_the_bind_limit_go_in_one_run,
    a_disconnect_deactivates_more_guardians_than_a_statement_binds
);

/// More values than either engine binds in one statement.
const PAST_BOTH_LIMITS: usize = 66_000;

/// Above SQLite's limit: a school's guardians can number this many.
const PAST_SQLITE_LIMIT: usize = 33_000;

/// Rows a seeding statement inserts.
const SEED_ROWS: usize = 1_000;

/// Stored findings a run no longer sees, and an open ambiguity naming
/// more accounts than a statement binds, all go in one refresh, which
/// answers that none is left.
async fn findings_past_the_bind_limit_go_in_one_run(engine: Engine) -> anyhow::Result<()> {
    let data = TestDb::create(&engine).await?;
    let db = &data.db;
    let f = Fixture::new(db);
    let trust = f.trust("Large Trust").await?;
    let school = f.school(&trust, "Large Academy").await?;
    let run = f.sync_run(&school, SyncKind::Csv, SyncStatus::Completed).await?;
    let now = Utc::now();
    let finding = |kind: DataQualityKind, records: serde_json::Value| data_quality_finding::ActiveModel {
        school_id: Set(school.id),
        kind: Set(kind),
        sync_run_id: Set(Some(run.id)),
        detected_at: Set(now),
        records: Set(records.to_string()),
        detail: Set("seeded".to_owned()),
        ..Default::default()
    };
    // Duplicates seen by an earlier fetch: gone, since this run saw none.
    let stale: Vec<_> = (0..PAST_BOTH_LIMITS)
        .map(|i| {
            finding(DataQualityKind::DuplicateInFetch, serde_json::json!({ "sourceIds": [format!("S{i}")] }))
        })
        .collect();
    for chunk in stale.chunks(SEED_ROWS) {
        data_quality_finding::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await?;
    }
    // Two ambiguities among more accounts than a statement binds. One
    // names two active pupils, first and last, so that they are read in
    // different statements: it stays open. The other's accounts are all
    // gone: it is resolved.
    let first = f.student(&school, "S-first", "Ada", "First", Some("R100000000001")).await?;
    let last = f.student(&school, "S-last", "Zed", "Last", Some("V100000000003")).await?;
    let gone = |offset: i32| -> anyhow::Result<Vec<i32>> {
        Ok((1..=i32::try_from(PAST_BOTH_LIMITS)?).map(|i| i + offset).collect())
    };
    let mut open = vec![first.id];
    open.extend(gone(1_000_000)?);
    open.push(last.id);
    for candidates in [open, gone(2_000_000)?] {
        data_quality_finding::Entity::insert(finding(
            DataQualityKind::AmbiguousReidentification,
            serde_json::json!({ "students": candidates }),
        ))
        .exec_without_returning(db)
        .await?;
    }

    let txn = onroll::db::begin_write(db).await?;
    let left = onroll::quality::refresh(
        &txn,
        school.id,
        onroll::quality::Occasion::Run { run_id: run.id, fetched: Default::default() },
    )
    .await?;
    txn.commit().await?;
    assert_eq!(left, 1, "only the ambiguity between two active pupils is left");
    let stored: Vec<data_quality_finding::Model> = data_quality_finding::Entity::find()
        .filter(data_quality_finding::Column::SchoolId.eq(school.id))
        .all(db)
        .await?;
    assert_eq!(stored.len(), 1, "every stale finding and the resolved ambiguity were deleted");
    assert_eq!(stored[0].kind, DataQualityKind::AmbiguousReidentification);
    assert!(stored[0].records.contains(&format!("[{},", first.id)), "the open ambiguity is kept");
    Ok(())
}

/// `disconnectWonde(deactivateAccounts: true)` at a school with more
/// guardians than SQLite binds in a statement deactivates every one of
/// them, each with its event. Past SQLite's limit only: PostgreSQL's is
/// twice as far and seeding that many guardians would double the test's
/// time; there it checks that the cut statements still deactivate all.
async fn a_disconnect_deactivates_more_guardians_than_a_statement_binds(
    engine: Engine,
) -> anyhow::Result<()> {
    let data = TestDb::create(&engine).await?;
    let db = &data.db;
    let f = Fixture::new(db);
    let trust = f.trust("Large Trust").await?;
    let school = f.school(&trust, "Large Academy").await?;
    let connection = f.connection(&school).await?;
    let now = Utc::now();
    let guardians: Vec<guardian::ActiveModel> = (0..PAST_SQLITE_LIMIT)
        .map(|i| guardian::ActiveModel {
            school_id: Set(school.id),
            wonde_id: Set(format!("G{i}")),
            upi: Set(None),
            mis_id: Set(None),
            title: Set(None),
            forename: Set("Pat".to_owned()),
            surname: Set(format!("Parent{i}")),
            email: Set(None),
            email_key: Set(None),
            status: Set(AccountStatus::Active),
            deactivated_at: Set(None),
            deactivation_reason: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        })
        .collect();
    for chunk in guardians.chunks(SEED_ROWS) {
        guardian::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await?;
    }

    let txn = onroll::db::begin_write(db).await?;
    let events = onroll::connections::disconnect(&txn, connection, true).await?;
    txn.commit().await?;

    let still_active = guardian::Entity::find()
        .filter(guardian::Column::SchoolId.eq(school.id))
        .filter(guardian::Column::Status.eq(AccountStatus::Active))
        .count(db)
        .await?;
    assert_eq!(still_active, 0, "every guardian was deactivated");
    let deactivations = events.iter().filter(|e| e.kind == EventKind::Deactivated).count();
    assert_eq!(deactivations, PAST_SQLITE_LIMIT, "one DEACTIVATED event a guardian");
    Ok(())
}
