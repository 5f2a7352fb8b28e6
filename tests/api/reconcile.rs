//! The rules of product.md, applied by the reconciliation to batches a
//! source would report: leavers and their cascade, the sibling and trust
//! rules, re-enrolment, returners and the guard. (The Wonde source and the
//! simulator drive the same code in the sync tests.)

use chrono::{Duration, Utc};
use entity::enums::{AccountStatus, DeactivationReason, EventKind};
use entity::{event, guardian, guardian_link, school, student};
use onroll::sync::ledger::Guard;
use onroll::sync::reconcile::{Outcome, Scope, reconcile};
use onroll::sync::source::*;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, TransactionTrait,
};

use crate::on_both_engines;
use crate::row_by_wonde_id;
use crate::support::fixture::Fixture;
use crate::support::{Engine, TestDb};

on_both_engines!(
    first_full_sync_imports_everything,
    leaver_cascade_keeps_siblings_parents_and_other_schools,
    absence_deletion_and_staff_leavers,
    re_enrolment_and_returners,
    guard_holds_an_empty_mis,
    a_deleted_pupils_two_parents_of_three_guardians_follow_at_the_default_share,
    a_family_of_four_on_the_leavers_list_of_a_school_of_seven_applies,
    disabled_types_deactivate_nobody,
    leaver_record_after_a_deletion_corrects_the_reason,
    two_candidates_are_never_merged,
    a_placeholder_upn_identifies_nobody_and_a_slip_still_does,
    a_upn_under_another_name_carries_no_account_over
);

fn student(id: &str, upi: &str, name: &str) -> MisStudent {
    MisStudent {
        source_id: id.to_owned(),
        upi: Some(upi.to_owned()),
        upn: Some(crate::support::upn(upi)),
        forename: name.to_owned(),
        surname: "Pupil".to_owned(),
        ..Default::default()
    }
}

fn guardian(id: &str, email: &str) -> MisGuardian {
    MisGuardian {
        source_id: id.to_owned(),
        forename: "Parent".to_owned(),
        surname: id.to_owned(),
        email: Some(email.to_owned()),
        ..Default::default()
    }
}

fn link(student: &str, guardian: &str, label: &str) -> MisLink {
    MisLink {
        student: student.to_owned(),
        guardian: guardian.to_owned(),
        relationship_label: Some(label.to_owned()),
        parental_responsibility: Some(true),
        priority: Some(1),
        ..Default::default()
    }
}

/// A small school: Amy and Ben are siblings (mum M1), Cal has his own
/// parent (P2); a teacher, a year group, a form and a class.
pub(crate) fn school_mis() -> Batch {
    let mut batch = Batch::new(true, DataTypes::ALL);
    batch.students = vec![student("S1", "u1", "Amy"), student("S2", "u2", "Ben"), student("S3", "u3", "Cal")];
    batch.staff = vec![MisStaff {
        source_id: "T1".into(),
        forename: "Tia".into(),
        surname: "Teacher".into(),
        current: true,
        ..Default::default()
    }];
    batch.guardians = vec![guardian("M1", "mum@example.org"), guardian("P2", "p2@example.org")];
    batch.links =
        vec![link("S1", "M1", "Mother"), link("S2", "M1", "Mother"), link("S3", "P2", "Step-father")];
    let group = |id: &str, students: &[&str], staff: &[&str]| MisGroup {
        source_id: id.to_owned(),
        name: id.to_owned(),
        students: students.iter().map(|s| (*s).to_owned()).collect(),
        staff: staff.iter().map(|s| (*s).to_owned()).collect(),
        ..Default::default()
    };
    batch.year_groups = vec![group("Y7", &["S1", "S2", "S3"], &[])];
    batch.form_groups = vec![group("7A", &["S1", "S3"], &["T1"])];
    batch.classes = vec![group("MA1", &["S1", "S2", "S3"], &["T1"])];
    batch
}

