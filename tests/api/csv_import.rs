//! CSV import end to end, on both engines: a school with no Wonde
//! connection fed by files, through the same reconciliation, leaver rules,
//! guard and events as a Wonde run; files with errors change nothing.

use entity::enums::{
    AccountStatus, ConnectionStatus, DeactivationReason, EventKind, PersonKind, RelationshipType, SyncKind,
    SyncStatus,
};
use entity::*;
use onroll::events::EventBus;
use onroll::graphql::ids::NodeType;
use onroll::sync::csv_import::{CsvImportError, CsvImportOutcome, CsvImporter};
use onroll::sync::csv_source::CsvFiles;
use onroll::sync::runs;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter,
};
use std::collections::BTreeSet;
use std::process::Command;

use crate::on_both_engines;
use crate::support::fixture::{gid, school_db};
use crate::support::{Engine, TestDb};
use crate::sync_wonde::Mirror;
use crate::{count_at, row_by_wonde_id};

on_both_engines!(
    a_full_import_builds_the_directory,
    a_full_import_without_a_student_makes_a_leaver,
    partial_and_incremental_imports_touch_only_what_they_hold,
    files_with_errors_are_refused_and_change_nothing,
    the_guard_holds_a_mass_deactivation_unless_forced,
    wonde_schools_and_open_runs_are_refused,
    the_cli_imports_and_reports_errors,
    a_file_without_a_column_keeps_what_is_stored,
    a_file_without_group_columns_keeps_the_groups
);

const STUDENTS: &str = "\
id,upn,forename,surname,email,year,form,classes,leaving_date
S1,R100000000001,Amy,Smith,amy@pupils.example,Year 7,7A,7A/Ma1;7A/En1,
S2,F100000000002,Ben,Smith,,Year 7,7A,7A/Ma1,
S3,V100000000003,Cal,Jones,,Year 8,8B,8B/Sc1,
S4,J100000000004,Dee,Brown,,Year 8,8B,8B/Sc1,
S5,Y100000000005,Eve,Gone,,Year 8,8B,8B/Sc1,2020-07-20
";

const STAFF: &str = "\
id,title,forename,surname,email,forms,classes
T1,Ms,Tia,Teach,tia@staff.example,7A,7A/Ma1;7A/En1
T2,Mr,Sam,Science,,8B,8B/Sc1
";

const GUARDIANS: &str = "\
id,forename,surname,email,student_id,relationship,parental_responsibility,lives_with_student,priority
G1,Ann,Smith,ann@example.org,S1,Mother,yes,yes,1
G1,Ann,Smith,ann@example.org,S2,Mother,yes,yes,1
G2,Dan,Smith,,S1,Step-father,no,no,2
G3,Jo,Jones,jo@example.org,S3,Foster carer,yes,yes,1
G4,Bo,Brown,,S4,Grandmother,yes,no,1
";

fn files(students: &str, staff: Option<&str>, guardians: Option<&str>) -> CsvFiles {
    CsvFiles {
        students: Some(students.as_bytes().to_vec()),
        staff: staff.map(|s| s.as_bytes().to_vec()),
        guardians: guardians.map(|g| g.as_bytes().to_vec()),
    }
}

/// The files without the lines that mention `needle`.
fn without(text: &str, needle: &str) -> String {
    text.lines().filter(|l| !l.contains(needle)).map(|l| format!("{l}\n")).collect()
}

fn importer(db: &DatabaseConnection) -> CsvImporter {
    CsvImporter { db: db.clone(), events: EventBus::default(), guard_share: 0.5, worker: "csv-test".into() }
}

async fn setup(engine: &Engine) -> anyhow::Result<(TestDb, school::Model)> {
    school_db(engine, "CSV Trust", "CSV School").await
}

/// The run of an import that ran, or its refusal as an error.
pub(crate) async fn ran(
    importer: &CsvImporter,
    school: &school::Model,
    files: CsvFiles,
    full: bool,
    force: bool,
) -> anyhow::Result<sync_run::Model> {
    match importer.import(school.id, files, full, force).await? {
        CsvImportOutcome::Ran(run) => Ok(*run),
        CsvImportOutcome::Refused(errors) => anyhow::bail!("refused: {errors:?}"),
    }
}

