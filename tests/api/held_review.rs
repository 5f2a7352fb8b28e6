//! Review of issue 11 (the guard holds what it doubts): hostile scenarios
//! against the reconciliation itself, on both engines. Each test states the
//! product rule it checks; a failing assertion is a finding.

use entity::enums::{AccountStatus, DeactivationReason, HeldStatus, HeldTarget};
use entity::{class_student, guardian_link, held_change, school, student};
use onroll::sync::ledger::Guard;
use onroll::sync::source::*;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};

use crate::count_at;
use crate::on_both_engines;
use crate::reconcile::{apply, guardian_row, student_row};
use crate::support::fixture::school_db;
use crate::support::{Engine, TestDb};

on_both_engines!(
    review_a_second_broken_answer_does_not_finish_what_the_first_held,
    review_a_second_broken_answer_does_not_end_the_classes_the_first_held,
    review_a_held_membership_stays_pending_through_the_next_run,
    review_a_held_guardian_link_stays_pending_through_an_incremental_run,
    review_a_guardian_deleted_while_its_only_child_is_held_is_not_forgotten,
    review_a_held_pupil_who_then_leaves_explicitly_leaves_left_school,
    review_a_guardian_of_a_held_child_and_an_explicit_leaver_stays,
    review_a_forced_run_applies_pending_changes_and_withdraws_them,
    review_parents_deleted_with_their_child_leave_no_active_children,
    review_a_guardian_deleted_whose_child_stays_is_judged_and_applies,
    review_a_csv_full_import_that_lost_the_classes_column_holds_memberships
);

fn student(id: &str, name: &str) -> MisStudent {
    MisStudent {
        source_id: id.to_owned(),
        upi: Some(format!("upi-{id}")),
        upn: Some(crate::support::upn(id)),
        forename: name.to_owned(),
        surname: "Pupil".to_owned(),
        ..Default::default()
    }
}

/// A guardian of the MIS, `id` its source id and surname.
pub(crate) fn guardian(id: &str) -> MisGuardian {
    MisGuardian {
        source_id: id.to_owned(),
        forename: "Parent".to_owned(),
        surname: id.to_owned(),
        email: Some(format!("{}@example.org", id.to_lowercase())),
        ..Default::default()
    }
}

fn link(student: &str, guardian: &str) -> MisLink {
    MisLink {
        student: student.to_owned(),
        guardian: guardian.to_owned(),
        relationship_label: Some("Mother".to_owned()),
        parental_responsibility: Some(true),
        priority: Some(1),
        ..Default::default()
    }
}

fn group(id: &str, students: &[String]) -> MisGroup {
    MisGroup {
        source_id: id.to_owned(),
        name: id.to_owned(),
        students: students.to_vec(),
        ..Default::default()
    }
}

/// `n` pupils S0.. each with their own parent G0.., one year group, one
/// form, and a class per pupil (C0..) plus a shared class ALL.
fn school_of(n: usize) -> Batch {
    let mut batch = Batch::new(true, DataTypes::ALL);
    let ids: Vec<String> = (0..n).map(|i| format!("S{i}")).collect();
    batch.students = ids.iter().map(|id| student(id, id)).collect();
    batch.guardians = (0..n).map(|i| guardian(&format!("G{i}"))).collect();
    batch.links = (0..n).map(|i| link(&format!("S{i}"), &format!("G{i}"))).collect();
    batch.year_groups = vec![group("Y7", &ids)];
    batch.form_groups = vec![group("7A", &ids)];
    batch.classes = (0..n).map(|i| group(&format!("C{i}"), &[ids[i].clone()])).collect();
    batch
}

async fn setup(engine: &Engine) -> anyhow::Result<(TestDb, school::Model)> {
    school_db(engine, "Review Trust", "Review School").await
}

async fn active_students(db: &DatabaseConnection, school: &school::Model) -> anyhow::Result<u64> {
    Ok(count_at!(db, school.id, student, Status, AccountStatus::Active))
}

async fn held_rows(
    db: &DatabaseConnection,
    school: &school::Model,
    target: HeldTarget,
) -> anyhow::Result<Vec<held_change::Model>> {
    Ok(held_change::Entity::find()
        .filter(held_change::Column::SchoolId.eq(school.id))
        .filter(held_change::Column::Target.eq(target))
        .all(db)
        .await?)
}

