//! Which guardian links a CSV import speaks for, on both engines: a
//! partial import ends no link its guardians file does not list (a pupil
//! row says nothing of the pupil's guardians), and a guardian missing from
//! a full guardians file while a child stays on roll leaves for the MIS's
//! reason, REMOVED_FROM_MIS (product.md), not NO_ACTIVE_CHILDREN.

use entity::enums::{AccountStatus, DeactivationReason, SyncStatus};
use entity::*;
use onroll::events::EventBus;
use onroll::sync::csv_import::CsvImporter;
use onroll::sync::csv_source::CsvFiles;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use std::collections::BTreeSet;

use crate::csv_import::ran;
use crate::on_both_engines;
use crate::row_by_wonde_id;
use crate::support::fixture::school_db;
use crate::support::{Engine, TestDb};

on_both_engines!(
    a_partial_import_ends_no_link_its_guardians_file_does_not_list,
    a_partial_import_without_a_guardians_file_changes_no_link,
    a_guardian_missing_from_a_full_file_leaves_as_removed_from_the_mis
);

const GUARDIAN_HEADER: &str = "id,forename,surname,student_id,relationship\n";

/// Pupils P1..P10; guardian Hi linked to Pi, and H11 a second guardian of
/// P4 (so a partial file naming P4's mother says nothing of P4's father).
fn students(ids: impl IntoIterator<Item = usize>) -> String {
    let mut out = String::from("id,forename,surname,year\n");
    for i in ids {
        out.push_str(&format!("P{i},Pupil{i},Family{i},Year 7\n"));
    }
    out
}

fn guardian_rows(rows: &[(&str, &str, &str)]) -> String {
    let mut out = String::from(GUARDIAN_HEADER);
    for (guardian, student, relationship) in rows {
        out.push_str(&format!("{guardian},Parent,{guardian},{student},{relationship}\n"));
    }
    out
}

fn everyone() -> Vec<(String, String, String)> {
    let mut rows: Vec<(String, String, String)> =
        (1..=10).map(|i| (format!("H{i}"), format!("P{i}"), "Mother".to_owned())).collect();
    rows.push(("H11".into(), "P4".into(), "Father".into()));
    rows
}

fn borrowed(rows: &[(String, String, String)]) -> Vec<(&str, &str, &str)> {
    rows.iter().map(|(g, s, r)| (g.as_str(), s.as_str(), r.as_str())).collect()
}

fn files(students: String, guardians: Option<String>) -> CsvFiles {
    CsvFiles {
        students: Some(students.into_bytes()),
        staff: None,
        guardians: guardians.map(String::into_bytes),
    }
}

async fn setup(engine: &Engine) -> anyhow::Result<(TestDb, school::Model, CsvImporter)> {
    let (data, school) = school_db(engine, "Links Trust", "Links School").await?;
    let importer = CsvImporter {
        db: data.db.clone(),
        events: EventBus::default(),
        guard_share: 0.5,
        worker: "csv-links".into(),
    };
    let first = files(students(1..=10), Some(guardian_rows(&borrowed(&everyone()))));
    let run = ran(&importer, &school, first, true, false).await?;
    assert_eq!((run.status, run.guardians_created), (SyncStatus::Completed, 11));
    Ok((data, school, importer))
}

/// Current links as (pupil, guardian) source ids.
async fn current_links(
    db: &DatabaseConnection,
    school: &school::Model,
) -> anyhow::Result<BTreeSet<(String, String)>> {
    let students = student::Entity::find().filter(student::Column::SchoolId.eq(school.id)).all(db).await?;
    let guardians = guardian::Entity::find().filter(guardian::Column::SchoolId.eq(school.id)).all(db).await?;
    let links = guardian_link::Entity::find()
        .filter(guardian_link::Column::SchoolId.eq(school.id))
        .filter(guardian_link::Column::Active.eq(true))
        .all(db)
        .await?;
    let mut out = BTreeSet::new();
    for link in links {
        let pupil = students.iter().find(|s| s.id == link.student_id).map(|s| s.wonde_id.clone());
        let parent = guardians.iter().find(|g| g.id == link.guardian_id).map(|g| g.wonde_id.clone());
        if let (Some(pupil), Some(parent)) = (pupil, parent) {
            out.insert((pupil, parent));
        }
    }
    Ok(out)
}

