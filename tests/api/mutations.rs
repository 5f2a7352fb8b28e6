//! The control-plane mutations built so far: each refusal (role, scope, bad
//! input) changes nothing; each success does what it says.

use entity::enums::{AccountStatus, ConnectionStatus, DeactivationReason, EventKind, SyncStatus};
use entity::{event, school, student, sync_run, wonde_connection};
use onroll::graphql::ids::NodeType;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

use crate::count_at;
use crate::on_both_engines;
use crate::support::fixture::gid;
use crate::support::rows::connection_of;
use crate::support::{Engine, TestApp};

on_both_engines!(
    trigger_and_cancel,
    trigger_full_upgrades_a_queued_run_only,
    sync_options,
    disconnect_with_and_without_deactivation,
    connect_wonde,
    create_school
);

async fn code(app: &TestApp, token: &str, query: &str, vars: serde_json::Value) -> anyhow::Result<String> {
    let (status, body) = app.post(Some(token), query, vars).await?;
    anyhow::ensure!(status == 200, "HTTP {status}: {body}");
    Ok(body["errors"][0]["extensions"]["code"].as_str().unwrap_or("none").to_owned())
}

async fn runs_of(app: &TestApp, school: i32) -> anyhow::Result<u64> {
    Ok(sync_run::Entity::find().filter(sync_run::Column::SchoolId.eq(school)).count(app.db()).await?)
}

const TRIGGER: &str = "mutation($s: ID!, $force: Boolean) { triggerSync(schoolId: $s, kind: FULL, force: $force) { id status kind } }";

async fn trigger_and_cancel(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let a = gid(NodeType::School, s.school_a.id);
    let before = runs_of(&app, s.school_a.id).await?;
    // Refusals: integrators, another school's admin, a school not connected.
    assert_eq!(code(&app, &s.integrator, TRIGGER, json!({ "s": a })).await?, "FORBIDDEN");
    let b = gid(NodeType::School, s.school_b.id);
    assert_eq!(code(&app, &s.school_a_admin, TRIGGER, json!({ "s": b })).await?, "NOT_FOUND");
    assert_eq!(code(&app, &s.trust_admin, TRIGGER, json!({ "s": b })).await?, "BAD_USER_INPUT");
    assert_eq!(code(&app, &s.trust_admin, TRIGGER, json!({ "s": "nonsense" })).await?, "BAD_USER_INPUT");
    assert_eq!(runs_of(&app, s.school_a.id).await?, before, "refusals queue nothing");

    let first = app.query(&s.school_a_admin, TRIGGER, json!({ "s": a })).await?;
    assert_eq!(first["triggerSync"]["status"], "QUEUED");
    let second = app.query(&s.trust_admin, TRIGGER, json!({ "s": a, "force": true })).await?;
    assert_eq!(second["triggerSync"]["id"], first["triggerSync"]["id"], "the queued run is returned");
    assert_eq!(runs_of(&app, s.school_a.id).await?, before + 1);

    let cancel = "mutation($r: ID!) { cancelSync(runId: $r) { id status } }";
    let run = first["triggerSync"]["id"].clone();
    assert_eq!(code(&app, &s.integrator, cancel, json!({ "r": run })).await?, "FORBIDDEN");
    let outsider = s.other_admin.clone();
    assert_eq!(code(&app, &outsider, cancel, json!({ "r": run })).await?, "NOT_FOUND");
    assert_eq!(code(&app, &s.trust_admin, cancel, json!({ "r": "nonsense" })).await?, "BAD_USER_INPUT");
    let still = count_at!(app.db(), s.school_a.id, sync_run, Status, SyncStatus::Queued);
    assert_eq!(still, 1, "refused cancels leave the run queued");
    let cancelled = app.query(&s.trust_admin, cancel, json!({ "r": run })).await?;
    assert_eq!(cancelled["cancelSync"]["status"], "CANCELLED");
    let stored = count_at!(app.db(), s.school_a.id, sync_run, Status, SyncStatus::Cancelled);
    assert_eq!(stored, 1);
    Ok(())
}

const TRIGGER_KIND: &str = "mutation($s: ID!, $k: SyncKind, $force: Boolean) {
    triggerSync(schoolId: $s, kind: $k, force: $force) { id status kind } }";

async fn stored_run(app: &TestApp, id: i32) -> anyhow::Result<sync_run::Model> {
    sync_run::Entity::find_by_id(id).one(app.db()).await?.ok_or_else(|| anyhow::anyhow!("run {id}"))
}

