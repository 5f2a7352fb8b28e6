//! The hot query shapes of issue 15 (a school's first 100 students with
//! guardians and classes, a class roster, one student by id with
//! guardians): each issues a number of SQL statements fixed by its shape,
//! the same at 10 rows as at 1,000, and the same per request when many run
//! at once as when one runs alone.

use futures::future::join_all;
use onroll::graphql::ids::NodeType;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::on_both_engines;
use crate::support::big_year::{self, BigYear};
use crate::support::fixture::{Scenario, gid};
use crate::support::{Engine, TestApp};

on_both_engines!(hot_shapes_issue_statements_fixed_by_shape_under_load);

const FIRST_STUDENTS: &str = "query($school: ID!) { school(id: $school) { students(first: 100) {
    edges { node { id forename surname
        guardians { relationship guardian { forename surname } }
        classes { name } } } } } }";

const ROSTER: &str = "query($class: ID!) { node(id: $class) { ... on Class { name
    students(first: 100) { totalCount edges { node { forename surname } } } } } }";

/// Rosters nested under a list: every year group of the school, each with
/// its first pupils and their count.
const NESTED_ROSTERS: &str = "query($school: ID!) { school(id: $school) { yearGroups { name
    students(first: 10) { totalCount edges { node { forename } } } } } }";

const ONE_STUDENT: &str = "query($student: ID!) { node(id: $student) { ... on Student { forename surname
    guardians { relationship guardian { forename surname } } } } }";

/// Requests in flight at once for the loaded measurement.
const CONCURRENT: usize = 8;

/// Pupils of the second, small year group every school has.
const SECOND_YEAR: usize = 5;

/// One school with a year of `size` pupils and one of [`SECOND_YEAR`] (each
/// pupil in a year, a form and a class, with about 1.5 guardians): the
/// queries' variables for it.
async fn school_of(app: &TestApp, s: &Scenario, tag: &str, size: usize) -> anyhow::Result<[Value; 4]> {
    let f = crate::support::fixture::Fixture::new(app.db());
    let school = f.school(&s.trust, &format!("School {tag}")).await?;
    let BigYear { class, .. } = big_year::populate(app.db(), school.id, "Year 7", tag, size).await?;
    big_year::populate(app.db(), school.id, "Year 8", &format!("{tag}-8"), SECOND_YEAR).await?;
    let first = entity::student::Entity::find()
        .filter(entity::student::Column::SchoolId.eq(school.id))
        .one(app.db())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no student written"))?;
    Ok([
        json!({ "school": gid(NodeType::School, school.id) }),
        json!({ "class": gid(NodeType::Class, class.id) }),
        json!({ "student": gid(NodeType::Student, first.id) }),
        json!({ "school": gid(NodeType::School, school.id) }),
    ])
}

/// Statements one request alone issues (after a warm-up), and the rows it
/// answered (students, or guardians for one student).
async fn alone(app: &TestApp, token: &str, query: &str, vars: &Value) -> anyhow::Result<(usize, usize)> {
    app.query(token, query, vars.clone()).await?;
    let before = app.statements();
    let data = app.query(token, query, vars.clone()).await?;
    Ok((app.statements() - before, rows(&data)))
}

fn rows(data: &Value) -> usize {
    let edges = |v: &Value| v["students"]["edges"].as_array().map_or(0, Vec::len);
    let nested: usize =
        data["school"]["yearGroups"].as_array().map_or(0, |years| years.iter().map(edges).sum());
    edges(&data["school"])
        + edges(&data["node"])
        + data["node"]["guardians"].as_array().map_or(0, Vec::len)
        + nested
}

/// The totals a roster answer gives, in order.
fn totals(data: &Value) -> Vec<i64> {
    let total = |v: &Value| v["students"]["totalCount"].as_i64();
    match data["school"]["yearGroups"].as_array() {
        Some(years) => years.iter().filter_map(total).collect(),
        None => total(&data["node"]).into_iter().collect(),
    }
}

