//! Data-quality findings over HTTP, on both engines: each kind appears with
//! its records after a run (CSV imports are runs too) and goes after a run
//! that fixes the data; only admins of the school see them; placeholders
//! and emails of different names join no family.

use entity::enums::{AccountStatus, RelationshipType, Role, SyncKind, SyncStatus};
use entity::*;
use onroll::events::EventBus;
use onroll::graphql::ids::NodeType;
use onroll::sync::csv_import::{CsvImportOutcome, CsvImporter};
use onroll::sync::csv_source::CsvFiles;
use onroll::sync::reconcile::Ambiguity;
use onroll::sync::source::DroppedDuplicate;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    TransactionTrait,
};
use serde_json::{Value, json};
use std::collections::BTreeSet;

use crate::on_both_engines;
use crate::support::fixture::{Fixture, gid};
use crate::support::{Engine, TestApp, strings};

on_both_engines!(
    findings_follow_the_directory_run_by_run,
    only_admins_of_the_school_see_findings,
    placeholders_and_shared_emails_of_different_names_join_no_family,
    run_observations_are_findings_until_resolved,
    finding_relations_are_batched,
    a_wonde_run_finds_what_the_mis_got_wrong_and_the_next_clears_it,
    pupils_sharing_a_upn_are_a_finding_until_it_is_fixed,
    a_value_that_is_not_a_upn_is_a_finding_and_joins_no_family
);

const FINDINGS: &str = "query($school: ID!, $first: Int, $after: String) {
    dataQuality(schoolId: $school, first: $first, after: $after) {
        totalCount
        pageInfo { hasNextPage endCursor }
        edges { node {
            id kind detail detectedAt syncRun { id }
            students { wondeId } guardians { wondeId } staff { wondeId } sourceIds
        } }
    }
}";

/// A finding reduced to what it is about: kind, then the Wonde ids of its
/// students, guardians and staff, then its source ids.
type Found = (String, Vec<String>, Vec<String>, Vec<String>, Vec<String>);

