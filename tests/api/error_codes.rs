//! docs/errors.md is the whole list of `extensions.code`s: its table, the
//! `error::CODES` constant and the codes the source makes agree, every code
//! is asserted by some test, and each one this file can reach is provoked
//! here with a real request, at the HTTP status the table gives.

use base64::Engine as _;
use entity::enums::{SyncKind, SyncStatus};
use onroll::graphql::ids::NodeType;
use onroll::limits::LimitsConfig;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::on_both_engines;
use crate::support::fixture::{Fixture, Scenario, gid};
use crate::support::{Engine, TestApp};

/// The table of docs/errors.md: code → HTTP status column.
fn documented() -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/errors.md"))?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let code = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            code.chars()
                .all(|c| c.is_ascii_uppercase() || c == '_')
                .then(|| (code.to_owned(), cells[2].to_owned()))
        })
        .collect())
}

/// Upper-case string literals in the files that make codes.
fn codes_in_source() -> anyhow::Result<BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![root.join("error.rs"), root.join("limits.rs")];
    for dir in ["http", "limits"] {
        for entry in std::fs::read_dir(root.join(dir))? {
            let path = entry?.path();
            // Rust sources only: `http/graphiql/` holds vendored assets.
            if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut codes = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file)?;
        // Environment variables' names (`env = "..."`) are upper case too.
        let text: String =
            text.lines().filter(|line| !line.contains("env = ")).collect::<Vec<_>>().join("\n");
        for literal in text.split('"').skip(1).step_by(2) {
            if literal.len() > 3
                && literal.contains('_')
                && literal.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            {
                codes.insert(literal.to_owned());
            }
        }
    }
    Ok(codes)
}

#[test]
fn the_table_the_constant_and_the_source_agree() -> anyhow::Result<()> {
    let table: BTreeSet<String> = documented()?.into_iter().map(|(code, _)| code).collect();
    let constant: BTreeSet<String> = onroll::error::CODES.iter().map(|c| (*c).to_owned()).collect();
    assert_eq!(table, constant, "docs/errors.md and error::CODES");
    let made = codes_in_source()?;
    let undocumented: Vec<_> = made.iter().filter(|code| !constant.contains(*code)).collect();
    assert!(undocumented.is_empty(), "codes made in src/ but not in error::CODES: {undocumented:?}");
    // Codes the error types make from elsewhere (e.g. error.rs alone) are
    // few; any more means the list holds codes nothing makes.
    let unused: Vec<_> = constant.iter().filter(|code| !made.contains(*code)).collect();
    assert!(unused.len() <= 4, "codes listed but made nowhere: {unused:?}");
    Ok(())
}

#[test]
fn every_code_is_asserted_by_some_test() -> anyhow::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api");
    let mut text = String::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("error_codes.rs") {
            text.push_str(&std::fs::read_to_string(path)?);
        }
    }
    let missing: Vec<_> = onroll::error::CODES
        .iter()
        .filter(|code| !text.contains(&format!("\"{code}\"")) && !PROVOKED_HERE.contains(code))
        .collect();
    assert!(missing.is_empty(), "codes no test provokes: {missing:?}");
    Ok(())
}

/// The codes `error_codes_are_provoked` below makes.
const PROVOKED_HERE: &[&str] = &[
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "BAD_USER_INPUT",
    "CONFLICT",
    "BAD_REQUEST",
    "GRAPHQL_VALIDATION_FAILED",
    "INTERNAL_SERVER_ERROR",
    "WONDE_NOT_CONFIGURED",
    "WONDE_UNAVAILABLE",
    "DOCUMENT_TOO_LARGE",
    "MAX_COST_EXCEEDED",
    "RATE_LIMITED",
    "TIMEOUT",
    "TOO_MANY_SOCKETS",
];

fn status_of(code: &str) -> u16 {
    let table = documented().unwrap_or_default();
    let cell = table.iter().find(|(c, _)| c == code).map(|(_, s)| s.clone()).unwrap_or_default();
    cell.split(|c: char| !c.is_ascii_digit()).find(|n| n.len() == 3).and_then(|n| n.parse().ok()).unwrap_or(0)
}

struct Seen {
    codes: BTreeSet<String>,
}

impl Seen {
    /// Checks that a response answered `code` at the status the table gives
    /// (or, for errors inside an answer, 200).
    fn saw(&mut self, what: &str, status: u16, body: &Value, code: &str) {
        let got = body["errors"][0]["extensions"]["code"].as_str().unwrap_or("<none>");
        assert_eq!(got, code, "{what}: {body}");
        assert_eq!(status, status_of(code), "{what}: the status docs/errors.md gives for {code}");
        self.codes.insert(code.to_owned());
    }
}