pub(crate) async fn apply(
    db: &DatabaseConnection,
    school: &school::Model,
    batch: &Batch,
    guard: Guard,
) -> anyhow::Result<Outcome> {
    let now = Utc::now();
    let today = onroll::school_day::today(onroll::school_day::DEFAULT_ZONE, now);
    let scope = Scope { trust_id: school.trust_id, school_id: school.id, run_id: None, now, today };
    let txn = db.begin().await?;
    let mut outcome = reconcile(&txn, scope, batch, guard).await?;
    outcome.append_events(&txn).await?;
    txn.commit().await?;
    Ok(outcome)
}

async fn setup(engine: &Engine) -> anyhow::Result<(TestDb, school::Model, school::Model)> {
    let data = TestDb::create(engine).await?;
    let f = Fixture::new(&data.db);
    let trust = f.trust("Rules Trust").await?;
    let a = f.school(&trust, "Rule School A").await?;
    let b = f.school(&trust, "Rule School B").await?;
    Ok((data, a, b))
}

/// `setup`, then a first FULL run of `school_mis()` at school A.
async fn synced(engine: &Engine) -> anyhow::Result<(TestDb, school::Model, school::Model)> {
    let (data, a, b) = setup(engine).await?;
    apply(&data.db, &a, &school_mis(), Guard::default()).await?;
    Ok((data, a, b))
}

pub(crate) async fn student_row(
    db: &DatabaseConnection,
    school: &school::Model,
    wonde: &str,
) -> anyhow::Result<student::Model> {
    row_by_wonde_id!(db, school.id, student, wonde)
}

pub(crate) async fn guardian_row(
    db: &DatabaseConnection,
    school: &school::Model,
    wonde: &str,
) -> anyhow::Result<guardian::Model> {
    row_by_wonde_id!(db, school.id, guardian, wonde)
}

async fn active_links(db: &DatabaseConnection, student: &student::Model) -> anyhow::Result<u64> {
    Ok(guardian_link::Entity::find()
        .filter(guardian_link::Column::StudentId.eq(student.id))
        .filter(guardian_link::Column::Active.eq(true))
        .count(db)
        .await?)
}

async fn first_full_sync_imports_everything(engine: Engine) -> anyhow::Result<()> {
    let (data, a, _) = setup(&engine).await?;
    let outcome = apply(&data.db, &a, &school_mis(), Guard::default()).await?;
    let c = outcome.counts;
    assert_eq!((c.students.created, c.staff.created, c.guardians.created, c.groups.created), (3, 1, 2, 3));
    assert!(outcome.events.is_empty(), "a first sync deactivates nobody");
    let cal = student_row(&data.db, &a, "S3").await?;
    let link = guardian_link::Entity::find()
        .filter(guardian_link::Column::StudentId.eq(cal.id))
        .one(&data.db)
        .await?;
    let link = link.ok_or_else(|| anyhow::anyhow!("Cal's link"))?;
    assert_eq!(link.relationship, entity::enums::RelationshipType::StepParent);
    assert_eq!(link.relationship_label.as_deref(), Some("Step-father"));
    assert_eq!(guardian_row(&data.db, &a, "M1").await?.email_key.as_deref(), Some("mum@example.org"));

    // The same answer again changes nothing.
    let again = apply(&data.db, &a, &school_mis(), Guard::default()).await?;
    assert_eq!(again.counts, Default::default());
    assert!(again.events.is_empty());
    Ok(())
}

