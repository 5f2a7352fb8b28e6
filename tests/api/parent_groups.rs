//! Parent groups (issue 17): the guardians of a year group, form or class,
//! and of a year across the trust; filters, counts, paging, every role's
//! scope; and membership following a class move and a leaver in the same
//! run (synced from the simulator over HTTP), logged for polling.

use entity::enums::{DeactivationReason, RelationshipType};
use entity::{class, guardian_link, year_group};
use onroll::graphql::ids::NodeType;
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::{Value, json};
use std::collections::BTreeSet;

use crate::on_both_engines;
use crate::support::fixture::{Fixture, Scenario, gid};
use crate::support::{Engine, TestApp};

on_both_engines!(
    siblings_give_one_guardian_with_both_children,
    a_parent_is_in_each_group_of_their_children,
    filters_on_the_link_and_the_guardian,
    pages_walk_every_guardian_once_and_counts_agree,
    trust_wide_year_group_parents_with_family_ids,
    every_role_sees_only_its_schools,
    the_readme_query_runs
);

mod changes;

/// The README's example, verbatim (see README.md, "Parent groups").
const README_QUERY: &str = r#"query Year3ParentsWithPR($year: ID!) {
  node(id: $year) {
    ... on YearGroup {
      name
      guardianCount(filter: { parentalResponsibility: true })
      guardians(first: 100, filter: { parentalResponsibility: true }) {
        edges {
          node { forename surname email }
          children { forename surname }
          relationships
          familyId
        }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
}"#;

const GROUP: &str = "query($id: ID!, $filter: GuardianFilter, $first: Int, $after: String) {
  node(id: $id) {
    ... on YearGroup { guardianCount(filter: $filter) guardians(first: $first, after: $after, filter: $filter) { ...page } }
    ... on FormGroup { guardianCount(filter: $filter) guardians(first: $first, after: $after, filter: $filter) { ...page } }
    ... on Class { guardianCount(filter: $filter) guardians(first: $first, after: $after, filter: $filter) { ...page } }
  } }
fragment page on GroupGuardianConnection {
  totalCount
  pageInfo { hasNextPage hasPreviousPage endCursor }
  edges { cursor node { id forename surname } children { forename } relationships familyId
          links { parentalResponsibility livesWithStudent } }
}";

const TRUST: &str = "query($filter: TrustGuardianFilter, $first: Int, $after: String) { trusts {
  guardianCount(filter: $filter)
  guardians(first: $first, after: $after, filter: $filter) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id forename surname school { name } family { id } } children { forename } familyId }
  } } }";

/// The groups the tests read, on top of the shared scenario.
struct Families {
    s: Scenario,
    /// "Year 3" at school A: the Browns (two children, two parents), Max
    /// Green; a leaver whose parent has no other child; an ended link.
    year3_a: year_group::Model,
    /// "Year 3" at school B: Hal White's child, and Ann Smith's Tom.
    year3_b: year_group::Model,
    /// A class at A holding Kit Brown and Max Green.
    art: class::Model,
}

async fn set_link(
    db: &sea_orm::DatabaseConnection,
    link: guardian_link::Model,
    pr: Option<bool>,
    lives: Option<bool>,
    active: bool,
) -> anyhow::Result<()> {
    let mut row: guardian_link::ActiveModel = link.into();
    row.parental_responsibility = Set(pr);
    row.lives_with_student = Set(lives);
    row.active = Set(active);
    row.update(db).await?;
    Ok(())
}

