//! Issue 18, data protection, on both engines: the retention purge erases
//! a leaver's personal data past the trust's period (links and memberships
//! deleted; counts, runs and event cursors kept), and waits for accounts a
//! reactivation, a held change or an open run concerns; a subject access
//! export holds every record of a guardian known at two schools; erasure
//! is refused while the person is on roll and done for a leaver, with its
//! ERASED event; nothing personal of a purged person shows afterwards.

use chrono::{Duration, Utc};
use entity::enums::{
    AccountStatus, DataQualityKind, DeactivationReason, EventKind, HeldEvidence, HeldStatus, HeldTarget,
    PersonKind, RelationshipType, SyncKind, SyncStatus,
};
use entity::{
    audit_log, class_student, data_quality_finding, event, form_student, guardian, guardian_link,
    held_change, student, sync_run, year_student,
};
use onroll::audit::Actor;
use onroll::graphql::ids::NodeType;
use onroll::retention::{self, PurgeOutcome};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter,
};
use serde_json::{Value, json};

use crate::on_both_engines;
use crate::support::fixture::{Fixture, gid};
use crate::support::{Engine, TestApp, TestDb};

on_both_engines!(
    a_leaver_past_the_period_is_purged_and_the_history_stays,
    reactivated_held_and_open_run_accounts_wait,
    the_export_holds_every_record_of_a_guardian_at_two_schools,
    a_key_held_by_more_than_one_person_matches_only_its_own_record,
    erasure_is_refused_on_roll_and_done_for_a_leaver,
    a_purged_pupil_who_returns_arrives_as_new,
    the_operator_sets_the_period_purges_and_exports_from_the_command_line,
);

const BIN: &str = env!("CARGO_BIN_EXE_onroll");

const EVENTS: &str = "{ deactivationEvents(first: 100) { edges { cursor node {
    kind reason reactivated erased
    person { ... on Student { id forename surname email upn misId wondeId purgedAt }
             ... on Guardian { id forename surname email purgedAt }
             ... on Staff { id forename surname email purgedAt } } } } } }";
const COUNTS: &str = "query($s: ID!) { node(id: $s) { ... on School {
    students { totalCount } guardians { totalCount } staff { totalCount }
    syncRuns(first: 50) { edges { node { id status } } } } } }";
const PURGE_POLICY: &str =
    "mutation($t: ID!, $d: Int!) { updateRetentionPolicy(trustId: $t, days: $d) { retentionDays } }";
const EXPORT: &str = "mutation($p: ID!) { subjectAccessExport(personId: $p) { records document } }";
const ERASE: &str = "mutation($p: ID!) { erasePerson(personId: $p, reason: SUBJECT_REQUEST) {
    erased linksDeleted membershipsDeleted events { cursor erased kind reason person { ... on Student { id } ... on Guardian { id } } } } }";

async fn code(app: &TestApp, token: &str, query: &str, vars: Value) -> anyhow::Result<String> {
    let (_, body) = app.post(Some(token), query, vars).await?;
    Ok(body["errors"][0]["extensions"]["code"].as_str().unwrap_or("none").to_owned())
}

/// Moves a student's deactivation `days` into the past.
pub(crate) async fn deactivated_days_ago(
    db: &DatabaseConnection,
    id: i32,
    days: i64,
) -> anyhow::Result<student::Model> {
    let row = student::Entity::find_by_id(id).one(db).await?.ok_or_else(|| anyhow::anyhow!("no student"))?;
    let mut row: student::ActiveModel = row.into();
    row.status = Set(AccountStatus::Deactivated);
    row.deactivation_reason = Set(Some(DeactivationReason::LeftSchool));
    row.deactivated_at = Set(Some(Utc::now() - Duration::days(days)));
    Ok(row.update(db).await?)
}

async fn student_row(db: &DatabaseConnection, id: i32) -> anyhow::Result<student::Model> {
    student::Entity::find_by_id(id).one(db).await?.ok_or_else(|| anyhow::anyhow!("no student {id}"))
}

async fn purge(db: &DatabaseConnection) -> anyhow::Result<retention::Purged> {
    match retention::purge_now(db, Utc::now(), Actor::Cli).await? {
        PurgeOutcome::Done(purged) => Ok(purged),
        PurgeOutcome::Busy => anyhow::bail!("the purge was busy"),
    }
}

/// Asserts that `text` holds none of the person's personal data.
fn shows_nothing_of(text: &str, words: &[&str]) {
    for word in words {
        assert!(!text.to_lowercase().contains(&word.to_lowercase()), "`{word}` still shows in {text}");
    }
}