async fn leaver_cascade_keeps_siblings_parents_and_other_schools(engine: Engine) -> anyhow::Result<()> {
    let (data, a, b) = synced(&engine).await?;
    let db = &data.db;
    // Mum is also a parent at school B.
    let mut other = Batch::new(true, DataTypes::ALL);
    other.students = vec![student("BS1", "ub1", "Dee")];
    other.guardians = vec![guardian("BM1", " MUM@example.org")];
    other.links = vec![link("BS1", "BM1", "Mother")];
    apply(db, &b, &other, Guard::default()).await?;

    // Amy leaves (leaving date today) and Cal is on the leavers list.
    let mut mis = school_mis();
    mis.students[0].leaving_date = Some(Utc::now().date_naive());
    let cal = mis.students.remove(2);
    mis.leavers.push(cal);
    mis.links.retain(|l| l.student != "S3");
    // Two of three is past the default guard; this tiny school allows it.
    let outcome = apply(db, &a, &mis, Guard { share: 1.0, force: false }).await?;

    let amy = student_row(db, &a, "S1").await?;
    assert_eq!(amy.status, AccountStatus::Deactivated);
    assert_eq!(amy.deactivation_reason, Some(DeactivationReason::LeftSchool));
    assert_eq!(active_links(db, &amy).await?, 0, "a leaver's links end");
    let cal = student_row(db, &a, "S3").await?;
    assert_eq!(cal.deactivation_reason, Some(DeactivationReason::LeftSchool));
    // Mum still has Ben at school A: she stays active.
    assert_eq!(guardian_row(db, &a, "M1").await?.status, AccountStatus::Active);
    // Cal's step-father has no other child here.
    let p2 = guardian_row(db, &a, "P2").await?;
    assert_eq!(p2.deactivation_reason, Some(DeactivationReason::NoActiveChildren));
    // Mum's record at school B is untouched.
    assert_eq!(guardian_row(db, &b, "BM1").await?.status, AccountStatus::Active);

    // Memberships of the leavers ended; Ben's stay.
    let memberships = |student_id: i32| async move {
        entity::class_student::Entity::find()
            .filter(entity::class_student::Column::StudentId.eq(student_id))
            .filter(entity::class_student::Column::Active.eq(true))
            .count(db)
            .await
    };
    assert_eq!(memberships(amy.id).await?, 0);
    assert_eq!(memberships(student_row(db, &a, "S2").await?.id).await?, 1);

    // Exactly one event per deactivated account: Amy, Cal, P2.
    assert_eq!(outcome.counts.students.deactivated, 2);
    assert_eq!(outcome.counts.guardians.deactivated, 1);
    let mut people: Vec<(&str, Option<i32>)> =
        outcome.events.iter().map(|e| (e.kind.as_str(), e.person_id)).collect();
    people.sort();
    let mut expected =
        vec![("DEACTIVATED", Some(amy.id)), ("DEACTIVATED", Some(cal.id)), ("DEACTIVATED", Some(p2.id))];
    expected.sort();
    assert_eq!(people, expected);
    assert_eq!(event::Entity::find().count(db).await?, 3, "events are in the log, committed");
    Ok(())
}

async fn absence_deletion_and_staff_leavers(engine: Engine) -> anyhow::Result<()> {
    let (data, a, _) = synced(&engine).await?;
    let db = &data.db;

    // Incremental: a deletion of Cal, and the teacher's employment ended.
    let mut delta = Batch::new(false, DataTypes::ALL);
    delta.deletions.push(MisDeletion { kind: DeletedKind::Student, source_id: "S3".into() });
    delta.staff.push(MisStaff {
        source_id: "T1".into(),
        forename: "Tia".into(),
        surname: "Teacher".into(),
        current: false,
        ..Default::default()
    });
    let outcome = apply(db, &a, &delta, Guard { share: 1.0, force: false }).await?;
    assert_eq!(
        student_row(db, &a, "S3").await?.deactivation_reason,
        Some(DeactivationReason::RemovedFromMis)
    );
    assert_eq!(outcome.counts.staff.deactivated, 1);
    let teaching = entity::class_teacher::Entity::find()
        .filter(entity::class_teacher::Column::Active.eq(true))
        .count(db)
        .await?;
    assert_eq!(teaching, 0, "a staff leaver leaves their classes");
    // Amy and Ben were not in the delta: untouched.
    assert_eq!(student_row(db, &a, "S1").await?.status, AccountStatus::Active);

    // Complete: Ben is absent from the MIS.
    let mut mis = school_mis();
    mis.students.retain(|s| s.source_id != "S2" && s.source_id != "S3");
    mis.links.retain(|l| l.student == "S1");
    mis.staff.clear();
    apply(db, &a, &mis, Guard { share: 1.0, force: false }).await?;
    assert_eq!(
        student_row(db, &a, "S2").await?.deactivation_reason,
        Some(DeactivationReason::RemovedFromMis)
    );
    assert_eq!(guardian_row(db, &a, "M1").await?.status, AccountStatus::Active, "Amy is still here");
    Ok(())
}

