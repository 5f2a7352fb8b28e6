//! Issue 10, items 1 and 2, over HTTP against the simulator on both
//! engines: a Wonde answer is used only when it is whole (a page with an
//! `error` or without `data` fails the run and moves nothing; a record seen
//! twice is taken once, with a warning on the run), refusals are told in
//! Wonde's words under a code of their own, and no database text reaches a
//! client.

use anyhow::Context;
use entity::enums::{AccountStatus, EventKind, SyncKind, SyncStatus};
use entity::{event, guardian, school, student, sync_run, wonde_connection};
use onroll::graphql::ids::NodeType;
use onroll::sync::SyncEngine;
use onroll::wonde::{WondeClient, WondeConfig};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use std::time::Duration;
use wonde_sim::{
    AccessState, FaultKind, FaultSpec, MisMigration, NewStarter, PatchRequest, SimConfig, SimHandle,
};

use crate::count_at;
use crate::on_both_engines;
use crate::support::fixture::{Scenario, gid};
use crate::support::sim::{fast_retry, with_app_token, with_wonde};
use crate::support::{CONNECT_WONDE, Engine, TestApp, connect_over_api};

on_both_engines!(
    an_error_page_fails_a_full_run_and_deactivates_nobody,
    an_error_page_leaves_the_incremental_watermark_where_it_was,
    a_record_repeated_across_pages_is_taken_once_with_a_warning,
    a_page_that_comes_back_empty_after_more_was_promised_deactivates_nobody,
    an_incremental_listing_that_ends_early_leaves_the_watermark,
    a_record_that_cannot_be_read_holds_back_nobody_else,
    an_unreadable_record_is_a_finding_naming_whom_it_keeps,
    an_erased_leaver_leaves_no_wonde_id_in_findings,
    a_page_that_says_more_but_links_to_none_deactivates_nobody,
    an_unreadable_parent_after_a_change_of_mis_keeps_their_child,
    a_pupil_whose_contacts_are_not_listed_keeps_their_parents,
    a_group_left_out_or_without_its_members_keeps_them,
    a_database_failure_reaches_the_client_as_our_sentence,
    refusals_have_codes_of_their_own_and_wondes_words
);

const RUN: &str = "query($id: ID!) { syncRun(id: $id) { status error warnings } }";
const REQUEST: &str = "mutation($i: RequestWondeAccessInput!) {
    requestWondeAccess(input: $i) { id connection { status } } }";

/// A school of the simulator connected through `connectWonde`, and a sync
/// engine on the server's database whose pages hold 10 records, so a
/// school of 30 students is three pages.
struct Connected {
    sim: SimHandle,
    app: TestApp,
    s: Scenario,
    wonde_id: String,
    school: school::Model,
    engine: SyncEngine,
}

impl Connected {
    async fn start(engine: &Engine, students: usize) -> anyhow::Result<Self> {
        let config = SimConfig { students_per_school: students, seed: 23, ..SimConfig::default() };
        let (sim, sim_school, app, s) = with_wonde(engine, config).await?;
        let school = connect_over_api(&app, &s, &sim_school).await?;
        let client = WondeClient::new(WondeConfig {
            base_url: Some(sim.base_url()),
            per_page: 10,
            retry: fast_retry(2, 20, Duration::from_secs(5)),
            ..WondeConfig::default()
        })?;
        let engine = SyncEngine {
            db: app.db().clone(),
            key: app.secret_key.clone(),
            events: app.events.clone(),
            client,
            guard_share: 0.5,
            worker: "test".to_owned(),
            clock: Default::default(),
        };
        Ok(Self { sim, app, s, wonde_id: sim_school.wonde_id, school, engine })
    }

    async fn sync(&self, kind: SyncKind) -> anyhow::Result<sync_run::Model> {
        Ok(self.engine.run_now(self.school.id, kind, false).await?)
    }

    /// The run as a client reads it.
    async fn read_run(&self, run: &sync_run::Model) -> anyhow::Result<Value> {
        let data =
            self.app.query(&self.s.trust_admin, RUN, json!({ "id": gid(NodeType::SyncRun, run.id) })).await?;
        Ok(data["syncRun"].clone())
    }

    fn fault(&self, endpoint: &str, kind: FaultKind, count: u32) -> FaultSpec {
        FaultSpec::new(endpoint, kind, count).for_school(&self.wonde_id)
    }

    /// Active students and guardians, and status-change events, at the school.
    async fn footprint(&self) -> anyhow::Result<(u64, u64, u64)> {
        let db = self.app.db();
        let students = count_at!(db, self.school.id, student, Status, AccountStatus::Active);
        let guardians = count_at!(db, self.school.id, guardian, Status, AccountStatus::Active);
        let events = event::Entity::find()
            .filter(event::Column::SchoolId.eq(self.school.id))
            .filter(event::Column::Kind.ne(EventKind::SyncProgress))
            .count(db)
            .await?;
        Ok((students, guardians, events))
    }

