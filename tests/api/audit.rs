//! The audit log (issue 13): every mutation is recorded with who, what,
//! which school and how it ended, refusals included; trust admins read
//! their trust's log through `auditLog` with filters, nobody else reads it;
//! the table refuses UPDATE and DELETE; CLI commands that change data are
//! recorded as `cli`; no secret is ever recorded.

use entity::{api_token, audit_log};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use std::process::Command;

use crate::on_both_engines;
use crate::support::fixture::gid;
use crate::support::{Engine, TestApp};
use onroll::graphql::ids::NodeType;

on_both_engines!(
    mutations_and_refusals_are_recorded_and_read_by_trust_admins,
    cli_commands_are_recorded,
    a_csv_import_refused_in_its_answer_is_recorded_as_refused,
    the_servers_own_purge_is_recorded_as_the_server
);

const BIN: &str = env!("CARGO_BIN_EXE_onroll");

const TRIGGER: &str = "mutation($s: ID!) { triggerSync(schoolId: $s, kind: FULL, force: true) { id } }";
const LOG: &str = "query($f: AuditLogFilter, $n: Int) { auditLog(filter: $f, first: $n) {
    edges { node { occurredAt actorKind actorTokenId actorRole action outcome detail school { id } } }
    pageInfo { hasNextPage } } }";

async fn token_id(app: &TestApp, token: &str) -> anyhow::Result<i32> {
    let row = api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(onroll::auth::hash_token(token)))
        .one(app.db())
        .await?;
    row.map(|r| r.id).ok_or_else(|| anyhow::anyhow!("no such token"))
}

async fn code(app: &TestApp, token: &str, query: &str, vars: Value) -> anyhow::Result<String> {
    let (_, body) = app.post(Some(token), query, vars).await?;
    Ok(body["errors"][0]["extensions"]["code"].as_str().unwrap_or("none").to_owned())
}

fn nodes(data: &Value) -> Vec<Value> {
    data["auditLog"]["edges"]
        .as_array()
        .map(|e| e.iter().map(|e| e["node"].clone()).collect())
        .unwrap_or_default()
}

async fn mutations_and_refusals_are_recorded_and_read_by_trust_admins(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let school_a = gid(NodeType::School, s.school_a.id);
    let started = chrono::Utc::now();

    // One success and refusals of several kinds.
    app.query(&s.trust_admin, TRIGGER, json!({ "s": school_a })).await?;
    assert_eq!(code(&app, &s.integrator, TRIGGER, json!({ "s": school_a })).await?, "FORBIDDEN");
    assert_eq!(code(&app, &s.other_admin, TRIGGER, json!({ "s": school_a })).await?, "NOT_FOUND");
    assert_eq!(code(&app, &s.trust_admin, TRIGGER, json!({ "s": "bm9wZQ" })).await?, "BAD_USER_INPUT");
    // A secret in the arguments is never recorded.
    let connect = "mutation($i: ConnectWondeInput!) { connectWonde(input: $i) { id } }";
    let input = json!({ "i": { "trustId": gid(NodeType::Trust, s.trust.id), "wondeSchoolId": "A1",
        "apiToken": "wonde-secret-in-audit" } });
    assert_eq!(code(&app, &s.trust_admin, connect, input).await?, "WONDE_UNAVAILABLE");
    // Reads are not audited.
    app.query(&s.trust_admin, "{ viewer { role } }", json!({})).await?;

    let admin_id = token_id(&app, &s.trust_admin).await?;
    let integrator_id = token_id(&app, &s.integrator).await?;
    let all = app.query(&s.trust_admin, LOG, json!({})).await?;
    let rows = nodes(&all);
    let summary: Vec<(String, String)> = rows
        .iter()
        .map(|n| {
            (n["action"].as_str().unwrap_or("").to_owned(), n["outcome"].as_str().unwrap_or("").to_owned())
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("connectWonde", "WONDE_UNAVAILABLE"),
            ("triggerSync", "BAD_USER_INPUT"),
            ("triggerSync", "FORBIDDEN"),
            ("triggerSync", "OK"),
        ]
        .map(|(a, o)| (a.to_owned(), o.to_owned())),
        "newest first; the other trust's refusal is in its own trust's log: {all}"
    );
    let ok = &rows[3];
    assert_eq!(ok["actorKind"], "TOKEN");
    assert_eq!(ok["actorTokenId"], admin_id);
    assert_eq!(ok["actorRole"], "TRUST_ADMIN");
    assert_eq!(ok["school"]["id"], Value::from(school_a.as_str()));
    assert_eq!(ok["detail"], "kind=FULL force=true");
    let refused = &rows[2];
    assert_eq!(
        (refused["actorTokenId"].clone(), refused["actorRole"].clone()),
        (json!(integrator_id), json!("INTEGRATOR"))
    );
    assert!(!all.to_string().contains("wonde-secret-in-audit"));
    let stored: Vec<audit_log::Model> = audit_log::Entity::find().all(app.db()).await?;
    assert_eq!(stored.len(), 5, "the other trust's refusal is recorded too");
    assert!(!format!("{stored:?}").contains("wonde-secret-in-audit"), "no secret stored");

    // Filters: token, action, outcome, school, time.
    let by = |f: Value| app.query(&s.trust_admin, LOG, json!({ "f": f }));
    assert_eq!(nodes(&by(json!({ "actorTokenId": integrator_id })).await?).len(), 1);
    assert_eq!(nodes(&by(json!({ "action": "triggerSync" })).await?).len(), 3);
    assert_eq!(nodes(&by(json!({ "outcome": "FORBIDDEN" })).await?).len(), 1);
    assert_eq!(nodes(&by(json!({ "schoolId": school_a, "outcome": "OK" })).await?).len(), 1);
    assert_eq!(nodes(&by(json!({ "actorKind": "CLI" })).await?).len(), 0);
    assert_eq!(nodes(&by(json!({ "since": started.to_rfc3339() })).await?).len(), 4);
    assert_eq!(nodes(&by(json!({ "until": started.to_rfc3339() })).await?).len(), 0);
    let page = app.query(&s.trust_admin, LOG, json!({ "n": 2 })).await?;
    assert_eq!((nodes(&page).len(), page["auditLog"]["pageInfo"]["hasNextPage"].clone()), (2, json!(true)));

    // Only trust admins read it, and only their trust's.
    assert_eq!(code(&app, &s.school_a_admin, LOG, json!({})).await?, "FORBIDDEN");
    assert_eq!(code(&app, &s.integrator, LOG, json!({})).await?, "FORBIDDEN");
    let theirs = nodes(&app.query(&s.other_admin, LOG, json!({})).await?);
    assert_eq!(theirs.len(), 1);
    assert_eq!(
        (theirs[0]["outcome"].clone(), theirs[0]["school"].clone()),
        (json!("NOT_FOUND"), Value::Null)
    );

    // Append-only: the database refuses to rewrite or erase it.
    for sql in ["UPDATE audit_log SET outcome = 'OK'", "DELETE FROM audit_log"] {
        assert!(app.db().execute_unprepared(sql).await.is_err(), "{sql} was allowed");
    }
    assert_eq!(audit_log::Entity::find().count(app.db()).await?, 5);
    Ok(())
}