async fn re_enrolment_and_returners(engine: Engine) -> anyhow::Result<()> {
    let (data, a, _) = synced(&engine).await?;
    let db = &data.db;
    let cal_before = student_row(db, &a, "S3").await?;

    // Cal leaves; his step-father goes with him.
    let mut mis = school_mis();
    mis.students.retain(|s| s.source_id != "S3");
    mis.links.retain(|l| l.student != "S3");
    apply(db, &a, &mis, Guard::default()).await?;
    assert_eq!(guardian_row(db, &a, "P2").await?.status, AccountStatus::Deactivated);

    // He is re-enrolled in the MIS: a new Wonde id, the same UPI.
    let mut mis = school_mis();
    mis.students[2].source_id = "S3-new".into();
    mis.links[2].student = "S3-new".into();
    mis.classes[0].students[2] = "S3-new".into();
    let outcome = apply(db, &a, &mis, Guard::default()).await?;
    let cal = student_row(db, &a, "S3-new").await?;
    assert_eq!(cal.id, cal_before.id, "the same person, not a duplicate");
    assert_eq!(cal.status, AccountStatus::Active);
    assert_eq!(student::Entity::find().filter(student::Column::SchoolId.eq(a.id)).count(db).await?, 3);
    assert_eq!(
        guardian_row(db, &a, "P2").await?.status,
        AccountStatus::Active,
        "his step-father returns too"
    );
    assert_eq!(outcome.counts.students.reactivated, 1);
    assert_eq!(outcome.counts.guardians.reactivated, 1);
    let reasons: Vec<_> = outcome.events.iter().map(|e| (e.kind, e.reason)).collect();
    assert_eq!(
        reasons,
        vec![
            (EventKind::Reactivated, Some(DeactivationReason::RemovedFromMis)),
            (EventKind::Reactivated, Some(DeactivationReason::NoActiveChildren)),
        ]
    );
    assert_eq!(active_links(db, &cal).await?, 1);
    Ok(())
}

async fn guard_holds_an_empty_mis(engine: Engine) -> anyhow::Result<()> {
    let (data, a, _) = synced(&engine).await?;
    let db = &data.db;
    let events_before = event::Entity::find().count(db).await?;
    let links_before =
        guardian_link::Entity::find().filter(guardian_link::Column::Active.eq(true)).count(db).await?;

    let empty = Batch::new(true, DataTypes::ALL);
    let held = apply(db, &a, &empty, Guard::default()).await?;
    let c = held.counts;
    // Guardians wait with their held children: held too, for their own
    // decision, but never judged on their own.
    assert_eq!((c.students.held, c.staff.held, c.guardians.held, c.groups.held), (3, 1, 2, 3));
    assert_eq!((c.students.deactivated, c.guardians.deactivated, c.groups.deactivated), (0, 0, 0));
    // Nothing doubtful changed: every account active, every link current,
    // and the one event says that changes wait.
    let active =
        student::Entity::find().filter(student::Column::Status.eq(AccountStatus::Active)).count(db).await?;
    assert_eq!(active, 3);
    assert_eq!(
        guardian_link::Entity::find().filter(guardian_link::Column::Active.eq(true)).count(db).await?,
        links_before
    );
    let kinds: Vec<_> = held.events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![entity::enums::EventKind::Held]);
    assert_eq!(event::Entity::find().count(db).await?, events_before + 1);
    assert_eq!(guardian_row(db, &a, "M1").await?.status, AccountStatus::Active);
    // The same answer again holds nothing twice.
    let again = apply(db, &a, &empty, Guard::default()).await?;
    assert_eq!((again.held.len(), again.events.len()), (0, 0));

    // Forced, it goes through.
    let forced = apply(db, &a, &empty, Guard { force: true, ..Guard::default() }).await?;
    assert_eq!(forced.counts.students.deactivated, 3);
    assert_eq!(forced.counts.guardians.deactivated, 2);
    Ok(())
}