fn deletions(kind: DeletedKind, ids: &[&str]) -> Batch {
    let mut batch = Batch::new(false, DataTypes::ALL);
    batch.deletions = ids.iter().map(|id| MisDeletion { kind, source_id: (*id).to_owned() }).collect();
    batch
}

/// Rule: "An empty answer from a broken MIS must never wipe a school."
/// A MIS that first loses 6 of 10 pupils (held) and then answers empty
/// must not deactivate the other 4: the guard counts the held 6 in the
/// denominator (still active) but not in the numerator (already kept), so
/// the second answer is judged as 4 of 10 and applied.
async fn review_a_second_broken_answer_does_not_finish_what_the_first_held(
    engine: Engine,
) -> anyhow::Result<()> {
    let (data, a) = setup(&engine).await?;
    let db = &data.db;
    let full = school_of(10);
    apply(db, &a, &full, Guard::default()).await?;

    // First broken answer: only 4 of the 10 pupils (and everything else).
    let mut partial = full.clone();
    partial.students.truncate(4);
    let first = apply(db, &a, &partial, Guard::default()).await?;
    assert_eq!((first.counts.students.held, first.counts.students.deactivated), (6, 0), "{:?}", first.counts);

    // Second broken answer: nothing at all.
    let empty = Batch::new(true, DataTypes::ALL);
    let second = apply(db, &a, &empty, Guard::default()).await?;
    assert_eq!(
        second.counts.students.deactivated, 0,
        "an empty answer deactivated {} pupils because 6 others were already held: {:?}",
        second.counts.students.deactivated, second.counts
    );
    assert_eq!(active_students(db, &a).await?, 10);
    Ok(())
}

/// The same for groups: 4 classes, an answer with 1 (3 held), then an
/// answer with none must not end the last one.
async fn review_a_second_broken_answer_does_not_end_the_classes_the_first_held(
    engine: Engine,
) -> anyhow::Result<()> {
    let (data, a) = setup(&engine).await?;
    let db = &data.db;
    let full = school_of(4);
    apply(db, &a, &full, Guard::default()).await?;

    let mut partial = full.clone();
    partial.classes.truncate(1);
    let first = apply(db, &a, &partial, Guard::default()).await?;
    assert!(first.counts.groups.held >= 3, "{:?}", first.counts);
    assert_eq!(first.counts.groups.deactivated, 0);

    let mut none = full.clone();
    none.classes.clear();
    let second = apply(db, &a, &none, Guard::default()).await?;
    assert_eq!(
        second.counts.groups.deactivated, 0,
        "the second broken answer ended the class the first left: {:?}",
        second.counts
    );
    Ok(())
}

/// Held memberships must stay PENDING until decided (or until the MIS
/// lists them again, or they end on other evidence). A second run with the
/// same answer neither holds them twice nor withdraws them.
async fn review_a_held_membership_stays_pending_through_the_next_run(engine: Engine) -> anyhow::Result<()> {
    let (data, a) = setup(&engine).await?;
    let db = &data.db;
    let full = school_of(4);
    apply(db, &a, &full, Guard::default()).await?;

    // Every class still listed, but with no pupils: every pupil would be in
    // no class at all.
    let mut emptied = full.clone();
    for class in &mut emptied.classes {
        class.students.clear();
    }
    let first = apply(db, &a, &emptied, Guard::default()).await?;
    let held = held_rows(db, &a, HeldTarget::ClassMembership).await?;
    assert_eq!(held.len(), 4, "{:?}", first.counts);
    assert!(held.iter().all(|h| h.status == HeldStatus::Pending));

    // The same answer again: still waiting, nothing held twice.
    apply(db, &a, &emptied, Guard::default()).await?;
    let after: Vec<(i32, HeldStatus)> =
        held_rows(db, &a, HeldTarget::ClassMembership).await?.into_iter().map(|h| (h.id, h.status)).collect();
    assert_eq!(
        after,
        held.iter().map(|h| (h.id, HeldStatus::Pending)).collect::<Vec<_>>(),
        "a run that still does not list them withdrew the held memberships"
    );

    // An INCREMENTAL run that says nothing about classes must not settle
    // them either.
    apply(db, &a, &Batch::new(false, DataTypes::ALL), Guard::default()).await?;
    let after: Vec<HeldStatus> =
        held_rows(db, &a, HeldTarget::ClassMembership).await?.into_iter().map(|h| h.status).collect();
    assert!(
        after.iter().all(|s| *s == HeldStatus::Pending),
        "an empty incremental run withdrew them: {after:?}"
    );
    let active = count_at!(db, a.id, class_student, Active, true);
    assert_eq!(active, 4);
    Ok(())
}

