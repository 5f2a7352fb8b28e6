//! Outbound webhooks may not be turned against our own network (issue 14,
//! "Safety"): URLs refused at registration, and a host that resolves to a
//! refused address caught again when connecting; and who may manage
//! endpoints.

use onroll::graphql::ids::NodeType;
use onroll::webhooks_out::WebhookSettings;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::on_both_engines;
use crate::support::fixture::{Scenario, gid};
use crate::support::{Engine, TestApp, test_webhook_settings};
use crate::webhooks_out::endpoint_input;

on_both_engines!(
    private_addresses_are_refused_at_registration,
    a_host_resolving_to_loopback_is_refused_at_connect
);
on_both_engines!(school_admins_manage_only_their_schools_endpoints);

const CREATE: &str = "mutation($input: CreateWebhookEndpointInput!) {
    createWebhookEndpoint(input: $input) { secret endpoint { id } } }";
const LIST: &str = "{ webhookEndpoints { id } }";
const DELETE: &str = "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }";
const DISABLE_ID: &str = "mutation($id: ID!) { disableWebhookEndpoint(id: $id) { id } }";
const DISABLE: &str = "mutation($id: ID!) { disableWebhookEndpoint(id: $id) { enabled disabledReason } }";
const ENABLE: &str = "mutation($id: ID!) {
    updateWebhookEndpoint(id: $id, input: { enabled: true, description: \"LMS\" }) { enabled } }";

/// The `CREATE` input of an endpoint at `url` for `events`, at `school` only.
fn school_endpoint(url: &str, events: &[&str], school: &str) -> Value {
    let mut input = endpoint_input(url, events);
    input["input"]["schoolIds"] = json!([school]);
    input
}

fn production() -> WebhookSettings {
    WebhookSettings { allow_private: false, ..test_webhook_settings() }
}

async fn private_addresses_are_refused_at_registration(engine: Engine) -> anyhow::Result<()> {
    let app = TestApp::spawn_with_webhooks(&engine, production()).await?;
    let s = Scenario::build(app.db()).await?;
    for url in [
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00:ec2::254]/",
        "https://localhost:8443/hook",
        "http://example.com/hook",
        "ftp://example.com/hook",
    ] {
        let (status, body) =
            app.post(Some(&s.trust_admin), CREATE, endpoint_input(url, &["DEACTIVATED"])).await?;
        assert_eq!(status, 200);
        assert_eq!(body["errors"][0]["extensions"]["code"], "WEBHOOK_URL_REFUSED", "{url}: {body}");
    }
    let (_, body) =
        app.post(Some(&s.trust_admin), CREATE, endpoint_input("https://example.com/x", &[])).await?;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    // Nothing was registered.
    assert!(entity::webhook_endpoint::Entity::find().all(app.db()).await?.is_empty());
    Ok(())
}

async fn a_host_resolving_to_loopback_is_refused_at_connect(engine: Engine) -> anyhow::Result<()> {
    // Registered where private addresses were allowed (or before the DNS
    // answer changed), then delivered by a server that refuses them.
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let accepting = tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let url = format!("https://localhost:{port}/hook");
    app.query(&s.trust_admin, CREATE, endpoint_input(&url, &["DEACTIVATED"])).await?;
    let _guarded = app.webhook_replica(&engine, production()).await?;
    onroll::events::log::append(app.db(), vec![crate::webhooks_out::deactivation_of_ann(&s)]).await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let attempted = loop {
        let rows = entity::webhook_outbox::Entity::find().all(app.db()).await?;
        if rows.first().is_some_and(|r| r.attempts > 0) || std::time::Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(attempted.len(), 1);
    assert_eq!(attempted[0].attempts, 1, "one attempt, refused");
    assert_eq!(attempted[0].last_status_code, None);
    assert!(
        attempted[0].last_error.as_deref().is_some_and(|e| e.contains("refused")),
        "{:?}",
        attempted[0].last_error
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "no connection reached 127.0.0.1");
    accepting.abort();
    Ok(())
}

async fn school_admins_manage_only_their_schools_endpoints(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let url = "http://127.0.0.1:9/hook";
    let school_a = gid(NodeType::School, s.school_a.id);
    let school_b = gid(NodeType::School, s.school_b.id);
    let code = |body: &serde_json::Value| body["errors"][0]["extensions"]["code"].clone();

    let whole_trust = endpoint_input(url, &["DEACTIVATED"]);
    let (_, body) = app.post(Some(&s.school_a_admin), CREATE, whole_trust.clone()).await?;
    assert_eq!(code(&body), "FORBIDDEN", "a school admin names their schools");
    let (_, body) = app.post(Some(&s.integrator), CREATE, whole_trust).await?;
    assert_eq!(code(&body), "FORBIDDEN");
    let others = school_endpoint(url, &["DEACTIVATED"], &school_b);
    let (_, body) = app.post(Some(&s.school_a_admin), CREATE, others).await?;
    assert_eq!(code(&body), "NOT_FOUND");
    let own = school_endpoint(url, &["DEACTIVATED", "REACTIVATED"], &school_a);
    let own = app.query(&s.school_a_admin, CREATE, own).await?;
    let own_id = own["createWebhookEndpoint"]["endpoint"]["id"].clone();
    let trusts = app.query(&s.trust_admin, CREATE, endpoint_input(url, &["HELD"])).await?;
    let trust_id = trusts["createWebhookEndpoint"]["endpoint"]["id"].clone();

    let listed = app.query(&s.school_a_admin, LIST, json!({})).await?;
    assert_eq!(listed["webhookEndpoints"], json!([{ "id": own_id }]));
    let listed = app.query(&s.trust_admin, LIST, json!({})).await?;
    assert_eq!(listed["webhookEndpoints"].as_array().map(Vec::len), Some(2));
    let (_, body) = app.post(Some(&s.school_a_admin), DELETE, json!({ "id": trust_id })).await?;
    assert_eq!(code(&body), "NOT_FOUND");
    let (_, body) = app.post(Some(&s.other_admin), DISABLE_ID, json!({ "id": own_id })).await?;
    assert_eq!(code(&body), "NOT_FOUND", "another trust's admin sees nothing");
    let disabled = app.query(&s.school_a_admin, DISABLE, json!({ "id": own_id })).await?;
    assert_eq!(disabled["disableWebhookEndpoint"], json!({ "enabled": false, "disabledReason": "ADMIN" }));
    let updated = app.query(&s.school_a_admin, ENABLE, json!({ "id": own_id })).await?;
    assert_eq!(updated["updateWebhookEndpoint"]["enabled"], true);
    let deleted = app.query(&s.school_a_admin, DELETE, json!({ "id": own_id })).await?;
    assert_eq!(deleted["deleteWebhookEndpoint"], own_id);
    Ok(())
}