/// Asking for FULL (or force) while a lesser run is queued makes that run
/// FULL (or forced) rather than dropping the request; a running run and a
/// CSV run are returned as they are.
async fn trigger_full_upgrades_a_queued_run_only(engine: Engine) -> anyhow::Result<()> {
    use entity::enums::SyncKind as Kind;
    use onroll::sync::runs;
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let a = gid(NodeType::School, s.school_a.id);
    let trigger = |kind: &str, force: bool| json!({ "s": a, "k": kind, "force": force });
    let admin = &s.trust_admin;
    let before = runs_of(&app, s.school_a.id).await?;

    // A queued INCREMENTAL run becomes FULL, and stays FULL.
    let queued = app.query(admin, TRIGGER_KIND, trigger("INCREMENTAL", false)).await?;
    let queued = &queued["triggerSync"];
    assert_eq!((&queued["status"], &queued["kind"]), (&json!("QUEUED"), &json!("INCREMENTAL")));
    let full = app.query(admin, TRIGGER_KIND, trigger("FULL", false)).await?;
    assert_eq!(full["triggerSync"]["id"], queued["id"], "the queued run is returned");
    assert_eq!(full["triggerSync"]["kind"], "FULL", "made FULL");
    let id = onroll::graphql::ids::decode_as(queued["id"].as_str().unwrap_or_default(), NodeType::SyncRun)?;
    let run = stored_run(&app, id).await?;
    assert_eq!((run.kind, run.status, run.force), (Kind::Full, SyncStatus::Queued, false));
    // A lesser kind never downgrades it; force is OR-ed in.
    let forced = app.query(admin, TRIGGER_KIND, trigger("INCREMENTAL", true)).await?;
    assert_eq!(
        (&forced["triggerSync"]["id"], &forced["triggerSync"]["kind"]),
        (&queued["id"], &json!("FULL"))
    );
    let run = stored_run(&app, id).await?;
    assert_eq!((run.kind, run.force), (Kind::Full, true));
    app.query(admin, TRIGGER_KIND, trigger("FULL", false)).await?;
    assert!(stored_run(&app, id).await?.force, "force is never taken back");
    assert_eq!(runs_of(&app, s.school_a.id).await?, before + 1, "one run throughout");
    runs::cancel(app.db(), id).await?;

    // A queued WEBHOOK run is upgraded too.
    let (webhook, _) = runs::enqueue(app.db(), s.school_a.id, Kind::Webhook, false).await?;
    let full = app.query(admin, TRIGGER_KIND, trigger("FULL", false)).await?;
    assert_eq!(full["triggerSync"]["kind"], "FULL");
    assert_eq!(stored_run(&app, webhook.id).await?.kind, Kind::Full);
    runs::cancel(app.db(), webhook.id).await?;

    // A running INCREMENTAL run is returned as it runs: its kind tells the admin.
    let (incremental, _) = runs::enqueue(app.db(), s.school_a.id, Kind::Incremental, false).await?;
    runs::claim(app.db(), incremental.id, "busy-worker").await?.ok_or_else(|| anyhow::anyhow!("claim"))?;
    let running = app.query(admin, TRIGGER_KIND, trigger("FULL", true)).await?;
    let running = &running["triggerSync"];
    assert_eq!((&running["status"], &running["kind"]), (&json!("RUNNING"), &json!("INCREMENTAL")));
    let run = stored_run(&app, incremental.id).await?;
    assert_eq!((run.kind, run.force), (Kind::Incremental, false));
    runs::cancel(app.db(), incremental.id).await?;

    // A CSV run is never changed, even queued.
    let (csv, _) = runs::enqueue(app.db(), s.school_a.id, Kind::Csv, false).await?;
    let returned = app.query(admin, TRIGGER_KIND, trigger("FULL", true)).await?;
    assert_eq!(returned["triggerSync"]["kind"], "CSV");
    let run = stored_run(&app, csv.id).await?;
    assert_eq!((run.kind, run.status, run.force), (Kind::Csv, SyncStatus::Queued, false));
    Ok(())
}