/// A guardian link the MIS stopped listing (for most guardians at once) is
/// held; an INCREMENTAL run that does not mention it must not withdraw it
/// (withdrawn, it can no longer be approved, and only the next FULL run
/// judges it again).
async fn review_a_held_guardian_link_stays_pending_through_an_incremental_run(
    engine: Engine,
) -> anyhow::Result<()> {
    let (data, a) = setup(&engine).await?;
    let db = &data.db;
    let mut full = school_of(4);
    // Two pupils have a second parent H.. too: dropping every G link
    // leaves the 4 G parents (of 6 guardians) with no child here.
    for i in 0..2 {
        full.guardians.push(guardian(&format!("H{i}")));
        full.links.push(link(&format!("S{i}"), &format!("H{i}")));
    }
    apply(db, &a, &full, Guard::default()).await?;
    let mut unlinked = full.clone();
    unlinked.links.retain(|l| l.guardian.starts_with('H'));
    let first = apply(db, &a, &unlinked, Guard::default()).await?;
    let held = held_rows(db, &a, HeldTarget::GuardianLink).await?;
    assert_eq!(held.len(), 4, "the links of 4 of 6 guardians: {:?}", first.counts);

    apply(db, &a, &Batch::new(false, DataTypes::ALL), Guard::default()).await?;
    let after: Vec<HeldStatus> =
        held_rows(db, &a, HeldTarget::GuardianLink).await?.into_iter().map(|h| h.status).collect();
    assert!(
        after.iter().all(|s| *s == HeldStatus::Pending),
        "an incremental run that said nothing of links withdrew the held links: {after:?}"
    );
    Ok(())
}

/// Wonde deletes guardian G0 while G0's only child S0 is held (from an
/// earlier mass deletion). The deletion must not be lost: either G0 is
/// held (with its child) or it leaves when the child's fate is decided.
/// Here the office rejects the children's deletions (a MIS mistake): G0's
/// own deletion is still on record and must still count.
async fn review_a_guardian_deleted_while_its_only_child_is_held_is_not_forgotten(
    engine: Engine,
) -> anyhow::Result<()> {
    let (data, a) = setup(&engine).await?;
    let db = &data.db;
    apply(db, &a, &school_of(4), Guard::default()).await?;

    // A mass deletion: 3 of 4 pupils, held.
    let first =
        apply(db, &a, &deletions(DeletedKind::Student, &["S0", "S1", "S2"]), Guard::default()).await?;
    assert_eq!(first.counts.students.held, 3, "{:?}", first.counts);

    // Later, Wonde deletes G0 (for G0's own reasons: one guardian of four).
    let second = apply(db, &a, &deletions(DeletedKind::Guardian, &["G0"]), Guard::default()).await?;
    let g0 = guardian_row(db, &a, "G0").await?;
    let g0_held = held_rows(db, &a, HeldTarget::Guardian).await?.iter().any(|h| h.target_id == g0.id);

    // The office rejects the pupils' deletions: they stay.
    let ids: Vec<i32> = held_rows(db, &a, HeldTarget::Student).await?.into_iter().map(|h| h.id).collect();
    onroll::sync::held::reject(db, a.id, &ids, "review").await?;
    let g0 = guardian_row(db, &a, "G0").await?;
    assert!(
        g0.status == AccountStatus::Deactivated || g0_held,
        "G0 was deleted by Wonde, yet is active and nothing is held for it (second run: {:?})",
        second.counts
    );
    Ok(())
}

