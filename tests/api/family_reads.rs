//! Families read only what a request needs (issue 15, item 4): a page of
//! families, or one family by id, costs the same statements in a trust of
//! 10 families as in one of 200, and answers exactly as the whole trust's
//! index does (the path `totalCount` and members' `family` fields take).

use entity::enums::{AccountStatus, RelationshipType};
use entity::student;
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::{Value, json};

use crate::on_both_engines;
use crate::support::fixture::{Fixture, Scenario};
use crate::support::{Engine, TestApp};

on_both_engines!(
    family_pages_cost_the_same_whatever_the_trust_size,
    reached_families_match_the_whole_index,
    a_upn_with_other_whitespace_joins_as_in_the_whole_index
);

const MEMBERS: &str = "id guardians { id } children { id } schools { id }";

/// `families` households more in the scenario's trust, each shaped like a
/// real one: two siblings at school A with a mother, whose email (in
/// another case) is also a guardian at school B with a third child there;
/// every third household's second sibling has a father too. Every tenth
/// uses a placeholder email, which joins nobody, and every seventh's
/// record at B has another surname, so its email joins nobody either.
/// With `copies`, every fifth has the first child's UPN copied onto
/// another child of school A with a guardian of their own (every tenth, a
/// leaver), so that UPN joins nobody (a shape of its own: reaching it reads
/// the UPN's holders).
async fn households(app: &TestApp, s: &Scenario, families: usize, copies: bool) -> anyhow::Result<()> {
    let f = Fixture::new(app.db());
    for i in 0..families {
        let email = match i {
            i if i % 10 == 9 => "noemail@school.org".to_owned(),
            i => format!("parent{i}@homes.example"),
        };
        let surname_at_b = if i % 7 == 6 { "Other" } else { "Home" };
        let mother = f.guardian(&s.school_a, &format!("HM{i}"), "Mum", "Home", Some(&email)).await?;
        let twin = f
            .guardian(&s.school_b, &format!("HT{i}"), "Mum", surname_at_b, Some(&email.to_uppercase()))
            .await?;
        let first = f
            .student(
                &s.school_a,
                &format!("HS{i}a"),
                "Kid",
                "Home",
                Some(&crate::support::upn(&format!("H{i}"))),
            )
            .await?;
        let second = f.student(&s.school_a, &format!("HS{i}b"), "Sib", "Home", None).await?;
        let away = f.student(&s.school_b, &format!("HS{i}c"), "Away", "Home", None).await?;
        f.link(&first, &mother, RelationshipType::Mother, 1).await?;
        f.link(&second, &mother, RelationshipType::Mother, 1).await?;
        f.link(&away, &twin, RelationshipType::Mother, 1).await?;
        if i % 3 == 0 {
            let father = f.guardian(&s.school_a, &format!("HF{i}"), "Dad", "Home", None).await?;
            f.link(&second, &father, RelationshipType::Father, 2).await?;
        }
        if copies && i % 5 == 4 {
            let copy =
                f.student(&s.school_a, &format!("HS{i}d"), "Cop", "Other", first.upn.as_deref()).await?;
            let carer = f.guardian(&s.school_a, &format!("HC{i}"), "Cat", "Other", None).await?;
            f.link(&copy, &carer, RelationshipType::Carer, 1).await?;
            if i % 10 == 9 {
                let mut left: student::ActiveModel = copy.into();
                left.status = Set(AccountStatus::Deactivated);
                left.update(app.db()).await?;
            }
        }
    }
    Ok(())
}

fn page_query(counted: bool) -> String {
    let total = if counted { "totalCount" } else { "" };
    format!(
        "query($first: Int!, $after: String) {{ trusts {{ families(first: $first, after: $after) {{ {total}
            edges {{ cursor node {{ {MEMBERS} }} }} pageInfo {{ hasNextPage endCursor }} }} }} }}"
    )
}

/// Statements of one request, after the same request warmed the server;
/// fails if one of them reads a whole table of the scope.
async fn statements(app: &TestApp, token: &str, query: &str, vars: Value) -> anyhow::Result<(usize, Value)> {
    app.query(token, query, vars.clone()).await?;
    app.record_sql(true);
    let data = app.query(token, query, vars).await;
    let sql = app.record_sql(false);
    if let Some(whole) = sql.iter().find(|sql| reads_the_whole_scope(sql)) {
        anyhow::bail!("a statement reads every row of the scope: {whole}");
    }
    Ok((sql.len(), data?))
}

/// Whether a statement reads guardians, pupils or links with no bound but
/// the viewer's schools: no ids, keys or `LIMIT` narrow it (the whole
/// family index's three reads).
fn reads_the_whole_scope(sql: &str) -> bool {
    let people = ["FROM \"guardian\" ", "FROM \"student\" ", "FROM \"guardian_link\" "];
    let bounds = ["\"id\" IN (", "_id\" IN (", "\"email_key\" IN (", "UPPER(TRIM(", "LIMIT"];
    let narrowed = |sql: &str| {
        // The scope itself (`school_id IN (SELECT ...)`) bounds nothing.
        let unscoped = sql.replace("\"school_id\" IN (", "");
        bounds.iter().any(|bound| unscoped.contains(bound))
    };
    people.iter().any(|table| sql.contains(table)) && !narrowed(sql)
}