/// All three files, as first imported.
fn all_files() -> CsvFiles {
    files(STUDENTS, Some(STAFF), Some(GUARDIANS))
}

/// A school after the first full import of all three files: its database,
/// the school and the importer.
async fn imported(engine: &Engine) -> anyhow::Result<(TestDb, school::Model, CsvImporter)> {
    let (data, school) = setup(engine).await?;
    let importer = importer(&data.db);
    ran(&importer, &school, all_files(), true, false).await?;
    Ok((data, school, importer))
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn pairs(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
}

/// The directory after the first full import of all three files.
fn first_mirror() -> Mirror {
    Mirror {
        students: set(&["S1", "S2", "S3", "S4"]),
        staff: set(&["T1", "T2"]),
        guardians: set(&["G1", "G2", "G3", "G4"]),
        links: [
            ("S1", "G1", "Mother"),
            ("S2", "G1", "Mother"),
            ("S1", "G2", "Step-father"),
            ("S3", "G3", "Foster carer"),
            ("S4", "G4", "Grandmother"),
        ]
        .iter()
        .map(|(s, g, r)| ((*s).to_owned(), (*g).to_owned(), (*r).to_owned()))
        .collect(),
        groups: set(&[
            "year:Year 7",
            "year:Year 8",
            "form:7A",
            "form:8B",
            "class:7A/Ma1",
            "class:7A/En1",
            "class:8B/Sc1",
        ]),
        memberships: pairs(&[
            ("year:Year 7", "S1"),
            ("year:Year 7", "S2"),
            ("year:Year 8", "S3"),
            ("year:Year 8", "S4"),
            ("form:7A", "S1"),
            ("form:7A", "S2"),
            ("form:7A", "T1"),
            ("form:8B", "S3"),
            ("form:8B", "S4"),
            ("form:8B", "T2"),
            ("class:7A/Ma1", "S1"),
            ("class:7A/Ma1", "S2"),
            ("class:7A/Ma1", "T1"),
            ("class:7A/En1", "S1"),
            ("class:7A/En1", "T1"),
            ("class:8B/Sc1", "S3"),
            ("class:8B/Sc1", "S4"),
            ("class:8B/Sc1", "T2"),
        ]),
    }
}

/// Relationship, parental responsibility, lives with student, priority.
type LinkFields = (RelationshipType, Option<bool>, Option<bool>, Option<i32>);

async fn a_full_import_builds_the_directory(engine: Engine) -> anyhow::Result<()> {
    let (data, school) = setup(&engine).await?;
    let db = &data.db;
    let importer = importer(db);
    let mut bus = importer.events.subscribe();
    let run = ran(&importer, &school, all_files(), true, false).await?;

    assert_eq!((run.kind, run.status, run.error.as_deref()), (SyncKind::Csv, SyncStatus::Completed, None));
    assert_eq!(run.claimed_by.as_deref(), Some("csv-test"));
    assert_eq!(
        (run.students_created, run.staff_created, run.guardians_created, run.groups_created),
        (4, 2, 4, 7),
        "Eve left in 2020: a leaver the school never had is not imported"
    );
    assert_eq!(run.students_deactivated + run.staff_deactivated + run.guardians_deactivated, 0);
    assert!(runs::queued(db).await?.is_empty(), "nothing for the worker to pick up");
    assert_eq!(runs::open_run(db, school.id).await?, None);
    assert_eq!(Mirror::read(db, school.id).await?, first_mirror());

    let amy = row_by_wonde_id!(db, school.id, student, "S1")?;
    assert_eq!(
        (amy.forename.as_str(), amy.upn.as_deref(), amy.email.as_deref()),
        ("Amy", Some("R100000000001"), Some("amy@pupils.example"))
    );
    let mut links: Vec<LinkFields> = guardian_link::Entity::find()
        .filter(guardian_link::Column::SchoolId.eq(school.id))
        .all(db)
        .await?
        .into_iter()
        .map(|l| (l.relationship, l.parental_responsibility, l.lives_with_student, l.priority))
        .collect();
    links.sort_by_key(|l| (l.0.as_str(), l.3));
    assert_eq!(
        links,
        vec![
            (RelationshipType::FosterCarer, Some(true), Some(true), Some(1)),
            (RelationshipType::Grandparent, Some(true), Some(false), Some(1)),
            (RelationshipType::Mother, Some(true), Some(true), Some(1)),
            (RelationshipType::Mother, Some(true), Some(true), Some(1)),
            (RelationshipType::StepParent, Some(false), Some(false), Some(2)),
        ]
    );
    let ann = row_by_wonde_id!(db, school.id, guardian, "G1")?;
    assert_eq!(ann.email_key.as_deref(), Some("ann@example.org"), "families match CSV guardians too");
    let class = row_by_wonde_id!(db, school.id, class, "class:7A/Ma1")?;
    assert_eq!(class.name, "7A/Ma1");

    // Progress went on the bus: one phase per file, then applying, then the end.
    let mut phases = Vec::new();
    let mut processed = Vec::new();
    while let Ok(event) = bus.try_recv() {
        assert_eq!((event.kind, event.sync_run_id), (EventKind::SyncProgress, Some(run.id)));
        let payload: serde_json::Value = serde_json::from_str(event.payload.as_deref().unwrap_or("{}"))?;
        phases.push(payload["phase"].as_str().unwrap_or_default().to_owned());
        processed.push(payload["processed"].as_i64().unwrap_or(-1));
    }
    assert_eq!(phases, ["students", "staff", "guardians", "applying", "COMPLETED"]);
    // The end carries the run's count, as the last step before it did.
    let [.., before, end] = processed.as_slice() else { anyhow::bail!("no progress: {processed:?}") };
    assert!(*end > 0 && end == before, "{processed:?}");
    Ok(())
}

async fn a_full_import_without_a_student_makes_a_leaver(engine: Engine) -> anyhow::Result<()> {
    let (data, school, importer) = imported(&engine).await?;
    let db = &data.db;

    // Cal is gone from the MIS, and so is the row of his only guardian.
    let mut bus = importer.events.subscribe();
    let students = without(STUDENTS, "S3,");
    let guardians = without(GUARDIANS, ",S3,");
    let run = ran(&importer, &school, files(&students, Some(STAFF), Some(&guardians)), true, false).await?;
    assert_eq!(run.status, SyncStatus::Completed);
    assert_eq!(
        (run.students_deactivated, run.guardians_deactivated, run.staff_deactivated, run.students_created),
        (1, 1, 0, 0)
    );

    let cal = row_by_wonde_id!(db, school.id, student, "S3")?;
    assert_eq!(cal.status, AccountStatus::Deactivated);
    assert_eq!(cal.deactivation_reason, Some(DeactivationReason::RemovedFromMis));
    let jo = row_by_wonde_id!(db, school.id, guardian, "G3")?;
    assert_eq!(jo.status, AccountStatus::Deactivated);
    assert_eq!(jo.deactivation_reason, Some(DeactivationReason::NoActiveChildren));

    let mut expected = first_mirror();
    expected.students.remove("S3");
    expected.guardians.remove("G3");
    expected.links.retain(|(s, _, _)| s != "S3");
    expected.memberships.retain(|(_, m)| m != "S3");
    assert_eq!(Mirror::read(db, school.id).await?, expected, "memberships and links ended with him");

    // One event per deactivated account, recorded with the run and published.
    let events = event::Entity::find()
        .filter(event::Column::SyncRunId.eq(run.id))
        .filter(event::Column::Kind.eq(EventKind::Deactivated))
        .all(db)
        .await?;
    let mut recorded: Vec<(Option<PersonKind>, Option<i32>, Option<DeactivationReason>)> =
        events.iter().map(|e| (e.person_kind, e.person_id, e.reason)).collect();
    recorded.sort_by_key(|e| e.0.map(PersonKind::as_str));
    assert_eq!(
        recorded,
        vec![
            (Some(PersonKind::Guardian), Some(jo.id), Some(DeactivationReason::NoActiveChildren)),
            (Some(PersonKind::Student), Some(cal.id), Some(DeactivationReason::RemovedFromMis)),
        ]
    );
    let mut published = Vec::new();
    while let Ok(event) = bus.try_recv() {
        if event.kind == EventKind::Deactivated {
            published.push(event.id);
        }
    }
    let mut ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    ids.sort_unstable();
    assert_eq!(published, ids, "published after commit, in order");

    // He comes back: reactivated, with his guardian.
    let run = ran(&importer, &school, all_files(), true, false).await?;
    assert_eq!((run.students_reactivated, run.guardians_reactivated), (1, 1));
    assert_eq!(Mirror::read(db, school.id).await?, first_mirror());
    Ok(())
}

async fn partial_and_incremental_imports_touch_only_what_they_hold(engine: Engine) -> anyhow::Result<()> {
    let (data, school, importer) = imported(&engine).await?;
    let db = &data.db;

    // A full import of students alone: staff, tutors and teachers stay.
    let run = ran(&importer, &school, files(STUDENTS, None, None), true, false).await?;
    assert_eq!(run.status, SyncStatus::Completed);
    assert_eq!(Mirror::read(db, school.id).await?, first_mirror());

    // An incremental file of one starter and one move: the rest stay put.
    let changes = "id,forename,surname,year,form,classes\n\
                   S6,Fay,New,Year 7,7A,7A/Ma1\n\
                   S2,Ben,Smith,Year 7,7B,7A/En1\n";
    let run = ran(&importer, &school, files(changes, None, None), false, false).await?;
    assert_eq!((run.status, run.students_created, run.students_deactivated), (SyncStatus::Completed, 1, 0));
    let mut expected = first_mirror();
    expected.students.insert("S6".into());
    expected.groups.insert("form:7B".into());
    expected.memberships.retain(|(_, m)| m != "S2");
    expected.memberships.extend(pairs(&[
        ("year:Year 7", "S6"),
        ("form:7A", "S6"),
        ("class:7A/Ma1", "S6"),
        ("year:Year 7", "S2"),
        ("form:7B", "S2"),
        ("class:7A/En1", "S2"),
    ]));
    assert_eq!(Mirror::read(db, school.id).await?, expected);
    Ok(())
}

/// Seen: a 70,000-pupil import from an older export without a `upn` column
/// blanked every UPN and pupil email ("updated 70000"), and with them the
/// families that join on guardians' emails. A column the file does not
/// have says nothing; a blank cell in a column it has says "none".
async fn a_file_without_a_column_keeps_what_is_stored(engine: Engine) -> anyhow::Result<()> {
    let (data, school, importer) = imported(&engine).await?;
    let db = &data.db;
    let amy = "id,forename,surname\nS1,Amy,Smith\n";
    let ann = "id,surname,student_id\nG1,Smith,S1\n";
    let run = ran(&importer, &school, files(amy, None, Some(ann)), false, false).await?;
    assert_eq!((run.status, run.students_updated, run.guardians_updated), (SyncStatus::Completed, 0, 0));
    let pupil = row_by_wonde_id!(db, school.id, student, "S1")?;
    assert_eq!(pupil.upn.as_deref(), Some("R100000000001"), "the UPN stays");
    assert_eq!(pupil.email.as_deref(), Some("amy@pupils.example"), "the email stays");
    let parent = row_by_wonde_id!(db, school.id, guardian, "G1")?;
    assert_eq!((parent.forename.as_str(), parent.email.as_deref()), ("Ann", Some("ann@example.org")));
    assert_eq!(parent.email_key.as_deref(), Some("ann@example.org"), "the family key stays");
    let tia = "id,forename,surname\nT1,Tia,Teach\n";
    let run = ran(&importer, &school, files(amy, Some(tia), None), false, false).await?;
    assert_eq!((run.status, run.staff_updated), (SyncStatus::Completed, 0));
    let teacher = row_by_wonde_id!(db, school.id, staff, "T1")?;
    assert_eq!((teacher.title.as_deref(), teacher.email.as_deref()), (Some("Ms"), Some("tia@staff.example")));

    // The same columns with blank cells clear them.
    let blanks = "id,upn,forename,surname,email\nS1,,Amy,Smith,\n";
    let run = ran(&importer, &school, files(blanks, None, None), false, false).await?;
    assert_eq!((run.status, run.students_updated), (SyncStatus::Completed, 1));
    let pupil = row_by_wonde_id!(db, school.id, student, "S1")?;
    assert_eq!((pupil.upn, pupil.email), (None, None), "blank cells say none");
    Ok(())
}

/// A file without `year`, `form`, `forms` or `classes` says nothing of
/// those memberships: full or not, its people stay in the groups stored
/// and no group they are in ends for want of them, while the group
/// columns a file has still move people (and end groups no one is left
/// in), and a leaver still leaves every group.
async fn a_file_without_group_columns_keeps_the_groups(engine: Engine) -> anyhow::Result<()> {
    let (data, school, importer) = imported(&engine).await?;
    let db = &data.db;
    let students = "\
id,forename,surname,leaving_date
S1,Amy,Smith,
S2,Ben,Smith,
S3,Cal,Jones,
S4,Dee,Brown,
S5,Eve,Gone,2020-07-20
";
    let staff = "id,forename,surname\nT1,Tia,Teach\nT2,Sam,Science\n";
    // One pupil and one teacher, too few for the guard to hold anything;
    // then everyone, in a full import.
    let (amy, tia) = ("id,forename,surname\nS1,Amy,Smith\n", "id,forename,surname\nT1,Tia,Teach\n");
    for (students, staff, full) in [(amy, tia, false), (students, staff, true)] {
        let run = ran(&importer, &school, files(students, Some(staff), None), full, false).await?;
        assert_eq!((run.status, run.groups_held), (SyncStatus::Completed, 0), "full: {full}");
        assert_eq!(Mirror::read(db, school.id).await?, first_mirror(), "no group changes, full: {full}");
    }

    // Pupils' classes and tutors' forms stated; pupils' forms and
    // teachers' classes not: 8B/Sc1 keeps its teacher though no pupil
    // lists it, and 7A keeps its pupils though no tutor lists it.
    let students = "\
id,forename,surname,year,classes,leaving_date
S1,Amy,Smith,Year 7,7A/Ma1,
S2,Ben,Smith,Year 7,7A/En1;Art,
S3,Cal,Jones,Year 8,7A/Ma1,
S4,Dee,Brown,Year 8,7A/Ma1,
S5,Eve,Gone,Year 8,8B/Sc1,2020-07-20
";
    let staff = "id,forename,surname,forms\nT1,Tia,Teach,8B\nT2,Sam,Science,8B\n";
    let run = ran(&importer, &school, files(students, Some(staff), None), true, false).await?;
    assert_eq!((run.status, run.groups_held), (SyncStatus::Completed, 0));
    let mut expected = first_mirror();
    for gone in [
        ("class:7A/En1", "S1"),
        ("class:7A/Ma1", "S2"),
        ("class:8B/Sc1", "S3"),
        ("class:8B/Sc1", "S4"),
        ("form:7A", "T1"),
    ] {
        assert!(expected.memberships.remove(&(gone.0.to_owned(), gone.1.to_owned())), "{gone:?}");
    }
    expected.groups.insert("class:Art".to_owned());
    expected.memberships.extend(pairs(&[
        ("class:Art", "S2"),
        ("class:7A/En1", "S2"),
        ("class:7A/Ma1", "S3"),
        ("class:7A/Ma1", "S4"),
        ("form:8B", "T1"),
    ]));
    assert_eq!(Mirror::read(db, school.id).await?, expected, "the stated columns move people");

    // A leaver in a file without group columns still leaves every group.
    let leaver = "id,forename,surname,leaving_date\nS4,Dee,Brown,2020-07-20\n";
    let run = ran(&importer, &school, files(leaver, None, None), false, false).await?;
    assert_eq!(run.status, SyncStatus::Completed);
    expected.students.remove("S4");
    expected.guardians.remove("G4");
    expected.links.retain(|(student, _, _)| student != "S4");
    expected.memberships.retain(|(_, member)| member != "S4");
    assert_eq!(Mirror::read(db, school.id).await?, expected, "the leaver's memberships end");

    // A full import whose staff.csv lacks `classes`: a pupil missing from
    // it leaves every group, and a class that no pupil names any more ends
    // unless a teacher who stays is still in it. Art had none; 8B/Sc1's
    // only teacher leaves in this run; the 7A classes keep Tia.
    let students = "\
id,forename,surname,classes,leaving_date
S1,Amy,Smith,7A/Ma1,
S3,Cal,Jones,7A/Ma1,
S4,Dee,Brown,,2020-07-20
S5,Eve,Gone,,2020-07-20
";
    let staff = "id,forename,surname,employment_end\nT1,Tia,Teach,\nT2,Sam,Science,2020-07-20\n";
    let run = ran(&importer, &school, files(students, Some(staff), None), true, false).await?;
    assert_eq!((run.status, run.groups_held, run.groups_deactivated), (SyncStatus::Completed, 0, 2));
    expected.students.remove("S2");
    expected.staff.remove("T2");
    expected.links.retain(|(student, _, _)| student != "S2");
    expected.memberships.retain(|(_, member)| member != "S2" && member != "T2");
    expected.groups.remove("class:Art");
    expected.groups.remove("class:8B/Sc1");
    assert_eq!(Mirror::read(db, school.id).await?, expected, "Art and Sc1 ended; Tia's classes stayed");
    Ok(())
}

/// Row counts of every table an import writes to.
async fn row_counts(db: &DatabaseConnection) -> anyhow::Result<Vec<u64>> {
    Ok(vec![
        student::Entity::find().count(db).await?,
        staff::Entity::find().count(db).await?,
        guardian::Entity::find().count(db).await?,
        guardian_link::Entity::find().count(db).await?,
        year_group::Entity::find().count(db).await?,
        form_group::Entity::find().count(db).await?,
        class::Entity::find().count(db).await?,
        year_student::Entity::find().count(db).await?,
        form_student::Entity::find().count(db).await?,
        form_tutor::Entity::find().count(db).await?,
        class_student::Entity::find().count(db).await?,
        class_teacher::Entity::find().count(db).await?,
        sync_run::Entity::find().count(db).await?,
        event::Entity::find().count(db).await?,
    ])
}

async fn files_with_errors_are_refused_and_change_nothing(engine: Engine) -> anyhow::Result<()> {
    let (data, school, importer) = imported(&engine).await?;
    let db = &data.db;
    let counts = row_counts(db).await?;
    let mirror = Mirror::read(db, school.id).await?;

    // Everything else in these files is a change the import would make.
    let students = "id,forename,surname,leaving_date\n\
                    S1,Amy,Smith,2020-01-01\n\
                    S2,Ben,Smith,next week\n\
                    S2,Bea,Smith,\n\
                    S7,,New,\n";
    let staff = "id,forename,surname\nT1,Tia\n";
    let guardians = "id,surname,student_id,priority\n\
                     G1,Smith,S1,1\n\
                     G1,Smythe,S2,1\n\
                     G9,Nobody,S9,first\n";
    let outcome =
        importer.import(school.id, files(students, Some(staff), Some(guardians)), true, false).await?;
    let CsvImportOutcome::Refused(errors) = outcome else { anyhow::bail!("expected a refusal: {outcome:?}") };
    let places: Vec<(&str, u32, Option<&str>)> =
        errors.iter().map(|e| (e.file.as_str(), e.line, e.column.as_deref())).collect();
    assert_eq!(
        places,
        vec![
            ("students", 3, Some("leaving_date")),
            ("students", 4, Some("id")),
            ("students", 5, Some("forename")),
            ("staff", 2, None),
            ("guardians", 3, Some("surname")),
            ("guardians", 4, Some("priority")),
            ("guardians", 4, Some("student_id")),
        ]
    );
    assert_eq!(
        errors[0].to_string(),
        "students.csv line 3, column leaving_date: `next week` is not a date; write dates as YYYY-MM-DD or DD/MM/YYYY"
    );
    assert_eq!(row_counts(db).await?, counts, "not a row written, not even a run");
    assert_eq!(Mirror::read(db, school.id).await?, mirror);
    Ok(())
}

async fn the_guard_holds_a_mass_deactivation_unless_forced(engine: Engine) -> anyhow::Result<()> {
    let (data, school, importer) = imported(&engine).await?;
    let db = &data.db;

    // A full file holding one of four students: three would go on the
    // file's silence alone, so the guard holds them; the run completes.
    let one = "id,forename,surname,year,form,classes\nS1,Amy,Smith,Year 7,7A,7A/Ma1;7A/En1\n";
    let run = ran(&importer, &school, files(one, None, None), true, false).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    assert_eq!((run.students_deactivated, run.students_held), (0, 3));
    assert_eq!(Mirror::read(db, school.id).await?, first_mirror(), "nothing doubtful applied");

    let run = ran(&importer, &school, files(one, None, None), true, true).await?;
    assert_eq!((run.status, run.force, run.students_deactivated), (SyncStatus::Completed, true, 3));
    let active = count_at!(db, school.id, student, Status, AccountStatus::Active);
    assert_eq!(active, 1);
    Ok(())
}

async fn wonde_schools_and_open_runs_are_refused(engine: Engine) -> anyhow::Result<()> {
    let (data, school) = setup(&engine).await?;
    let db = &data.db;
    let importer = importer(db);
    let some = || files(STUDENTS, None, None);

    let missing = importer.import(school.id + 1000, some(), true, false).await;
    assert!(matches!(missing, Err(CsvImportError::SchoolNotFound(_))), "{missing:?}");

    let connection =
        onroll::connections::create(db, school.id, "WCSV", ConnectionStatus::Approved, None).await?;
    let refused = importer.import(school.id, some(), true, false).await;
    let Err(err @ CsvImportError::WondeConnected(ConnectionStatus::Approved)) = refused else {
        anyhow::bail!("expected a refusal: {refused:?}")
    };
    assert!(err.to_string().contains("disconnect it from Wonde"), "{err}");

    // Disconnected from Wonde: CSV may take over.
    let mut row: wonde_connection::ActiveModel = connection.into();
    row.status = Set(ConnectionStatus::Disconnected);
    row.update(db).await?;
    let (open, _) = runs::enqueue(db, school.id, SyncKind::Full, false).await?;
    let busy = importer.import(school.id, some(), true, false).await;
    let Err(err @ CsvImportError::RunInProgress { run_id, .. }) = busy else {
        anyhow::bail!("expected a refusal: {busy:?}")
    };
    assert_eq!(run_id, open.id);
    assert!(err.to_string().contains("wait for it to end or cancel it"), "{err}");
    assert_eq!(student::Entity::find().count(db).await?, 0);

    runs::cancel(db, open.id).await?;
    let run = ran(&importer, &school, some(), true, false).await?;
    assert_eq!((run.status, run.students_created), (SyncStatus::Completed, 4));
    Ok(())
}

const BIN: &str = env!("CARGO_BIN_EXE_onroll");

async fn the_cli_imports_and_reports_errors(engine: Engine) -> anyhow::Result<()> {
    let (data, school) = setup(&engine).await?;
    let db = &data.db;
    // Both engines' runs share this process and a school id: a directory each.
    let unique = onroll::auth::generate_token().replace(['-', '_'], "");
    let dir = std::env::temp_dir().join(format!("onroll-csv-{}", &unique[4..16]));
    std::fs::create_dir_all(&dir)?;
    let write = |name: &str, text: &str| -> anyhow::Result<String> {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        Ok(path.display().to_string())
    };
    let students = write("students.csv", STUDENTS)?;
    let staff = write("staff.csv", STAFF)?;
    let guardians = write("guardians.csv", GUARDIANS)?;
    let bad = write("bad.csv", "id,forename,surname,leaving_date\nS1,Amy,Smith,\nS2,Ben,Smith,2024/12/31\n")?;
    let url = data.url(&engine);
    let school_id = gid(NodeType::School, school.id);
    let run = |args: Vec<String>| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(BIN).arg("import-csv").args(&args).env("DATABASE_URL", url).output()
        })
    };
    let args = |extra: &[&str]| -> Vec<String> {
        ["--school", school_id.as_str()].iter().chain(extra).map(|s| (*s).to_owned()).collect()
    };

    let output =
        run(args(&["--students", &students, "--staff", &staff, "--guardians", &guardians, "--full"]))
            .await??;
    let stdout = String::from_utf8(output.stdout)?;
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("(CSV) COMPLETED"), "{stdout}");
    let table: Vec<Vec<&str>> = stdout.lines().map(|l| l.split_whitespace().collect()).collect();
    assert!(table.contains(&vec!["students", "4", "0", "0", "0", "0", "0"]), "{stdout}");
    assert!(table.contains(&vec!["guardians", "4", "0", "0", "0", "0", "0"]), "{stdout}");
    assert_eq!(Mirror::read(db, school.id).await?, first_mirror());

    // A new MIS numbers the same pupils afresh: the table says they were
    // recognised by UPN, and numbering them back restores the first mirror.
    let renumbered = write("renumbered.csv", &STUDENTS.replace("\nS", "\nM"))?;
    for file in [&renumbered, &students] {
        let output = run(args(&["--students", file, "--full"])).await??;
        let stdout = String::from_utf8(output.stdout)?;
        assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
        let header = stdout
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|l| l.first() == Some(&"created"));
        assert_eq!(header.map(|l| l[4]), Some("reidentified"), "{stdout}");
        let students = stdout
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|l| l.first() == Some(&"students"));
        assert_eq!(students.map(|l| (l[1], l[5])), Some(("0", "4")), "{stdout}");
    }
    assert_eq!(Mirror::read(db, school.id).await?, first_mirror());
    let counts = row_counts(db).await?;

    let output = run(args(&["--students", &bad, "--full"])).await??;
    let stdout = String::from_utf8(output.stdout)?;
    let stderr = String::from_utf8(output.stderr)?;
    assert!(!output.status.success());
    assert_eq!(
        stdout.trim(),
        "students.csv line 3, column leaving_date: `2024/12/31` is not a date; write dates as YYYY-MM-DD or DD/MM/YYYY"
    );
    assert!(stderr.contains("the files were refused (1 error above); nothing was changed"), "{stderr}");
    assert_eq!(row_counts(db).await?, counts);

    // A stray quote that swallows two pupils but leaves the row its width:
    // refused, and nobody taken off roll by the `--full` import.
    let swallowed = write(
        "swallowed.csv",
        "id,upn,forename,surname\nS1,R100000000001,\"Amy,Smith\nS2,F100000000002,Ben\",Smith\nS3,V100000000003,Cal,Jones\nS4,J100000000004,Dee,Brown\n",
    )?;
    let output = run(args(&["--students", &swallowed, "--full"])).await??;
    let stdout = String::from_utf8(output.stdout)?;
    assert!(!output.status.success(), "{stdout}");
    assert!(stdout.contains("swallowed.csv line 2") || stdout.contains("students.csv line 2"), "{stdout}");
    assert!(stdout.contains("closes only lines later"), "{stdout}");
    assert_eq!(row_counts(db).await?, counts);

    // A guard trip completes the run and exits 3, saying how to decide.
    let one = write("one.csv", "id,forename,surname\nS1,Amy,Smith\n")?;
    let output = run(args(&["--students", &one, "--full"])).await??;
    assert_eq!(output.status.code(), Some(3));
    let stdout = String::from_utf8(output.stdout)?;
    assert!(stdout.contains("(CSV) COMPLETED"), "{stdout}");
    let students =
        stdout.lines().map(|l| l.split_whitespace().collect::<Vec<_>>()).find(|l| l[0] == "students");
    // Columns: created, updated, deactivated, reactivated, reidentified, held.
    assert_eq!(students.map(|l| (l[3], l[6])), Some(("0", "3")), "{stdout}");
    let stderr = String::from_utf8(output.stderr)?;
    // Three pupils, and their guardians waiting with them.
    assert!(stderr.contains("guard held") && stderr.contains("onroll held list --school"), "{stderr}");
    let note = "(held: groups include memberships of groups; guardians include guardian links)";
    assert!(!stdout.contains(note), "no membership or link held: {stdout}");

    // Amy's blank `classes` cell would leave her in no class: her two
    // memberships are held, counted with groups, and the table says so.
    let no_class = write("no_class.csv", "id,forename,surname,classes\nS1,Amy,Smith,\n")?;
    let output = run(args(&["--students", &no_class])).await??;
    assert_eq!(output.status.code(), Some(3));
    let stdout = String::from_utf8(output.stdout)?;
    let groups = stdout.lines().map(|l| l.split_whitespace().collect::<Vec<_>>()).find(|l| l[0] == "groups");
    assert_eq!(groups.map(|l| l[6]), Some("2"), "{stdout}");
    assert!(stdout.contains(note), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
