//! Walking connections page by page: every row once, in order.

use entity::enums::{RelationshipType, SyncKind, SyncStatus};
use onroll::graphql::ids::NodeType;
use serde_json::{Value, json};
use std::collections::BTreeSet;

use crate::on_both_engines;
use crate::support::fixture::{Fixture, gid};
use crate::support::{Engine, TestApp, ids};

on_both_engines!(students_walk_forward_through_every_page, sync_runs_walk_newest_first, families_walk_by_key);

/// Follows `endCursor` until `hasNextPage` is false; returns every node id
/// and the totalCount of each page.
async fn walk(
    app: &TestApp,
    token: &str,
    query: &str,
    vars: Value,
    pick: impl Fn(&Value) -> &Value,
) -> anyhow::Result<(Vec<String>, BTreeSet<i64>)> {
    let mut after: Option<String> = None;
    let mut seen = Vec::new();
    let mut totals = BTreeSet::new();
    for _ in 0..100 {
        let mut vars = vars.clone();
        vars["after"] = after.clone().map_or(Value::Null, Value::String);
        let data = app.query(token, query, vars).await?;
        let connection = pick(&data);
        seen.extend(ids(connection));
        if let Some(total) = connection["totalCount"].as_i64() {
            totals.insert(total);
        }
        assert_eq!(connection["pageInfo"]["hasPreviousPage"], after.is_some());
        if connection["pageInfo"]["hasNextPage"] != true {
            return Ok((seen, totals));
        }
        after = connection["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        assert!(after.is_some(), "a page with more after it has an end cursor");
    }
    anyhow::bail!("the walk did not end")
}

async fn students_walk_forward_through_every_page(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let f = Fixture::new(app.db());
    for i in 0..42 {
        f.student(&s.school_a, &format!("X{i}"), &format!("Pupil{i}"), "Walker", None).await?;
    }
    let query = "query($school: ID!, $after: String) {
        school(id: $school) { students(first: 10, after: $after) {
            totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
            edges { cursor node { id } } } } }";
    let (seen, totals) =
        walk(&app, &s.trust_admin, query, json!({ "school": gid(NodeType::School, s.school_a.id) }), |d| {
            &d["school"]["students"]
        })
        .await?;
    assert_eq!(seen.len(), 45);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 45, "each row exactly once");
    assert_eq!(totals, BTreeSet::from([45]));

    // Cursors are opaque: no raw key in them.
    let data =
        app.query(&s.trust_admin, query, json!({ "school": gid(NodeType::School, s.school_a.id) })).await?;
    let cursor = data["school"]["students"]["edges"][0]["cursor"].as_str().unwrap_or_default();
    assert!(!cursor.is_empty() && !cursor.contains(':'), "{cursor}");

    // A page of zero is allowed and says there is more.
    let empty = app
        .query(&s.trust_admin, "query($s: ID!) { school(id: $s) { students(first: 0) { edges { cursor } pageInfo { hasNextPage } totalCount } } }", json!({ "s": gid(NodeType::School, s.school_a.id) }))
        .await?;
    assert_eq!(empty["school"]["students"]["edges"], json!([]));
    assert_eq!(empty["school"]["students"]["pageInfo"]["hasNextPage"], true);
    Ok(())
}

async fn sync_runs_walk_newest_first(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let f = Fixture::new(app.db());
    let mut expected = vec![gid(NodeType::SyncRun, s.run.id)];
    for _ in 0..6 {
        expected.push(gid(
            NodeType::SyncRun,
            f.sync_run(&s.school_a, SyncKind::Incremental, SyncStatus::Completed).await?.id,
        ));
    }
    expected.reverse();
    let query = "query($school: ID!, $after: String) {
        school(id: $school) { syncRuns(first: 3, after: $after) {
            totalCount pageInfo { hasNextPage hasPreviousPage endCursor } edges { node { id } } } } }";
    let (seen, totals) =
        walk(&app, &s.trust_admin, query, json!({ "school": gid(NodeType::School, s.school_a.id) }), |d| {
            &d["school"]["syncRuns"]
        })
        .await?;
    assert_eq!(seen, expected);
    assert_eq!(totals, BTreeSet::from([7]));
    Ok(())
}

async fn families_walk_by_key(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let f = Fixture::new(app.db());
    for i in 0..9 {
        let child = f.student(&s.school_b, &format!("K{i}"), "Kid", &format!("Family{i}"), None).await?;
        let parent = f
            .guardian(
                &s.school_b,
                &format!("P{i}"),
                "Pat",
                &format!("Family{i}"),
                Some(&format!("pat{i}@example.org")),
            )
            .await?;
        f.link(&child, &parent, RelationshipType::Carer, 1).await?;
    }
    let query = "query($after: String) { trusts { families(first: 4, after: $after) {
        totalCount pageInfo { hasNextPage hasPreviousPage endCursor } edges { node { id } } } } }";
    let (seen, totals) =
        walk(&app, &s.trust_admin, query, json!({}), |d| &d["trusts"][0]["families"]).await?;
    // Ann's and the Joneses' families, plus nine new ones.
    assert_eq!(seen.len(), 11);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 11);
    assert_eq!(totals, BTreeSet::from([11]));
    Ok(())
}
