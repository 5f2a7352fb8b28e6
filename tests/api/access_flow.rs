//! Asking Wonde for access, end to end on both engines, against the
//! simulator over HTTP: the catalog (full, and incremental only after a
//! full one), search, the request, the school's approval arriving as a
//! webhook, the first FULL run streamed on `syncProgress`, the school's
//! students queryable; then the declined, revoked-and-asked-again and
//! already-approved paths, and every refusal changing nothing.

use entity::{school, wonde_connection};
use onroll::catalog::{self, RefreshMode, RefreshOutcome};
use onroll::graphql::ids::NodeType;
use onroll::wonde::{SecretToken, WondeClient, WondeConfig};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use std::time::Duration;
use wonde_sim::{AccessState, FaultKind, FaultSpec, SimHandle, WebhookTarget};

use crate::on_both_engines;
use crate::support::fixture::gid;
use crate::support::sim::{test_wonde, with_app_token};
use crate::support::ws::{connect, next_within, subscribe};
use crate::support::{Engine, TestApp, WEBHOOK_SECRET};

on_both_engines!(request_approve_sync_and_the_other_paths, a_broken_catalog_answer_is_recorded_and_retried);

const REQUEST: &str = "mutation($i: RequestWondeAccessInput!) {
    requestWondeAccess(input: $i) { id name urn wondeId connection { status } } }";
const SEARCH: &str =
    "query($q: String!) { wondeSchools(search: $q, first: 50) { wondeId name urn postcode accessStatus } }";
const CATALOG: &str = "{ wondeCatalog { schools lastOutcome lastMessage lastFullRefreshAt } }";
const ROSTER: &str =
    "query($s: ID!) { node(id: $s) { ... on School { connection { status } students { totalCount } } } }";
const ACTIVE_STUDENTS: &str = "query($s: ID!) { node(id: $s) { ... on School { students(filter: { status: ACTIVE }) { totalCount } } } }";
const CONNECTIONS: &str =
    "{ trusts { schools { edges { node { wondeId connection { status statusReason } } } } } }";

fn input(trust: &str, wonde_id: &str, email: &str, again: bool) -> Value {
    json!({ "i": {
        "trustId": trust, "wondeSchoolId": wonde_id, "revokeAndRerequest": again,
        "contact": { "firstName": "Ann", "lastName": "Lee", "email": email, "phone": "01632 960000" }
    } })
}

async fn code(app: &TestApp, token: &str, query: &str, vars: Value) -> anyhow::Result<String> {
    let (status, body) = app.post(Some(token), query, vars).await?;
    anyhow::ensure!(status == 200, "HTTP {status}: {body}");
    Ok(body["errors"][0]["extensions"]["code"].as_str().unwrap_or("none").to_owned())
}

async fn connection_of(app: &TestApp, wonde_id: &str) -> anyhow::Result<Option<wonde_connection::Model>> {
    Ok(wonde_connection::Entity::find()
        .filter(wonde_connection::Column::WondeSchoolId.eq(wonde_id))
        .one(app.db())
        .await?)
}

/// Catalog schools outside the trust, in the simulator's order.
fn outsiders(sim: &SimHandle) -> Vec<wonde_sim::SimSchool> {
    sim.catalog().into_iter().filter(|s| !s.in_trust).collect()
}

