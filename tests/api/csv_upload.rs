//! `importCsv` over HTTP: the GraphQL multipart request spec that
//! front-end upload clients (Apollo, urql) send, on both engines.

use entity::{student, sync_run};
use onroll::graphql::ids::NodeType;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::on_both_engines;
use crate::support::fixture::{Scenario, gid};
use crate::support::{Engine, TestApp};

on_both_engines!(csv_uploads_apply_or_refuse_whole, files_as_excel_writes_them);

pub(crate) const IMPORT: &str = "mutation($s: ID!, $students: Upload, $guardians: Upload, $full: Boolean) {
    importCsv(schoolId: $s, students: $students, guardians: $guardians, full: $full) {
        run { kind status students { created } guardians { created } } errors { file line column message } } }";

const STUDENTS: &str = "id,forename,surname,year,form\nS1,Amy,Smith,Year 7,7A\nS2,Ben,Smith,Year 7,7A\n";
const GUARDIANS: &str =
    "id,surname,forename,student_id,relationship\nG1,Smith,Ann,S1,Mother\nG1,Smith,Ann,S2,Mother\n";

/// A multipart body per the GraphQL multipart request spec: `operations`,
/// `map`, then one part per file.
pub(crate) fn multipart(query: &str, variables: Value, files: &[(&str, &str)]) -> (String, Vec<u8>) {
    let boundary = "onroll-test-boundary-7d1c";
    let mut vars = variables;
    let mut map = serde_json::Map::new();
    for (index, (variable, _)) in files.iter().enumerate() {
        vars[*variable] = Value::Null;
        map.insert(index.to_string(), json!([format!("variables.{variable}")]));
    }
    let mut body = String::new();
    let mut part = |name: &str, filename: Option<&str>, content: &str| {
        body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\""));
        if let Some(filename) = filename {
            body.push_str(&format!("; filename=\"{filename}\"\r\nContent-Type: text/csv"));
        }
        body.push_str(&format!("\r\n\r\n{content}\r\n"));
    };
    part("operations", None, &json!({ "query": query, "variables": vars }).to_string());
    part("map", None, &Value::Object(map).to_string());
    for (index, (variable, content)) in files.iter().enumerate() {
        part(&index.to_string(), Some(&format!("{variable}.csv")), content);
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (format!("multipart/form-data; boundary={boundary}"), body.into_bytes())
}

async fn upload(
    app: &TestApp,
    token: &str,
    variables: Value,
    files: &[(&str, &str)],
) -> anyhow::Result<Value> {
    send(app, token, IMPORT, variables, files).await
}

/// `importCsv` with all three files possible, answering every count.
pub(crate) const IMPORT_ALL: &str =
    "mutation($s: ID!, $students: Upload, $staff: Upload, $guardians: Upload) {
    importCsv(schoolId: $s, students: $students, staff: $staff, guardians: $guardians) {
        run { status students { created } staff { created } guardians { created } }
        errors { file line column message } } }";

/// Sends `query` with `variables` and `files`, each (variable, content),
/// as a multipart upload; answers the JSON response. With `IMPORT_ALL`, any of
/// `students`, `staff` and `guardians` go in one import.
pub(crate) async fn send(
    app: &TestApp,
    token: &str,
    query: &str,
    variables: Value,
    files: &[(&str, &str)],
) -> anyhow::Result<Value> {
    let (content_type, body) = multipart(query, variables, files);
    let answer = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await?;
    anyhow::ensure!(answer.status() == 200, "HTTP {}", answer.status());
    Ok(answer.json().await?)
}

/// Creates the school `name` (fed by CSV) in the scenario's trust, as its
/// trust admin does over the API; the school's global id.
pub(crate) async fn create_csv_school(app: &TestApp, s: &Scenario, name: &str) -> anyhow::Result<String> {
    let query =
        format!("mutation($t: ID!) {{ createSchool(input: {{ trustId: $t, name: {name:?} }}) {{ id }} }}");
    let created = app.query(&s.trust_admin, &query, json!({ "t": gid(NodeType::Trust, s.trust.id) })).await?;
    let school = created["createSchool"]["id"].as_str().unwrap_or_default().to_owned();
    anyhow::ensure!(!school.is_empty(), "createSchool: {created}");
    Ok(school)
}