async fn sync_options(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let a = gid(NodeType::School, s.school_a.id);
    let update = "mutation($s: ID!, $o: SyncOptionsInput!) { updateSyncOptions(schoolId: $s, options: $o) {
        connection { options { students staff guardians classes yearGroups formGroups } } } }";
    let bad = json!({ "s": a, "o": { "students": false } });
    assert_eq!(code(&app, &s.trust_admin, update, bad).await?, "BAD_USER_INPUT");
    assert_eq!(
        code(&app, &s.integrator, update, json!({ "s": a, "o": { "staff": false } })).await?,
        "FORBIDDEN"
    );
    let connection = connection_of(app.db(), s.school_a.id).await?;
    assert!(
        connection.sync_students && connection.sync_guardians && connection.sync_staff,
        "refusals change nothing"
    );

    let data = app
        .query(&s.school_a_admin, update, json!({ "s": a, "o": { "staff": false, "formGroups": true } }))
        .await?;
    let options = &data["updateSyncOptions"]["connection"]["options"];
    assert_eq!(options["staff"], false);
    assert_eq!(options["formGroups"], true);
    assert_eq!(options["students"], true);
    // Turning a type off deactivates nobody.
    assert_eq!(event::Entity::find().count(app.db()).await?, 1, "only the scenario's own event");
    Ok(())
}

async fn disconnect_with_and_without_deactivation(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let a = gid(NodeType::School, s.school_a.id);
    let disconnect =
        "mutation($s: ID!, $d: Boolean) { disconnectWonde(schoolId: $s, deactivateAccounts: $d) {
        connection { status } } }";
    assert_eq!(code(&app, &s.integrator, disconnect, json!({ "s": a, "d": true })).await?, "FORBIDDEN");
    let active = |app: &TestApp| {
        let db = app.db().clone();
        let school = s.school_a.id;
        async move {
            student::Entity::find()
                .filter(student::Column::SchoolId.eq(school))
                .filter(student::Column::Status.eq(AccountStatus::Active))
                .count(&db)
                .await
        }
    };
    assert_eq!(active(&app).await?, 2);

    let data = app.query(&s.trust_admin, disconnect, json!({ "s": a, "d": true })).await?;
    assert_eq!(data["disconnectWonde"]["connection"]["status"], "DISCONNECTED");
    let connection = connection_of(app.db(), s.school_a.id).await?;
    assert_eq!(connection.status, ConnectionStatus::Disconnected);
    assert!(connection.token_ciphertext.is_none(), "the token is forgotten");
    assert_eq!(active(&app).await?, 0);
    let amy =
        student::Entity::find_by_id(s.ann_a.id).one(app.db()).await?.ok_or_else(|| anyhow::anyhow!("Amy"))?;
    assert_eq!(amy.deactivation_reason, Some(DeactivationReason::SchoolDisconnected));
    // One event per deactivated account: Amy, Ben, three guardians, one teacher.
    let events = event::Entity::find()
        .filter(event::Column::Kind.eq(EventKind::Deactivated))
        .filter(event::Column::Reason.eq(DeactivationReason::SchoolDisconnected))
        .count(app.db())
        .await?;
    assert_eq!(events, 6);
    // School B is untouched.
    let b_active = count_at!(app.db(), s.school_b.id, student, Status, AccountStatus::Active);
    assert_eq!(b_active, 1);
    Ok(())
}