async fn request_approve_sync_and_the_other_paths(engine: Engine) -> anyhow::Result<()> {
    let (sim, app, s) = with_app_token(&engine).await?;
    let trust = gid(NodeType::Trust, s.trust.id);
    let client = WondeClient::new(WondeConfig { base_url: Some(sim.base_url()), ..WondeConfig::default() })?;
    let app_token = SecretToken::new(sim.app_token());

    // The catalog: an incremental refresh before any full one is skipped,
    // visibly; the full one reads the whole directory.
    let skipped = catalog::refresh(app.db(), &client, &app_token, RefreshMode::Incremental).await?;
    assert_eq!(skipped, RefreshOutcome::Skipped(catalog::NEEDS_FULL));
    let status = app.query(&s.trust_admin, CATALOG, json!({})).await?;
    assert_eq!(status["wondeCatalog"]["lastOutcome"], "SKIPPED");
    assert_eq!(status["wondeCatalog"]["schools"], 0);
    assert_eq!(status["wondeCatalog"]["lastMessage"], catalog::NEEDS_FULL);
    let full = catalog::refresh(app.db(), &client, &app_token, RefreshMode::Full).await?;
    let RefreshOutcome::Completed { schools, .. } = full else { anyhow::bail!("full refresh: {full:?}") };
    assert!(schools > 300, "{schools} schools");
    let status = app.query(&s.trust_admin, CATALOG, json!({})).await?;
    assert_eq!(status["wondeCatalog"]["lastOutcome"], "COMPLETED");
    assert_eq!(status["wondeCatalog"]["schools"], schools);

    // Search: one character is refused; URN, postcode prefix and name words
    // in any order find the school.
    assert_eq!(code(&app, &s.trust_admin, SEARCH, json!({ "q": "a" })).await?, "BAD_USER_INPUT");
    let outside = outsiders(&sim);
    let target = outside.first().ok_or_else(|| anyhow::anyhow!("no catalog school"))?.clone();
    let found = app.query(&s.trust_admin, SEARCH, json!({ "q": target.urn.to_string() })).await?;
    assert_eq!(found["wondeSchools"][0]["wondeId"], Value::from(target.wonde_id.as_str()));
    assert_eq!(found["wondeSchools"][0]["accessStatus"], Value::Null);
    let prefix: String = target.postcode.chars().take(3).collect::<String>().to_lowercase();
    let by_postcode = app.query(&s.trust_admin, SEARCH, json!({ "q": prefix })).await?;
    assert!(ids(&by_postcode).contains(&target.wonde_id), "{by_postcode}");
    let reversed: Vec<&str> = target.name.split_whitespace().rev().collect();
    let by_name =
        app.query(&s.trust_admin, SEARCH, json!({ "q": reversed.join(" ").to_uppercase() })).await?;
    assert!(ids(&by_name).contains(&target.wonde_id), "{by_name}");

    // Refusals change nothing.
    let schools_before = school::Entity::find().count(app.db()).await?;
    let good = input(&trust, &target.wonde_id, "ann@trust.example", false);
    assert_eq!(code(&app, &s.integrator, REQUEST, good.clone()).await?, "FORBIDDEN");
    assert_eq!(code(&app, &s.school_a_admin, REQUEST, good.clone()).await?, "FORBIDDEN");
    assert_eq!(code(&app, &s.other_admin, REQUEST, good.clone()).await?, "NOT_FOUND");
    let no_email = input(&trust, &target.wonde_id, " ", false);
    assert_eq!(code(&app, &s.trust_admin, REQUEST, no_email).await?, "BAD_USER_INPUT");
    let unknown = input(&trust, "A000000000", "ann@trust.example", false);
    assert_eq!(code(&app, &s.trust_admin, REQUEST, unknown).await?, "WONDE_NOT_FOUND");
    assert_eq!(school::Entity::find().count(app.db()).await?, schools_before);
    assert!(sim.access_requests().is_empty(), "nothing reached Wonde's request-access");

    // The request: Wonde has it with the contact; here the school is PENDING.
    let requested = app.query(&s.trust_admin, REQUEST, good.clone()).await?;
    let requested = &requested["requestWondeAccess"];
    assert_eq!(requested["connection"]["status"], "PENDING");
    assert_eq!(requested["name"], Value::from(target.name.as_str()));
    assert_eq!(requested["urn"], Value::from(target.urn.to_string()));
    let asked = sim.access_requests();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].body["contacts"][0]["email_address"], "ann@trust.example");
    let found = app.query(&s.trust_admin, SEARCH, json!({ "q": target.urn.to_string() })).await?;
    assert_eq!(found["wondeSchools"][0]["accessStatus"], "PENDING");
    // The daily incremental refresh reads only what changed since the full
    // one (the request touched one school), and keeps the statuses.
    let incremental = catalog::refresh(app.db(), &client, &app_token, RefreshMode::Incremental).await?;
    let RefreshOutcome::Completed { schools: changed, with_status } = incremental else {
        anyhow::bail!("incremental refresh: {incremental:?}")
    };
    assert!((1..10).contains(&changed), "{changed} schools changed since the full refresh");
    assert!(with_status >= 2, "the trust's school and the pending one: {with_status}");
    let found = app.query(&s.trust_admin, SEARCH, json!({ "q": target.urn.to_string() })).await?;
    assert_eq!(found["wondeSchools"][0]["accessStatus"], "PENDING");

    // Approval: the webhook brings the token, the first FULL run streams to
    // COMPLETED, and the school's students are queryable.
    let hook = WebhookTarget::new(app.url("/webhooks/wonde")).with_secret(WEBHOOK_SECRET);
    sim.set_webhook_target(Some(hook))?;
    let (mut progress, ack) = connect(app.addr, Some(&s.trust_admin)).await?;
    assert_eq!(ack["type"], "connection_ack");
    let school_gid = requested["id"].clone();
    subscribe(
        &mut progress,
        "p",
        "subscription($s: ID) { syncProgress(schoolId: $s) { phase run { kind status } } }",
        json!({ "s": school_gid }),
    )
    .await?;
    let approval = sim.approve(&target.wonde_id).await?;
    assert_eq!(approval.webhook.map(|w| w.status), Some(200));
    let mut phases = Vec::new();
    loop {
        let message = next_within(&mut progress, Duration::from_secs(30)).await?;
        let event = &message["payload"]["data"]["syncProgress"];
        anyhow::ensure!(message["type"] == "next", "{message}");
        assert_eq!(event["run"]["kind"], "FULL");
        let phase = event["phase"].as_str().unwrap_or_default().to_owned();
        phases.push(phase.clone());
        // The run's final status arrives as the last phase.
        if ["COMPLETED", "FAILED", "CANCELLED"].contains(&phase.as_str()) {
            break;
        }
    }
    assert_eq!(phases.last().map(String::as_str), Some("COMPLETED"), "{phases:?}");
    let truth = sim.truth(&target.wonde_id)?;
    assert!(!truth.students.is_empty());
    let roster = app.query(&s.trust_admin, ROSTER, json!({ "s": school_gid })).await?;
    assert_eq!(roster["node"]["connection"]["status"], "APPROVED");
    assert_eq!(roster["node"]["students"]["totalCount"], truth.students.len());

    // Asking again for a school connected here is refused.
    assert_eq!(code(&app, &s.trust_admin, REQUEST, good.clone()).await?, "BAD_USER_INPUT");

    // Revoked by the school: recorded with its reason, nobody deactivated;
    // a trust admin may ask again.
    sim.revoke(&target.wonde_id, Some("Contract ended")).await?;
    let revoked =
        connection_of(&app, &target.wonde_id).await?.ok_or_else(|| anyhow::anyhow!("connection"))?;
    assert_eq!(revoked.status.as_str(), "REVOKED");
    assert_eq!(revoked.status_reason.as_deref(), Some("Contract ended"));
    let still = app.query(&s.trust_admin, ACTIVE_STUDENTS, json!({ "s": school_gid })).await?;
    assert_eq!(still["node"]["students"]["totalCount"], truth.students.len());
    let again = app.query(&s.trust_admin, REQUEST, good.clone()).await?;
    assert_eq!(again["requestWondeAccess"]["connection"]["status"], "PENDING");
    assert_eq!(again["requestWondeAccess"]["id"], school_gid, "the same school, not a second one");

    // Declined: recorded with the reason; asking again is allowed.
    let declined = outside.get(1).ok_or_else(|| anyhow::anyhow!("catalog"))?.clone();
    app.query(&s.trust_admin, REQUEST, input(&trust, &declined.wonde_id, "ann@trust.example", false)).await?;
    sim.decline(&declined.wonde_id, Some("Not this year")).await?;
    let row = connection_of(&app, &declined.wonde_id).await?.ok_or_else(|| anyhow::anyhow!("connection"))?;
    assert_eq!((row.status.as_str(), row.status_reason.as_deref()), ("DECLINED", Some("Not this year")));
    let found = app.query(&s.trust_admin, SEARCH, json!({ "q": declined.urn.to_string() })).await?;
    assert_eq!(found["wondeSchools"][0]["accessStatus"], "DECLINED");
    let shown = app.query(&s.trust_admin, CONNECTIONS, json!({})).await?;
    let edges = shown["trusts"][0]["schools"]["edges"].as_array().cloned().unwrap_or_default();
    let listed = edges.iter().find(|e| e["node"]["wondeId"] == declined.wonde_id.as_str());
    let connection = listed.map(|e| e["node"]["connection"].clone()).unwrap_or_default();
    assert_eq!(connection, json!({ "status": "DECLINED", "statusReason": "Not this year" }));
    let again = app
        .query(&s.trust_admin, REQUEST, input(&trust, &declined.wonde_id, "ann@trust.example", false))
        .await?;
    assert_eq!(again["requestWondeAccess"]["connection"]["status"], "PENDING");

    // Already approved at Wonde, no token here: WONDE_ALREADY_APPROVED and
    // nothing recorded; with revokeAndRerequest, revoked and asked anew.
    let approved = outside.get(2).ok_or_else(|| anyhow::anyhow!("catalog"))?.clone();
    sim.set_access(&approved.wonde_id, AccessState::Approved)?;
    let schools_before = school::Entity::find().count(app.db()).await?;
    let plain = input(&trust, &approved.wonde_id, "ann@trust.example", false);
    assert_eq!(code(&app, &s.trust_admin, REQUEST, plain).await?, "WONDE_ALREADY_APPROVED");
    assert_eq!(school::Entity::find().count(app.db()).await?, schools_before);
    assert!(connection_of(&app, &approved.wonde_id).await?.is_none());
    let rerequest = input(&trust, &approved.wonde_id, "ann@trust.example", true);
    let again = app.query(&s.trust_admin, REQUEST, rerequest).await?;
    assert_eq!(again["requestWondeAccess"]["connection"]["status"], "PENDING");
    let sim_state = sim.school(&approved.wonde_id).map(|school| school.access);
    assert_eq!(sim_state, Some(AccessState::Pending));

    // A webhook for a school never requested here: acknowledged, ignored.
    let stranger = outside.get(3).ok_or_else(|| anyhow::anyhow!("catalog"))?.clone();
    sim.set_access(&stranger.wonde_id, AccessState::Pending)?;
    let schools_before = school::Entity::find().count(app.db()).await?;
    let approval = sim.approve(&stranger.wonde_id).await?;
    assert_eq!(approval.webhook.map(|w| w.status), Some(200));
    assert_eq!(school::Entity::find().count(app.db()).await?, schools_before);
    assert!(connection_of(&app, &stranger.wonde_id).await?.is_none());
    Ok(())
}