/// How many students and runs the database holds: what an import may change.
async fn students_and_runs(app: &TestApp) -> anyhow::Result<(u64, u64)> {
    let students = student::Entity::find().count(app.db()).await?;
    let runs = sync_run::Entity::find().count(app.db()).await?;
    Ok((students, runs))
}

fn code(answer: &Value) -> &str {
    answer["errors"][0]["extensions"]["code"].as_str().unwrap_or("none")
}

async fn csv_uploads_apply_or_refuse_whole(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let school = create_csv_school(&app, &s, "Willow Bank").await?;
    let counts = || students_and_runs(&app);
    let before = counts().await?;
    let files = [("students", STUDENTS), ("guardians", GUARDIANS)];

    // Refusals: role, scope, a Wonde school, rows with errors.
    let refused = upload(&app, &s.integrator, json!({ "s": school, "full": true }), &files).await?;
    assert_eq!(code(&refused), "FORBIDDEN");
    let refused = upload(&app, &s.school_a_admin, json!({ "s": school, "full": true }), &files).await?;
    assert_eq!(code(&refused), "NOT_FOUND");
    let wonde_school = gid(NodeType::School, s.school_a.id);
    let refused = upload(&app, &s.trust_admin, json!({ "s": wonde_school, "full": true }), &files).await?;
    assert_eq!(code(&refused), "BAD_USER_INPUT", "{refused}");
    let bad_students = "id,forename,surname,leaving_date\nS1,Amy,Smith,31/02/2025\nS2,,Smith,\n";
    let bad = upload(&app, &s.trust_admin, json!({ "s": school }), &[("students", bad_students)]).await?;
    let result = &bad["data"]["importCsv"];
    assert_eq!(result["run"], Value::Null, "{bad}");
    let errors = result["errors"].as_array().cloned().unwrap_or_default();
    let places: Vec<(String, i64, String)> = errors
        .iter()
        .map(|e| {
            let text = |f: &str| e[f].as_str().unwrap_or_default().to_owned();
            (text("file"), e["line"].as_i64().unwrap_or_default(), text("column"))
        })
        .collect();
    assert_eq!(
        places,
        vec![
            ("students".to_owned(), 2, "leaving_date".to_owned()),
            ("students".to_owned(), 3, "forename".to_owned())
        ]
    );
    assert_eq!(counts().await?, before, "refusals write nothing, not even a run");

    // Valid files apply as one CSV run.
    let applied = upload(&app, &s.trust_admin, json!({ "s": school, "full": true }), &files).await?;
    let run = &applied["data"]["importCsv"]["run"];
    assert_eq!(run["kind"], "CSV", "{applied}");
    assert_eq!(run["status"], "COMPLETED");
    assert_eq!(run["students"]["created"], 2);
    assert_eq!(run["guardians"]["created"], 1);
    assert_eq!(applied["data"]["importCsv"]["errors"], json!([]));
    let roster = app
        .query(
            &s.integrator,
            "query($s: ID!) { node(id: $s) { ... on School { students { totalCount }
                guardians { edges { node { forename children { relationship student { forename } } } } } } } }",
            json!({ "s": school }),
        )
        .await?;
    assert_eq!(roster["node"]["students"]["totalCount"], 2, "{roster}");
    let ann = &roster["node"]["guardians"]["edges"][0]["node"];
    assert_eq!(ann["forename"], "Ann");
    assert_eq!(ann["children"].as_array().map(Vec::len), Some(2));
    assert_eq!(ann["children"][0]["relationship"], "MOTHER");
    Ok(())
}

/// (file, line, column) of each error of an `importCsv` answer.
fn places(answer: &Value) -> Vec<(String, i64, Option<String>)> {
    let errors = answer["data"]["importCsv"]["errors"].as_array().cloned().unwrap_or_default();
    errors
        .iter()
        .map(|e| {
            let file = e["file"].as_str().unwrap_or_default().to_owned();
            (file, e["line"].as_i64().unwrap_or_default(), e["column"].as_str().map(str::to_owned))
        })
        .collect()
}

fn place(file: &str, line: i64, column: Option<&str>) -> (String, i64, Option<String>) {
    (file.to_owned(), line, column.map(str::to_owned))
}

const ROSTER: &str = "query($s: ID!) { node(id: $s) { ... on School {
    students(first: 10) { edges { node { forename status deactivationReason } } }
    guardians(first: 10) { edges { node { forename children { relationship relationshipLabel } } } } } } }";