fn found(data: &Value) -> BTreeSet<Found> {
    let edges = data["dataQuality"]["edges"].as_array().cloned().unwrap_or_default();
    edges
        .iter()
        .map(|e| {
            let n = &e["node"];
            let sorted = |mut v: Vec<String>| {
                v.sort();
                v
            };
            let source_ids =
                n["sourceIds"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect();
            (
                n["kind"].as_str().unwrap_or_default().to_owned(),
                sorted(strings(&n["students"], "wondeId")),
                sorted(strings(&n["guardians"], "wondeId")),
                sorted(strings(&n["staff"], "wondeId")),
                sorted(source_ids),
            )
        })
        .collect()
}

fn finding(kind: &str, students: &[&str], guardians: &[&str], source_ids: &[&str]) -> Found {
    let owned = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect();
    (kind.to_owned(), owned(students), owned(guardians), Vec::new(), owned(source_ids))
}

fn files(students: &str, guardians: &str) -> CsvFiles {
    CsvFiles {
        students: Some(students.as_bytes().to_vec()),
        staff: None,
        guardians: Some(guardians.as_bytes().to_vec()),
    }
}

async fn import(
    db: &DatabaseConnection,
    school: &school::Model,
    students: &str,
    guardians: &str,
) -> anyhow::Result<sync_run::Model> {
    let importer = CsvImporter {
        db: db.clone(),
        events: EventBus::default(),
        guard_share: 0.9,
        worker: "dq-test".into(),
    };
    match importer.import(school.id, files(students, guardians), true, false).await? {
        CsvImportOutcome::Ran(run) if run.status == SyncStatus::Completed => Ok(*run),
        CsvImportOutcome::Ran(run) => anyhow::bail!("run ended {:?}: {:?}", run.status, run.error),
        CsvImportOutcome::Refused(errors) => anyhow::bail!("refused: {errors:?}"),
    }
}

const STUDENTS_A: &str = "\
id,upn,forename,surname,email
S1,R100000000001,Amy,Smith,amy@pupils.example
S2,,Ben,Jones,
S3,V100000000003,Cal,Lee,
";

/// Ann and Bob share a placeholder; Cat shares the office's address with
/// Dev at school B; Eve is entered twice; Fay gave her daughter's email.
const GUARDIANS_A: &str = "\
id,forename,surname,email,student_id,relationship
G1,Ann,Smith,noemail@school.org,S1,Mother
G2,Bob,Jones,NoEmail@School.org,S2,Father
G3,Cat,Lee,office@ash.example,S3,Mother
G4,Eve,Brown,eve@home.example,S1,Aunt
G5,Eve,Brown, Eve@Home.example ,S3,Aunt
G6,Fay,Green,amy@pupils.example,S1,Grandmother
";

const STUDENTS_B: &str = "\
id,upn,forename,surname,email
T1,D100000000101,Tom,Patel,
";

const GUARDIANS_B: &str = "\
id,forename,surname,email,student_id,relationship
H1,Dev,Patel,office@ash.example,T1,Father
";

struct Setup {
    app: TestApp,
    trust_admin: String,
    admin_a: String,
    admin_b: String,
    integrator: String,
    school_a: school::Model,
    school_b: school::Model,
}

async fn setup(engine: &Engine) -> anyhow::Result<Setup> {
    let app = TestApp::spawn(engine).await?;
    let f = Fixture::new(app.db());
    let trust = f.trust("Quality Trust").await?;
    let school_a = f.school(&trust, "Ash Primary").await?;
    let school_b = f.school(&trust, "Birch Secondary").await?;
    Ok(Setup {
        trust_admin: f.token(Role::TrustAdmin, Some(trust.id), &[]).await?,
        admin_a: f.token(Role::SchoolAdmin, Some(trust.id), &[school_a.id]).await?,
        admin_b: f.token(Role::SchoolAdmin, Some(trust.id), &[school_b.id]).await?,
        integrator: f.token(Role::Integrator, Some(trust.id), &[]).await?,
        app,
        school_a,
        school_b,
    })
}

async fn findings_follow_the_directory_run_by_run(engine: Engine) -> anyhow::Result<()> {
    let s = setup(&engine).await?;
    let db = s.app.db();
    import(db, &s.school_b, STUDENTS_B, GUARDIANS_B).await?;
    let run = import(db, &s.school_a, STUDENTS_A, GUARDIANS_A).await?;
    let school = json!({ "school": gid(NodeType::School, s.school_a.id) });

    let data = s.app.query(&s.trust_admin, FINDINGS, school.clone()).await?;
    let expected: BTreeSet<Found> = [
        finding("SHARED_EMAIL_DIFFERENT_NAMES", &[], &["G3", "H1"], &[]),
        finding("PLACEHOLDER_EMAIL", &[], &["G1", "G2"], &[]),
        finding("GUARDIAN_EMAIL_IS_PUPIL_EMAIL", &["S1"], &["G6"], &[]),
        finding("PUPIL_WITHOUT_UPN", &["S2"], &[], &[]),
        finding("DUPLICATE_GUARDIAN_RECORDS", &[], &["G4", "G5"], &[]),
    ]
    .into_iter()
    .collect();
    assert_eq!(found(&data), expected);
    let edges = data["dataQuality"]["edges"].as_array().cloned().unwrap_or_default();
    assert_eq!(data["dataQuality"]["totalCount"], 5);
    for edge in &edges {
        let node = &edge["node"];
        assert_eq!(node["syncRun"]["id"], gid(NodeType::SyncRun, run.id));
        let detail = node["detail"].as_str().unwrap_or_default();
        assert!(detail.ends_with('.'), "a sentence: {detail}");
        for personal in ["Ann", "Cat", "Eve", "Fay", "noemail", "office@", "amy@"] {
            assert!(!detail.contains(personal), "no personal data in {detail}");
        }
    }

    // Pages walk the same findings, in order.
    let first =
        s.app.query(&s.trust_admin, FINDINGS, json!({ "school": school["school"], "first": 3 })).await?;
    assert_eq!(first["dataQuality"]["pageInfo"]["hasNextPage"], true);
    let rest = s
        .app
        .query(
            &s.trust_admin,
            FINDINGS,
            json!({ "school": school["school"], "after": first["dataQuality"]["pageInfo"]["endCursor"] }),
        )
        .await?;
    let mut paged = found(&first);
    paged.extend(found(&rest));
    assert_eq!(paged, expected);

    // A school admin sees the shared email from its side only.
    let own = s.app.query(&s.admin_a, FINDINGS, school.clone()).await?;
    assert!(found(&own).contains(&finding("SHARED_EMAIL_DIFFERENT_NAMES", &[], &["G3"], &[])));
    let upn_finding = edges
        .iter()
        .find(|e| e["node"]["kind"] == "PUPIL_WITHOUT_UPN")
        .map(|e| e["node"].clone())
        .unwrap_or_default();

    // The office fixes everything but Ben's UPN: every other finding goes
    // (Eve's second record leaves the MIS: deactivated accounts are not judged).
    let fixed_guardians = "\
id,forename,surname,email,student_id,relationship
G1,Ann,Smith,ann@home.example,S1,Mother
G2,Bob,Jones,,S2,Father
G3,Cat,Lee,cat@home.example,S3,Mother
G4,Eve,Brown,eve@home.example,S1,Aunt
G6,Fay,Green,fay@home.example,S1,Grandmother
";
    import(db, &s.school_a, STUDENTS_A, fixed_guardians).await?;
    let data = s.app.query(&s.trust_admin, FINDINGS, school.clone()).await?;
    assert_eq!(found(&data), [finding("PUPIL_WITHOUT_UPN", &["S2"], &[], &[])].into_iter().collect());
    let node = &data["dataQuality"]["edges"][0]["node"];
    assert_eq!(
        (&node["id"], &node["detectedAt"], &node["syncRun"]),
        (&upn_finding["id"], &upn_finding["detectedAt"], &upn_finding["syncRun"]),
        "a finding still there keeps its id, time and first run"
    );

    let students = STUDENTS_A.replace("S2,,Ben", "S2,F100000000002,Ben");
    import(db, &s.school_a, &students, fixed_guardians).await?;
    let data = s.app.query(&s.trust_admin, FINDINGS, school).await?;
    assert_eq!(data["dataQuality"]["totalCount"], 0);
    assert_eq!(found(&data), BTreeSet::new());
    Ok(())
}

/// One UPN on several active pupils of one school is one finding listing
/// every holder in the trust (compared as families compare UPNs); so is a
/// leaver's UPN on a pupil of another name (a sibling's copied after the
/// sibling left). The same UPN and names at another school of the trust
/// is the same child moving, and a leaver and a pupil of one name are a
/// child re-admitted: neither counts.
async fn pupils_sharing_a_upn_are_a_finding_until_it_is_fixed(engine: Engine) -> anyhow::Result<()> {
    let s = setup(&engine).await?;
    let db = s.app.db();
    let students_b = "id,upn,forename,surname\nT1,R100000000001,Amy,Smith\n";
    import(db, &s.school_b, students_b, "id,forename,surname,student_id\nH1,Ann,Smith,T1\n").await?;
    let shared = "\
id,upn,forename,surname,leaving_date
S1,R100000000001,Amy,Smith,
S2, r100000000001 ,Ben,Jones,
S3,R100000000001,Cal,Lee,
S4,J100000000004,Dee,Green,
S5,J100000000004,Dee,Green,
S6,F100000000002,Fay,Hill,
S7,F100000000002,Gus,Old,
";
    let guardians = "id,forename,surname,student_id\nG1,Ann,Smith,S1\n";
    import(db, &s.school_a, shared, guardians).await?;
    let school = json!({ "school": gid(NodeType::School, s.school_a.id) });
    let data = s.app.query(&s.trust_admin, FINDINGS, school.clone()).await?;
    let on_roll_together = ["S4", "S5"];
    assert!(
        found(&data).contains(&finding("PUPILS_SHARE_UPN", &on_roll_together, &[], &[])),
        "two pupils of one name on roll at once are two children: {data}"
    );
    // S5 and S7 leave.
    let shared = shared.replace("S5,J100000000004,Dee,Green,", "S5,J100000000004,Dee,Green,2020-07-20");
    let shared = shared.replace("S7,F100000000002,Gus,Old,", "S7,F100000000002,Gus,Old,2020-07-20");
    import(db, &s.school_a, &shared, guardians).await?;
    let data = s.app.query(&s.trust_admin, FINDINGS, school.clone()).await?;
    assert_eq!(
        found(&data),
        [
            finding("PUPILS_SHARE_UPN", &["S1", "S2", "S3", "T1"], &[], &[]),
            finding("PUPILS_SHARE_UPN", &["S6", "S7"], &[], &[])
        ]
        .into_iter()
        .collect(),
        "every holder in the trust is listed"
    );
    let details: Vec<&str> = data["dataQuality"]["edges"]
        .as_array()
        .map(|edges| edges.iter().filter_map(|e| e["node"]["detail"].as_str()).collect())
        .unwrap_or_default();
    let detail = details.iter().find(|d| d.starts_with("4 pupils")).copied().unwrap_or_default();
    assert!(detail.starts_with("4 pupils share one UPN"), "{details:?}");
    assert!(!detail.contains("R100000000001"), "the UPN is in the records, not the sentence: {detail}");
    // School B's Amy is Amy at A, but the UPN joins nobody while A's
    // records are wrong: B is told at its next run.
    import(db, &s.school_b, students_b, "id,forename,surname,student_id\nH1,Ann,Smith,T1\n").await?;
    let other = json!({ "school": gid(NodeType::School, s.school_b.id) });
    let data = s.app.query(&s.trust_admin, FINDINGS, other.clone()).await?;
    assert_eq!(found(&data), [finding("PUPILS_SHARE_UPN", &["S1", "S2", "S3", "T1"], &[], &[])].into());

    // Two of the three fixed, and the leaver's copy: nothing left to find.
    let fixed = shared
        .replace("S2, r100000000001 ,", "S2,V100000000003,")
        .replace("S3,R100000000001,", "S3,P207000016049,")
        .replace("S7,F100000000002,", "S7,B801200005001,");
    import(db, &s.school_a, &fixed, guardians).await?;
    let data = s.app.query(&s.trust_admin, FINDINGS, school).await?;
    assert_eq!(found(&data), BTreeSet::new());
    import(db, &s.school_b, students_b, "id,forename,surname,student_id\nH1,Ann,Smith,T1\n").await?;
    let data = s.app.query(&s.trust_admin, FINDINGS, other).await?;
    assert_eq!(found(&data), BTreeSet::new(), "the same UPN and names at another school are the same child");
    Ok(())
}

/// MIS fields hold placeholders and slips. Two children whose records both
/// say `UNKNOWN`, at two schools of the trust, were joined as one child:
/// the family of one showed the other's guardians. A value that is not a
/// UPN (DfE's format and check letter) identifies nobody, and is a finding
/// until the office corrects it.
async fn a_value_that_is_not_a_upn_is_a_finding_and_joins_no_family(engine: Engine) -> anyhow::Result<()> {
    let s = setup(&engine).await?;
    let db = s.app.db();
    import(
        db,
        &s.school_b,
        "id,upn,forename,surname\nT1,UNKNOWN,Amy,Smith\n",
        "id,forename,surname,student_id\nH1,Ann,Smith,T1\n",
    )
    .await?;
    let pupils = "\
id,upn,forename,surname
S1,unknown,Ben,Jones
S2,Q207000016049,Cal,Lee
S3,P207000016049,Dee,Green
";
    let guardians = "id,forename,surname,student_id\nG1,Bob,Jones,S1\nG2,Cy,Lee,S2\nG3,Di,Green,S3\n";
    import(db, &s.school_a, pupils, guardians).await?;
    let school = json!({ "school": gid(NodeType::School, s.school_a.id) });
    let data = s.app.query(&s.trust_admin, FINDINGS, school.clone()).await?;
    assert_eq!(
        found(&data),
        [finding("PUPIL_UPN_INVALID", &["S1"], &[], &[]), finding("PUPIL_UPN_INVALID", &["S2"], &[], &[])]
            .into_iter()
            .collect(),
        "a placeholder and a wrong check letter; not a shared UPN"
    );
    let detail = data["dataQuality"]["edges"][0]["node"]["detail"].as_str().unwrap_or_default();
    assert!(
        !detail.to_uppercase().contains("UNKNOWN"),
        "the UPN is in the records, not the sentence: {detail}"
    );

    let ben = student::Entity::find()
        .filter(student::Column::WondeId.eq("S1"))
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("S1"))?;
    assert_eq!(ben.upn.as_deref(), Some("unknown"), "kept as the MIS gave it");
    let family = "query($p: ID!) { node(id: $p) { ... on Student { family { children { wondeId } guardians { wondeId } } } } }";
    let data = s.app.query(&s.trust_admin, family, json!({ "p": gid(NodeType::Student, ben.id) })).await?;
    let family = &data["node"]["family"];
    assert_eq!(strings(&family["children"], "wondeId"), vec!["S1"], "Amy at school B is not Ben: {family}");
    assert_eq!(strings(&family["guardians"], "wondeId"), vec!["G1"]);

    // Corrected in the MIS: nothing left to find.
    let fixed =
        pupils.replace("S1,unknown,", "S1,B801200005001,").replace("S2,Q207000016049,", "S2,R307000016049,");
    import(db, &s.school_a, &fixed, guardians).await?;
    let data = s.app.query(&s.trust_admin, FINDINGS, school).await?;
    assert_eq!(found(&data), BTreeSet::new());
    Ok(())
}