/// A held pupil who later gets a leaver record in an INCREMENTAL run leaves
/// (LEFT_SCHOOL) and the held entry is withdrawn.
async fn review_a_held_pupil_who_then_leaves_explicitly_leaves_left_school(
    engine: Engine,
) -> anyhow::Result<()> {
    let (data, a) = setup(&engine).await?;
    let db = &data.db;
    apply(db, &a, &school_of(4), Guard::default()).await?;
    apply(db, &a, &Batch::new(true, DataTypes::ALL), Guard::default()).await?;
    assert_eq!(held_rows(db, &a, HeldTarget::Student).await?.len(), 4);

    let mut leaves = Batch::new(false, DataTypes::ALL);
    leaves.leavers = vec![student("S0", "S0")];
    let out = apply(db, &a, &leaves, Guard::default()).await?;
    assert_eq!(out.counts.students.deactivated, 1);
    let s0 = student_row(db, &a, "S0").await?;
    assert_eq!(
        (s0.status, s0.deactivation_reason),
        (AccountStatus::Deactivated, Some(DeactivationReason::LeftSchool))
    );
    let rows = held_rows(db, &a, HeldTarget::Student).await?;
    let mine = rows.iter().find(|h| h.target_id == s0.id).ok_or_else(|| anyhow::anyhow!("no entry"))?;
    assert_eq!(mine.status, HeldStatus::Withdrawn);
    assert_eq!(rows.iter().filter(|h| h.status == HeldStatus::Pending).count(), 3);
    // And G0, whose only child left, leaves with the child.
    let g0 = guardian_row(db, &a, "G0").await?;
    assert_eq!(g0.status, AccountStatus::Deactivated);
    Ok(())
}

/// A guardian with one held child and one child who leaves explicitly:
/// the leaver's link ends, the guardian stays with the held child; when the
/// held child's deletion is approved, the guardian goes (NO_ACTIVE_CHILDREN).
async fn review_a_guardian_of_a_held_child_and_an_explicit_leaver_stays(
    engine: Engine,
) -> anyhow::Result<()> {
    let (data, a) = setup(&engine).await?;
    let db = &data.db;
    let mut full = school_of(6);
    // G0 is also S1's parent.
    full.links.push(link("S1", "G0"));
    apply(db, &a, &full, Guard::default()).await?;

    // S0, S2, S3, S4 deleted (4 of 6: held); S1 on the leavers list.
    let mut batch = deletions(DeletedKind::Student, &["S0", "S2", "S3", "S4"]);
    batch.leavers = vec![student("S1", "S1")];
    let out = apply(db, &a, &batch, Guard::default()).await?;
    assert_eq!((out.counts.students.held, out.counts.students.deactivated), (4, 1), "{:?}", out.counts);
    let g0 = guardian_row(db, &a, "G0").await?;
    assert_eq!(g0.status, AccountStatus::Active, "G0 keeps the held S0");
    let s1 = student_row(db, &a, "S1").await?;
    let s1_link = guardian_link::Entity::find()
        .filter(guardian_link::Column::StudentId.eq(s1.id))
        .filter(guardian_link::Column::GuardianId.eq(g0.id))
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no link"))?;
    assert!(!s1_link.active, "the leaver's link ends");

    let s0 = student_row(db, &a, "S0").await?;
    let entry = held_rows(db, &a, HeldTarget::Student)
        .await?
        .into_iter()
        .find(|h| h.target_id == s0.id)
        .ok_or_else(|| anyhow::anyhow!("S0 not held"))?;
    let decision = onroll::sync::held::approve(
        db,
        &onroll::events::EventBus::default(),
        Default::default(),
        a.id,
        &[entry.id],
        "review",
    )
    .await?;
    assert_eq!(decision.decided, vec![entry.id]);
    let g0 = guardian_row(db, &a, "G0").await?;
    assert_eq!(
        (g0.status, g0.deactivation_reason),
        (AccountStatus::Deactivated, Some(DeactivationReason::NoActiveChildren))
    );
    Ok(())
}