async fn cli_commands_are_recorded(engine: Engine) -> anyhow::Result<()> {
    use base64::Engine as _;
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let url = app.data.url(&engine);
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let trust = gid(NodeType::Trust, s.trust.id);
    let run = |args: Vec<String>| {
        let (url, key) = (url.clone(), key.clone());
        tokio::task::spawn_blocking(move || {
            Command::new(BIN).args(&args).env("DATABASE_URL", url).env("ONROLL_SECRET_KEY", key).output()
        })
    };
    let args = |list: &[&str]| list.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
    let created = run(args(&[
        "token",
        "create",
        "--role",
        "integrator",
        "--trust",
        &trust,
        "--scope",
        "contact-details",
    ]))
    .await??;
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let token = String::from_utf8(created.stdout)?.lines().last().unwrap_or_default().trim().to_owned();
    let refused =
        run(args(&["token", "create", "--role", "integrator", "--trust", &trust, "--scope", "everything"]))
            .await??;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("contact-details"), "the scopes are named");
    let tokens = run(args(&["token", "list", "--trust", &trust])).await??;
    let tokens = String::from_utf8(tokens.stdout)?;
    assert!(tokens.lines().next().is_some_and(|h| h.contains("scopes")), "{tokens}");
    assert!(tokens.lines().any(|l| l.contains("INTEGRATOR") && l.contains("contact-details")), "{tokens}");
    let listed = run(args(&["audit", "list", "--trust", &trust])).await??;
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let out = String::from_utf8(listed.stdout)?;
    assert!(out.contains("token create") && out.contains("ERROR") && out.contains("OK"), "{out}");
    assert!(out.contains("scopes=contact-details"), "{out}");
    assert!(!out.contains(&token), "the token is never recorded");

    let log = app.query(&s.trust_admin, LOG, json!({ "f": { "actorKind": "CLI" } })).await?;
    let rows = nodes(&log);
    assert_eq!(rows.len(), 2, "{log}");
    assert_eq!(
        (rows[0]["action"].clone(), rows[0]["outcome"].clone()),
        (json!("token create"), json!("ERROR"))
    );
    assert_eq!((rows[1]["actorKind"].clone(), rows[1]["actorTokenId"].clone()), (json!("CLI"), Value::Null));
    assert!(!log.to_string().contains(&token));

    // A school the command created is named by its row.
    let made = run(args(&["school", "create", "--trust", &trust, "--name", "Audit Academy"])).await??;
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let school = String::from_utf8(made.stdout)?.trim().to_owned();
    let made_log = app.query(&s.trust_admin, LOG, json!({ "f": { "action": "school create" } })).await?;
    assert_eq!(nodes(&made_log)[0]["school"]["id"], json!(school), "{made_log}");
    Ok(())
}

