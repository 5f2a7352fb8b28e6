//! Each role sees its own schools and nothing of another trust.

use onroll::graphql::ids::NodeType;
use serde_json::{Value, json};

use crate::on_both_engines;
use crate::support::fixture::gid;
use crate::support::{Engine, TestApp, ids, strings};

on_both_engines!(
    school_admin_sees_only_their_school,
    school_scoped_integrator,
    other_trust_sees_nothing,
    trust_wide_roles_see_every_school
);

const LOOKUPS: &str = r#"
query($school: ID!, $student: ID!, $run: ID!) {
  school(id: $school) { name students { totalCount } }
  student(id: $student) { forename }
  node(id: $student) { id }
  syncRun(id: $run) { id }
  trusts { name schools { totalCount edges { node { name } } } families { totalCount } }
  deactivationEvents(schoolId: $school) { edges { node { cursor } } }
}"#;

async fn lookups(app: &TestApp, token: &str, school: i32, student: i32, run: i32) -> anyhow::Result<Value> {
    let vars = json!({
        "school": gid(NodeType::School, school),
        "student": gid(NodeType::Student, student),
        "run": gid(NodeType::SyncRun, run),
    });
    app.query(token, LOOKUPS, vars).await
}

async fn school_admin_sees_only_their_school(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;

    let own = lookups(&app, &s.school_a_admin, s.school_a.id, s.ann_a.id, s.run.id).await?;
    assert_eq!(own["school"]["name"], "Ash Primary");
    assert_eq!(own["school"]["students"]["totalCount"], 3);
    assert_eq!(own["student"]["forename"], "Amy");
    assert_eq!(own["syncRun"]["id"], gid(NodeType::SyncRun, s.run.id));
    assert_eq!(own["trusts"][0]["schools"]["totalCount"], 1);
    assert_eq!(own["deactivationEvents"]["edges"].as_array().map(Vec::len), Some(1));

    // School B belongs to the same trust, but not to this admin.
    let other = lookups(&app, &s.school_a_admin, s.school_b.id, s.ann_b.id, s.run.id).await?;
    assert_eq!(other["school"], Value::Null);
    assert_eq!(other["student"], Value::Null);
    assert_eq!(other["node"], Value::Null);
    assert_eq!(other["deactivationEvents"]["edges"], json!([]));

    // Ann's family, seen from school A only, does not reveal school B.
    let families = "{ trusts { families { edges { node { schools { name } children { forename } } } } } }";
    let data = app.query(&s.school_a_admin, families, json!({})).await?;
    for edge in data["trusts"][0]["families"]["edges"].as_array().into_iter().flatten() {
        assert_eq!(strings(&edge["node"]["schools"], "name"), vec!["Ash Primary"]);
        assert!(!strings(&edge["node"]["children"], "forename").contains(&"Tom".to_owned()));
    }
    Ok(())
}

async fn school_scoped_integrator(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let seen = lookups(&app, &s.integrator_b, s.school_b.id, s.ann_b.id, s.run.id).await?;
    assert_eq!(seen["school"]["name"], "Birch Secondary");
    assert_eq!(seen["student"]["forename"], "Tom");
    // The run and its event belong to school A.
    assert_eq!(seen["syncRun"], Value::Null);
    let unseen = lookups(&app, &s.integrator_b, s.school_a.id, s.ann_a.id, s.run.id).await?;
    assert_eq!(unseen["school"], Value::Null);
    assert_eq!(unseen["student"], Value::Null);
    assert_eq!(unseen["deactivationEvents"]["edges"], json!([]));
    Ok(())
}

async fn other_trust_sees_nothing(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let data = lookups(&app, &s.other_admin, s.school_a.id, s.ann_a.id, s.run.id).await?;
    assert_eq!(data["school"], Value::Null);
    assert_eq!(data["student"], Value::Null);
    assert_eq!(data["node"], Value::Null);
    assert_eq!(data["syncRun"], Value::Null);
    assert_eq!(data["trusts"][0]["name"], "Elsewhere Trust");
    assert_eq!(data["deactivationEvents"]["edges"], json!([]));
    let trust = json!({ "id": gid(NodeType::Trust, s.trust.id) });
    let node = app.query(&s.other_admin, "query($id: ID!) { node(id: $id) { id } }", trust).await?;
    assert_eq!(node["node"], Value::Null);
    // Ann also has a record in the other trust: families never cross trusts.
    let anns = "{ trusts { families(filter: {search: \"ann\"}) { edges { node { schools { name } } } } } }";
    let families = app.query(&s.trust_admin, anns, json!({})).await?;
    let schools: Vec<String> = families["trusts"][0]["families"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| strings(&e["node"]["schools"], "name"))
        .collect();
    assert!(!schools.contains(&"Cedar Primary".to_owned()), "{schools:?}");
    // And the other way round: their school and pupil are invisible to us.
    let theirs = lookups(&app, &s.trust_admin, s.other_school.id, s.other_student.id, s.run.id).await?;
    assert_eq!(theirs["school"], Value::Null);
    assert_eq!(theirs["student"], Value::Null);
    Ok(())
}

async fn trust_wide_roles_see_every_school(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    for token in [&s.trust_admin, &s.integrator] {
        let data =
            app.query(token, "{ trusts { schools { edges { node { id name } } } } }", json!({})).await?;
        assert_eq!(
            ids(&data["trusts"][0]["schools"]),
            vec![gid(NodeType::School, s.school_a.id), gid(NodeType::School, s.school_b.id)]
        );
        let b = lookups(&app, token, s.school_b.id, s.ann_b.id, s.run.id).await?;
        assert_eq!(b["student"]["forename"], "Tom");
    }
    Ok(())
}