    async fn watermark(&self) -> anyhow::Result<Option<chrono::DateTime<chrono::Utc>>> {
        let connection = wonde_connection::Entity::find()
            .filter(wonde_connection::Column::SchoolId.eq(self.school.id))
            .one(self.app.db())
            .await?;
        Ok(connection.and_then(|c| c.watermark))
    }
}

fn error_body() -> FaultKind {
    FaultKind::OkErrorBody { message: "Something went wrong".to_owned() }
}

/// Issue 10: a last students page answering `200 {"error": ...}` made a
/// FULL run deactivate that page's students and their guardians.
async fn an_error_page_fails_a_full_run_and_deactivates_nobody(engine: Engine) -> anyhow::Result<()> {
    let world = Connected::start(&engine, 30).await?;
    let first = world.sync(SyncKind::Full).await?;
    assert_eq!(first.status, SyncStatus::Completed, "{:?}", first.error);
    let before = world.footprint().await?;
    assert_eq!(before.0, 30);

    // Every try of the last page (retries included) answers the error.
    world.sim.inject_fault(world.fault("students", error_body(), 100).on_page(3));
    let run = world.sync(SyncKind::Full).await?;
    let shown = world.read_run(&run).await?;
    assert_eq!(shown["status"], "FAILED", "{shown}");
    let error = shown["error"].as_str().unwrap_or_default();
    assert!(error.contains("nothing was changed"), "{error}");
    assert!(error.contains("students page 3") && error.contains("not whole"), "{error}");
    assert_eq!(world.footprint().await?, before, "nobody deactivated, no event");

    world.sim.clear_faults();
    let run = world.sync(SyncKind::Full).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    assert_eq!(world.footprint().await?, before);
    Ok(())
}

/// Issue 10: an INCREMENTAL run read an error page as "no changes" and moved
/// the watermark past changes it never received.
async fn an_error_page_leaves_the_incremental_watermark_where_it_was(engine: Engine) -> anyhow::Result<()> {
    let world = Connected::start(&engine, 20).await?;
    world.sync(SyncKind::Full).await?;
    let mark = world.watermark().await?;
    assert!(mark.is_some());
    let starter = world.sim.new_starter(&world.wonde_id, &NewStarter::default())?;
    let starter_known = || async {
        let found = count_at!(world.app.db(), world.school.id, student, WondeId, starter.id.as_str());
        anyhow::Ok(found == 1)
    };

    world.sim.inject_fault(world.fault("students", error_body(), 100));
    let run = world.sync(SyncKind::Incremental).await?;
    assert_eq!(run.kind, SyncKind::Incremental);
    assert_eq!(run.status, SyncStatus::Failed, "{:?}", run.error);
    assert_eq!(world.watermark().await?, mark, "the watermark did not move");
    assert!(!starter_known().await?);

    world.sim.clear_faults();
    let run = world.sync(SyncKind::Incremental).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    assert!(starter_known().await?, "the next clean run picks up the change");
    assert!(world.watermark().await? > mark);
    Ok(())
}

/// Issue 10: offset paging repeated a record on the next page, and the
/// school's FULL run failed on a unique key, every time.
async fn a_record_repeated_across_pages_is_taken_once_with_a_warning(engine: Engine) -> anyhow::Result<()> {
    let world = Connected::start(&engine, 30).await?;
    world.sim.inject_fault(world.fault("students", FaultKind::RepeatPrevious, 1).on_page(2));
    let run = world.sync(SyncKind::Full).await?;
    let shown = world.read_run(&run).await?;
    assert_eq!(shown["status"], "COMPLETED", "{shown}");
    assert_eq!(world.sim.pending_faults(), 0, "the repeat was served");

    let warnings = shown["warnings"].as_array().cloned().unwrap_or_default();
    assert_eq!(warnings.len(), 1, "{shown}");
    let warning = warnings[0].as_str().unwrap_or_default();
    let repeated = warning
        .strip_prefix("students: record ")
        .and_then(|rest| rest.strip_suffix(" appeared twice in one fetch and was taken once"))
        .ok_or_else(|| anyhow::anyhow!("unexpected warning {warning}"))?;
    let truth = world.sim.truth(&world.wonde_id)?;
    assert!(truth.students.iter().any(|s| s.id == repeated), "{repeated} is a student of the school");
    let copies = count_at!(world.app.db(), world.school.id, student, WondeId, repeated);
    assert_eq!(copies, 1);
    assert_eq!(world.footprint().await?.0, truth.students.len() as u64);

    // A run without repeats has no warnings.
    let run = world.sync(SyncKind::Full).await?;
    assert_eq!(world.read_run(&run).await?["warnings"], json!([]));
    Ok(())
}

