//! Who may do what (issue 13, product.md "Data protection"): every Query
//! field, Mutation and Subscription of the schema, run under every role,
//! against one table. The table must name every root field the schema has
//! (enumerated by introspection), so a new field fails this test until
//! someone decides who may use it.
//!
//! Allowed: the operation is not refused (no HTTP 401, no FORBIDDEN,
//! NOT_FOUND or UNAUTHENTICATED) and, for reads, the target (school A, its
//! trust, its pupil...) is in the answer; a business refusal after the
//! permission check (a Wonde error, BAD_USER_INPUT) still counts as allowed.
//! Refused: the opposite; for reads of another tenant's data that means the
//! row is simply not there. An INTERNAL_SERVER_ERROR or 5xx fails the test.

use entity::enums::{Role, SyncKind};
use onroll::graphql::ids::NodeType;
use onroll::graphql::pagination::encode_cursor;
use onroll::tenancy::{TokenSpec, create_token, revoke_token};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

use crate::on_both_engines;
use crate::support::fixture::{Fixture, Scenario, gid};
use crate::support::ws::{connect, next_within, subscribe};
use crate::support::{Engine, TestApp};

on_both_engines!(every_root_field_under_every_role);

/// The columns of [`TABLE`], in order.
const ROLES: [&str; 9] = [
    "no token",
    "bad token",
    "revoked token",
    "integrator",
    "integrator with contact-details",
    "school admin of another school",
    "trust admin of another trust",
    "school admin of school A",
    "trust admin of school A's trust",
];