async fn family_pages_cost_the_same_whatever_the_trust_size(engine: Engine) -> anyhow::Result<()> {
    let mut counts = Vec::new();
    for size in [10, 200] {
        let app = TestApp::spawn(&engine).await?;
        let s = Scenario::build(app.db()).await?;
        households(&app, &s, size, false).await?;
        let token = &s.trust_admin;
        let (page, data) = statements(&app, token, &page_query(false), json!({ "first": 5 })).await?;
        let edges = data["trusts"][0]["families"]["edges"].as_array().map_or(0, Vec::len);
        assert_eq!(edges, 5, "a full page at {size} families");
        let id = data["trusts"][0]["families"]["edges"][4]["node"]["id"].clone();
        let one = format!("query($id: ID!) {{ node(id: $id) {{ ... on Family {{ {MEMBERS} }} }} }}");
        let (family, found) = statements(&app, token, &one, json!({ "id": id })).await?;
        assert_eq!(found["node"]["id"], id, "the family by its id");
        eprintln!("{size} families: a page of 5 in {page} statements, one family by id in {family}");
        counts.push((page, family));
    }
    assert_eq!(counts[0], counts[1], "statements grew with the trust");
    Ok(())
}

/// Every page (walked with `after`, without `totalCount`) equals the page
/// the whole index gives (with it); every family's node and every member's
/// `family` name the same family.
async fn reached_families_match_the_whole_index(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    households(&app, &s, 30, true).await?;
    match_the_whole_index(&app, &s).await
}

/// A pupil's record at school B whose UPN ends in a tab (as an MIS may
/// send it): the whole index trims it as Rust does (`upn_key`), so it is
/// the twin of the record at A, and the family read from the page outward
/// must hold it too.
async fn a_upn_with_other_whitespace_joins_as_in_the_whole_index(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    households(&app, &s, 3, false).await?;
    let f = Fixture::new(app.db());
    let mum = f.guardian(&s.school_a, "TM", "Mum", "Tab", Some("mum@tab.example")).await?;
    let dad = f.guardian(&s.school_b, "TD", "Dad", "Tab", Some("dad@tab.example")).await?;
    let at_a = f.student(&s.school_a, "TS-a", "Kid", "Tab", Some("U80000000000T")).await?;
    let at_b = f.student(&s.school_b, "TS-b", "Kid", "Tab", Some("U80000000000T\t")).await?;
    f.link(&at_a, &mum, RelationshipType::Mother, 1).await?;
    f.link(&at_b, &dad, RelationshipType::Father, 1).await?;
    match_the_whole_index(&app, &s).await
}

async fn match_the_whole_index(app: &TestApp, s: &Scenario) -> anyhow::Result<()> {
    for token in [&s.trust_admin, &s.school_a_admin, &s.integrator_b] {
        let mut after = Value::Null;
        let mut walked = Vec::new();
        loop {
            let vars = json!({ "first": 4, "after": after });
            let reached = app.query(token, &page_query(false), vars.clone()).await?;
            let whole = app.query(token, &page_query(true), vars).await?;
            let (reached, whole) = (&reached["trusts"][0]["families"], &whole["trusts"][0]["families"]);
            assert_eq!(reached["edges"], whole["edges"], "the page after {after}");
            assert_eq!(reached["pageInfo"], whole["pageInfo"], "the page after {after}");
            walked.extend(reached["edges"].as_array().cloned().unwrap_or_default());
            if reached["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = reached["pageInfo"]["endCursor"].clone();
        }
        let total = app.query(token, "{ trusts { families { totalCount } } }", json!({})).await?;
        assert_eq!(json!(walked.len()), total["trusts"][0]["families"]["totalCount"], "every family once");
        for edge in &walked {
            let family = &edge["node"];
            let query = format!(
                "query($id: ID!, $g: ID!, $c: ID!) {{ node(id: $id) {{ ... on Family {{ {MEMBERS} }} }}
                    g: node(id: $g) {{ ... on Guardian {{ family {{ id }} }} }}
                    c: node(id: $c) {{ ... on Student {{ family {{ id }} }} }} }}"
            );
            let last = |list: &str| family[list].as_array().and_then(|l| l.last()).map(|m| m["id"].clone());
            let vars = json!({ "id": family["id"], "g": last("guardians"), "c": last("children") });
            let data = app.query(token, &query, vars).await?;
            assert_eq!(&data["node"], family, "the family by its id");
            assert_eq!(data["g"]["family"]["id"], family["id"], "its last guardian's family");
            if !family["children"].as_array().is_none_or(Vec::is_empty) {
                assert_eq!(data["c"]["family"]["id"], family["id"], "its last child's family");
            }
        }
    }
    Ok(())
}