/// Trial: page 1 said more records follow, then page 2 answered
/// `{"data":[]}` (with or without `more: false`). The FULL run completed and
/// deactivated the 58 pupils it never received, and their parents, under
/// the guard's share. A listing that ends before it said it would is no
/// evidence of absence; what it does say (a leaver record) still applies.
async fn a_page_that_comes_back_empty_after_more_was_promised_deactivates_nobody(
    engine: Engine,
) -> anyhow::Result<()> {
    let world = Connected::start(&engine, 30).await?;
    let first = world.sync(SyncKind::Full).await?;
    assert_eq!(first.status, SyncStatus::Completed, "{:?}", first.error);
    let truth = world.sim.truth(&world.wonde_id)?;
    assert_eq!(world.footprint().await?.0, 30);

    let leaver = truth.students[0].id.clone();
    world.sim.student_leaves(&world.wonde_id, &leaver, None)?;
    let ended = r#"{"data":[],"meta":{"pagination":{"next":null,"previous":null,"more":false,"per_page":10,"current_page":2}}}"#;
    for body in [r#"{"data":[]}"#, ended] {
        let mark = world.watermark().await?;
        let empty = FaultKind::RawBody { status: 200, body: body.to_owned() };
        world.sim.inject_fault(world.fault("students", empty, 1).on_page(2));
        let run = world.sync(SyncKind::Full).await?;
        let shown = world.read_run(&run).await?;
        assert_eq!(shown["status"], "COMPLETED", "{shown}");
        assert_eq!(world.sim.pending_faults(), 0, "the empty page was served");
        let warnings = shown["warnings"].to_string();
        assert!(warnings.contains("students: page 2 came back empty"), "{shown}");
        assert_eq!(student_status(&world, &leaver).await?, Some(AccountStatus::Deactivated));
        assert_eq!(world.watermark().await?, mark, "a listing cut short is no baseline");
        let after_fault = world.footprint().await?;
        assert_eq!(after_fault.0, 29, "only the leaver went, after {body}");

        // A whole answer changes nothing more: nobody was wrongly
        // deactivated (they would be reactivated now, with events), and
        // it is evidence again, so it moves the watermark.
        let run = world.sync(SyncKind::Full).await?;
        assert_eq!(world.read_run(&run).await?["warnings"], json!([]));
        assert_eq!(world.footprint().await?, after_fault, "after {body}");
        assert!(world.watermark().await? > mark);
    }
    Ok(())
}