/// Statements per request with [`CONCURRENT`] of the same request in flight.
async fn loaded(app: &TestApp, token: &str, query: &str, vars: &Value) -> anyhow::Result<usize> {
    let before = app.statements();
    let answers = join_all((0..CONCURRENT).map(|_| app.query(token, query, vars.clone()))).await;
    for answer in answers {
        answer?;
    }
    let total = app.statements() - before;
    anyhow::ensure!(
        total.is_multiple_of(CONCURRENT),
        "{total} statements for {CONCURRENT} identical requests"
    );
    Ok(total / CONCURRENT)
}

async fn hot_shapes_issue_statements_fixed_by_shape_under_load(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let small = school_of(&app, &s, "small", 10).await?;
    let large = school_of(&app, &s, "large", 1_000).await?;
    let token = &s.trust_admin;
    // Exact statements per shape: the root, the page, then one per
    // relation level (a link is read with its guardian, a membership with
    // its group: `graphql/joined.rs`). Authentication costs none: the token
    // is answered from the server's token cache (before it: one more each).
    let shapes = [
        ("first 100 students", FIRST_STUDENTS, 4),
        ("class roster", ROSTER, 2),
        ("one student", ONE_STUDENT, 2),
        ("rosters nested under a list", NESTED_ROSTERS, 3),
    ];
    for (i, (name, query, expected)) in shapes.into_iter().enumerate() {
        let (at_10, small_rows) = alone(&app, token, query, &small[i]).await?;
        let (at_1000, large_rows) = alone(&app, token, query, &large[i]).await?;
        let under_load = loaded(&app, token, query, &large[i]).await?;
        eprintln!(
            "{name}: {at_10} statements at 10 rows, {at_1000} at 1,000, {under_load} each of {CONCURRENT} at once"
        );
        let large_data = app.query(token, query, large[i].clone()).await?;
        match i {
            0 => {
                assert_eq!((small_rows, large_rows), (10 + SECOND_YEAR, 100), "{name}: a page of the school")
            }
            1 => {
                assert_eq!((small_rows, large_rows), (10, 100), "{name}: a page of the class");
                assert_eq!(totals(&large_data), vec![1_000], "{name}: the roster's total");
            }
            2 => assert!(small_rows > 0 && small_rows == large_rows, "{name}: the pupil's guardians"),
            _ => {
                assert_eq!(
                    (small_rows, large_rows),
                    (10 + SECOND_YEAR, 10 + SECOND_YEAR),
                    "{name}: first pages"
                );
                let mut got = totals(&large_data);
                got.sort_unstable();
                assert_eq!(got, vec![SECOND_YEAR as i64, 1_000], "{name}: each roster's own total");
            }
        }
        if i == 1 {
            walk_roster(&app, token, &large[i]).await?;
        }
        assert_eq!(at_10, expected, "{name}: statements of the shape");
        assert_eq!(at_10, at_1000, "{name}: statements moved with the rows");
        assert_eq!(at_1000, under_load, "{name}: statements moved with the load");
    }
    Ok(())
}

/// Pages through the 1,000-pupil class with `after`: every pupil once, in
/// id order, and no next page after the last.
async fn walk_roster(app: &TestApp, token: &str, vars: &Value) -> anyhow::Result<()> {
    const PAGE: &str = "query($class: ID!, $after: String) { node(id: $class) { ... on Class {
        students(first: 100, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } } } }";
    let mut seen: Vec<String> = Vec::new();
    let mut after = Value::Null;
    loop {
        let mut page_vars = vars.clone();
        page_vars["after"] = after;
        let data = app.query(token, PAGE, page_vars).await?;
        let students = &data["node"]["students"];
        let edges = students["edges"].as_array().cloned().unwrap_or_default();
        seen.extend(edges.iter().filter_map(|e| e["node"]["id"].as_str().map(str::to_owned)));
        if students["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = students["pageInfo"]["endCursor"].clone();
        anyhow::ensure!(seen.len() <= 1_000, "the walk does not end");
    }
    let distinct: std::collections::BTreeSet<&String> = seen.iter().collect();
    assert_eq!((seen.len(), distinct.len()), (1_000, 1_000), "every pupil of the class once");
    Ok(())
}