async fn a_leaver_past_the_period_is_purged_and_the_history_stays(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let db = app.db();
    let f = Fixture::new(db);
    // The leaver (Cara Leaves, UPN V100000000003) had a class, year, form
    // and a guardian, and left 400 days ago; another pupil left 10 days ago.
    f.in_class(&s.class, &s.leaver).await?;
    f.in_year(&s.year, &s.leaver).await?;
    f.in_form(&s.form, &s.leaver).await?;
    let lee = f.guardian(&s.school_a, "GA9", "Lee", "Leaves", Some("lee@leaves.example")).await?;
    f.link(&s.leaver, &lee, RelationshipType::Father, 1).await?;
    let leaver = deactivated_days_ago(db, s.leaver.id, 400).await?;
    let recent = f.student(&s.school_a, "SA4", "Dora", "Recent", Some("J100000000004")).await?;
    let recent = deactivated_days_ago(db, recent.id, 10).await?;
    let school_a = gid(NodeType::School, s.school_a.id);

    let events_before = app.query(&s.trust_admin, EVENTS, json!({})).await?;
    let counts_before = app.query(&s.trust_admin, COUNTS, json!({ "s": school_a })).await?;
    let (_, metrics_before) = crate::metrics::scrape(&app).await?;
    let purged = purge(db).await?;
    assert_eq!((purged.students, purged.staff, purged.guardians), (1, 0, 0), "{purged:?}");
    // Counted in metrics (shared by the suite's tests: at least this one).
    let (_, metrics_after) = crate::metrics::scrape(&app).await?;
    let moved = students_purged(&metrics_after, "retention") - students_purged(&metrics_before, "retention");
    assert!(moved >= 1.0);
    assert_eq!((purged.links, purged.memberships), (1, 3), "{purged:?}");

    let row = student_row(db, leaver.id).await?;
    assert_eq!((row.forename.as_str(), row.surname.as_str()), ("", ""));
    assert_eq!((row.email, row.upn, row.upi, row.mis_id), (None, None, None, None));
    assert_eq!(row.wonde_id, format!("purged:{}", leaver.id));
    assert!(row.purged_at.is_some());
    assert_eq!(
        (row.status, row.deactivated_at, row.deactivation_reason, row.school_id, row.created_at),
        (
            leaver.status,
            leaver.deactivated_at,
            leaver.deactivation_reason,
            leaver.school_id,
            leaver.created_at
        ),
        "id, school, status, dates and reason stay"
    );
    let links = guardian_link::Entity::find()
        .filter(guardian_link::Column::StudentId.eq(leaver.id))
        .count(db)
        .await?;
    let classes = class_student::Entity::find()
        .filter(class_student::Column::StudentId.eq(leaver.id))
        .count(db)
        .await?;
    let years =
        year_student::Entity::find().filter(year_student::Column::StudentId.eq(leaver.id)).count(db).await?;
    let forms =
        form_student::Entity::find().filter(form_student::Column::StudentId.eq(leaver.id)).count(db).await?;
    assert_eq!((links, classes, years, forms), (0, 0, 0, 0));
    let kept = student_row(db, recent.id).await?;
    assert_eq!((kept.forename.as_str(), kept.purged_at), ("Dora", None), "within the period: kept");
    // Lee is active (the link went, the account stays as the MIS has it).
    let lee_now = guardian::Entity::find_by_id(lee.id).one(db).await?;
    assert_eq!(lee_now.map(|g| g.forename), Some("Lee".to_owned()));

    // Counts, runs and event cursors stay; the event shows the erased record.
    let counts_after = app.query(&s.trust_admin, COUNTS, json!({ "s": school_a })).await?;
    assert_eq!(counts_after, counts_before);
    let events_after = app.query(&s.trust_admin, EVENTS, json!({})).await?;
    let cursors = |v: &Value| -> Vec<Value> {
        v["deactivationEvents"]["edges"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|e| e["cursor"].clone())
            .collect()
    };
    assert_eq!(cursors(&events_after), cursors(&events_before));
    assert!(!cursors(&events_after).is_empty());
    let person = &events_after["deactivationEvents"]["edges"][0]["node"]["person"];
    assert_eq!(person["id"], json!(gid(NodeType::Student, leaver.id)));
    assert!(person["purgedAt"].is_string(), "{person}");
    shows_nothing_of(&events_after.to_string(), &["Cara", "Leaves", "V100000000003", "mis-SA3"]);
    assert!(events_before.to_string().contains("Cara"), "the check can fail: the name showed before");

    // Recorded in the audit log with counts only.
    let audit =
        audit_log::Entity::find().filter(audit_log::Column::Action.eq("retention purge")).all(db).await?;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].trust_id, Some(s.trust.id));
    assert_eq!(audit[0].detail.as_deref(), Some("students=1 staff=0 guardians=0 links=1 memberships=3"));

    // Nothing more is due; a purge another process holds is not run twice.
    assert_eq!(purge(db).await?.students, 0);
    let state = retention::state(db).await?;
    assert!(!retention::due(&state, Utc::now()), "purged just now: not due for a day");
    let mut claimed: entity::retention_state::ActiveModel = state.into();
    claimed.purging_since = Set(Some(Utc::now()));
    claimed.update(db).await?;
    assert_eq!(retention::purge_now(db, Utc::now(), Actor::Cli).await?, PurgeOutcome::Busy);
    Ok(())
}