impl Families {
    async fn build(app: &TestApp) -> anyhow::Result<Self> {
        let db = app.db();
        let s = Scenario::build(db).await?;
        let f = Fixture::new(db);
        let (a, b) = (&s.school_a, &s.school_b);
        let year3_a = f.year_group(a, "YA3", "Year 3").await?;
        let year3_b = f.year_group(b, "YB3", "Year 3").await?;
        let art = f.class(a, "CA2", "Art 3").await?;

        let kit = f.student(a, "SA10", "Kit", "Brown", None).await?;
        let lee = f.student(a, "SA11", "Lee", "Brown", None).await?;
        let max = f.student(a, "SA12", "Max", "Green", None).await?;
        let nia = f.student(a, "SA13", "Nia", "Green", None).await?;
        let gone = f.student(a, "SA14", "Ola", "Left", None).await?;
        let gone = f.deactivate_student(&gone, DeactivationReason::LeftSchool).await?;
        for child in [&kit, &lee, &max, &gone] {
            f.in_year(&year3_a, child).await?;
        }
        f.in_year(&s.year, &nia).await?;
        f.in_class(&art, &kit).await?;
        f.in_class(&art, &max).await?;

        let bea = f.guardian(a, "GA10", "Bea", "Brown", Some("bea@brown.example")).await?;
        let carl = f.guardian(a, "GA11", "Carl", "Brown", None).await?;
        let gail = f.guardian(a, "GA12", "Gail", "Green", Some("gail@green.example")).await?;
        let ivy = f.guardian(a, "GA13", "Ivy", "Left", None).await?;
        let old = f.guardian(a, "GA14", "Otto", "Former", None).await?;
        for child in [&kit, &lee] {
            f.link(child, &bea, RelationshipType::Mother, 1).await?;
            let link = f.link(child, &carl, RelationshipType::Father, 2).await?;
            set_link(db, link, Some(false), Some(false), true).await?;
        }
        f.link(&max, &gail, RelationshipType::Mother, 1).await?;
        f.link(&nia, &gail, RelationshipType::Mother, 1).await?;
        f.link(&gone, &ivy, RelationshipType::Mother, 1).await?;
        let ended = f.link(&kit, &old, RelationshipType::Carer, 3).await?;
        set_link(db, ended, Some(true), Some(true), false).await?;

        let tom = s.ann_b.clone();
        f.in_year(&year3_b, &tom).await?;
        let una = f.student(b, "SB10", "Una", "White", None).await?;
        f.in_year(&year3_b, &una).await?;
        let hal = f.guardian(b, "GB10", "Hal", "White", None).await?;
        f.link(&una, &hal, RelationshipType::Grandparent, 1).await?;
        Ok(Self { s, year3_a, year3_b, art })
    }
}

