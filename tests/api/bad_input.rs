//! Bad input gets a clear error with a code: never a 500, never a panic.

use onroll::graphql::ids::NodeType;
use serde_json::json;

use crate::on_both_engines;
use crate::support::fixture::gid;
use crate::support::{Engine, TestApp};

on_both_engines!(bad_arguments_are_bad_user_input, malformed_requests_are_refused_clearly);

async fn bad_arguments_are_bad_user_input(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let school = gid(NodeType::School, s.school_a.id);
    let student = gid(NodeType::Student, s.ann_a.id);
    let students = "query($school: ID!, $first: Int, $after: String) { school(id: $school) { students(first: $first, after: $after) { totalCount } } }";
    let cases = [
        (students, json!({ "school": school, "after": "not-a-cursor" }), "after"),
        (students, json!({ "school": school, "after": "" }), "after"),
        (students, json!({ "school": school, "first": 101 }), "first"),
        (students, json!({ "school": school, "first": -1 }), "first"),
        (students, json!({ "school": student }), "School"),
        ("query($id: ID!) { student(id: $id) { id } }", json!({ "id": school }), "Student"),
        ("query($id: ID!) { node(id: $id) { id } }", json!({ "id": "garbage!" }), "ID"),
        ("query($id: ID!) { syncRun(id: $id) { id } }", json!({ "id": "U3luY1J1bjp4" }), "ID"),
        (
            "query($school: ID!, $year: ID!) { school(id: $school) { students(filter: {yearGroupId: $year}) { totalCount } } }",
            json!({ "school": school, "year": gid(NodeType::Class, s.class.id) }),
            "YearGroup",
        ),
        ("{ deactivationEvents(first: 500) { pageInfo { hasNextPage } } }", json!({}), "first"),
        // A date-time that is not RFC 3339, inline and as a variable: the
        // client's input, not our fault (it was INTERNAL_SERVER_ERROR).
        (
            "{ auditLog(first: 1, filter: {since: \"2026-11-01\"}) { edges { cursor } } }",
            json!({}),
            "DateTime",
        ),
        (
            "query($s: DateTime) { auditLog(first: 1, filter: {since: $s}) { edges { cursor } } }",
            json!({ "s": "2026-13-01T00:00:00Z" }),
            "DateTime",
        ),
        ("{ wondeSchools(search: \" a \") { name } }", json!({}), "2 characters"),
        (
            "{ trusts { families(filter: {search: \"a b c d e f g h i\"}) { totalCount } } }",
            json!({}),
            "words",
        ),
    ];
    for (query, vars, mentions) in cases {
        let (status, body) = app.post(Some(&s.trust_admin), query, vars.clone()).await?;
        assert_eq!(status, 200, "{vars}: {body}");
        let error = &body["errors"][0];
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{vars}: {body}");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.contains(mentions), "{message:?} should mention {mentions:?}");
    }
    Ok(())
}

async fn malformed_requests_are_refused_clearly(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let invalid = [
        "{ viewer { role ",
        "{ viewer { nonsense } }",
        "query($n: Int) { trusts { schools(first: $n) { totalCount } } }",
        "{ school { name } }",
        "mutation { nothing }",
    ];
    for query in invalid {
        let vars = if query.contains("$n") { json!({ "n": "ten" }) } else { json!({}) };
        let (status, body) = app.post(Some(&s.trust_admin), query, vars).await?;
        assert!(status < 500, "{query}: HTTP {status}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "{query}: {body}");
    }

    // Too deep: a query that recurses through families.
    let deep = format!(
        "{{ trusts {{ families {{ edges {{ node {{ {} }} }} }} }} }}",
        "children { family { ".repeat(8) + "id" + &" } }".repeat(8)
    );
    let (status, body) = app.post(Some(&s.trust_admin), &deep, json!({})).await?;
    assert_eq!(status, 200);
    // Its cost (lists in lists) is judged before its depth is validated.
    let code = &body["errors"][0]["extensions"]["code"];
    assert!(code == "MAX_COST_EXCEEDED" || code == "GRAPHQL_VALIDATION_FAILED", "{body}");

    // Not a GraphQL request at all.
    for body in ["not json", "{\"query\": 5}", ""] {
        let response = app
            .http
            .post(app.url("/graphql"))
            .bearer_auth(&s.trust_admin)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        assert_eq!(response.status().as_u16(), 400, "{body:?}");
        let json: serde_json::Value = response.json().await?;
        assert_eq!(json["errors"][0]["extensions"]["code"], "BAD_REQUEST", "{body:?}: {json}");
    }
    Ok(())
}