async fn only_admins_of_the_school_see_findings(engine: Engine) -> anyhow::Result<()> {
    let s = setup(&engine).await?;
    import(s.app.db(), &s.school_a, STUDENTS_A, GUARDIANS_A).await?;
    let school = json!({ "school": gid(NodeType::School, s.school_a.id) });
    let code = |body: &Value| body["errors"][0]["extensions"]["code"].as_str().map(str::to_owned);

    let (_, body) = s.app.post(Some(&s.integrator), FINDINGS, school.clone()).await?;
    assert_eq!(code(&body).as_deref(), Some("FORBIDDEN"), "{body}");
    let (_, body) = s.app.post(Some(&s.admin_b), FINDINGS, school.clone()).await?;
    assert_eq!(code(&body).as_deref(), Some("NOT_FOUND"), "{body}");
    let (_, body) =
        s.app.post(Some(&s.trust_admin), FINDINGS, json!({ "school": gid(NodeType::Student, 1) })).await?;
    assert_eq!(code(&body).as_deref(), Some("BAD_USER_INPUT"), "{body}");
    let data = s.app.query(&s.admin_a, FINDINGS, school).await?;
    // School B has no guardians yet, so the office address is Cat's alone.
    assert_eq!(data["dataQuality"]["totalCount"], 4);
    Ok(())
}

