//! Relationship labels from Wonde, over HTTP on both engines: a label maps
//! to a type only when the whole label names it (product.md, Entities), on
//! a first FULL run and when the school retypes a label later.

use entity::enums::SyncStatus;
use entity::{school, sync_run};
use onroll::graphql::ids::NodeType;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use std::time::Duration;
use wonde_sim::{SimConfig, Simulator};

use crate::on_both_engines;
use crate::support::fixture::{Scenario, gid};
use crate::support::{Engine, TestApp};

on_both_engines!(wonde_labels_map_by_whole_label);

const CONNECT: &str = "mutation($i: ConnectWondeInput!) { connectWonde(input: $i) { id } }";
const TRIGGER: &str = "mutation($s: ID!) { triggerSync(schoolId: $s, kind: INCREMENTAL) { id } }";
const LINKS: &str = "query($s: ID!) { node(id: $s) { ... on School { students(first: 100) { edges { node {
    wondeId guardians { relationship relationshipLabel guardian { wondeId } } } } } } } }";

/// Waits until the school has `runs` runs, all finished, and returns the last.
async fn finished_runs(app: &TestApp, school: i32, runs: usize) -> anyhow::Result<sync_run::Model> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let all =
            sync_run::Entity::find().filter(sync_run::Column::SchoolId.eq(school)).all(app.db()).await?;
        let done = all.iter().all(|r| matches!(r.status, SyncStatus::Completed | SyncStatus::Failed));
        if all.len() == runs && done {
            return all.into_iter().max_by_key(|r| r.id).ok_or_else(|| anyhow::anyhow!("no run"));
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "runs did not finish: {all:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// (relationship, relationshipLabel) of the link between a student and a
/// contact, by their Wonde ids, as GraphQL answers.
fn link_of(answer: &Value, student: &str, contact: &str) -> Option<(String, String)> {
    let students = answer["node"]["students"]["edges"].as_array()?;
    let node = &students.iter().find(|e| e["node"]["wondeId"] == student)?["node"];
    let link = node["guardians"].as_array()?.iter().find(|l| l["guardian"]["wondeId"] == contact)?;
    Some((link["relationship"].as_str()?.to_owned(), link["relationshipLabel"].as_str()?.to_owned()))
}

async fn wonde_labels_map_by_whole_label(engine: Engine) -> anyhow::Result<()> {
    let sim =
        Simulator::start(SimConfig { schools: 1, students_per_school: 8, ..SimConfig::default() }).await?;
    let sim_school = sim.schools().into_iter().next().ok_or_else(|| anyhow::anyhow!("no school"))?;
    let wonde_id = sim_school.wonde_id.clone();
    let truth = sim.truth(&wonde_id)?;
    let mut linked = truth.students.iter().filter_map(|s| {
        let first = truth.links_of(&s.id).first().map(|l| l.contact_id.clone())?;
        Some((s.id.clone(), first))
    });
    let (godchild, godmother) = linked.next().ok_or_else(|| anyhow::anyhow!("no linked student"))?;
    let (sibling, step_sister) = linked
        .find(|(_, contact)| *contact != godmother)
        .ok_or_else(|| anyhow::anyhow!("no student of another contact"))?;
    // Labels whose words would fool a substring match: "mother", "step".
    sim.relabel_contact(&wonde_id, &godchild, &godmother, "Godmother")?;
    sim.relabel_contact(&wonde_id, &sibling, &step_sister, "Step-sister")?;

    let app = TestApp::spawn_with_app_token(&engine, &sim.base_url(), &sim.app_token()).await?;
    let s = Scenario::build(app.db()).await?;
    let input = json!({ "i": { "trustId": gid(NodeType::Trust, s.trust.id), "wondeSchoolId": wonde_id,
        "apiToken": sim_school.token } });
    let school_gid = app.query(&s.trust_admin, CONNECT, input).await?["connectWonde"]["id"].clone();
    let ours = school::Entity::find()
        .filter(school::Column::WondeId.eq(wonde_id.as_str()))
        .one(app.db())
        .await?
        .ok_or_else(|| anyhow::anyhow!("school"))?;
    let run = finished_runs(&app, ours.id, 1).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    let links = app.query(&s.integrator, LINKS, json!({ "s": school_gid })).await?;
    assert_eq!(link_of(&links, &godchild, &godmother), Some(("OTHER".into(), "Godmother".into())), "{links}");
    assert_eq!(
        link_of(&links, &sibling, &step_sister),
        Some(("OTHER_RELATIVE".into(), "Step-sister".into()))
    );

    // Retyped in the MIS, the link follows at the next incremental run.
    sim.relabel_contact(&wonde_id, &godchild, &godmother, "Step Father")?;
    app.query(&s.trust_admin, TRIGGER, json!({ "s": school_gid })).await?;
    let run = finished_runs(&app, ours.id, 2).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    let links = app.query(&s.integrator, LINKS, json!({ "s": school_gid })).await?;
    assert_eq!(link_of(&links, &godchild, &godmother), Some(("STEP_PARENT".into(), "Step Father".into())));
    Ok(())
}