async fn reactivated_held_and_open_run_accounts_wait(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let db = app.db();
    let f = Fixture::new(db);
    // Reactivated within the period (and deactivated again since, keeping
    // its first deactivation date).
    let back = f.student(&s.school_a, "SA5", "Rae", "Back", Some("Y100000000005")).await?;
    let back = deactivated_days_ago(db, back.id, 400).await?;
    let mut reactivated =
        f.deactivation_event(&back, &s.trust, None, EventKind::Reactivated).await?.into_active_model();
    reactivated.occurred_at = Set(Utc::now() - Duration::days(30));
    reactivated.update(db).await?;
    // Held: a pending decision concerns it.
    let held = f.student(&s.school_a, "SA6", "Hal", "Held", Some("M100000000006")).await?;
    let held = deactivated_days_ago(db, held.id, 400).await?;
    let decision = held_change::ActiveModel {
        trust_id: Set(s.trust.id),
        school_id: Set(s.school_a.id),
        target: Set(HeldTarget::Student),
        target_id: Set(held.id),
        group_id: Set(None),
        member_id: Set(None),
        evidence: Set(HeldEvidence::AbsentFromFullFetch),
        reason: Set(Some(DeactivationReason::RemovedFromMis)),
        status: Set(HeldStatus::Pending),
        sync_run_id: Set(None),
        held_at: Set(Utc::now()),
        decided_at: Set(None),
        decided_by: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    // Open run: school B has a queued run.
    let at_b = deactivated_days_ago(db, s.ann_b.id, 400).await?;
    let run = f.sync_run(&s.school_b, SyncKind::Incremental, SyncStatus::Queued).await?;
    // The plain leaver, for contrast, is purged.
    deactivated_days_ago(db, s.leaver.id, 400).await?;

    let trust = gid(NodeType::Trust, s.trust.id);
    // Purging off: nothing goes. Only trust admins set it, within bounds.
    let policy = app.query(&s.trust_admin, PURGE_POLICY, json!({ "t": trust, "d": 0 })).await?;
    assert_eq!(policy["updateRetentionPolicy"]["retentionDays"], 0);
    assert_eq!(purge(db).await?.students, 0);
    assert_eq!(
        code(&app, &s.trust_admin, PURGE_POLICY, json!({ "t": trust, "d": -1 })).await?,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        code(&app, &s.school_a_admin, PURGE_POLICY, json!({ "t": trust, "d": 30 })).await?,
        "FORBIDDEN"
    );
    assert_eq!(code(&app, &s.integrator, PURGE_POLICY, json!({ "t": trust, "d": 30 })).await?, "FORBIDDEN");
    app.query(&s.trust_admin, PURGE_POLICY, json!({ "t": trust, "d": 365 })).await?;

    assert_eq!(purge(db).await?.students, 1, "only the plain leaver");
    assert!(student_row(db, s.leaver.id).await?.purged_at.is_some());
    for (id, why) in [(back.id, "reactivated"), (held.id, "held"), (at_b.id, "open run")] {
        let row = student_row(db, id).await?;
        assert!(row.purged_at.is_none() && !row.forename.is_empty(), "{why}: waits");
    }
    // Once decided and once the run has ended, they go; the reactivation
    // keeps its account until the period has passed since it.
    let mut decided = decision.into_active_model();
    decided.status = Set(HeldStatus::Rejected);
    decided.update(db).await?;
    let mut ended: sync_run::ActiveModel = run.into();
    ended.status = Set(SyncStatus::Completed);
    ended.update(db).await?;
    assert_eq!(purge(db).await?.students, 2);
    assert!(student_row(db, held.id).await?.purged_at.is_some());
    assert!(student_row(db, at_b.id).await?.purged_at.is_some());
    assert!(student_row(db, back.id).await?.purged_at.is_none());
    let later = retention::purge_now(db, Utc::now() + Duration::days(400), Actor::Cli).await?;
    assert!(matches!(later, PurgeOutcome::Done(p) if p.students == 1));
    assert!(student_row(db, back.id).await?.purged_at.is_some());
    Ok(())
}

async fn the_export_holds_every_record_of_a_guardian_at_two_schools(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let db = app.db();
    let ann = gid(NodeType::Guardian, s.ann_at_a.id);
    let data = app.query(&s.trust_admin, EXPORT, json!({ "p": ann })).await?;
    assert_eq!(data["subjectAccessExport"]["records"], 2, "{data}");
    let text = data["subjectAccessExport"]["document"].as_str().unwrap_or_default();
    let doc: Value = serde_json::from_str(text)?;
    let records = doc["records"].as_array().cloned().unwrap_or_default();
    let schools: Vec<Value> = records.iter().map(|r| r["school"]["id"].clone()).collect();
    assert_eq!(schools, [json!(s.school_a.id), json!(s.school_b.id)]);
    let ids: Vec<Value> = records.iter().map(|r| r["id"].clone()).collect();
    assert_eq!(ids, [json!(s.ann_at_a.id), json!(s.ann_at_b.id)]);
    let children: Vec<Value> = records.iter().map(|r| r["links"]["items"][0]["studentId"].clone()).collect();
    assert_eq!(children, [json!(s.ann_a.id), json!(s.ann_b.id)]);
    assert_eq!(records[1]["account"]["fields"]["email"], "  Ann.Smith@Example.ORG ");
    for part in ["account", "links", "memberships", "events", "syncRuns", "heldChanges"] {
        assert!(records[0][part]["explanation"].as_str().is_some_and(|e| e.len() > 20), "{part} explained");
    }
    assert!(doc["matching"].as_str().is_some_and(|m| m.contains("email")));
    assert!(!text.contains(&s.other_school.name), "another trust's Ann is another person");

    // A pupil's export holds its events and the run that changed it.
    let leaver =
        app.query(&s.trust_admin, EXPORT, json!({ "p": gid(NodeType::Student, s.leaver.id) })).await?;
    let leaver: Value =
        serde_json::from_str(leaver["subjectAccessExport"]["document"].as_str().unwrap_or("{}"))?;
    assert_eq!(leaver["records"][0]["events"]["items"][0]["kind"], "DEACTIVATED");
    assert_eq!(leaver["records"][0]["syncRuns"]["items"][0]["id"], json!(s.run.id));

    // Trust admins only; audited.
    assert_eq!(code(&app, &s.school_a_admin, EXPORT, json!({ "p": ann })).await?, "FORBIDDEN");
    assert_eq!(code(&app, &s.integrator, EXPORT, json!({ "p": ann })).await?, "FORBIDDEN");
    assert_eq!(code(&app, &s.other_admin, EXPORT, json!({ "p": ann })).await?, "NOT_FOUND");
    let school = gid(NodeType::School, s.school_a.id);
    assert_eq!(code(&app, &s.trust_admin, EXPORT, json!({ "p": school })).await?, "BAD_USER_INPUT");
    let audited = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("subjectAccessExport"))
        .filter(audit_log::Column::Outcome.eq("OK"))
        .count(db)
        .await?;
    assert_eq!(audited, 2);
    Ok(())
}