async fn placeholders_and_shared_emails_of_different_names_join_no_family(
    engine: Engine,
) -> anyhow::Result<()> {
    let s = setup(&engine).await?;
    let f = Fixture::new(s.app.db());
    let (a, b) = (&s.school_a, &s.school_b);
    // Pairs of guardians, one at each school, each with a child there.
    let pairs = [
        ("strangers", ("Ann", "Smith"), ("Bob", "Jones"), "noemail@school.org"),
        ("namesakes", ("Cat", "Lee"), ("Cat", "Lee"), "noemail@school.org"),
        ("office", ("Dee", "Ray"), ("Eli", "Fox"), "office@birch.example"),
        ("one parent", ("Gus", "Hill"), ("gus", " HILL "), "gus@home.example"),
        ("no forename", ("Ivy", "Moss"), ("", "Moss"), "ivy@home.example"),
    ];
    let mut expected = Vec::new();
    for (n, (label, first, second, email)) in pairs.iter().enumerate() {
        let child_a = f.student(a, &format!("SA{n}"), "Kid", "A", None).await?;
        let child_b = f.student(b, &format!("SB{n}"), "Kid", "B", None).await?;
        let at_a = f.guardian(a, &format!("GA{n}"), first.0, first.1, Some(email)).await?;
        let at_b = f.guardian(b, &format!("GB{n}"), second.0, second.1, Some(email)).await?;
        f.link(&child_a, &at_a, RelationshipType::Mother, 1).await?;
        f.link(&child_b, &at_b, RelationshipType::Mother, 1).await?;
        expected.push((label, at_a, at_b));
    }
    for (label, at_a, at_b) in expected {
        let data = s
            .app
            .query(
                &s.trust_admin,
                "query($a: ID!) { node(id: $a) { ... on Guardian { family { guardians { wondeId } } } } }",
                json!({ "a": gid(NodeType::Guardian, at_a.id) }),
            )
            .await?;
        let members = strings(&data["node"]["family"]["guardians"], "wondeId");
        let joined = vec![at_a.wonde_id.clone(), at_b.wonde_id.clone()];
        let alone = vec![at_a.wonde_id.clone()];
        match *label {
            "one parent" | "no forename" => assert_eq!(members, joined, "{label}: one person"),
            _ => assert_eq!(members, alone, "{label}: two families"),
        }
    }
    Ok(())
}

