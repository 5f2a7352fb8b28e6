//! Families across two schools: one guardian by email, children by UPN.

use entity::enums::RelationshipType;
use onroll::graphql::ids::NodeType;
use serde_json::{Value, json};

use crate::on_both_engines;
use crate::support::fixture::{Fixture, gid};
use crate::support::{Engine, TestApp, strings};

on_both_engines!(a_family_spans_two_schools, children_join_by_upn, family_filters);

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

async fn a_family_spans_two_schools(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let family_fields = "id guardians { forename school { name } } children { forename } schools { name }";
    let data = app
        .query(
            &s.trust_admin,
            &format!(
                "query($a: ID!, $b: ID!) {{
                    a: student(id: $a) {{ family {{ {family_fields} }} }}
                    b: student(id: $b) {{ family {{ {family_fields} }} guardians {{ relationship guardian {{ family {{ id }} }} }} }} }}"
            ),
            json!({ "a": gid(NodeType::Student, s.ann_a.id), "b": gid(NodeType::Student, s.ann_b.id) }),
        )
        .await?;
    let (a, b) = (&data["a"]["family"], &data["b"]["family"]);
    assert_eq!(a["id"], b["id"], "one family seen from both schools");
    assert_eq!(a["id"], gid(NodeType::Family, s.ann_at_a.id));
    assert_eq!(sorted(strings(&a["children"], "forename")), vec!["Amy", "Tom"]);
    assert_eq!(sorted(strings(&a["guardians"], "forename")), vec!["Ann", "Ann", "Dan"]);
    assert_eq!(strings(&a["schools"], "name"), vec!["Ash Primary", "Birch Secondary"]);
    assert_eq!(data["b"]["guardians"][0]["relationship"], "MOTHER");
    assert_eq!(data["b"]["guardians"][0]["guardian"]["family"]["id"], a["id"]);
    // Jo Jones's family stays at school A; the leaver, with no guardian, has none.
    let data = app
        .query(
            &s.trust_admin,
            "query($solo: ID!, $leaver: ID!) { solo: student(id: $solo) { family { schools { name } } } leaver: student(id: $leaver) { family { id } } }",
            json!({ "solo": gid(NodeType::Student, s.solo.id), "leaver": gid(NodeType::Student, s.leaver.id) }),
        )
        .await?;
    assert_eq!(strings(&data["solo"]["family"]["schools"], "name"), vec!["Ash Primary"]);
    assert_eq!(data["leaver"]["family"], Value::Null);
    Ok(())
}

async fn children_join_by_upn(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let f = Fixture::new(app.db());
    // Ben (school A) is dual-registered at school B under the same UPN, with
    // a carer there whose email is different.
    let ben_b = f.student(&s.school_b, "SB9", "Ben", "Jones", Some("f100000000002")).await?;
    let carer = f.guardian(&s.school_b, "GB9", "Kim", "Carer", Some("kim@care.example")).await?;
    f.link(&ben_b, &carer, RelationshipType::Carer, 1).await?;
    let solo = json!({ "id": gid(NodeType::Student, s.solo.id) });
    let data = app.query(&s.trust_admin, FAMILY, solo).await?;
    let family = &data["student"]["family"];
    assert_eq!(sorted(strings(&family["guardians"], "forename")), vec!["Jo", "Kim"]);
    assert_eq!(strings(&family["children"], "forename"), vec!["Ben", "Ben"]);
    assert_eq!(strings(&family["schools"], "name"), vec!["Ash Primary", "Birch Secondary"]);
    Ok(())
}

const FAMILY: &str = "query($id: ID!) { student(id: $id) {
    family { guardians { forename } children { forename school { name } } schools { name } } } }";

const FAMILY_FILTERS: &str = "{ trusts {
    all: families { totalCount }
    multi: families(filter: {multiSchoolOnly: true}) { totalCount edges { node { id } } }
    jones: families(filter: {search: \"jo jones\"}) { totalCount edges { node { children { forename } } } }
    tom: families(filter: {search: \"tom\", multiSchoolOnly: true}) { totalCount }
    none: families(filter: {search: \"zebra\"}) { totalCount } } }";

async fn family_filters(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let data = app.query(&s.trust_admin, FAMILY_FILTERS, json!({})).await?;
    let t = &data["trusts"][0];
    assert_eq!(t["all"]["totalCount"], 2);
    assert_eq!(t["multi"]["totalCount"], 1);
    assert_eq!(t["multi"]["edges"][0]["node"]["id"], gid(NodeType::Family, s.ann_at_a.id));
    assert_eq!(t["jones"]["totalCount"], 1);
    assert_eq!(strings(&t["jones"]["edges"][0]["node"]["children"], "forename"), vec!["Ben"]);
    assert_eq!(t["tom"]["totalCount"], 1);
    assert_eq!(t["none"]["totalCount"], 0);
    Ok(())
}