fn names(connection: &Value) -> Vec<String> {
    connection["edges"]
        .as_array()
        .map(|edges| {
            edges
                .iter()
                .map(|e| {
                    format!(
                        "{} {}",
                        e["node"]["forename"].as_str().unwrap_or(""),
                        e["node"]["surname"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn group(app: &TestApp, token: &str, id: &str, filter: Value) -> anyhow::Result<Value> {
    let data = app.query(token, GROUP, json!({ "id": id, "filter": filter, "first": 100 })).await?;
    Ok(data["node"].clone())
}

fn year(m: &year_group::Model) -> String {
    gid(NodeType::YearGroup, m.id)
}

async fn siblings_give_one_guardian_with_both_children(engine: Engine) -> anyhow::Result<()> {
    let app = TestApp::spawn(&engine).await?;
    let x = Families::build(&app).await?;
    let node = group(&app, &x.s.trust_admin, &year(&x.year3_a), Value::Null).await?;
    let page = &node["guardians"];
    // The leaver's parent and the ended link's guardian are not parents of the group.
    assert_eq!(names(page), ["Bea Brown", "Carl Brown", "Gail Green"]);
    assert_eq!(page["totalCount"], 3);
    assert_eq!(node["guardianCount"], 3);
    let bea = &page["edges"][0];
    assert_eq!(bea["children"], json!([{ "forename": "Kit" }, { "forename": "Lee" }]));
    assert_eq!(bea["relationships"], json!(["MOTHER"]));
    assert_eq!(page["edges"][1]["relationships"], json!(["FATHER"]));
    assert!(bea["familyId"].is_string(), "{bea}");
    Ok(())
}

async fn a_parent_is_in_each_group_of_their_children(engine: Engine) -> anyhow::Result<()> {
    let app = TestApp::spawn(&engine).await?;
    let x = Families::build(&app).await?;
    let token = &x.s.trust_admin;
    let year3 = group(&app, token, &year(&x.year3_a), Value::Null).await?;
    let year5 = group(&app, token, &year(&x.s.year), Value::Null).await?;
    assert!(names(&year3["guardians"]).contains(&"Gail Green".to_owned()));
    let year5_names: BTreeSet<String> = names(&year5["guardians"]).into_iter().collect();
    assert_eq!(year5_names, ["Ann Smith", "Dan Smith", "Gail Green", "Jo Jones"].map(String::from).into());
    // Gail's edge in Year 5 names only her Year 5 child.
    let gail = year5["guardians"]["edges"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["node"]["forename"] == "Gail"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(gail["children"], json!([{ "forename": "Nia" }]));
    // A class and a form group too.
    let art = group(&app, token, &gid(NodeType::Class, x.art.id), Value::Null).await?;
    assert_eq!(names(&art["guardians"]), ["Bea Brown", "Carl Brown", "Gail Green"]);
    let maths = group(&app, token, &gid(NodeType::Class, x.s.class.id), Value::Null).await?;
    assert_eq!(names(&maths["guardians"]), ["Jo Jones", "Ann Smith", "Dan Smith"]);
    let form = group(&app, token, &gid(NodeType::FormGroup, x.s.form.id), Value::Null).await?;
    assert_eq!(names(&form["guardians"]), ["Ann Smith", "Dan Smith"]);
    assert_eq!(form["guardianCount"], 2);
    Ok(())
}

async fn filters_on_the_link_and_the_guardian(engine: Engine) -> anyhow::Result<()> {
    let app = TestApp::spawn(&engine).await?;
    let x = Families::build(&app).await?;
    let id = year(&x.year3_a);
    let cases = [
        (json!({ "parentalResponsibility": true }), vec!["Bea Brown", "Gail Green"]),
        (json!({ "parentalResponsibility": false }), vec!["Carl Brown"]),
        (json!({ "livesWithStudent": true }), vec!["Bea Brown", "Gail Green"]),
        (json!({ "livesWithStudent": false }), vec!["Carl Brown"]),
        (json!({ "relationships": ["FATHER"] }), vec!["Carl Brown"]),
        (json!({ "relationship": "MOTHER" }), vec!["Bea Brown", "Gail Green"]),
        (json!({ "relationships": ["MOTHER", "FATHER"] }), vec!["Bea Brown", "Carl Brown", "Gail Green"]),
        // Conditions hold for one link: no father lives with his child here.
        (json!({ "relationships": ["FATHER"], "livesWithStudent": true }), vec![]),
        (json!({ "relationships": ["CARER"] }), vec![]),
        (json!({ "search": "GAIL" }), vec!["Gail Green"]),
        (json!({ "search": "brown bea" }), vec!["Bea Brown"]),
        (json!({ "status": "ACTIVE" }), vec!["Bea Brown", "Carl Brown", "Gail Green"]),
        (json!({ "status": "DEACTIVATED" }), vec![]),
    ];
    for (filter, expected) in cases {
        let node = group(&app, &x.s.trust_admin, &id, filter.clone()).await?;
        assert_eq!(names(&node["guardians"]), expected, "{filter}");
        assert_eq!(node["guardianCount"], expected.len(), "{filter}");
        assert_eq!(node["guardians"]["totalCount"], expected.len(), "{filter}");
    }
    // An edge names only the children the filter's links reach.
    let node = group(&app, &x.s.trust_admin, &id, json!({ "parentalResponsibility": false })).await?;
    assert_eq!(node["guardians"]["edges"][0]["links"].as_array().map(Vec::len), Some(2));
    // School.guardians takes the same link conditions.
    let without_pr = "query($s: ID!) { school(id: $s) {
        guardians(filter: { parentalResponsibility: false }) { edges { node { forename } } } } }";
    let data = app
        .query(&x.s.trust_admin, without_pr, json!({ "s": gid(NodeType::School, x.s.school_a.id) }))
        .await?;
    assert_eq!(data["school"]["guardians"]["edges"], json!([{ "node": { "forename": "Carl" } }]));
    Ok(())
}

async fn pages_walk_every_guardian_once_and_counts_agree(engine: Engine) -> anyhow::Result<()> {
    let app = TestApp::spawn(&engine).await?;
    let x = Families::build(&app).await?;
    for filter in [Value::Null, json!({ "parentalResponsibility": true }), json!({ "search": "brown" })] {
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        let mut count;
        loop {
            let data = app
                .query(
                    &x.s.trust_admin,
                    GROUP,
                    json!({ "id": year(&x.year3_a), "filter": filter, "first": 1, "after": after }),
                )
                .await?;
            let page = &data["node"]["guardians"];
            count = data["node"]["guardianCount"].clone();
            assert_eq!(page["pageInfo"]["hasPreviousPage"], after.is_some());
            seen.extend(names(page));
            if page["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        }
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "{seen:?}");
        assert_eq!(count, seen.len(), "{filter}");
    }
    // Trust-wide too, with a year and without.
    for filter in [json!({ "yearGroupName": "Year 3" }), Value::Null] {
        let mut total = 0;
        let mut after: Option<String> = None;
        loop {
            let data = app
                .query(&x.s.trust_admin, TRUST, json!({ "filter": filter, "first": 2, "after": after }))
                .await?;
            let trust = &data["trusts"][0];
            total += trust["guardians"]["edges"].as_array().map_or(0, Vec::len);
            assert_eq!(trust["guardianCount"], trust["guardians"]["totalCount"]);
            if trust["guardians"]["pageInfo"]["hasNextPage"] != true {
                assert_eq!(trust["guardianCount"], total, "{filter}");
                break;
            }
            after = trust["guardians"]["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        }
    }
    // A cursor of another list is refused.
    let (_, body) = app
        .post(
            Some(&x.s.trust_admin),
            GROUP,
            json!({ "id": year(&x.year3_a), "after": onroll::graphql::pagination::encode_cursor(3) }),
        )
        .await?;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    Ok(())
}

async fn trust_wide_year_group_parents_with_family_ids(engine: Engine) -> anyhow::Result<()> {
    let app = TestApp::spawn(&engine).await?;
    let x = Families::build(&app).await?;
    let data = app
        .query(&x.s.trust_admin, TRUST, json!({ "filter": { "yearGroupName": "Year 3" }, "first": 100 }))
        .await?;
    let trust = &data["trusts"][0];
    assert_eq!(
        names(&trust["guardians"]),
        ["Bea Brown", "Carl Brown", "Gail Green", "Ann Smith", "Hal White"]
    );
    assert_eq!(trust["guardianCount"], 5);
    let edges = trust["guardians"]["edges"].as_array().cloned().unwrap_or_default();
    let ann = edges.iter().find(|e| e["node"]["forename"] == "Ann").cloned().unwrap_or_default();
    assert_eq!(ann["node"]["school"]["name"], "Birch Secondary");
    assert_eq!(ann["children"], json!([{ "forename": "Tom" }]));
    // Ann at B is the Ann at A (not a Year 3 parent): one family, one id.
    let family = "query($g: ID!) { node(id: $g) { ... on Guardian { family { id } } } }";
    let family_a =
        app.query(&x.s.trust_admin, family, json!({ "g": gid(NodeType::Guardian, x.s.ann_at_a.id) })).await?;
    assert_eq!(ann["familyId"], family_a["node"]["family"]["id"]);
    assert_eq!(ann["familyId"], ann["node"]["family"]["id"]);
    // With a link filter across the trust.
    let data = app
        .query(
            &x.s.trust_admin,
            TRUST,
            json!({ "filter": { "yearGroupName": "Year 3", "relationships": ["GRANDPARENT"] } }),
        )
        .await?;
    assert_eq!(names(&data["trusts"][0]["guardians"]), ["Hal White"]);
    // No such year: nobody.
    let data =
        app.query(&x.s.trust_admin, TRUST, json!({ "filter": { "yearGroupName": "Year 30" } })).await?;
    assert_eq!(data["trusts"][0]["guardianCount"], 0);
    // Without a year: every guardian with a current link to an active child.
    let data = app.query(&x.s.trust_admin, TRUST, json!({ "first": 100 })).await?;
    let all: BTreeSet<String> = names(&data["trusts"][0]["guardians"]).into_iter().collect();
    assert!(all.contains("Jo Jones") && all.contains("Hal White") && !all.contains("Ivy Left"), "{all:?}");
    Ok(())
}

async fn every_role_sees_only_its_schools(engine: Engine) -> anyhow::Result<()> {
    let app = TestApp::spawn(&engine).await?;
    let x = Families::build(&app).await?;
    let (a, b) = (year(&x.year3_a), year(&x.year3_b));
    let year3 = json!({ "filter": { "yearGroupName": "Year 3" }, "first": 100 });
    let a_names = ["Bea Brown", "Carl Brown", "Gail Green"];
    let b_names = ["Ann Smith", "Hal White"];
    // Trust admin and whole-trust integrator: both schools.
    for token in [&x.s.trust_admin, &x.s.integrator] {
        assert_eq!(names(&group(&app, token, &a, Value::Null).await?["guardians"]), a_names);
        assert_eq!(names(&group(&app, token, &b, Value::Null).await?["guardians"]), b_names);
        let trust = app.query(token, TRUST, year3.clone()).await?;
        assert_eq!(trust["trusts"][0]["guardianCount"], 5);
    }
    // School A's admin: A only; B's group is not there at all.
    let admin = &x.s.school_a_admin;
    assert_eq!(names(&group(&app, admin, &a, Value::Null).await?["guardians"]), a_names);
    assert_eq!(group(&app, admin, &b, Value::Null).await?, Value::Null);
    let trust = app.query(admin, TRUST, year3.clone()).await?;
    assert_eq!(names(&trust["trusts"][0]["guardians"]), a_names);
    assert_eq!(trust["trusts"][0]["guardianCount"], 3);
    // School B's integrator: B only.
    let integrator_b = &x.s.integrator_b;
    assert_eq!(group(&app, integrator_b, &a, Value::Null).await?, Value::Null);
    let trust = app.query(integrator_b, TRUST, year3.clone()).await?;
    assert_eq!(names(&trust["trusts"][0]["guardians"]), b_names);
    // Another trust's admin: none of it.
    let other = &x.s.other_admin;
    assert_eq!(group(&app, other, &a, Value::Null).await?, Value::Null);
    let trust = app.query(other, TRUST, year3).await?;
    assert_eq!(trust["trusts"][0]["guardianCount"], 0);
    // An integrator without the contact-details scope neither sees nor
    // searches emails; an admin does both.
    let by_email = json!({ "search": "bea@brown" });
    let admin_view = group(&app, &x.s.trust_admin, &a, by_email.clone()).await?;
    assert_eq!(names(&admin_view["guardians"]), ["Bea Brown"]);
    assert_eq!(group(&app, &x.s.integrator, &a, by_email).await?["guardianCount"], 0);
    let trust = app.query(&x.s.integrator, TRUST, json!({ "filter": { "search": "bea@brown" } })).await?;
    assert_eq!(trust["trusts"][0]["guardianCount"], 0);
    let emails = app.query(&x.s.integrator, README_QUERY, json!({ "year": a })).await?;
    assert_eq!(emails["node"]["guardians"]["edges"][0]["node"]["email"], Value::Null);
    // Nor another school's changes.
    let changes = app
        .query(
            integrator_b,
            "query($s: ID!) { groupMembershipChanges(schoolId: $s) { edges { cursor } } }",
            json!({ "s": gid(NodeType::School, x.s.school_a.id) }),
        )
        .await?;
    assert_eq!(changes["groupMembershipChanges"]["edges"], json!([]));
    Ok(())
}

async fn the_readme_query_runs(engine: Engine) -> anyhow::Result<()> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))?;
    assert!(readme.contains(README_QUERY), "README.md must carry the parent-group example verbatim");
    let app = TestApp::spawn(&engine).await?;
    let x = Families::build(&app).await?;
    let data = app.query(&x.s.school_a_admin, README_QUERY, json!({ "year": year(&x.year3_a) })).await?;
    assert_eq!(data["node"]["name"], "Year 3");
    assert_eq!(data["node"]["guardianCount"], 2);
    assert_eq!(names(&data["node"]["guardians"]), ["Bea Brown", "Gail Green"]);
    Ok(())
}