async fn run_observations_are_findings_until_resolved(engine: Engine) -> anyhow::Result<()> {
    let s = setup(&engine).await?;
    let db = s.app.db();
    let f = Fixture::new(db);
    let a = &s.school_a;
    let child = f.student(a, "S1", "Amy", "Smith", Some("R100000000001")).await?;
    let first = f.guardian(a, "G1", "Ann", "Smith", Some("ann@home.example")).await?;
    let second = f.guardian(a, "G2", "Ann", "Smith", None).await?;
    f.link(&child, &first, RelationshipType::Mother, 1).await?;
    f.link(&child, &second, RelationshipType::Mother, 2).await?;
    let run = f.sync_run(a, SyncKind::Full, SyncStatus::Completed).await?;
    let duplicates = [DroppedDuplicate { endpoint: "students".to_owned(), source_id: "S1".to_owned() }];
    let ambiguities = [Ambiguity {
        kind: entity::enums::PersonKind::Guardian,
        source_id: "G9".to_owned(),
        rule: "names_and_child",
        candidates: vec![second.id, first.id],
    }];
    let refresh = |duplicates: &'static [DroppedDuplicate], ambiguities: &'static [Ambiguity]| {
        let db = db.clone();
        let school = a.id;
        let run = run.id;
        async move {
            let txn = db.begin().await?;
            let fetched = onroll::quality::Fetched { duplicates, ambiguities, ..Default::default() };
            let occasion = onroll::quality::Occasion::Run { run_id: run, fetched };
            let n = onroll::quality::refresh(&txn, school, occasion).await?;
            txn.commit().await?;
            anyhow::Ok(n)
        }
    };
    let (duplicates, ambiguities): (&'static [_], &'static [_]) =
        (Box::leak(Box::new(duplicates)), Box::leak(Box::new(ambiguities)));
    let school = json!({ "school": gid(NodeType::School, a.id) });

    assert_eq!(refresh(duplicates, ambiguities).await?, 2);
    let data = s.app.query(&s.admin_a, FINDINGS, school.clone()).await?;
    assert_eq!(
        found(&data),
        [
            finding("AMBIGUOUS_REIDENTIFICATION", &[], &["G1", "G2"], &["G9"]),
            finding("DUPLICATE_IN_FETCH", &[], &[], &["S1"]),
        ]
        .into_iter()
        .collect()
    );
    assert_eq!(data["dataQuality"]["edges"][0]["node"]["syncRun"]["id"], gid(NodeType::SyncRun, run.id));

    // A decision between runs (an approval of held changes) fetched
    // nothing: the fetch's duplicate stands until the next run.
    let txn = db.begin().await?;
    let kept = onroll::quality::refresh(&txn, a.id, onroll::quality::Occasion::Approval).await?;
    txn.commit().await?;
    assert_eq!(kept, 2, "a decision keeps what the last run's fetch showed");
    // A disconnection has no next run to clear it: the duplicate goes now.
    let txn = db.begin().await?;
    let left = onroll::quality::refresh(&txn, a.id, onroll::quality::Occasion::Disconnection).await?;
    txn.rollback().await?;
    assert_eq!(left, 1, "only the ambiguity, whose accounts are still active");

    // A later run no longer sees either: the fetch was clean, but both
    // accounts the record could be are still active.
    assert_eq!(refresh(&[], &[]).await?, 1);
    let data = s.app.query(&s.admin_a, FINDINGS, school.clone()).await?;
    assert_eq!(
        found(&data),
        [finding("AMBIGUOUS_REIDENTIFICATION", &[], &["G1", "G2"], &["G9"])].into_iter().collect()
    );

    // The office removes one of them: the ambiguity is resolved.
    let mut row: guardian::ActiveModel = second.into();
    row.status = Set(AccountStatus::Deactivated);
    row.update(db).await?;
    assert_eq!(refresh(&[], &[]).await?, 0);
    let data = s.app.query(&s.admin_a, FINDINGS, school).await?;
    assert_eq!(data["dataQuality"]["totalCount"], 0);
    Ok(())
}