fn link_set(rows: &[(String, String, String)]) -> BTreeSet<(String, String)> {
    rows.iter().map(|(g, s, _)| (s.clone(), g.clone())).collect()
}

/// Each guardian's (source id, status, reason), in id order.
async fn guardian_states(
    db: &DatabaseConnection,
    school: &school::Model,
) -> anyhow::Result<Vec<(String, AccountStatus, Option<DeactivationReason>)>> {
    let mut rows: Vec<_> = guardian::Entity::find()
        .filter(guardian::Column::SchoolId.eq(school.id))
        .all(db)
        .await?
        .into_iter()
        .map(|g| (g.wonde_id, g.status, g.deactivation_reason))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(rows)
}

async fn guardian_state(
    db: &DatabaseConnection,
    school: &school::Model,
    id: &str,
) -> anyhow::Result<(AccountStatus, Option<DeactivationReason>)> {
    let row = row_by_wonde_id!(db, school.id, guardian, id)?;
    Ok((row.status, row.deactivation_reason))
}

async fn all_active(db: &DatabaseConnection, school: &school::Model) -> anyhow::Result<()> {
    for (id, status, reason) in guardian_states(db, school).await? {
        assert_eq!((status, reason), (AccountStatus::Active, None), "guardian {id}");
    }
    Ok(())
}

/// The reviewer's reproduction: students.csv with P2 and P4, guardians.csv
/// with the one row H4-P4. H2's link to P2 and H11's to P4 are not in the
/// guardians file, so they stay, and so do H2 and H11; nothing is held.
/// The row present is applied: H4's relationship changes, and a new row
/// links H2 to P4 as well.
async fn a_partial_import_ends_no_link_its_guardians_file_does_not_list(
    engine: Engine,
) -> anyhow::Result<()> {
    let (data, school, importer) = setup(&engine).await?;
    let db = &data.db;
    let before = link_set(&everyone());
    assert_eq!(current_links(db, &school).await?, before);

    let partial = files(students([2, 4]), Some(guardian_rows(&[("H4", "P4", "Mother")])));
    let run = ran(&importer, &school, partial, false, false).await?;
    assert_eq!(run.status, SyncStatus::Completed);
    assert_eq!((run.guardians_deactivated, run.guardians_held), (0, 0), "{run:?}");
    assert_eq!(held_change::Entity::find().count(db).await?, 0, "nothing held");
    assert_eq!(current_links(db, &school).await?, before, "H2-P2 and H11-P4 stay");
    all_active(db, &school).await?;

    // Rows present are applied: a relationship update and a new link.
    let rows = guardian_rows(&[("H4", "P4", "Step-mother"), ("H2", "P4", "Aunt")]);
    let run = ran(&importer, &school, files(students([2, 4]), Some(rows)), false, false).await?;
    assert_eq!((run.status, run.guardians_deactivated), (SyncStatus::Completed, 0));
    let mut after = before.clone();
    after.insert(("P4".into(), "H2".into()));
    assert_eq!(current_links(db, &school).await?, after);
    let h4 = guardian::Entity::find().filter(guardian::Column::WondeId.eq("H4")).one(db).await?;
    let h4 = h4.ok_or_else(|| anyhow::anyhow!("no H4"))?;
    let label = guardian_link::Entity::find()
        .filter(guardian_link::Column::GuardianId.eq(h4.id))
        .one(db)
        .await?
        .and_then(|l| l.relationship_label);
    assert_eq!(label.as_deref(), Some("Step-mother"));
    all_active(db, &school).await?;

    // A partial file that names many pupils and few links still ends none
    // (before the fix the guard held these as a mass link ending).
    let rows = guardian_rows(&[("H1", "P1", "Mother")]);
    let run = ran(&importer, &school, files(students(1..=10), Some(rows)), false, false).await?;
    assert_eq!((run.status, run.guardians_deactivated, run.guardians_held), (SyncStatus::Completed, 0, 0));
    assert_eq!(held_change::Entity::find().count(db).await?, 0, "nothing held");
    assert_eq!(current_links(db, &school).await?, after);
    all_active(db, &school).await?;

    // Only --full speaks for links absent from the file.
    let mut full = everyone();
    full.retain(|(g, _, _)| g != "H11");
    let run =
        ran(&importer, &school, files(students(1..=10), Some(guardian_rows(&borrowed(&full)))), true, false)
            .await?;
    assert_eq!(run.status, SyncStatus::Completed);
    assert_eq!(current_links(db, &school).await?, link_set(&full));
    Ok(())
}