/// The same fault in an INCREMENTAL run: the changes on the page that came
/// back empty were never received, so the watermark must not pass them.
async fn an_incremental_listing_that_ends_early_leaves_the_watermark(engine: Engine) -> anyhow::Result<()> {
    let world = Connected::start(&engine, 20).await?;
    world.sync(SyncKind::Full).await?;
    let mark = world.watermark().await?;
    let starters: Vec<String> = (0..15)
        .map(|_| world.sim.new_starter(&world.wonde_id, &NewStarter::default()).map(|s| s.id))
        .collect::<Result<_, _>>()?;

    let empty = FaultKind::RawBody { status: 200, body: r#"{"data":[]}"#.to_owned() };
    world.sim.inject_fault(world.fault("students", empty, 1).on_page(2));
    let run = world.sync(SyncKind::Incremental).await?;
    assert_eq!(run.kind, SyncKind::Incremental);
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    assert_eq!(world.sim.pending_faults(), 0, "the empty page was served");
    assert_eq!(world.watermark().await?, mark, "the watermark did not pass what page 2 held");

    let run = world.sync(SyncKind::Incremental).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    for id in &starters {
        assert_eq!(student_status(&world, id).await?, Some(AccountStatus::Active), "{id}");
    }
    assert!(world.watermark().await? > mark);
    Ok(())
}

/// Trial: one pupil's leaving date typed `2026-13-45` in the MIS failed
/// every FULL and INCREMENTAL run of the school ("not a recognisable
/// date"), so a real leaver kept access until the MIS was fixed. A record
/// that cannot be read is left as it is, and nobody missing from its
/// listing is taken for gone; everything else applies.
async fn a_record_that_cannot_be_read_holds_back_nobody_else(engine: Engine) -> anyhow::Result<()> {
    let world = Connected::start(&engine, 30).await?;
    world.sync(SyncKind::Full).await?;
    let truth = world.sim.truth(&world.wonde_id)?;
    let (broken, leavers) = (truth.students[3].id.clone(), [&truth.students[0].id, &truth.students[1].id]);
    let bad_date = |value: Value| leaving_date(&broken, value);
    world.sim.patch_record(&world.wonde_id, bad_date(json!("2026-13-45")))?;

    for (leaver, kind) in leavers.into_iter().zip([SyncKind::Full, SyncKind::Incremental]) {
        let mark = world.watermark().await?;
        world.sim.student_leaves(&world.wonde_id, leaver, None)?;
        let run = world.sync(kind).await?;
        let shown = world.read_run(&run).await?;
        assert_eq!(shown["status"], "COMPLETED", "{kind:?}: {shown}");
        assert_eq!(student_status(&world, leaver).await?, Some(AccountStatus::Deactivated), "{kind:?}");
        assert_eq!(student_status(&world, &broken).await?, Some(AccountStatus::Active), "{kind:?}");
        if kind == SyncKind::Full {
            // The record was unchanged since, so the INCREMENTAL answer
            // does not hold it: only the FULL one is not whole.
            let warnings = shown["warnings"].to_string();
            let said = format!("record {broken} could not be read (education_details.data.leaving_date");
            assert!(warnings.contains(&said), "{shown}");
            assert!(!warnings.contains("2026-13-45"), "values stay out of warnings: {shown}");
            assert_eq!(world.watermark().await?, mark, "the unread record is asked for again");
        }
    }
    assert_eq!(world.footprint().await?.0, 28, "only the two leavers went");

    // Fixed in the MIS, the record is read again and the run is whole.
    world.sim.patch_record(&world.wonde_id, bad_date(Value::Null))?;
    let run = world.sync(SyncKind::Full).await?;
    assert_eq!(world.read_run(&run).await?["warnings"], json!([]));
    assert_eq!(world.footprint().await?.0, 28);

    // Trial: one unreadable member of staff kept every pupil who left by
    // vanishing (no leaver record) inside: only the staff listing is in
    // doubt, and pupils' absence still counts.
    let staff = truth.employees.first().map(|e| e.id.clone()).context("a member of staff")?;
    let bad_staff = PatchRequest {
        kind: "employee".into(),
        id: staff,
        path: "created_at".into(),
        value: json!("2026-13-45 00:00:00"),
    };
    world.sim.patch_record(&world.wonde_id, bad_staff)?;
    let vanished = truth.students[5].id.clone();
    world.sim.delete_student(&world.wonde_id, &vanished)?;
    let run = world.sync(SyncKind::Full).await?;
    let shown = world.read_run(&run).await?;
    assert_eq!(shown["status"], "COMPLETED", "{shown}");
    assert!(shown["warnings"].to_string().contains("staff page"), "{shown}");
    assert_eq!(student_status(&world, &vanished).await?, Some(AccountStatus::Deactivated), "{shown}");
    Ok(())
}

const FINDINGS: &str = "query($school: ID!) { dataQuality(schoolId: $school) { edges { node {
    kind detail detectedAt syncRun { id } students { wondeId } sourceIds } } } }";