/// A school of `size` pupils without a UPN, each with a guardian who gave
/// the pupil's email: two findings per pupil.
async fn statements_for(s: &Setup, school: &school::Model, size: usize) -> anyhow::Result<usize> {
    let f = Fixture::new(s.app.db());
    for i in 0..size {
        let child = f.student(school, &format!("S{i}"), &format!("Kid{i}"), "Load", None).await?;
        let parent =
            f.guardian(school, &format!("G{i}"), "Mum", &format!("Load{i}"), child.email.as_deref()).await?;
        f.link(&child, &parent, RelationshipType::Mother, 1).await?;
    }
    let run = f.sync_run(school, SyncKind::Csv, SyncStatus::Completed).await?;
    let txn = s.app.db().begin().await?;
    assert_eq!(
        onroll::quality::refresh(
            &txn,
            school.id,
            onroll::quality::Occasion::Run { run_id: run.id, fetched: Default::default() }
        )
        .await?,
        2 * size
    );
    txn.commit().await?;
    let vars = json!({ "school": gid(NodeType::School, school.id), "first": 100 });
    s.app.query(&s.trust_admin, FINDINGS, vars.clone()).await?;
    let before = s.app.statements();
    let data = s.app.query(&s.trust_admin, FINDINGS, vars).await?;
    assert_eq!(found(&data).len(), 2 * size);
    Ok(s.app.statements() - before)
}