/// `serve`'s daily retention purge acts on no operator's command: its rows
/// name the server (`SERVER`), and a filter on CLI acts leaves them out.
async fn the_servers_own_purge_is_recorded_as_the_server(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    crate::retention::deactivated_days_ago(app.db(), s.leaver.id, 400).await?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task =
        tokio::spawn(onroll::retention::run_until_stopped(app.db().clone(), Default::default(), stopped));
    let by_kind = |kind: &str| json!({ "f": { "actorKind": kind, "action": "retention purge" } });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let rows = loop {
        let rows = nodes(&app.query(&s.trust_admin, LOG, by_kind("SERVER")).await?);
        if !rows.is_empty() || std::time::Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    stop.send(true)?;
    task.await?;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0]["actorKind"].clone(), rows[0]["actorTokenId"].clone()),
        (json!("SERVER"), Value::Null)
    );
    assert!(rows[0]["detail"].as_str().is_some_and(|d| d.starts_with("students=1 ")), "{rows:?}");
    assert!(nodes(&app.query(&s.trust_admin, LOG, by_kind("CLI")).await?).is_empty());
    // `onroll audit list` names the server too, not the operator.
    let url = app.data.url(&engine);
    let trust = gid(NodeType::Trust, s.trust.id);
    let listed = tokio::task::spawn_blocking(move || {
        Command::new(BIN).args(["audit", "list", "--trust", &trust]).env("DATABASE_URL", url).output()
    })
    .await??;
    let out = String::from_utf8(listed.stdout)?;
    let purge = out.lines().find(|l| l.contains("retention purge"));
    assert!(purge.is_some_and(|l| l.contains(" server ") && !l.contains(" cli ")), "{out}");
    Ok(())
}

/// `importCsv` refuses bad rows in its answer (a list of errors, no
/// GraphQL error); the audit log records that as a refusal
/// (BAD_USER_INPUT), as it does a Wonde school's refusal, and only an
/// import that ran as OK.
async fn a_csv_import_refused_in_its_answer_is_recorded_as_refused(engine: Engine) -> anyhow::Result<()> {
    use crate::csv_upload::{IMPORT, create_csv_school, multipart};
    use sea_orm::QueryOrder;
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let school = create_csv_school(&app, &s, "Willow Bank").await?;
    let send = |vars: Value, students: &'static str| {
        let (content_type, body) = multipart(IMPORT, vars, &[("students", students)]);
        let request = app
            .http
            .post(app.url("/graphql"))
            .bearer_auth(&s.trust_admin)
            .header("content-type", content_type)
            .body(body);
        async move { anyhow::Ok(request.send().await?.json::<Value>().await?) }
    };
    let bad = send(json!({ "s": school }), "id,forename,surname\nS1,,Smith\n").await?;
    assert_eq!(bad["data"]["importCsv"]["run"], Value::Null, "{bad}");
    assert!(bad.get("errors").is_none(), "refused in the answer: {bad}");
    let wonde =
        send(json!({ "s": gid(NodeType::School, s.school_a.id) }), "id,forename,surname\nS1,Amy,Smith\n")
            .await?;
    assert_eq!(wonde["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{wonde}");
    let good = send(json!({ "s": school }), "id,forename,surname\nS1,Amy,Smith\n").await?;
    assert_eq!(good["data"]["importCsv"]["run"]["status"], "COMPLETED", "{good}");

    let outcomes: Vec<String> = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("importCsv"))
        .order_by_asc(audit_log::Column::Id)
        .all(app.db())
        .await?
        .into_iter()
        .map(|row| row.outcome)
        .collect();
    assert_eq!(outcomes, ["BAD_USER_INPUT", "BAD_USER_INPUT", "OK"]);
    // And `auditLog` finds the refusal by its outcome.
    let data = app
        .query(
            &s.trust_admin,
            LOG,
            json!({ "f": { "action": "importCsv", "outcome": "BAD_USER_INPUT" }, "n": 10 }),
        )
        .await?;
    assert_eq!(nodes(&data).len(), 2, "{data}");
    Ok(())
}