/// A partial import with no guardians file changes no link, whatever its
/// students file holds, save the leaver cascade: a pupil who leaves takes
/// their links with them.
async fn a_partial_import_without_a_guardians_file_changes_no_link(engine: Engine) -> anyhow::Result<()> {
    let (data, school, importer) = setup(&engine).await?;
    let db = &data.db;
    let before = link_set(&everyone());
    let run = ran(&importer, &school, files(students([2, 4]), None), false, false).await?;
    assert_eq!((run.status, run.guardians_deactivated, run.guardians_held), (SyncStatus::Completed, 0, 0));
    assert_eq!(current_links(db, &school).await?, before);
    all_active(db, &school).await?;

    let leaver = "id,forename,surname,year,leaving_date\nP2,Pupil2,Family2,Year 7,2020-07-20\n".to_owned();
    let run = ran(&importer, &school, files(leaver, None), false, false).await?;
    assert_eq!((run.status, run.students_deactivated), (SyncStatus::Completed, 1));
    let mut after = before.clone();
    after.remove(&("P2".to_owned(), "H2".to_owned()));
    assert_eq!(current_links(db, &school).await?, after);
    assert_eq!(
        guardian_state(db, &school, "H2").await?,
        (AccountStatus::Deactivated, Some(DeactivationReason::NoActiveChildren))
    );
    Ok(())
}

/// `--full` with a guardians file that omits H1 while H1's children P1 and
/// P2 stay on roll: the MIS removed H1, so REMOVED_FROM_MIS, and every
/// link of H1 ends. H10, missing too but whose only child left in the same
/// import, goes for having no child, as before.
async fn a_guardian_missing_from_a_full_file_leaves_as_removed_from_the_mis(
    engine: Engine,
) -> anyhow::Result<()> {
    let (data, school, importer) = setup(&engine).await?;
    let db = &data.db;
    // H1 is also P2's guardian.
    let mut rows = everyone();
    rows.push(("H1".into(), "P2".into(), "Mother".into()));
    let run =
        ran(&importer, &school, files(students(1..=10), Some(guardian_rows(&borrowed(&rows)))), true, false)
            .await?;
    assert_eq!(run.status, SyncStatus::Completed);
    all_active(db, &school).await?;

    rows.retain(|(g, _, _)| g != "H1" && g != "H10");
    let mut pupils = String::from("id,forename,surname,year,leaving_date\n");
    for i in 1..=9 {
        pupils.push_str(&format!("P{i},Pupil{i},Family{i},Year 7,\n"));
    }
    pupils.push_str("P10,Pupil10,Family10,Year 7,2020-07-20\n");
    let run =
        ran(&importer, &school, files(pupils, Some(guardian_rows(&borrowed(&rows)))), true, false).await?;
    assert_eq!((run.status, run.guardians_deactivated, run.guardians_held), (SyncStatus::Completed, 2, 0));
    assert_eq!(
        guardian_state(db, &school, "H1").await?,
        (AccountStatus::Deactivated, Some(DeactivationReason::RemovedFromMis))
    );
    assert_eq!(
        guardian_state(db, &school, "H10").await?,
        (AccountStatus::Deactivated, Some(DeactivationReason::NoActiveChildren))
    );
    assert_eq!(current_links(db, &school).await?, link_set(&rows), "H1 keeps no link");
    for id in ["H2", "H3", "H11"] {
        assert_eq!(guardian_state(db, &school, id).await?, (AccountStatus::Active, None), "{id}");
    }
    Ok(())
}