async fn finding_relations_are_batched(engine: Engine) -> anyhow::Result<()> {
    let s = setup(&engine).await?;
    let small = statements_for(&s, &s.school_a, 3).await?;
    let large = statements_for(&s, &s.school_b, 40).await?;
    assert_eq!(small, large, "statements for 6 findings and for 80");
    assert!(small < 12, "{small} statements is more than the query's shape needs");
    Ok(())
}

/// The findings of a school as (kind, records JSON) pairs.
async fn stored(db: &DatabaseConnection, school: i32) -> anyhow::Result<BTreeSet<(String, String)>> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    Ok(data_quality_finding::Entity::find()
        .filter(data_quality_finding::Column::SchoolId.eq(school))
        .all(db)
        .await?
        .into_iter()
        .map(|f| (f.kind.as_str().to_owned(), f.records))
        .collect())
}

async fn a_wonde_run_finds_what_the_mis_got_wrong_and_the_next_clears_it(
    engine: Engine,
) -> anyhow::Result<()> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use wonde_sim::PatchRequest;

    let world = crate::sync_wonde::World::start(&engine, 1, 30).await?;
    let (wonde_id, school) = world.schools[0].clone();
    world.sync(0, SyncKind::Full).await?;
    let before = stored(world.db(), school.id).await?;

    // The MIS gives two different parents a placeholder, and loses a UPN.
    let truth = world.truth(0)?;
    let parents: Vec<_> =
        truth.contacts.iter().filter(|c| c.forename != truth.contacts[0].forename).take(1).collect();
    let (first, second) = (&truth.contacts[0], parents[0]);
    let pupil = truth.students.iter().find(|s| s.upn.is_some()).ok_or_else(|| anyhow::anyhow!("no UPN"))?;
    let patch = |kind: &str, id: &str, path: &str, value: Value| PatchRequest {
        kind: kind.into(),
        id: id.into(),
        path: path.into(),
        value,
    };
    for contact in [first, second] {
        let path = "contact_details.data.emails.email";
        world
            .sim
            .patch_record(&wonde_id, patch("contact", &contact.id, path, json!("NoEmail@school.org")))?;
    }
    world
        .sim
        .patch_record(&wonde_id, patch("student", &pupil.id, "education_details.data.upn", Value::Null))?;
    let run = world.sync(0, SyncKind::Full).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);

    let id_of = |rows: Vec<(i32, String)>, wonde: &str| rows.into_iter().find(|r| r.1 == wonde).map(|r| r.0);
    let guardians: Vec<(i32, String)> = guardian::Entity::find()
        .filter(guardian::Column::SchoolId.eq(school.id))
        .all(world.db())
        .await?
        .into_iter()
        .map(|g| (g.id, g.wonde_id))
        .collect();
    let mut placeholder = vec![
        id_of(guardians.clone(), &first.id).unwrap_or_default(),
        id_of(guardians, &second.id).unwrap_or_default(),
    ];
    placeholder.sort_unstable();
    let pupil_id = student::Entity::find()
        .filter(student::Column::SchoolId.eq(school.id))
        .filter(student::Column::WondeId.eq(pupil.id.as_str()))
        .one(world.db())
        .await?
        .map(|s| s.id)
        .unwrap_or_default();
    let after = stored(world.db(), school.id).await?;
    let added: BTreeSet<_> = after.difference(&before).cloned().collect();
    assert_eq!(
        added,
        [
            ("PLACEHOLDER_EMAIL".to_owned(), json!({ "guardians": placeholder }).to_string()),
            ("PUPIL_WITHOUT_UPN".to_owned(), json!({ "students": [pupil_id] }).to_string()),
        ]
        .into_iter()
        .collect()
    );

    // The office corrects the MIS: the next run clears both.
    for contact in [first, second] {
        let path = "contact_details.data.emails.email";
        world.sim.patch_record(&wonde_id, patch("contact", &contact.id, path, json!(contact.email)))?;
    }
    world.sim.patch_record(
        &wonde_id,
        patch("student", &pupil.id, "education_details.data.upn", json!(pupil.upn)),
    )?;
    world.sync(0, SyncKind::Full).await?;
    assert_eq!(stored(world.db(), school.id).await?, before);
    Ok(())
}
