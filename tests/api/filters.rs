//! The contract's filters, on connections and on rosters.

use onroll::graphql::ids::NodeType;
use serde_json::json;

use crate::on_both_engines;
use crate::support::fixture::gid;
use crate::support::{Engine, TestApp, strings};

on_both_engines!(student_filters, staff_and_guardian_filters, roster_filters);

fn forenames(connection: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = connection["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["node"]["forename"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

async fn student_filters(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let query = "query($school: ID!, $filter: StudentFilter) {
        school(id: $school) { students(filter: $filter) { totalCount edges { node { forename } } } } }";
    let school = gid(NodeType::School, s.school_a.id);
    let cases = [
        (json!(null), vec!["Amy", "Ben", "Cara"]),
        (json!({ "status": "ACTIVE" }), vec!["Amy", "Ben"]),
        (json!({ "status": "DEACTIVATED" }), vec!["Cara"]),
        (json!({ "yearGroupId": gid(NodeType::YearGroup, s.year.id) }), vec!["Amy", "Ben"]),
        (json!({ "formGroupId": gid(NodeType::FormGroup, s.form.id) }), vec!["Amy"]),
        (json!({ "classId": gid(NodeType::Class, s.class.id), "search": "jones" }), vec!["Ben"]),
        (json!({ "search": "SMITH" }), vec!["Amy"]),
        (json!({ "search": "smi am" }), vec!["Amy"]),
        (json!({ "search": "V100000000003" }), vec!["Cara"]),
        (json!({ "search": "100%" }), vec![]),
        (json!({ "search": "nobody" }), vec![]),
    ];
    for (filter, expected) in cases {
        let data = app.query(&s.trust_admin, query, json!({ "school": school, "filter": filter })).await?;
        let students = &data["school"]["students"];
        assert_eq!(forenames(students), expected, "{filter}");
        assert_eq!(students["totalCount"], expected.len(), "{filter}");
    }
    Ok(())
}

async fn staff_and_guardian_filters(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let school = gid(NodeType::School, s.school_a.id);
    let staff = app
        .query(
            &s.trust_admin,
            "query($s: ID!) { school(id: $s) {
                all: staff { edges { node { forename } } }
                found: staff(filter: {search: \"maya\", status: ACTIVE}) { edges { node { forename } } }
                gone: staff(filter: {status: DEACTIVATED}) { edges { node { forename } } } } }",
            json!({ "s": school }),
        )
        .await?;
    assert_eq!(forenames(&staff["school"]["all"]), vec!["Maya"]);
    assert_eq!(forenames(&staff["school"]["found"]), vec!["Maya"]);
    assert_eq!(forenames(&staff["school"]["gone"]), Vec::<String>::new());

    let guardians = app
        .query(
            &s.trust_admin,
            "query($s: ID!) { school(id: $s) {
                all: guardians { edges { node { forename } } }
                fathers: guardians(filter: {relationship: FATHER}) { edges { node { forename } } }
                carers: guardians(filter: {relationship: FOSTER_CARER, search: \"jones\"}) { edges { node { forename } } }
                byEmail: guardians(filter: {search: \"EXAMPLE.ORG\"}) { edges { node { forename } } } } }",
            json!({ "s": school }),
        )
        .await?;
    let g = &guardians["school"];
    assert_eq!(forenames(&g["all"]), vec!["Ann", "Dan", "Jo"]);
    assert_eq!(forenames(&g["fathers"]), vec!["Dan"]);
    assert_eq!(forenames(&g["carers"]), vec!["Jo"]);
    assert_eq!(forenames(&g["byEmail"]), vec!["Ann"]);
    Ok(())
}

const ROSTER_FILTERS: &str = "query($class: ID!, $form: ID!) { school: node(id: $class) { ... on Class {
    name teachers { forename }
    all: students { totalCount edges { node { forename } } }
    inForm: students(filter: {formGroupId: $form}) { totalCount edges { node { forename } } }
    ben: students(filter: {search: \"ben\"}) { edges { node { forename } } }
    school { yearGroups { name students { totalCount } } formGroups { name tutors { forename } } } } } }";

async fn roster_filters(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let ids =
        json!({ "class": gid(NodeType::Class, s.class.id), "form": gid(NodeType::FormGroup, s.form.id) });
    let data = app.query(&s.trust_admin, ROSTER_FILTERS, ids).await?;
    let class = &data["school"];
    assert_eq!(class["name"], "Maths 5A");
    assert_eq!(strings(&class["teachers"], "forename"), vec!["Maya"]);
    assert_eq!(forenames(&class["all"]), vec!["Amy", "Ben"]);
    assert_eq!(class["all"]["totalCount"], 2);
    assert_eq!(forenames(&class["inForm"]), vec!["Amy"]);
    assert_eq!(class["inForm"]["totalCount"], 1);
    assert_eq!(forenames(&class["ben"]), vec!["Ben"]);
    assert_eq!(class["school"]["yearGroups"][0]["students"]["totalCount"], 2);
    assert_eq!(strings(&class["school"]["formGroups"][0]["tutors"], "forename"), vec!["Maya"]);
    Ok(())
}