/// A subject access export or an erasure reaches another record only by a
/// key that names one person: not a UPN two active pupils of one school
/// hold (a sibling's copied onto a new pupil), not an email whose holders'
/// names disagree (a school office's address typed in for parents). Either
/// would hand one person's records to another, or erase them.
async fn a_key_held_by_more_than_one_person_matches_only_its_own_record(
    engine: Engine,
) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let db = app.db();
    let f = Fixture::new(db);
    let ben_upn = s.solo.upn.clone().unwrap_or_default();
    f.student(&s.school_b, "SB9", "Ben", "Jones", Some(&ben_upn)).await?;
    let ben = gid(NodeType::Student, s.solo.id);
    let data = app.query(&s.trust_admin, EXPORT, json!({ "p": ben })).await?;
    assert_eq!(data["subjectAccessExport"]["records"], 2, "Ben at two schools: {data}");
    assert_eq!(outcome(&data)?, "FOLLOWED");
    let sam = f.student(&s.school_a, "SA9", "Sam", "Copy", Some(&ben_upn)).await?;
    for pupil in [&ben, &gid(NodeType::Student, sam.id)] {
        let data = app.query(&s.trust_admin, EXPORT, json!({ "p": pupil })).await?;
        assert_eq!(data["subjectAccessExport"]["records"], 1, "{data}");
        assert_eq!(outcome(&data)?, "HELD_BY_MORE_THAN_ONE_PERSON", "the document says why");
    }

    // Two leavers of one school under two names holding one UPN (seen in a
    // trial: erasing Kim erased Lee too, for good). Status does not make
    // them one child; names would.
    let mut left = Vec::new();
    for (wonde_id, forename) in [("SA7", "Kim"), ("SA8", "Lee")] {
        let row = f.student(&s.school_a, wonde_id, forename, "Kay", Some("K823100000088")).await?;
        let mut gone: student::ActiveModel = row.into();
        gone.status = Set(AccountStatus::Deactivated);
        gone.deactivated_at = Set(Some(Utc::now()));
        gone.deactivation_reason = Set(Some(DeactivationReason::RemovedFromMis));
        left.push(gone.update(db).await?);
    }
    let kim = gid(NodeType::Student, left[0].id);
    onroll::quality::refresh(db, s.school_a.id, onroll::quality::Occasion::Approval).await?;
    let pair = vec![left[0].id, left[1].id];
    assert!(shared_upn_findings(db, s.school_a.id).await?.contains(&pair), "the school is told");
    let data = app.query(&s.trust_admin, EXPORT, json!({ "p": kim })).await?;
    assert_eq!(data["subjectAccessExport"]["records"], 1, "{data}");
    assert_eq!(outcome(&data)?, "HELD_BY_MORE_THAN_ONE_PERSON");
    let done = app.query(&s.trust_admin, ERASE, json!({ "p": kim })).await?;
    assert_eq!(done["erasePerson"]["erased"], 1, "{done}");
    let lee = student::Entity::find_by_id(left[1].id).one(db).await?;
    assert!(lee.is_some_and(|row| row.purged_at.is_none()), "Lee keeps their record");
    let findings = shared_upn_findings(db, s.school_a.id).await?;
    assert!(
        !findings.iter().flatten().any(|id| *id == left[0].id),
        "no finding names a purged record: {findings:?}"
    );
    // Kim's record at school B: with Kim's record at A erased, Lee's is
    // the only one at A, and still not Kim's (seen in a trial: it joined,
    // and erasing Kim at B then erased Lee).
    let kim_b = f.student(&s.school_b, "SB7", "Kim", "Kay", Some("K823100000088")).await?;
    let kim_b_id = gid(NodeType::Student, kim_b.id);
    let data = app.query(&s.trust_admin, EXPORT, json!({ "p": kim_b_id })).await?;
    assert_eq!(data["subjectAccessExport"]["records"], 1, "{data}");
    assert_eq!(outcome(&data)?, "HELD_BY_MORE_THAN_ONE_PERSON");
    // Kim leaves B and is erased there: school A's finding, which listed
    // Kim at B beside Lee, no longer names the purged record (seen in a
    // trial: only the erased record's own school was refreshed).
    onroll::quality::refresh(db, s.school_a.id, onroll::quality::Occasion::Approval).await?;
    assert!(shared_upn_findings(db, s.school_a.id).await?.contains(&vec![left[1].id, kim_b.id]));
    let mut gone: student::ActiveModel = kim_b.clone().into();
    gone.status = Set(AccountStatus::Deactivated);
    gone.deactivated_at = Set(Some(Utc::now()));
    gone.deactivation_reason = Set(Some(DeactivationReason::LeftSchool));
    gone.update(db).await?;
    let done = app.query(&s.trust_admin, ERASE, json!({ "p": kim_b_id })).await?;
    assert_eq!(done["erasePerson"]["erased"], 1, "{done}");
    let findings = shared_upn_findings(db, s.school_a.id).await?;
    assert!(!findings.iter().flatten().any(|id| *id == kim_b.id), "{findings:?}");

    let mut office = Vec::new();
    for (school, wonde_id, forename, surname) in
        [(&s.school_a, "GA8", "Pat", "Lee"), (&s.school_b, "GB8", "Chris", "Wong")]
    {
        let row = f.guardian(school, wonde_id, forename, surname, Some("office@ash.example")).await?;
        let mut gone: guardian::ActiveModel = row.into();
        gone.status = Set(AccountStatus::Deactivated);
        gone.deactivated_at = Set(Some(Utc::now()));
        gone.deactivation_reason = Set(Some(DeactivationReason::RemovedFromMis));
        office.push(gone.update(db).await?);
    }
    let pat = gid(NodeType::Guardian, office[0].id);
    let data = app.query(&s.trust_admin, EXPORT, json!({ "p": pat })).await?;
    assert_eq!(data["subjectAccessExport"]["records"], 1, "{data}");
    let done = app.query(&s.trust_admin, ERASE, json!({ "p": pat })).await?;
    assert_eq!(done["erasePerson"]["erased"], 1, "{done}");
    let chris = guardian::Entity::find_by_id(office[1].id).one(db).await?;
    assert!(
        chris
            .is_some_and(|row| row.purged_at.is_none() && row.email.as_deref() == Some("office@ash.example")),
        "Chris Wong, who shares the office's address, keeps their record"
    );
    Ok(())
}