/// Files as Excel saves them: CRLF line ends, a byte-order mark, `;` (a
/// locale whose decimal mark is a comma) or tab separators, trailing empty
/// columns, UK dates. Errors name the line a spreadsheet shows.
async fn files_as_excel_writes_them(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let school = create_csv_school(&app, &s, "Willow Bank").await?;
    let counts = || students_and_runs(&app);
    let before = counts().await?;
    let vars = json!({ "s": school, "full": true });

    // CRLF: a bad first row is line 2, not the header; line 4 is line 4.
    let crlf =
        "id,forename,surname,leaving_date\r\nS1,,Smith,\r\nS2,Ben,Smith,\r\nS3,Cal,Jones,31/02/2026\r\n";
    let refused = upload(&app, &s.trust_admin, vars.clone(), &[("students", crlf)]).await?;
    assert_eq!(
        places(&refused),
        vec![place("students", 2, Some("forename")), place("students", 4, Some("leaving_date"))],
        "{refused}"
    );
    // A separator we do not read is named, and refused.
    let piped = "id|forename|surname\r\nS1|Amy|Smith\r\n";
    let refused = upload(&app, &s.trust_admin, vars.clone(), &[("students", piped)]).await?;
    assert_eq!(places(&refused), vec![place("students", 1, None)], "{refused}");
    assert_eq!(
        refused["data"]["importCsv"]["errors"][0]["message"],
        "the header row is separated by '|'; use commas, semicolons or tabs"
    );
    assert_eq!(counts().await?, before, "refusals write nothing");

    // `;` students (with a BOM and trailing empty columns), tab guardians.
    let students = |cal_leaves: &str| {
        format!(
            "\u{feff}id;forename;surname;leaving_date;;\r\nS1;Amy;Smith;;;\r\nS2;Ben;Smith;31/08/2099;;\r\n\
             S3;Cal;Jones;{cal_leaves};;\r\n"
        )
    };
    let guardians = "id\tsurname\tforename\tstudent_id\trelationship\r\n\
                     G1\tSmith\tAnn\tS1\tMother\r\nG2\tSmith\tSue\tS2\tStep-sister\r\nG3\tJones\tJo\tS3\tGodmother\r\n";
    let first = students("");
    let applied =
        upload(&app, &s.trust_admin, vars.clone(), &[("students", &first), ("guardians", guardians)]).await?;
    let run = &applied["data"]["importCsv"]["run"];
    assert_eq!((&run["status"], &run["students"]["created"]), (&json!("COMPLETED"), &json!(3)), "{applied}");
    assert_eq!(run["guardians"]["created"], 3);
    let roster = app.query(&s.integrator, ROSTER, json!({ "s": school })).await?;
    let mut links: Vec<(String, String, String)> = roster["node"]["guardians"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            let child = &e["node"]["children"][0];
            (text(&e["node"]["forename"]), text(&child["relationship"]), text(&child["relationshipLabel"]))
        })
        .collect();
    links.sort();
    assert_eq!(
        links,
        [("Ann", "MOTHER", "Mother"), ("Jo", "OTHER", "Godmother"), ("Sue", "OTHER_RELATIVE", "Step-sister")]
            .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned())),
        "{roster}"
    );

    // A UK date that has come makes a leaver.
    let leaves = students("01/09/2025");
    let applied =
        upload(&app, &s.trust_admin, vars.clone(), &[("students", &leaves), ("guardians", guardians)])
            .await?;
    assert_eq!(applied["data"]["importCsv"]["run"]["status"], "COMPLETED", "{applied}");
    let roster = app.query(&s.integrator, ROSTER, json!({ "s": school })).await?;
    let students = roster["node"]["students"]["edges"].as_array().cloned().unwrap_or_default();
    let status_of = |name: &str| {
        students
            .iter()
            .find(|e| e["node"]["forename"] == name)
            .map(|e| (e["node"]["status"].clone(), e["node"]["deactivationReason"].clone()))
    };
    assert_eq!(status_of("Cal"), Some((json!("DEACTIVATED"), json!("LEFT_SCHOOL"))), "{roster}");
    assert_eq!(status_of("Ben"), Some((json!("ACTIVE"), Value::Null)), "31/08/2099 is still to come");
    Ok(())
}