async fn disabled_types_deactivate_nobody(engine: Engine) -> anyhow::Result<()> {
    let (data, a, _) = synced(&engine).await?;
    let db = &data.db;
    // Guardians and staff switched off: a complete batch without them.
    let mut mis = school_mis();
    mis.types = DataTypes { guardians: false, staff: false, ..DataTypes::ALL };
    mis.guardians.clear();
    mis.links.clear();
    mis.staff.clear();
    let outcome = apply(db, &a, &mis, Guard::default()).await?;
    assert!(outcome.events.is_empty(), "{:?}", outcome.events);
    assert_eq!(guardian_row(db, &a, "M1").await?.status, AccountStatus::Active);
    let amy = student_row(db, &a, "S1").await?;
    assert_eq!(active_links(db, &amy).await?, 1, "links stay while guardians do not sync");
    let yesterday = Utc::now() - Duration::days(1);
    assert!(amy.updated_at > yesterday);
    Ok(())
}

/// A student who leaves between a run's `students-leaver` and `deletions`
/// fetches shows up first as a deletion alone (REMOVED_FROM_MIS), then, in
/// a later run, as a leaver: the leaver record corrects the reason to
/// LEFT_SCHOOL, with one DEACTIVATED event that says so, and no
/// reactivation in between. The same goes for a leaving date, and for a
/// staff member whose employment ended.
async fn leaver_record_after_a_deletion_corrects_the_reason(engine: Engine) -> anyhow::Result<()> {
    let (data, a, _) = synced(&engine).await?;
    let db = &data.db;
    let tiny_school = Guard { share: 1.0, force: false };

    // The first run sees only the deletions of Cal, Ben and the teacher.
    let mut deleted = Batch::new(false, DataTypes::ALL);
    for (kind, id) in [(DeletedKind::Student, "S3"), (DeletedKind::Student, "S2"), (DeletedKind::Staff, "T1")]
    {
        deleted.deletions.push(MisDeletion { kind, source_id: id.into() });
    }
    apply(db, &a, &deleted, tiny_school).await?;
    let cal_deleted = student_row(db, &a, "S3").await?;
    assert_eq!(cal_deleted.deactivation_reason, Some(DeactivationReason::RemovedFromMis));
    let events_before = event::Entity::find().count(db).await?;

    // A later run: Cal on the leavers list, Ben with a leaving date, the
    // teacher's employment ended; their deletions are seen again too.
    let mut left = deleted.clone();
    let today = Utc::now().date_naive();
    left.leavers.push(MisStudent { leaving_date: Some(today), ..student("S3", "u3", "Cal") });
    left.students.push(MisStudent { leaving_date: Some(today), ..student("S2", "u2", "Ben") });
    left.staff.push(MisStaff {
        source_id: "T1".into(),
        forename: "Tia".into(),
        surname: "Teacher".into(),
        current: false,
        ..Default::default()
    });
    let outcome = apply(db, &a, &left, tiny_school).await?;
    let cal = student_row(db, &a, "S3").await?;
    let ben = student_row(db, &a, "S2").await?;
    for who in [&cal, &ben] {
        assert_eq!(who.status, AccountStatus::Deactivated);
        assert_eq!(who.deactivation_reason, Some(DeactivationReason::LeftSchool), "{}", who.forename);
    }
    assert_eq!(cal.deactivated_at, cal_deleted.deactivated_at, "access was lost at the deletion");
    let teacher = entity::staff::Entity::find()
        .filter(entity::staff::Column::SchoolId.eq(a.id))
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no teacher"))?;
    assert_eq!(teacher.deactivation_reason, Some(DeactivationReason::LeftSchool));
    // One DEACTIVATED event per corrected account, with the new reason, and
    // no reactivation; a correction deactivates nobody, so it is counted as
    // an update (once, with Ben's new leaving date).
    let mut events: Vec<_> = outcome.events.iter().map(|e| (e.kind, e.person_id, e.reason)).collect();
    events.sort_by_key(|e| e.1);
    let left_school = Some(DeactivationReason::LeftSchool);
    let mut expected = vec![
        (EventKind::Deactivated, Some(cal.id), left_school),
        (EventKind::Deactivated, Some(ben.id), left_school),
        (EventKind::Deactivated, Some(teacher.id), left_school),
    ];
    expected.sort_by_key(|e| e.1);
    assert_eq!(events, expected);
    assert_eq!(event::Entity::find().count(db).await?, events_before + 3);
    let c = outcome.counts;
    assert_eq!((c.students.deactivated, c.students.reactivated, c.students.updated), (0, 0, 2));
    assert_eq!((c.staff.deactivated, c.staff.updated), (0, 1));

    // The deletions alone again do not take the reason back.
    let again = apply(db, &a, &deleted, tiny_school).await?;
    assert!(again.events.is_empty(), "{:?}", again.events);
    assert_eq!(student_row(db, &a, "S3").await?.deactivation_reason, left_school);
    // Nor does the leaver record, seen again, say it twice.
    let twice = apply(db, &a, &left, tiny_school).await?;
    assert!(twice.events.is_empty(), "{:?}", twice.events);
    Ok(())
}