/// The records of the school's PUPILS_SHARE_UPN findings.
async fn shared_upn_findings(db: &DatabaseConnection, school_id: i32) -> anyhow::Result<Vec<Vec<i32>>> {
    let rows = data_quality_finding::Entity::find()
        .filter(data_quality_finding::Column::SchoolId.eq(school_id))
        .filter(data_quality_finding::Column::Kind.eq(DataQualityKind::PupilsShareUpn))
        .all(db)
        .await?;
    Ok(rows.iter().map(|row| onroll::quality::Records::from_json(&row.records).students).collect())
}

/// The export document's `match.outcome`.
fn outcome(data: &Value) -> anyhow::Result<String> {
    let text = data["subjectAccessExport"]["document"].as_str().unwrap_or_default();
    let document: Value = serde_json::from_str(text)?;
    Ok(document["match"]["outcome"].as_str().unwrap_or_default().to_owned())
}

async fn erasure_is_refused_on_roll_and_done_for_a_leaver(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let db = app.db();
    // A pupil on roll: refused, nothing changes.
    let on_roll = gid(NodeType::Student, s.ann_a.id);
    assert_eq!(code(&app, &s.trust_admin, ERASE, json!({ "p": on_roll })).await?, "PERSON_ON_ROLL");
    assert_eq!(student_row(db, s.ann_a.id).await?, s.ann_a);
    assert_eq!(code(&app, &s.school_a_admin, ERASE, json!({ "p": on_roll })).await?, "FORBIDDEN");
    let before = event::Entity::find().count(db).await?;

    // A subscriber follows deactivations from the leaver's own event on.
    let before_events = app.query(&s.integrator, EVENTS, json!({})).await?;
    let after =
        before_events["deactivationEvents"]["edges"][0]["cursor"].as_str().unwrap_or_default().to_owned();
    let (mut socket, ack) = crate::support::ws::connect(app.addr, Some(&s.integrator)).await?;
    assert_eq!(ack["type"], "connection_ack");
    let live = "subscription($a: String) { deactivations(after: $a) { erased reactivated
        person { ... on Student { id forename surname upn purgedAt } } } }";
    crate::support::ws::subscribe(&mut socket, "erasures", live, json!({ "a": after })).await?;

    // A leaver (left today: erasure does not wait for the period).
    let leaver = gid(NodeType::Student, s.leaver.id);
    let (_, metrics_before) = crate::metrics::scrape(&app).await?;
    let done = app.query(&s.trust_admin, ERASE, json!({ "p": leaver })).await?;
    let erasure = &done["erasePerson"];
    let (_, metrics_after) = crate::metrics::scrape(&app).await?;
    let moved = students_purged(&metrics_after, "erasure") - students_purged(&metrics_before, "erasure");
    assert!(moved >= 1.0);
    assert_eq!(
        (erasure["erased"].clone(), erasure["events"][0]["erased"].clone()),
        (json!(1), json!(true)),
        "{done}"
    );
    assert_eq!(erasure["events"][0]["person"]["id"], json!(leaver));
    assert_eq!(erasure["events"][0]["reason"], "LEFT_SCHOOL");
    assert_eq!(event::Entity::find().count(db).await?, before + 1);
    let erased = event::Entity::find().filter(event::Column::Kind.eq(EventKind::Erased)).one(db).await?;
    let erased = erased.ok_or_else(|| anyhow::anyhow!("no ERASED event"))?;
    assert_eq!((erased.person_kind, erased.person_id), (Some(PersonKind::Student), Some(s.leaver.id)));
    assert!(student_row(db, s.leaver.id).await?.purged_at.is_some());
    // The subscriber gets it, live, showing nothing of the person.
    let streamed = crate::support::ws::next_within(&mut socket, std::time::Duration::from_secs(10)).await?;
    let streamed = &streamed["payload"]["data"]["deactivations"];
    assert_eq!(
        (streamed["erased"].clone(), streamed["person"]["id"].clone()),
        (json!(true), json!(leaver)),
        "{streamed}"
    );
    assert_eq!(streamed["person"]["forename"], "");
    assert!(streamed["person"]["purgedAt"].is_string());
    // Integrators polling the log see it, after the deactivation.
    let events = app.query(&s.integrator, EVENTS, json!({})).await?;
    let flags: Vec<Value> = events["deactivationEvents"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| e["node"]["erased"].clone())
        .collect();
    assert_eq!(flags, [json!(false), json!(true)]);

    // Nothing personal shows anywhere: by id, in lists, search and events.
    let personal = ["Cara", "Leaves", "V100000000003", "mis-SA3", "upi-"];
    let by_id = app
        .query(&s.trust_admin, "query($p: ID!) { node(id: $p) { ... on Student { forename surname email upn misId wondeId purgedAt } } }", json!({ "p": leaver }))
        .await?;
    assert_eq!(by_id["node"]["forename"], "");
    shows_nothing_of(&by_id.to_string(), &personal);
    let list = app
        .query(&s.trust_admin, "query($s: ID!) { node(id: $s) { ... on School { students(first: 50) { totalCount edges { node { forename surname email upn } } } } } }",
            json!({ "s": gid(NodeType::School, s.school_a.id) }))
        .await?;
    assert_eq!(list["node"]["students"]["totalCount"], 3, "the count stays");
    shows_nothing_of(&list.to_string(), &personal);
    for word in ["Cara", "Leaves", "V100000000003"] {
        let found = app
            .query(&s.trust_admin, "query($s: ID!, $w: String) { node(id: $s) { ... on School { students(filter: { search: $w }) { totalCount } } } }",
                json!({ "s": gid(NodeType::School, s.school_a.id), "w": word }))
            .await?;
        assert_eq!(found["node"]["students"]["totalCount"], 0, "search `{word}`");
    }
    shows_nothing_of(&events.to_string(), &personal);
    let export = app.query(&s.trust_admin, EXPORT, json!({ "p": leaver })).await?;
    shows_nothing_of(&export.to_string(), &personal);

    // A guardian known at two schools, gone from both: both records erased.
    for id in [s.ann_at_a.id, s.ann_at_b.id] {
        let row =
            guardian::Entity::find_by_id(id).one(db).await?.ok_or_else(|| anyhow::anyhow!("no guardian"))?;
        let mut row: guardian::ActiveModel = row.into();
        row.status = Set(AccountStatus::Deactivated);
        row.deactivated_at = Set(Some(Utc::now()));
        row.deactivation_reason = Set(Some(DeactivationReason::NoActiveChildren));
        row.update(db).await?;
    }
    let done =
        app.query(&s.trust_admin, ERASE, json!({ "p": gid(NodeType::Guardian, s.ann_at_b.id) })).await?;
    assert_eq!(done["erasePerson"]["erased"], 2, "{done}");
    assert_eq!(done["erasePerson"]["linksDeleted"], 2);
    for id in [s.ann_at_a.id, s.ann_at_b.id] {
        let row =
            guardian::Entity::find_by_id(id).one(db).await?.ok_or_else(|| anyhow::anyhow!("no guardian"))?;
        assert!(row.purged_at.is_some() && row.email.is_none() && row.email_key.is_none());
    }
    let hidden = guardian::Entity::find().filter(guardian::Column::WondeId.eq("GC1")).one(db).await?;
    assert_eq!(
        hidden.and_then(|g| g.email),
        Some("ann.smith@example.org".to_owned()),
        "another trust's Ann stays"
    );
    let audited =
        audit_log::Entity::find().filter(audit_log::Column::Action.eq("erasePerson")).all(db).await?;
    let outcomes: Vec<&str> = audited.iter().map(|a| a.outcome.as_str()).collect();
    assert_eq!(outcomes, ["PERSON_ON_ROLL", "FORBIDDEN", "OK", "OK"]);
    Ok(())
}