fn ids(answer: &Value) -> Vec<String> {
    answer["wondeSchools"]
        .as_array()
        .map(|list| list.iter().filter_map(|s| s["wondeId"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Wonde failing on a later page of the directory: the refresh ends FAILED
/// with a clear message the API shows, no full refresh is recorded (so an
/// incremental one is still refused), the claim is released, and the next
/// full refresh completes.
async fn a_broken_catalog_answer_is_recorded_and_retried(engine: Engine) -> anyhow::Result<()> {
    let (sim, app, s) = with_app_token(&engine).await?;
    let client = test_wonde(&sim.base_url())?;
    let app_token = SecretToken::new(sim.app_token());
    let mut fault = FaultSpec::new("schools/all", FaultKind::ServerError { status: 500 }, 5);
    fault.page = Some(2);
    sim.inject_fault(fault);

    let failed = catalog::refresh(app.db(), &client, &app_token, RefreshMode::Full).await;
    assert!(failed.is_err(), "{failed:?}");
    let status = app.query(&s.trust_admin, CATALOG, json!({})).await?;
    assert_eq!(status["wondeCatalog"]["lastOutcome"], "FAILED", "{status}");
    assert_eq!(status["wondeCatalog"]["lastFullRefreshAt"], Value::Null);
    let message = status["wondeCatalog"]["lastMessage"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("Wonde could not be read"), "{message}");
    assert!(!message.contains(&sim.app_token()), "the app token never appears");
    let skipped = catalog::refresh(app.db(), &client, &app_token, RefreshMode::Incremental).await?;
    assert_eq!(skipped, RefreshOutcome::Skipped(catalog::NEEDS_FULL));

    sim.clear_faults();
    let retried = catalog::refresh(app.db(), &client, &app_token, RefreshMode::Full).await?;
    assert!(matches!(retried, RefreshOutcome::Completed { schools, .. } if schools == sim.catalog().len()));
    let status = app.query(&s.trust_admin, CATALOG, json!({})).await?;
    assert_eq!(status["wondeCatalog"]["lastOutcome"], "COMPLETED");
    assert_eq!(status["wondeCatalog"]["schools"], sim.catalog().len());
    Ok(())
}