/// A record nobody fixes kept every pupil who left by vanishing inside,
/// said only in each run's warnings. It is a finding for the school office
/// that names the record and the pupils kept for want of a whole listing,
/// until the record can be read.
async fn an_unreadable_record_is_a_finding_naming_whom_it_keeps(engine: Engine) -> anyhow::Result<()> {
    let world = Connected::start(&engine, 30).await?;
    world.sync(SyncKind::Full).await?;
    let truth = world.sim.truth(&world.wonde_id)?;
    let (broken, vanished) = (truth.students[3].id.clone(), truth.students[5].id.clone());
    let bad_date = |value: Value| leaving_date(&broken, value);
    world.sim.patch_record(&world.wonde_id, bad_date(json!("2026-13-45")))?;
    world.sim.delete_student(&world.wonde_id, &vanished)?;
    let school = json!({ "school": gid(NodeType::School, world.school.id) });
    let unreadable = |data: Value| -> Vec<Value> {
        let edges = data["dataQuality"]["edges"].as_array().cloned().unwrap_or_default();
        edges.into_iter().map(|e| e["node"].clone()).filter(|n| n["kind"] == "UNREADABLE_RECORD").collect()
    };

    let findings = || async {
        anyhow::Ok(unreadable(world.app.query(&world.s.trust_admin, FINDINGS, school.clone()).await?))
    };
    let wonde_ids = |finding: &Value| -> std::collections::BTreeSet<String> {
        let students = finding["students"].as_array().cloned().unwrap_or_default();
        students.iter().filter_map(|s| s["wondeId"].as_str().map(str::to_owned)).collect()
    };

    let first = world.sync(SyncKind::Full).await?;
    assert_eq!(first.status, SyncStatus::Completed, "{:?}", first.error);
    assert_eq!(student_status(&world, &vanished).await?, Some(AccountStatus::Active), "kept");
    let found = findings().await?;
    assert_eq!(found.len(), 1, "one finding for the listing: {found:?}");
    let finding = found[0].clone();
    assert_eq!(finding["sourceIds"], json!([broken]));
    assert_eq!(wonde_ids(&finding), [broken.clone(), vanished.clone()].into_iter().collect(), "{finding}");
    assert_eq!(finding["syncRun"]["id"], json!(gid(NodeType::SyncRun, first.id)));
    let detail = finding["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("students listing holds 1 record"), "{detail}");
    assert!(detail.contains("education_details.data.leaving_date"), "{detail}");
    assert!(detail.contains("1 active pupil missing from it is kept"), "{detail}");
    assert!(!detail.contains("2026-13-45"), "values stay out: {detail}");

    // Trial: the next INCREMENTAL run, which asks only for changes and so
    // never meets the record, deleted the finding until the next FULL run.
    let run = world.sync(SyncKind::Incremental).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    let found = findings().await?;
    assert_eq!(found.len(), 1, "kept as the FULL run left it: {found:?}");
    let same = |f: &Value| (f["detectedAt"].clone(), f["syncRun"].clone(), f["sourceIds"].clone());
    assert_eq!(same(&found[0]), same(&finding));
    // The deletions feed said the vanished pupil was deleted: that is
    // evidence of its own, and an INCREMENTAL run applies it.
    assert_eq!(student_status(&world, &vanished).await?, Some(AccountStatus::Deactivated));

    // Trial: another pupil vanishing restarted the finding (its key was
    // every account it named): it is one finding while the listing lasts.
    let also = truth.students[7].id.clone();
    world.sim.delete_student(&world.wonde_id, &also)?;
    let run = world.sync(SyncKind::Full).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    let found = findings().await?;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(same(&found[0]), same(&finding));
    assert_eq!(
        wonde_ids(&found[0]),
        [broken.clone(), also.clone()].into_iter().collect(),
        "active ones only"
    );
    assert!(
        found[0]["detail"].as_str().unwrap_or_default().contains("1 active pupil missing from it is kept")
    );

    // Fixed in the MIS: the listing is whole, the vanished pupil goes and
    // the finding with them.
    world.sim.patch_record(&world.wonde_id, bad_date(Value::Null))?;
    let run = world.sync(SyncKind::Full).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    for gone in [&vanished, &also] {
        assert_eq!(student_status(&world, gone).await?, Some(AccountStatus::Deactivated));
    }
    let found = findings().await?;
    assert!(found.is_empty(), "{found:?}");
    Ok(())
}

/// Trial: a finding kept from the last fetch (an unreadable record, a
/// repeat) kept an erased leaver's Wonde id in its source ids and detail,
/// though the erasure blanked it everywhere else.
async fn an_erased_leaver_leaves_no_wonde_id_in_findings(engine: Engine) -> anyhow::Result<()> {
    let world = Connected::start(&engine, 20).await?;
    world.sync(SyncKind::Full).await?;
    let truth = world.sim.truth(&world.wonde_id)?;
    let (erased, other) = (truth.students[2].id.clone(), truth.students[4].id.clone());
    for leaver in [&erased, &other] {
        world.sim.student_leaves(&world.wonde_id, leaver, None)?;
    }
    world.sync(SyncKind::Full).await?;
    for leaver in [&erased, &other] {
        assert_eq!(student_status(&world, leaver).await?, Some(AccountStatus::Deactivated));
        world.sim.patch_record(&world.wonde_id, leaving_date(leaver, json!("2026-13-45")))?;
    }
    let run = world.sync(SyncKind::Full).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    let school = json!({ "school": gid(NodeType::School, world.school.id) });
    let before = world.app.query(&world.s.trust_admin, FINDINGS, school.clone()).await?;
    assert!(before.to_string().contains(&erased), "the leavers listing's records are a finding: {before}");
    assert!(world.read_run(&run).await?["warnings"].to_string().contains(&erased));

    let id = student::Entity::find()
        .filter(student::Column::SchoolId.eq(world.school.id))
        .filter(student::Column::WondeId.eq(erased.as_str()))
        .one(world.app.db())
        .await?
        .context("the leaver's account")?
        .id;
    let erase = "mutation($p: ID!) { erasePerson(personId: $p, reason: SUBJECT_REQUEST) { erased } }";
    world.app.query(&world.s.trust_admin, erase, json!({ "p": gid(NodeType::Student, id) })).await?;
    let after = world.app.query(&world.s.trust_admin, FINDINGS, school).await?;
    assert!(!after.to_string().contains(&erased), "{after}");
    // Trial: the whole finding went, and the other leaver's broken record
    // with it; it stays for what it still names.
    let edges = after["dataQuality"]["edges"].as_array().cloned().unwrap_or_default();
    let kept: Vec<&Value> =
        edges.iter().map(|e| &e["node"]).filter(|n| n["kind"] == "UNREADABLE_RECORD").collect();
    assert_eq!(kept.len(), 1, "{after}");
    assert_eq!(kept[0]["sourceIds"], json!([other]), "{after}");
    assert!(kept[0]["detail"].as_str().unwrap_or_default().contains("(an erased record)"), "{after}");
    // Trial: the run's warnings named the erased leaver too.
    let warnings = world.read_run(&run).await?["warnings"].to_string();
    assert!(!warnings.contains(&erased) && warnings.contains(&other), "{warnings}");
    Ok(())
}

/// Trial: page 1 of students said `more: true` but gave no `next` link;
/// the run took it for the whole listing and deactivated the pupils the
/// missing pages held.
async fn a_page_that_says_more_but_links_to_none_deactivates_nobody(engine: Engine) -> anyhow::Result<()> {
    let world = Connected::start(&engine, 30).await?;
    world.sync(SyncKind::Full).await?;
    let truth = world.sim.truth(&world.wonde_id)?;
    let kept = &truth.students[12];
    let record =
        json!({ "id": kept.id, "upi": kept.upi, "forename": kept.forename, "surname": kept.surname });
    let body =
        json!({ "data": [record], "meta": { "pagination": { "next": null, "more": true, "per_page": 10 } } });
    let cut = FaultKind::RawBody { status: 200, body: body.to_string() };
    world.sim.inject_fault(world.fault("students", cut, 1).on_page(2));
    let run = world.sync(SyncKind::Full).await?;
    let shown = world.read_run(&run).await?;
    assert_eq!(shown["status"], "COMPLETED", "{shown}");
    assert_eq!(world.sim.pending_faults(), 0, "the page was served");
    assert!(shown["warnings"].to_string().contains("students: page 2 said more records follow"), "{shown}");
    assert_eq!(world.footprint().await?.0, 30, "nobody on the pages never fetched was taken for gone");
    Ok(())
}

/// Trial: after a change of MIS, one parent's new record could not be
/// read; the run read the whole school, ended the link her child's record
/// gave (to an id it could not place) and deactivated her
/// (NO_ACTIVE_CHILDREN) while her child was on roll.
async fn an_unreadable_parent_after_a_change_of_mis_keeps_their_child(engine: Engine) -> anyhow::Result<()> {
    let world = Connected::start(&engine, 20).await?;
    world.sync(SyncKind::Full).await?;
    let before = world.footprint().await?;
    world.sim.migrate_mis(&world.wonde_id, MisMigration { new_upis: true })?;
    let truth = world.sim.truth(&world.wonde_id)?;
    let parent = truth.links.first().map(|l| l.contact_id.clone()).context("a linked contact")?;
    let bad = PatchRequest {
        kind: "contact".into(),
        id: parent.clone(),
        path: "updated_at".into(),
        value: json!("2026-13-45 00:00:00"),
    };
    world.sim.patch_record(&world.wonde_id, bad)?;
    for kind in [SyncKind::Incremental, SyncKind::Full] {
        let run = world.sync(kind).await?;
        let shown = world.read_run(&run).await?;
        assert_eq!(shown["status"], "COMPLETED", "{kind:?}: {shown}");
        assert!(
            shown["warnings"].to_string().contains(&format!("record {parent} could not be read")),
            "{shown}"
        );
        assert_eq!(world.footprint().await?, before, "{kind:?}: nobody deactivated, no event");
    }
    Ok(())
}

/// Trial: a pupil's record without its `contacts` include (or with the
/// contacts as bare ids) ended both of the pupil's links, and the parents,
/// still in the contacts listing with their child on roll, were
/// deactivated (NO_ACTIVE_CHILDREN), with no warning.
async fn a_pupil_whose_contacts_are_not_listed_keeps_their_parents(engine: Engine) -> anyhow::Result<()> {
    let world = Connected::start(&engine, 20).await?;
    world.sync(SyncKind::Full).await?;
    let before = world.footprint().await?;
    let links_before = count_at!(world.app.db(), world.school.id, entity::guardian_link, Active, true);
    let truth = world.sim.truth(&world.wonde_id)?;
    let pupil = truth.links.first().map(|l| l.student_id.clone()).context("a linked pupil")?;
    let parents: Vec<&str> =
        truth.links.iter().filter(|l| l.student_id == pupil).map(|l| l.contact_id.as_str()).collect();
    for value in [json!({ "$remove": true }), json!({ "data": parents })] {
        let patch = PatchRequest {
            kind: "student".into(),
            id: pupil.clone(),
            path: "contacts".into(),
            value: value.clone(),
        };
        world.sim.patch_record(&world.wonde_id, patch)?;
        let run = world.sync(SyncKind::Full).await?;
        let shown = world.read_run(&run).await?;
        assert_eq!(shown["status"], "COMPLETED", "{value}: {shown}");
        assert!(shown["warnings"].to_string().contains("did not list their contacts in full"), "{shown}");
        assert_eq!(world.footprint().await?, before, "{value}: nobody deactivated, no event");
        let links = count_at!(world.app.db(), world.school.id, entity::guardian_link, Active, true);
        assert_eq!(links, links_before, "{value}: the pupil's links stay");
    }
    Ok(())
}

/// Trial: a class record that could not be read (no `id`) was left as it
/// was, but all 12 of its memberships ended; a form's record without its
/// `students` include ended all of the form's memberships, with no
/// warning. Both took 18 parents out of the group's parent group.
async fn a_group_left_out_or_without_its_members_keeps_them(engine: Engine) -> anyhow::Result<()> {
    let world = Connected::start(&engine, 20).await?;
    world.sync(SyncKind::Full).await?;
    let memberships = || async {
        let db = world.app.db();
        let classes = count_at!(db, world.school.id, entity::class_student, Active, true);
        let forms = count_at!(db, world.school.id, entity::form_student, Active, true);
        let teachers = count_at!(db, world.school.id, entity::class_teacher, Active, true);
        anyhow::Ok((classes, forms, teachers))
    };
    let before = memberships().await?;
    assert!(before.0 > 0 && before.1 > 0, "{before:?}");
    let truth = world.sim.truth(&world.wonde_id)?;
    let class = truth.classes.first().map(|c| c.id.clone()).context("a class")?;
    let form = truth
        .groups
        .iter()
        .find(|g| matches!(g.kind, wonde_sim::GroupKind::Registration))
        .map(|g| g.id.clone())
        .context("a form group")?;
    let patch = |kind: &str, id: &str, path: &str, value: Value| PatchRequest {
        kind: kind.into(),
        id: id.to_owned(),
        path: path.into(),
        value,
    };
    let cases = [
        patch("class", &class, "id", json!({ "$remove": true })),
        patch("class", &class, "students", json!({ "$remove": true })),
        patch("group", &form, "students", json!({ "$remove": true })),
    ];
    for (i, broken) in cases.into_iter().enumerate() {
        world.sim.patch_record(&world.wonde_id, broken)?;
        let run = world.sync(SyncKind::Full).await?;
        let shown = world.read_run(&run).await?;
        assert_eq!(shown["status"], "COMPLETED", "case {i}: {shown}");
        assert_eq!(memberships().await?, before, "case {i}: every membership stays: {shown}");
        if i == 0 {
            assert!(shown["warnings"].to_string().contains("could not be read"), "{shown}");
            // Readable again: the class is judged again, and nothing changed.
            world.sim.patch_record(&world.wonde_id, patch("class", &class, "id", json!(class)))?;
            world.sync(SyncKind::Full).await?;
            assert_eq!(memberships().await?, before);
        }
    }
    Ok(())
}

/// A patch of a pupil's leaving date (`json!("2026-13-45")` makes the
/// record unreadable; `Value::Null` mends it).
fn leaving_date(student: &str, value: Value) -> PatchRequest {
    PatchRequest {
        kind: "student".into(),
        id: student.to_owned(),
        path: "education_details.data.leaving_date".into(),
        value,
    }
}

async fn student_status(world: &Connected, wonde_id: &str) -> anyhow::Result<Option<AccountStatus>> {
    let found = student::Entity::find()
        .filter(student::Column::SchoolId.eq(world.school.id))
        .filter(student::Column::WondeId.eq(wonde_id))
        .one(world.app.db())
        .await?;
    Ok(found.map(|s| s.status))
}

/// Item 2: a database failure during a run is told as our sentence, naming
/// the run; the driver's text stays in the log.
async fn a_database_failure_reaches_the_client_as_our_sentence(engine: Engine) -> anyhow::Result<()> {
    let world = Connected::start(&engine, 10).await?;
    // The reconciliation's first write finds no table: a database failure
    // the run cannot avoid, on either engine.
    world.app.db().execute_unprepared("ALTER TABLE student RENAME TO student_elsewhere").await?;
    let run = world.sync(SyncKind::Full).await?;
    let shown = world.read_run(&run).await?;
    assert_eq!(shown["status"], "FAILED", "{shown}");
    let error = shown["error"].as_str().unwrap_or_default();
    assert_eq!(
        error,
        format!(
            "the directory's database failed during the run; nothing was changed; the log has the details (run {})",
            run.id
        )
    );
    for internal in [
        "student_elsewhere",
        "no such table",
        "relation",
        "UNIQUE",
        "constraint",
        "database is locked",
        "sqlx",
        "SQLSTATE",
        "pool",
        "Query Error",
        "Exec",
    ] {
        assert!(!error.contains(internal), "{internal:?} in {error}");
    }
    Ok(())
}

fn request(trust: &str, wonde_id: &str, again: bool) -> Value {
    json!({ "i": {
        "trustId": trust, "wondeSchoolId": wonde_id, "revokeAndRerequest": again,
        "contact": { "firstName": "Ann", "lastName": "Lee", "email": "ann@trust.example" }
    } })
}

/// The code and message of a refused mutation.
async fn refused(app: &TestApp, token: &str, query: &str, vars: Value) -> anyhow::Result<(String, String)> {
    let (status, body) = app.post(Some(token), query, vars).await?;
    anyhow::ensure!(status == 200, "HTTP {status}: {body}");
    let error = &body["errors"][0];
    Ok((
        error["extensions"]["code"].as_str().unwrap_or("none").to_owned(),
        error["message"].as_str().unwrap_or_default().to_owned(),
    ))
}

/// Issue 10: Wonde answers an approved school's request-access with 400
/// "already approved", which read as WONDE_UNAVAILABLE, "could not be
/// reached". Each answer now gets its own code, and only a missing answer
/// is "could not be reached".
async fn refusals_have_codes_of_their_own_and_wondes_words(engine: Engine) -> anyhow::Result<()> {
    let (sim, app, s) = with_app_token(&engine).await?;
    let trust = gid(NodeType::Trust, s.trust.id);
    let outside: Vec<_> = sim.catalog().into_iter().filter(|c| !c.in_trust).collect();
    let (approved, target) = match outside.as_slice() {
        [a, b, ..] => (a.wonde_id.clone(), b.wonde_id.clone()),
        _ => anyhow::bail!("catalog too small"),
    };
    let schools = || school::Entity::find().count(app.db());
    let schools_before = schools().await?;

    sim.set_access(&approved, AccessState::Approved)?;
    let (code, message) = refused(&app, &s.trust_admin, REQUEST, request(&trust, &approved, false)).await?;
    assert_eq!(code, "WONDE_ALREADY_APPROVED", "{message}");
    assert!(!message.contains("could not be reached"), "{message}");
    let again = app.query(&s.trust_admin, REQUEST, request(&trust, &approved, true)).await?;
    assert_eq!(again["requestWondeAccess"]["connection"]["status"], "PENDING");
    let schools_after_approval = schools().await?;
    assert_eq!(schools_after_approval, schools_before + 1);

    // Another refusal, in Wonde's words, without the token in them.
    let words = format!("The contact email is not accepted for key {}", sim.app_token());
    sim.inject_fault(FaultSpec::new(
        "request-access",
        FaultKind::StatusWithBody { status: 422, message: words },
        1,
    ));
    let (code, message) = refused(&app, &s.trust_admin, REQUEST, request(&trust, &target, false)).await?;
    assert_eq!(code, "WONDE_REFUSED", "{message}");
    assert!(message.contains("The contact email is not accepted"), "{message}");
    assert!(!message.contains(&sim.app_token()), "{message}");

    // Wonde failing is not Wonde unreachable.
    let failing = FaultKind::StatusWithBody { status: 503, message: "Down for maintenance".to_owned() };
    sim.inject_fault(FaultSpec::new("request-access", failing.clone(), 100));
    let (code, message) = refused(&app, &s.trust_admin, REQUEST, request(&trust, &target, false)).await?;
    assert_eq!(code, "WONDE_UNAVAILABLE");
    assert!(message.contains("failing") && !message.contains("could not be reached"), "{message}");
    sim.clear_faults();
    sim.inject_fault(FaultSpec::new("request-access", FaultKind::Drop, 100));
    let (code, message) = refused(&app, &s.trust_admin, REQUEST, request(&trust, &target, false)).await?;
    assert_eq!(code, "WONDE_UNAVAILABLE");
    assert!(message.contains("could not be reached"), "{message}");
    sim.clear_faults();

    // connectWonde tells the same apart.
    let sim_school = sim.schools().into_iter().next().ok_or_else(|| anyhow::anyhow!("no school"))?;
    let connect = json!({ "i": { "trustId": trust, "wondeSchoolId": sim_school.wonde_id, "apiToken": sim_school.token } });
    let refusal = FaultKind::StatusWithBody { status: 400, message: "School is being migrated".to_owned() };
    sim.inject_fault(FaultSpec::new("school", refusal, 1));
    let (code, message) = refused(&app, &s.trust_admin, CONNECT_WONDE, connect.clone()).await?;
    assert_eq!(code, "WONDE_REFUSED");
    assert!(
        message.contains("School is being migrated") && !message.contains(&sim_school.token),
        "{message}"
    );
    sim.inject_fault(FaultSpec::new("school", failing, 100));
    let (code, message) = refused(&app, &s.trust_admin, CONNECT_WONDE, connect).await?;
    assert_eq!(code, "WONDE_UNAVAILABLE");
    assert!(message.contains("failing") && !message.contains("could not be reached"), "{message}");
    assert_eq!(schools().await?, schools_after_approval, "refusals record nothing");
    Ok(())
}