async fn error_codes_are_provoked(engine: Engine) -> anyhow::Result<()> {
    let limits =
        LimitsConfig { rate_points_per_minute: 20, ws_pending_per_address: 1, ..LimitsConfig::default() };
    let app = TestApp::spawn_with_limits(&engine, None, limits).await?;
    let s = Scenario::build(app.db()).await?;
    let mut seen = Seen { codes: BTreeSet::new() };
    let admin = Some(s.trust_admin.as_str());
    let school_a = gid(NodeType::School, s.school_a.id);

    let (status, body) = app.post(None, "{ viewer { role } }", json!({})).await?;
    seen.saw("no token", status, &body, "UNAUTHENTICATED");
    let quality = "query($s: ID!) { dataQuality(schoolId: $s) { totalCount } }";
    let (status, body) = app.post(Some(&s.integrator), quality, json!({ "s": school_a })).await?;
    seen.saw("an integrator's dataQuality", status, &body, "FORBIDDEN");
    let other = gid(NodeType::School, s.other_school.id);
    let (status, body) = app.post(admin, quality, json!({ "s": other })).await?;
    seen.saw("another trust's school", status, &body, "NOT_FOUND");
    let (status, body) = app.post(admin, "{ student(id: \"garbage\") { id } }", json!({})).await?;
    seen.saw("a malformed ID", status, &body, "BAD_USER_INPUT");
    let (status, body) = app.post(admin, "{ viewer { noSuchField } }", json!({})).await?;
    seen.saw("an unknown field", status, &body, "GRAPHQL_VALIDATION_FAILED");
    let response = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth(&s.trust_admin)
        .header("content-type", "application/json")
        .body("not json")
        .send()
        .await?;
    let status = response.status().as_u16();
    seen.saw("not a GraphQL request", status, &response.json().await?, "BAD_REQUEST");

    // A run of the school is under way: deciding held changes waits.
    Fixture::new(app.db()).sync_run(&s.school_a, SyncKind::Full, SyncStatus::Running).await?;
    let approve =
        "mutation($s: ID!, $ids: [ID!]!) { approveHeldChanges(schoolId: $s, ids: $ids) { skipped } }";
    let held = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("HeldChange:1");
    let (status, body) = app.post(admin, approve, json!({ "s": school_a, "ids": [held] })).await?;
    seen.saw("deciding during a run", status, &body, "CONFLICT");

    // No app token configured; no Wonde listening.
    let request = "mutation($i: RequestWondeAccessInput!) { requestWondeAccess(input: $i) { id } }";
    let input = json!({ "i": { "trustId": gid(NodeType::Trust, s.trust.id), "wondeSchoolId": "A1",
        "contact": { "firstName": "Ann", "lastName": "Lee", "email": "ann@trust.example" } } });
    let (status, body) = app.post(admin, request, input).await?;
    seen.saw("an access request without an app token", status, &body, "WONDE_NOT_CONFIGURED");
    let connect = "mutation($i: ConnectWondeInput!) { connectWonde(input: $i) { id } }";
    let input = json!({ "i": { "trustId": gid(NodeType::Trust, s.trust.id), "wondeSchoolId": "A1", "apiToken": "t" } });
    let (status, body) = app.post(admin, connect, input).await?;
    seen.saw("Wonde unreachable", status, &body, "WONDE_UNAVAILABLE");

    let (status, body) =
        app.post(admin, &format!("{{ viewer {} }}", "{ role ".repeat(70)), json!({})).await?;
    seen.saw("nested too deep", status, &body, "DOCUMENT_TOO_LARGE");
    let aliases: String = (0..60).map(|i| format!(" a{i}: __typename")).collect();
    let (status, body) = app.post(admin, &format!("{{{aliases} }}"), json!({})).await?;
    seen.saw("too many aliases", status, &body, "MAX_COST_EXCEEDED");

    // The database fails: a table is gone.
    app.db().execute_unprepared("DROP TABLE data_quality_finding").await?;
    let (status, body) = app.post(admin, quality, json!({ "s": school_a })).await?;
    seen.saw("the database failing", status, &body, "INTERNAL_SERVER_ERROR");
    assert!(!body.to_string().contains("data_quality_finding"), "no database text: {body}");

    // A token of its own spends its 20 points, 4 at a time.
    let spender =
        Fixture::new(app.db()).token(entity::enums::Role::Integrator, Some(s.trust.id), &[]).await?;
    let costly = "{ deactivationEvents(first: 100) { edges { node { id kind } } } }";
    let (mut status, mut body) = (0, Value::Null);
    for _ in 0..10 {
        (status, body) = app.post(Some(&spender), costly, json!({})).await?;
        if status != 200 {
            break;
        }
    }
    seen.saw("points spent", status, &body, "RATE_LIMITED");

    let mut request = format!("ws://{}/graphql/ws", app.addr).into_client_request()?;
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse()?);
    let _first = tokio_tungstenite::connect_async(request.clone()).await?;
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body =
                response.body().as_deref().map(serde_json::from_slice).transpose()?.unwrap_or(Value::Null);
            seen.saw("a second idle socket", response.status().as_u16(), &body, "TOO_MANY_SOCKETS");
        }
        other => anyhow::bail!("a second idle socket was not refused: {:?}", other.map(|_| ())),
    }

    let slow = LimitsConfig { request_timeout: Duration::from_millis(1_500), ..LimitsConfig::default() };
    let (_sim, app, s, school) = crate::limits::slow_school(&engine, slow, 2_000).await?;
    let (status, body) =
        app.post(Some(&s.trust_admin), crate::limits::PREVIEW, json!({ "s": school })).await?;
    seen.saw("over the time limit", status, &body, "TIMEOUT");

    let expected: BTreeSet<String> = PROVOKED_HERE.iter().map(|c| (*c).to_owned()).collect();
    assert_eq!(seen.codes, expected);
    Ok(())
}

on_both_engines!(error_codes_are_provoked);