/// `force` applies everything, pending held changes included; their
/// entries are settled (withdrawn), not left PENDING.
async fn review_a_forced_run_applies_pending_changes_and_withdraws_them(
    engine: Engine,
) -> anyhow::Result<()> {
    let (data, a) = setup(&engine).await?;
    let db = &data.db;
    apply(db, &a, &school_of(4), Guard::default()).await?;
    let empty = Batch::new(true, DataTypes::ALL);
    apply(db, &a, &empty, Guard::default()).await?;
    let pending = held_change::Entity::find()
        .filter(held_change::Column::Status.eq(HeldStatus::Pending))
        .count(db)
        .await?;
    assert!(pending >= 4);
    let forced = apply(db, &a, &empty, Guard { force: true, ..Guard::default() }).await?;
    assert_eq!(forced.counts.students.deactivated, 4, "{:?}", forced.counts);
    assert_eq!(active_students(db, &a).await?, 0);
    let still = held_change::Entity::find()
        .filter(held_change::Column::Status.eq(HeldStatus::Pending))
        .count(db)
        .await?;
    assert_eq!(still, 0, "a forced run left held entries PENDING");
    Ok(())
}

/// docs/the-guard.md: "A guardian whose children all leave in the run
/// leaves with them (NO_ACTIVE_CHILDREN)". A deleted pupil whose parent
/// Wonde deleted with them.
async fn review_parents_deleted_with_their_child_leave_no_active_children(
    engine: Engine,
) -> anyhow::Result<()> {
    let (data, a) = setup(&engine).await?;
    let db = &data.db;
    apply(db, &a, &school_of(4), Guard::default()).await?;
    let mut batch = deletions(DeletedKind::Student, &["S0"]);
    batch.deletions.push(MisDeletion { kind: DeletedKind::Guardian, source_id: "G0".to_owned() });
    apply(db, &a, &batch, Guard::default()).await?;
    let g0 = guardian_row(db, &a, "G0").await?;
    assert_eq!(g0.status, AccountStatus::Deactivated);
    assert_eq!(
        g0.deactivation_reason,
        Some(DeactivationReason::NoActiveChildren),
        "the doc says the guardian leaves with the child (NO_ACTIVE_CHILDREN)"
    );
    Ok(())
}

/// A guardian Wonde deletes while the child stays: judged on its own
/// (one guardian of four: within the share), so it applies.
async fn review_a_guardian_deleted_whose_child_stays_is_judged_and_applies(
    engine: Engine,
) -> anyhow::Result<()> {
    let (data, a) = setup(&engine).await?;
    let db = &data.db;
    apply(db, &a, &school_of(4), Guard::default()).await?;
    let out = apply(db, &a, &deletions(DeletedKind::Guardian, &["G0"]), Guard::default()).await?;
    assert_eq!((out.counts.guardians.deactivated, out.counts.guardians.held), (1, 0), "{:?}", out.counts);
    let g0 = guardian_row(db, &a, "G0").await?;
    assert_eq!(
        (g0.status, g0.deactivation_reason),
        (AccountStatus::Deactivated, Some(DeactivationReason::RemovedFromMis))
    );
    assert_eq!(student_row(db, &a, "S0").await?.status, AccountStatus::Active);
    Ok(())
}

/// A full CSV import (memberships by member) whose classes column came out
/// empty: every pupil would be in no class. The memberships are held, the
/// classes stay (the students file alone cannot end a class).
async fn review_a_csv_full_import_that_lost_the_classes_column_holds_memberships(
    engine: Engine,
) -> anyhow::Result<()> {
    let (data, a) = setup(&engine).await?;
    let db = &data.db;
    let mut full = school_of(4);
    full.memberships = Memberships::ByMember;
    full.types.staff = false;
    full.types.guardians = false;
    full.guardians.clear();
    full.links.clear();
    apply(db, &a, &full, Guard::default()).await?;
    let mut lost = full.clone();
    lost.classes.clear();
    let out = apply(db, &a, &lost, Guard::default()).await?;
    let held = held_rows(db, &a, HeldTarget::ClassMembership).await?;
    assert_eq!(held.len(), 4, "{:?}", out.counts);
    assert_eq!(out.counts.groups.deactivated, 0, "{:?}", out.counts);
    let active = count_at!(db, a.id, class_student, Active, true);
    assert_eq!(active, 4);
    Ok(())
}