/// One root field: its kind and name, a document acting on school A (or
/// its trust, pupil, run), the variable whose value a read must show when
/// allowed, and per role of [`ROLES`]: `Y` allowed, `n` refused.
/// Rows run in this order (mutations last, disconnecting last of all).
const TABLE: &[(&str, &str, &str, Option<&str>, &str)] = &[
    ("Query", "node", "query($school: ID!) { node(id: $school) { id } }", Some("school"), "nnnYYnnYY"),
    ("Query", "viewer", "{ viewer { role scopes } }", None, "nnnYYYYYY"),
    // Every token reads its own budget; without one the request is refused
    // before GraphQL runs.
    ("Query", "rateLimit", "{ rateLimit { limit remaining } }", None, "nnnYYYYYY"),
    (
        "Query",
        "auditLog",
        "{ auditLog(first: 100) { edges { node { action school { id } } } } }",
        Some("school"),
        "nnnnnnnnY",
    ),
    ("Query", "trusts", "{ trusts { id } }", Some("trust"), "nnnYYYnYY"),
    ("Query", "school", "query($school: ID!) { school(id: $school) { id } }", Some("school"), "nnnYYnnYY"),
    (
        "Query",
        "student",
        "query($student: ID!) { student(id: $student) { id } }",
        Some("student"),
        "nnnYYnnYY",
    ),
    ("Query", "syncRun", "query($run: ID!) { syncRun(id: $run) { id } }", Some("run"), "nnnYYnnYY"),
    (
        "Query",
        "deactivationEvents",
        "query($school: ID!) { deactivationEvents(schoolId: $school) {
            edges { node { person { ... on Student { id } } } } } }",
        Some("leaver"),
        "nnnYYnnYY",
    ),
    (
        "Query",
        "groupMembershipChanges",
        "query($school: ID!) { groupMembershipChanges(schoolId: $school) { edges { node { guardian { id } } } } }",
        Some("parent"),
        "nnnYYnnYY",
    ),
    (
        "Query",
        "dataQuality",
        "query($school: ID!) { dataQuality(schoolId: $school) { totalCount } }",
        None,
        "nnnnnnnYY",
    ),
    (
        "Query",
        "heldChanges",
        "query($school: ID!) { heldChanges(schoolId: $school) { totalCount } }",
        None,
        "nnnnnnnYY",
    ),
    (
        "Query",
        "previewSync",
        "query($school: ID!) { previewSync(schoolId: $school) { kind } }",
        None,
        "nnnnnnnYY",
    ),
    // Wonde's directory of schools is not tenant data: any token reads it.
    ("Query", "wondeCatalog", "{ wondeCatalog { lastOutcome } }", None, "nnnYYYYYY"),
    ("Query", "wondeSchools", r#"{ wondeSchools(search: "Ash") { wondeId } }"#, None, "nnnYYYYYY"),
    (
        "Subscription",
        "deactivations",
        "subscription($school: ID, $start: String) { deactivations(schoolId: $school, after: $start) {
            person { ... on Student { id } } } }",
        Some("leaver"),
        "nnnYYnnYY",
    ),
    (
        "Subscription",
        "heldChanges",
        "subscription($school: ID) { heldChanges(schoolId: $school) { cursor } }",
        None,
        "nnnYYnnYY",
    ),
    (
        "Subscription",
        "syncProgress",
        "subscription($school: ID) { syncProgress(schoolId: $school) { phase } }",
        None,
        "nnnYYnnYY",
    ),
    ("Query", "webhookEndpoints", "{ webhookEndpoints { id } }", Some("hook"), "nnnnnnnYY"),
    (
        "Query",
        "webhookDeliveries",
        "query($hook: ID!) { webhookDeliveries(endpointId: $hook) { edges { node { id } } } }",
        Some("delivery"),
        "nnnnnnnYY",
    ),
    (
        "Mutation",
        "createSchool",
        r#"mutation($trust: ID!) { createSchool(input: { trustId: $trust, name: "Matrix School" }) { id } }"#,
        None,
        "nnnnnnnnY",
    ),
    (
        "Mutation",
        "requestWondeAccess",
        r#"mutation($trust: ID!) { requestWondeAccess(input: { trustId: $trust, wondeSchoolId: "A999",
            contact: { firstName: "Ann", lastName: "Lee", email: "ann@trust.example" } }) { id } }"#,
        None,
        "nnnnnnnnY",
    ),
    (
        "Mutation",
        "connectWonde",
        r#"mutation($trust: ID!, $wonde: String!) { connectWonde(input: { trustId: $trust,
            wondeSchoolId: $wonde, apiToken: "not-a-real-token" }) { id } }"#,
        None,
        "nnnnnnnYY",
    ),
    (
        "Mutation",
        "triggerSync",
        "mutation($school: ID!) { triggerSync(schoolId: $school) { id } }",
        None,
        "nnnnnnnYY",
    ),
    (
        "Mutation",
        "cancelSync",
        "mutation($queued: ID!) { cancelSync(runId: $queued) { id } }",
        None,
        "nnnnnnnYY",
    ),
    (
        "Mutation",
        "updateSyncOptions",
        "mutation($school: ID!) { updateSyncOptions(schoolId: $school, options: { staff: true }) { id } }",
        None,
        "nnnnnnnYY",
    ),
    (
        "Mutation",
        "importCsv",
        "mutation($school: ID!) { importCsv(schoolId: $school) { errors { message } } }",
        None,
        "nnnnnnnYY",
    ),
    (
        "Mutation",
        "approveHeldChanges",
        "mutation($school: ID!) { approveHeldChanges(schoolId: $school, ids: []) { deactivated } }",
        None,
        "nnnnnnnYY",
    ),
    (
        "Mutation",
        "rejectHeldChanges",
        "mutation($school: ID!) { rejectHeldChanges(schoolId: $school, ids: []) { deactivated } }",
        None,
        "nnnnnnnYY",
    ),
    (
        "Mutation",
        "updateRetentionPolicy",
        "mutation($trust: ID!) { updateRetentionPolicy(trustId: $trust, days: 365) { retentionDays } }",
        None,
        "nnnnnnnnY",
    ),
    (
        "Mutation",
        "subjectAccessExport",
        "mutation($parent: ID!) { subjectAccessExport(personId: $parent) { records } }",
        None,
        "nnnnnnnnY",
    ),
    // A pupil on roll: the trust admin passes the permission check and is
    // refused with PERSON_ON_ROLL, so nothing is erased here.
    (
        "Mutation",
        "erasePerson",
        "mutation($student: ID!) { erasePerson(personId: $student, reason: SUBJECT_REQUEST) { erased } }",
        None,
        "nnnnnnnnY",
    ),
    (
        "Mutation",
        "createWebhookEndpoint",
        r#"mutation($school: ID!) { createWebhookEndpoint(input: { url: "http://127.0.0.1:9/matrix",
            eventTypes: [DEACTIVATED], schoolIds: [$school] }) { endpoint { id } } }"#,
        None,
        "nnnnnnnYY",
    ),
    (
        "Mutation",
        "updateWebhookEndpoint",
        r#"mutation($hook: ID!) { updateWebhookEndpoint(id: $hook, input: { description: "matrix" }) { id } }"#,
        None,
        "nnnnnnnYY",
    ),
    (
        "Mutation",
        "rotateWebhookSecret",
        "mutation($hook: ID!) { rotateWebhookSecret(id: $hook) { endpoint { id } } }",
        None,
        "nnnnnnnYY",
    ),
    (
        "Mutation",
        "redeliverWebhook",
        "mutation($delivery: ID!) { redeliverWebhook(deliveryId: $delivery) { status } }",
        None,
        "nnnnnnnYY",
    ),
    (
        "Mutation",
        "replayWebhooks",
        "mutation($hook: ID!, $start: String) { replayWebhooks(endpointId: $hook, after: $start) }",
        None,
        "nnnnnnnYY",
    ),
    (
        "Mutation",
        "disableWebhookEndpoint",
        "mutation($hook: ID!) { disableWebhookEndpoint(id: $hook) { id } }",
        None,
        "nnnnnnnYY",
    ),
    // Each role that may delete gets an endpoint of its own to delete.
    (
        "Mutation",
        "deleteWebhookEndpoint",
        "mutation($hook: ID!) { deleteWebhookEndpoint(id: $hook) }",
        None,
        "nnnnnnnYY",
    ),
    (
        "Mutation",
        "disconnectWonde",
        "mutation($school: ID!) { disconnectWonde(schoolId: $school) { id } }",
        None,
        "nnnnnnnYY",
    ),
];

