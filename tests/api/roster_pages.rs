//! Roster pages read in SQL (`graphql::roster_pages`): a roster's
//! `totalCount` is the number of its members that pass the filter,
//! whatever page the cursor asks for, as every other connection's is.

use onroll::graphql::ids::NodeType;
use serde_json::json;

use crate::on_both_engines;
use crate::support::fixture::gid;
use crate::support::{Engine, TestApp};

on_both_engines!(roster_total_holds_past_the_last_member);

const ROSTER: &str = "query($class: ID!, $after: String) { node(id: $class) { ... on Class {
    all: students(first: 100) { totalCount edges { cursor } }
    past: students(first: 5, after: $after) { totalCount edges { cursor } pageInfo { hasNextPage hasPreviousPage } }
} } }";

async fn roster_total_holds_past_the_last_member(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let class = json!({ "class": gid(NodeType::Class, s.class.id) });
    let data = app.query(&s.trust_admin, ROSTER, class.clone()).await?;
    let all = &data["node"]["all"];
    let edges = all["edges"].as_array().cloned().unwrap_or_default();
    let total = all["totalCount"].as_i64().unwrap_or_default();
    assert!(!edges.is_empty() && total == edges.len() as i64, "the fixture's class has members: {all}");

    // The page after the last member is empty, and the roster still has
    // its members (asked alone, and beside another page in one batch).
    let last = edges.last().map(|e| e["cursor"].clone()).unwrap_or_default();
    let mut vars = class;
    vars["after"] = last;
    let data = app.query(&s.trust_admin, ROSTER, vars).await?;
    let past = &data["node"]["past"];
    assert_eq!(past["edges"], json!([]), "{past}");
    assert_eq!(past["pageInfo"], json!({ "hasNextPage": false, "hasPreviousPage": true }));
    assert_eq!(past["totalCount"], total, "a cursor past the last member keeps the roster's total: {past}");
    Ok(())
}