const PUPILS: &str = "\
id,upn,forename,surname,email,year
S1,R100000000001,Amy,Smith,amy@pupils.example,Year 7
S2,F100000000002,Ben,Smith,,Year 7
";

async fn import(db: &DatabaseConnection, school_id: i32, students: &str) -> anyhow::Result<()> {
    let importer = onroll::sync::csv_import::CsvImporter {
        db: db.clone(),
        events: onroll::events::EventBus::default(),
        guard_share: 0.5,
        worker: "retention-test".into(),
    };
    let files = onroll::sync::csv_source::CsvFiles {
        students: Some(students.as_bytes().to_vec()),
        staff: None,
        guardians: None,
    };
    match importer.import(school_id, files, true, true).await? {
        onroll::sync::csv_import::CsvImportOutcome::Ran(_) => Ok(()),
        onroll::sync::csv_import::CsvImportOutcome::Refused(errors) => anyhow::bail!("refused: {errors:?}"),
    }
}

async fn a_purged_pupil_who_returns_arrives_as_new(engine: Engine) -> anyhow::Result<()> {
    let data = TestDb::create(&engine).await?;
    let db = &data.db;
    let f = Fixture::new(db);
    let trust = f.trust("Returners Trust").await?;
    let school = f.school(&trust, "Return School").await?;
    import(db, school.id, PUPILS).await?;
    // Amy leaves (absent from a full import), and 400 days later is purged.
    let only_ben: String =
        PUPILS.lines().filter(|l| !l.starts_with("S1,")).map(|l| format!("{l}\n")).collect();
    import(db, school.id, &only_ben).await?;
    let amy = student::Entity::find().filter(student::Column::WondeId.eq("S1")).one(db).await?;
    let amy = amy.ok_or_else(|| anyhow::anyhow!("no S1"))?;
    assert_eq!(amy.status, AccountStatus::Deactivated);
    deactivated_days_ago(db, amy.id, 400).await?;
    assert_eq!(purge(db).await?.students, 1);

    // She comes back with the same MIS id and UPN: a new account; the
    // purged row stays as it was.
    import(db, school.id, PUPILS).await?;
    let rows = student::Entity::find().filter(student::Column::SchoolId.eq(school.id)).all(db).await?;
    assert_eq!(rows.len(), 3, "{rows:?}");
    let old = student_row(db, amy.id).await?;
    assert_eq!((old.status, old.forename.as_str(), old.upn.clone()), (AccountStatus::Deactivated, "", None));
    assert!(old.purged_at.is_some());
    let new = rows.iter().find(|r| r.wonde_id == "S1").ok_or_else(|| anyhow::anyhow!("no new S1"))?;
    assert_ne!(new.id, amy.id);
    assert_eq!((new.status, new.forename.as_str(), new.purged_at), (AccountStatus::Active, "Amy", None));

    // A change of MIS (new ids, same UPN) re-identifies nobody purged either.
    let old_new = new.id;
    import(db, school.id, &PUPILS.replace("S1,", "X1,").replace("S2,", "X2,")).await?;
    let again = student::Entity::find().filter(student::Column::WondeId.eq("X1")).one(db).await?;
    let again = again.ok_or_else(|| anyhow::anyhow!("no X1"))?;
    assert_eq!(again.id, old_new, "the active Amy is re-identified by UPN, never the purged row");
    Ok(())
}