async fn connect_wonde(engine: Engine) -> anyhow::Result<()> {
    use entity::school;
    let config = wonde_sim::SimConfig { students_per_school: 10, ..wonde_sim::SimConfig::default() };
    let (sim, sim_school, app, s) = crate::support::sim::with_wonde(&engine, config).await?;
    let connect = "mutation($i: ConnectWondeInput!) { connectWonde(input: $i) { id name wondeId connection { status } } }";
    let input = |id: &str, token: &str| json!({ "i": { "trustId": gid(NodeType::Trust, s.trust.id), "wondeSchoolId": id, "apiToken": token } });
    let schools_before = school::Entity::find().count(app.db()).await?;
    let refusals = [
        (&s.trust_admin, input(&sim_school.wonde_id, "wrong-token"), "WONDE_UNAUTHORIZED"),
        (&s.trust_admin, input("A000000000", &sim.app_token()), "WONDE_NOT_FOUND"),
        (&s.integrator, input(&sim_school.wonde_id, &sim_school.token), "FORBIDDEN"),
        (&s.school_a_admin, input(&sim_school.wonde_id, &sim_school.token), "FORBIDDEN"),
        (&s.other_admin, input(&sim_school.wonde_id, &sim_school.token), "NOT_FOUND"),
    ];
    for (token, vars, expected) in refusals {
        let (_, body) = app.post(Some(token), connect, vars).await?;
        assert_eq!(body["errors"][0]["extensions"]["code"], expected, "{body}");
        assert!(!body.to_string().contains(&sim_school.token), "the token is never echoed");
    }
    assert_eq!(school::Entity::find().count(app.db()).await?, schools_before, "refusals store nothing");

    let data = app.query(&s.trust_admin, connect, input(&sim_school.wonde_id, &sim_school.token)).await?;
    let school = &data["connectWonde"];
    assert_eq!(school["name"], sim_school.name.as_str());
    assert_eq!(school["wondeId"], sim_school.wonde_id.as_str());
    assert_eq!(school["connection"]["status"], "APPROVED");
    let ours = school::Entity::find()
        .filter(school::Column::WondeId.eq(sim_school.wonde_id.as_str()))
        .one(app.db())
        .await?
        .ok_or_else(|| anyhow::anyhow!("school"))?;
    let sealed = wonde_connection::Entity::find()
        .filter(wonde_connection::Column::SchoolId.eq(ours.id))
        .one(app.db())
        .await?
        .and_then(|c| c.token_ciphertext)
        .unwrap_or_default();
    assert_eq!(app.secret_key.decrypt(&sealed)?, sim_school.token);
    assert_eq!(runs_of(&app, ours.id).await?, 1, "the first FULL run is queued");

    // Connecting again updates; it does not duplicate.
    app.query(&s.trust_admin, connect, input(&sim_school.wonde_id, &sim_school.token)).await?;
    assert_eq!(school::Entity::find().count(app.db()).await?, schools_before + 1);
    assert_eq!(runs_of(&app, ours.id).await?, 1);
    Ok(())
}

const CREATE_SCHOOL: &str = "mutation($i: CreateSchoolInput!) { createSchool(input: $i) {
    id name urn postcode wondeId connection { status } trust { name } students { totalCount } } }";

async fn create_school(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let trust = gid(NodeType::Trust, s.trust.id);
    let schools = || school::Entity::find().count(app.db());
    let before = schools().await?;
    let input = |name: &str, urn: Option<&str>, postcode: Option<&str>| json!({ "i": { "trustId": trust, "name": name, "urn": urn, "postcode": postcode } });
    // Refusals: not a trust admin, another trust, bad input.
    let good = input("Willow Bank Primary", Some("141414"), Some("ls6 3qa"));
    assert_eq!(code(&app, &s.integrator, CREATE_SCHOOL, good.clone()).await?, "FORBIDDEN");
    assert_eq!(code(&app, &s.school_a_admin, CREATE_SCHOOL, good.clone()).await?, "FORBIDDEN");
    assert_eq!(code(&app, &s.other_admin, CREATE_SCHOOL, good.clone()).await?, "NOT_FOUND");
    for bad in [
        input("   ", None, None),
        input("Willow", Some("14x414"), None),
        input("Willow", None, Some("nowhere")),
        json!({ "i": { "trustId": "nonsense", "name": "Willow" } }),
    ] {
        assert_eq!(code(&app, &s.trust_admin, CREATE_SCHOOL, bad.clone()).await?, "BAD_USER_INPUT", "{bad}");
    }
    assert_eq!(schools().await?, before, "refusals create nothing");

    let created = app.query(&s.trust_admin, CREATE_SCHOOL, good.clone()).await?;
    let created = &created["createSchool"];
    assert_eq!(created["name"], "Willow Bank Primary");
    assert_eq!(created["urn"], "141414");
    assert_eq!(created["postcode"], "LS6 3QA");
    assert_eq!(created["wondeId"], serde_json::Value::Null);
    assert_eq!(created["connection"], serde_json::Value::Null);
    assert_eq!(created["trust"]["name"], "Northern Lights Academy Trust");
    assert_eq!(created["students"]["totalCount"], 0);
    assert_eq!(schools().await?, before + 1);
    // The same URN twice is the same school: refused.
    let again = input("Willow Bank", Some("141414"), None);
    assert_eq!(code(&app, &s.trust_admin, CREATE_SCHOOL, again).await?, "BAD_USER_INPUT");
    assert_eq!(schools().await?, before + 1);
    // It is one of the trust's schools now, for every token that sees the trust.
    let node = "query($id: ID!) { node(id: $id) { ... on School { name } } }";
    let listed = app.query(&s.integrator, node, json!({ "id": created["id"] })).await?;
    assert_eq!(listed["node"]["name"], "Willow Bank Primary");
    Ok(())
}