/// Codes that mean "not for you".
const REFUSALS: [&str; 3] = ["UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND"];

/// How one attempt ended.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Allowed,
    Refused(String),
    /// A failure the API must never give (5xx, INTERNAL_SERVER_ERROR).
    Broken(String),
}

fn judge(status: u16, body: &Value, target: Option<&str>) -> Seen {
    if status == 401 {
        return Seen::Refused("HTTP 401".into());
    }
    if status >= 500 {
        return Seen::Broken(format!("HTTP {status}: {body}"));
    }
    let code = body["errors"][0]["extensions"]["code"].as_str();
    match code {
        Some(code) if REFUSALS.contains(&code) => return Seen::Refused(code.into()),
        Some("INTERNAL_SERVER_ERROR") => return Seen::Broken(body.to_string()),
        _ => {}
    }
    match target {
        Some(target) if !body["data"].to_string().contains(target) => {
            Seen::Refused("not in the answer".into())
        }
        _ => Seen::Allowed,
    }
}

async fn subscription(
    app: &TestApp,
    token: Option<&str>,
    document: &str,
    vars: &Value,
    target: Option<&str>,
) -> anyhow::Result<Seen> {
    let (mut socket, first) = connect(app.addr, token).await?;
    if first["type"] != "connection_ack" {
        return Ok(Seen::Refused(format!("connection_init answered {first}")));
    }
    subscribe(&mut socket, "m", document, vars.clone()).await?;
    // A refusal comes at once; an allowed stream replays (deactivations,
    // from the start) or stays open with nothing to send.
    Ok(match next_within(&mut socket, Duration::from_millis(700)).await {
        Err(_) if target.is_none() => Seen::Allowed,
        Err(_) => Seen::Refused("nothing replayed".into()),
        Ok(message) if message["type"] == "error" => {
            let body = json!({ "errors": message["payload"] });
            judge(200, &body, None)
        }
        Ok(message) if message["type"] == "next" => judge(200, &message["payload"], target),
        Ok(message) => Seen::Broken(message.to_string()),
    })
}

/// A webhook endpoint for school A with one delivery queued: their IDs.
async fn school_a_endpoint(app: &TestApp, s: &Scenario) -> anyhow::Result<(String, String)> {
    use onroll::webhooks_out::endpoints;
    let fields = endpoints::EndpointFields {
        url: Some("http://127.0.0.1:9/matrix".to_owned()),
        event_types: Some(vec![entity::enums::EventKind::Deactivated]),
        school_ids: Some(Some(vec![s.school_a.id])),
        description: None,
    };
    let created = endpoints::create(app.db(), &app.secret_key, s.trust.id, fields, true).await?;
    let newest = created.endpoint.after_event_id;
    endpoints::queue(app.db(), std::iter::once((created.endpoint.id, newest)), chrono::Utc::now()).await?;
    let delivery = <entity::webhook_outbox::Entity as sea_orm::EntityTrait>::find()
        .all(app.db())
        .await?
        .into_iter()
        .rfind(|d| d.endpoint_id == created.endpoint.id)
        .ok_or_else(|| anyhow::anyhow!("no delivery queued"))?;
    Ok((gid(NodeType::WebhookEndpoint, created.endpoint.id), gid(NodeType::WebhookDelivery, delivery.id)))
}