async fn the_operator_sets_the_period_purges_and_exports_from_the_command_line(
    engine: Engine,
) -> anyhow::Result<()> {
    use base64::Engine as _;
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let db = app.db();
    let url = app.data.url(&engine);
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let run = |args: Vec<String>| {
        let (url, key) = (url.clone(), key.clone());
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(BIN)
                .args(&args)
                .env("DATABASE_URL", url)
                .env("ONROLL_SECRET_KEY", key)
                .output()
        })
    };
    let args = |list: &[&str]| list.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
    let trust = gid(NodeType::Trust, s.trust.id);

    let refused = run(args(&["trust", "retention", "--trust", &trust, "--days=-5"])).await??;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("0 (never purge)"), "the bounds are said");
    let set = run(args(&["trust", "retention", "--trust", &trust, "--days", "30"])).await??;
    assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
    let row = entity::trust::Entity::find_by_id(s.trust.id).one(db).await?;
    assert_eq!(row.map(|t| t.retention_days), Some(30));

    // Left 40 days ago: past 30 days.
    deactivated_days_ago(db, s.leaver.id, 40).await?;
    let purged = run(args(&["retention", "purge"])).await??;
    assert!(purged.status.success(), "{}", String::from_utf8_lossy(&purged.stderr));
    assert!(
        String::from_utf8_lossy(&purged.stdout).contains("students=1"),
        "{}",
        String::from_utf8_lossy(&purged.stdout)
    );
    assert!(student_row(db, s.leaver.id).await?.purged_at.is_some());

    let ann = gid(NodeType::Guardian, s.ann_at_b.id);
    let export = run(args(&["export-person", &ann])).await??;
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    let doc: Value = serde_json::from_slice(&export.stdout)?;
    assert_eq!(doc["records"].as_array().map(Vec::len), Some(2), "both schools' Ann");
    let wrong = run(args(&["export-person", &trust])).await??;
    assert!(!wrong.status.success());

    let audited: Vec<(String, String, Option<String>)> = audit_log::Entity::find()
        .filter(audit_log::Column::ActorKind.eq("CLI"))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.action, a.outcome, a.detail))
        .collect();
    let person = format!("person=GUARDIAN id={}", s.ann_at_b.id);
    for (action, outcome, detail) in [
        ("trust retention", "ERROR", Some("days=-5")),
        ("trust retention", "OK", Some("days=30")),
        ("retention purge", "OK", Some("students=1 staff=0 guardians=0 links=0 memberships=0")),
        ("retention purge", "OK", None),
        ("export-person", "OK", Some(person.as_str())),
    ] {
        let wanted = (action.to_owned(), outcome.to_owned(), detail.map(str::to_owned));
        assert!(audited.contains(&wanted), "{wanted:?} in {audited:?}");
    }
    assert!(!format!("{audited:?}").contains("Ann"), "no personal data recorded");
    // Seen in a trial: the export's row named no trust or school, so a DPO
    // filtering the log by school did not find it.
    let export_row = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("export-person"))
        .filter(audit_log::Column::Outcome.eq("OK"))
        .one(db)
        .await?
        .map(|a| (a.school_id, a.trust_id));
    assert_eq!(export_row, Some((Some(s.ann_at_b.school_id), Some(s.trust.id))));
    Ok(())
}

/// The `onroll_accounts_purged_total` series of students purged for `cause`
/// in a scrape's `series`.
fn students_purged(series: &[(String, f64)], cause: &str) -> f64 {
    crate::metrics::value(series, "onroll_accounts_purged_total", &[("cause", cause), ("kind", "students")])
}