/// A record whose keys are unknown and whose UPN two pupils of one name
/// share (a data error at the school) is neither of them: it is created
/// new, both stay as they were, and the ambiguity is reported.
async fn two_candidates_are_never_merged(engine: Engine) -> anyhow::Result<()> {
    let (data, a, _) = setup(&engine).await?;
    let db = &data.db;
    let mut first = school_mis();
    first.students[1].upn = first.students[0].upn.clone();
    // A second Amy Pupil: neither UPN nor names tell the two apart.
    first.students[1].forename = "Amy".to_owned();
    apply(db, &a, &first, Guard::default()).await?;
    let (amy, ben) = (student_row(db, &a, "S1").await?, student_row(db, &a, "S2").await?);

    // The MIS changed: a complete answer under new keys.
    let types =
        DataTypes { staff: false, classes: false, year_groups: false, form_groups: false, ..DataTypes::ALL };
    let mut delta = Batch::new(true, types);
    delta.guardians = first.guardians.clone();
    let mut newcomer = student("N1", "un1", "Amy");
    newcomer.upn.clone_from(&amy.upn);
    delta.students = vec![newcomer];
    // And one the rule does settle: Cal, re-keyed with his UPN.
    let mut cal = student("N3", "un3", "Cal");
    cal.upn = Some(crate::support::upn("u3"));
    delta.students.push(cal);
    // A student present states its links (Wonde sends its contacts).
    delta.links = vec![link("N3", "P2", "Step-father")];
    let outcome = apply(db, &a, &delta, Guard { share: 1.0, force: false }).await?;
    assert_eq!(outcome.ambiguities.len(), 1, "{:?}", outcome.ambiguities);
    let ambiguity = &outcome.ambiguities[0];
    assert_eq!((ambiguity.source_id.as_str(), ambiguity.rule), ("N1", "upn"));
    let mut candidates = ambiguity.candidates.clone();
    candidates.sort_unstable();
    assert_eq!(candidates, vec![amy.id, ben.id]);
    assert_eq!(outcome.counts.students.created, 1, "the ambiguous record is someone new");
    assert_eq!(outcome.counts.students.reidentified, 1, "Cal is Cal");
    let cal = student_row(db, &a, "N3").await?;
    assert_eq!((cal.forename.as_str(), cal.status), ("Cal", AccountStatus::Active));
    assert!(outcome.events.iter().all(|e| e.person_id != Some(cal.id)), "carried over without an event");
    // Neither candidate became the newcomer: both keep their own keys (and,
    // absent from the new MIS's answer, are gone from it).
    let (amy_now, ben_now) = (student_row(db, &a, "S1").await?, student_row(db, &a, "S2").await?);
    assert_eq!((amy_now.id, amy_now.upi.as_deref()), (amy.id, amy.upi.as_deref()));
    assert_eq!((ben_now.id, ben_now.upi.as_deref()), (ben.id, ben.upi.as_deref()));
    assert_ne!(student_row(db, &a, "N1").await?.id, amy.id);
    Ok(())
}