async fn every_root_field_under_every_role(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let f = Fixture::new(app.db());
    let spec = |role, trust: Option<i32>, schools: Vec<i32>, scopes: Vec<String>| TokenSpec {
        role,
        trust_id: trust,
        school_ids: schools,
        label: None,
        expires_in: None,
        scopes,
    };
    let (revoked, row) =
        create_token(app.db(), &spec(Role::Integrator, Some(s.trust.id), vec![], vec![])).await?;
    revoke_token(app.db(), row.id).await?;
    let scoped = create_token(
        app.db(),
        &spec(Role::Integrator, Some(s.trust.id), vec![], vec!["contact-details".into()]),
    )
    .await?
    .0;
    let admin_b = f.token(Role::SchoolAdmin, None, &[s.school_b.id]).await?;
    let bad = onroll::auth::generate_token();
    let tokens: [Option<&str>; 9] = [
        None,
        Some(&bad),
        Some(&revoked),
        Some(&s.integrator),
        Some(&scoped),
        Some(&admin_b),
        Some(&s.other_admin),
        Some(&s.school_a_admin),
        Some(&s.trust_admin),
    ];
    let queued = onroll::sync::runs::enqueue(app.db(), s.school_a.id, SyncKind::Incremental, false).await?.0;
    let (hook, delivery) = school_a_endpoint(&app, &s).await?;
    let mut vars = json!({
        "hook": hook,
        "delivery": delivery,
        "school": gid(NodeType::School, s.school_a.id),
        "trust": gid(NodeType::Trust, s.trust.id),
        "student": gid(NodeType::Student, s.ann_a.id),
        "leaver": gid(NodeType::Student, s.leaver.id),
        "run": gid(NodeType::SyncRun, s.run.id),
        "queued": gid(NodeType::SyncRun, queued.id),
        "wonde": s.school_a.wonde_id,
        "start": encode_cursor(0),
        "parent": gid(NodeType::Guardian, s.ann_at_a.id),
    });
    // School A's parent groups, logged, for `groupMembershipChanges` to show.
    {
        use onroll::parent_groups::membership;
        let after = membership::snapshot(app.db(), s.school_a.id).await?;
        let origin = membership::Origin {
            trust_id: s.trust.id,
            school_id: s.school_a.id,
            run_id: None,
            now: chrono::Utc::now(),
        };
        onroll::events::log::append(app.db(), membership::changes(&Default::default(), &after, origin))
            .await?;
    }
    // An audited act at school A, for `auditLog` to show.
    app.query(
        &s.trust_admin,
        "mutation($school: ID!) { updateSyncOptions(schoolId: $school, options: {}) { id } }",
        vars.clone(),
    )
    .await?;

    // The table covers the schema: every root field, nothing else.
    let schema = app
        .query(
            &s.trust_admin,
            "{ __schema { queryType { fields { name } } mutationType { fields { name } }
               subscriptionType { fields { name } } } }",
            json!({}),
        )
        .await?;
    let mut fields = BTreeSet::new();
    for (root, key) in
        [("Query", "queryType"), ("Mutation", "mutationType"), ("Subscription", "subscriptionType")]
    {
        for field in schema["__schema"][key]["fields"].as_array().into_iter().flatten() {
            fields.insert(format!("{root}.{}", field["name"].as_str().unwrap_or_default()));
        }
    }
    let tabled: BTreeSet<String> = TABLE.iter().map(|(root, name, ..)| format!("{root}.{name}")).collect();
    let missing: Vec<&String> = fields.difference(&tabled).collect();
    let extra: Vec<&String> = tabled.difference(&fields).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "add to TABLE: {missing:?}; not in the schema: {extra:?}"
    );

    let mut wrong = Vec::new();
    for (root, name, document, target, expected) in TABLE {
        for (index, (token, expect)) in tokens.iter().zip(expected.chars()).enumerate() {
            if *name == "deleteWebhookEndpoint" {
                vars["hook"] = Value::from(school_a_endpoint(&app, &s).await?.0);
            }
            let target = target.and_then(|key| vars[key].as_str());
            let seen = if *root == "Subscription" {
                subscription(&app, *token, document, &vars, target).await?
            } else {
                let (status, body) = app.post(*token, document, vars.clone()).await?;
                judge(status, &body, target)
            };
            let fine = matches!((&seen, expect), (Seen::Allowed, 'Y') | (Seen::Refused(_), 'n'));
            if !fine {
                wrong.push(format!("{root}.{name} as {}: expected {expect}, got {seen:?}", ROLES[index]));
            }
        }
    }
    assert!(wrong.is_empty(), "{} cells disagree with the table:\n{}", wrong.len(), wrong.join("\n"));
    Ok(())
}