/// Seen: one deleted pupil whose two parents were two of the school's three
/// guardians tripped the guard. The parents follow their child: 1 of 3
/// pupils is within the default share, and the guardians are not judged.
async fn a_deleted_pupils_two_parents_of_three_guardians_follow_at_the_default_share(
    engine: Engine,
) -> anyhow::Result<()> {
    let (data, a, _) = setup(&engine).await?;
    let db = &data.db;
    let mut mis = school_mis();
    mis.guardians.push(guardian("Q3", "q3@example.org"));
    mis.links.push(link("S3", "Q3", "Mother"));
    apply(db, &a, &mis, Guard::default()).await?;

    // Wonde deletes Cal, and with him the two contacts who had no other child.
    let mut deleted = Batch::new(false, DataTypes::ALL);
    for (kind, id) in
        [(DeletedKind::Student, "S3"), (DeletedKind::Guardian, "P2"), (DeletedKind::Guardian, "Q3")]
    {
        deleted.deletions.push(MisDeletion { kind, source_id: id.to_owned() });
    }
    let outcome = apply(db, &a, &deleted, Guard::default()).await?;
    let c = outcome.counts;
    assert_eq!((c.students.deactivated, c.guardians.deactivated), (1, 2), "{c:?}");
    assert_eq!((c.students.held, c.guardians.held), (0, 0));
    assert_eq!(guardian_row(db, &a, "P2").await?.status, AccountStatus::Deactivated);
    assert_eq!(guardian_row(db, &a, "M1").await?.status, AccountStatus::Active);
    Ok(())
}

/// Seen: an INCREMENTAL run whose leavers list named a family of four at a
/// school of seven was refused. Leaver records are explicit: they apply.
async fn a_family_of_four_on_the_leavers_list_of_a_school_of_seven_applies(
    engine: Engine,
) -> anyhow::Result<()> {
    let (data, a, _) = setup(&engine).await?;
    let db = &data.db;
    let mut mis = school_mis();
    for (id, name) in [("S4", "Dee"), ("S5", "Eve"), ("S6", "Fin"), ("S7", "Gus")] {
        mis.students.push(student(id, &id.to_lowercase(), name));
        mis.links.push(link(id, "F9", "Father"));
    }
    mis.guardians.push(guardian("F9", "f9@example.org"));
    apply(db, &a, &mis, Guard::default()).await?;

    let mut leavers = Batch::new(false, DataTypes::ALL);
    leavers.leavers =
        ["S4", "S5", "S6", "S7"].iter().map(|id| student(id, &id.to_lowercase(), "Left")).collect();
    let outcome = apply(db, &a, &leavers, Guard::default()).await?;
    let c = outcome.counts;
    assert_eq!((c.students.deactivated, c.students.held, c.guardians.deactivated), (4, 0, 1), "{c:?}");
    assert_eq!(student_row(db, &a, "S4").await?.deactivation_reason, Some(DeactivationReason::LeftSchool));
    assert_eq!(
        guardian_row(db, &a, "F9").await?.deactivation_reason,
        Some(DeactivationReason::NoActiveChildren)
    );
    Ok(())
}

/// The MIS changed (every record re-keyed, new UPIs). Amy left meanwhile,
/// and her record held the placeholder "TBC"; Zed, new, holds it too. He
/// took Amy's account (her id, history and the integrators' mapping)
/// while she was never deactivated. A value without a UPN's shape
/// identifies nobody; Ben's slip (a wrong check letter, the same in both
/// MIS) still identifies him within the school.
async fn a_placeholder_upn_identifies_nobody_and_a_slip_still_does(engine: Engine) -> anyhow::Result<()> {
    let (data, a, _) = setup(&engine).await?;
    let db = &data.db;
    let mut first = school_mis();
    first.students[0].upn = Some("TBC".to_owned());
    first.students[1].upn = Some("Q207000016049".to_owned());
    apply(db, &a, &first, Guard::default()).await?;
    let (amy, ben) = (student_row(db, &a, "S1").await?, student_row(db, &a, "S2").await?);

    let types =
        DataTypes { staff: false, classes: false, year_groups: false, form_groups: false, ..DataTypes::ALL };
    let mut migrated = Batch::new(true, types);
    migrated.guardians = first.guardians.clone();
    let mut zed = student("N1", "un1", "Zed");
    zed.upn = Some("tbc".to_owned());
    let mut ben_again = student("N2", "un2", "Ben");
    ben_again.upn = Some("q207000016049 ".to_owned());
    let mut cal_again = student("N3", "un3", "Cal");
    cal_again.upn = first.students[2].upn.clone();
    migrated.students = vec![zed, ben_again, cal_again];
    migrated.links = vec![link("N2", "M1", "Mother"), link("N3", "P2", "Step-father")];
    let outcome = apply(db, &a, &migrated, Guard { share: 1.0, force: false }).await?;

    let zed = student_row(db, &a, "N1").await?;
    assert_ne!(zed.id, amy.id, "Zed is someone new, not Amy");
    assert_eq!(student_row(db, &a, "S1").await?.status, AccountStatus::Deactivated, "Amy left");
    assert_eq!(student_row(db, &a, "N2").await?.id, ben.id, "Ben, by the slip both MIS share");
    assert_eq!(outcome.counts.students.reidentified, 2, "Ben and Cal");
    assert_eq!(outcome.counts.students.created, 1, "Zed");
    assert!(outcome.ambiguities.is_empty(), "{:?}", outcome.ambiguities);
    Ok(())
}

/// Seen in a trial: a new pupil's record carrying a leaver's UPN (copied
/// from a sibling) took over the leaver's account, renamed and reactivated
/// it, and gave the newcomer the leaver's ended links and history. A UPN
/// carries an account over only under names that agree.
async fn a_upn_under_another_name_carries_no_account_over(engine: Engine) -> anyhow::Result<()> {
    let (data, a, _) = setup(&engine).await?;
    let db = &data.db;
    apply(db, &a, &school_mis(), Guard::default()).await?;
    let amy = student_row(db, &a, "S1").await?;
    let mut left: student::ActiveModel = amy.clone().into();
    left.status = Set(AccountStatus::Deactivated);
    left.deactivation_reason = Set(Some(DeactivationReason::LeftSchool));
    left.update(db).await?;

    let types =
        DataTypes { staff: false, classes: false, year_groups: false, form_groups: false, ..DataTypes::ALL };
    let mut copied = Batch::new(false, types);
    let mut zoe = student("N1", "un1", "Zoe");
    zoe.upn.clone_from(&amy.upn);
    copied.students = vec![zoe];
    let outcome = apply(db, &a, &copied, Guard::default()).await?;
    assert_eq!(outcome.counts.students.reidentified, 0, "{:?}", outcome.counts.students);
    assert_eq!(outcome.counts.students.created, 1, "Zoe is someone new");
    let amy_now = student_row(db, &a, "S1").await?;
    assert_eq!(
        (amy_now.forename.as_str(), amy_now.status, amy_now.wonde_id.as_str()),
        ("Amy", AccountStatus::Deactivated, "S1"),
        "Amy's account is still Amy's"
    );
    assert_ne!(student_row(db, &a, "N1").await?.id, amy.id);

    // Amy herself, re-keyed under the same names, is carried over.
    let mut again = Batch::new(false, types);
    let mut amy_rekeyed = student("N2", "un2", "amy");
    amy_rekeyed.upn.clone_from(&amy.upn);
    again.students = vec![amy_rekeyed];
    let outcome = apply(db, &a, &again, Guard::default()).await?;
    assert_eq!(outcome.counts.students.reidentified, 1, "{:?}", outcome.counts.students);
    assert_eq!(student_row(db, &a, "N2").await?.id, amy.id);
    Ok(())
}
