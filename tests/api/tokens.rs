//! Revoked and expiring tokens (issue 12): refused at once over HTTP (401
//! UNAUTHENTICATED); their open sockets closed with 4403 within a second,
//! on this replica and on another one over the same database; an operation
//! on a socket whose token has ended refused before it runs; a mutation over
//! a socket answered as over HTTP.

use entity::enums::{AccountStatus, ConnectionStatus, Role};
use entity::{api_token, student, wonde_connection};
use futures::StreamExt;
use onroll::graphql::ids::NodeType;
use onroll::tenancy::{Revocation, TokenSpec, create_token, revoke_token};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

use crate::count_at;
use crate::on_both_engines;
use crate::support::fixture::{Scenario, gid};
use crate::support::rows::connection_of;
use crate::support::ws::{self, Socket, next, subscribe};
use crate::support::{Engine, TestApp};

on_both_engines!(
    revoked_and_expired_tokens_are_refused_over_http,
    revocation_closes_sockets_on_every_replica,
    expiry_closes_sockets_on_every_replica,
    operations_on_a_socket_check_the_token_first,
    mutations_over_a_socket_answer_as_over_http,
);

/// The bound is a second; the slack is for a loaded test machine.
const CLOSE_WITHIN: Duration = Duration::from_secs(2);

const VIEWER: &str = "{ viewer { role } }";

const DEACTIVATIONS: &str =
    "subscription { deactivations { cursor person { ... on Student { forename } } } }";

/// A token of `role` for the scenario's trust, expiring after `expires_in`.
async fn token(
    db: &DatabaseConnection,
    s: &Scenario,
    role: Role,
    expires_in: Option<chrono::Duration>,
) -> anyhow::Result<(String, api_token::Model)> {
    let spec = TokenSpec {
        role,
        trust_id: Some(s.trust.id),
        school_ids: Vec::new(),
        label: None,
        expires_in,
        scopes: Vec::new(),
    };
    Ok(create_token(db, &spec).await?)
}

/// An acknowledged socket to `addr` with `token`.
async fn open(addr: SocketAddr, token: &str) -> anyhow::Result<Socket> {
    let (socket, ack) = ws::connect(addr, Some(token)).await?;
    anyhow::ensure!(ack["type"] == "connection_ack", "not acknowledged: {ack}");
    Ok(socket)
}

/// How a socket ended: its close code and reason, and when it arrived.
#[derive(Debug)]
struct Closed {
    code: u16,
    reason: String,
    at: Instant,
}

/// Reads until the server closes the socket, within `limit`; fails on any
/// data the server sends first (pings, and a refused operation's
/// `complete`, aside).
async fn closed(socket: &mut Socket, limit: Duration) -> anyhow::Result<Closed> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .map_err(|_| anyhow::anyhow!("the socket was not closed within {limit:?}"))?
            .ok_or_else(|| anyhow::anyhow!("the socket ended without a close frame"))??;
        match message {
            Message::Close(frame) => {
                let (code, reason) =
                    frame.map(|f| (u16::from(f.code), f.reason.to_string())).unwrap_or_default();
                return Ok(Closed { code, reason, at: Instant::now() });
            }
            Message::Text(text) => {
                let message: Value = serde_json::from_str(text.as_str())?;
                // A subscription the server reaches only after the
                // revocation (a loaded machine) is refused, not served:
                // its one `next` carries no data and the token's refusal.
                let refusal = message["type"] == "next"
                    && message["payload"]["data"].is_null()
                    && message["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED";
                anyhow::ensure!(
                    refusal || matches!(message["type"].as_str(), Some("ping" | "complete")),
                    "the server sent data to an ended token: {message}"
                );
            }
            _ => {}
        }
    }
}

/// Sends an operation over the socket and returns its `next` message's
/// payload (passing over earlier operations' `complete`).
async fn operate(socket: &mut Socket, id: &str, query: &str, variables: Value) -> anyhow::Result<Value> {
    subscribe(socket, id, query, variables).await?;
    loop {
        let answer = next(socket).await?;
        if answer["type"] == "complete" && answer["id"] != id {
            continue;
        }
        anyhow::ensure!(answer["type"] == "next" && answer["id"] == id, "not an answer: {answer}");
        return Ok(answer["payload"].clone());
    }
}

async fn revoke(db: &DatabaseConnection, id: i32) -> anyhow::Result<()> {
    let revoked = revoke_token(db, id).await?;
    anyhow::ensure!(matches!(revoked, Revocation::Revoked(_)), "{revoked:?}");
    Ok(())
}

async fn revoked_and_expired_tokens_are_refused_over_http(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let (revoked, row) = token(app.db(), &s, Role::Integrator, None).await?;
    assert!(row.last_used_at.is_none());
    assert_eq!(app.query(&revoked, VIEWER, json!({})).await?["viewer"]["role"], "INTEGRATOR");
    let used = api_token::Entity::find_by_id(row.id).one(app.db()).await?;
    assert!(used.and_then(|t| t.last_used_at).is_some(), "its use is recorded");

    // The very next request after the revocation is refused.
    revoke(app.db(), row.id).await?;
    let (status, body) = app.post(Some(&revoked), VIEWER, json!({})).await?;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    assert!(body["errors"][0]["message"].as_str().unwrap_or_default().contains("revoked"), "{body}");
    // And so is a new socket.
    let (_, first) = ws::connect(app.addr, Some(&revoked)).await?;
    assert_eq!(first, json!({ "close": 4403 }));

    // A token that expires works until it does, then is refused at once.
    let (expiring, row) = token(app.db(), &s, Role::Integrator, Some(chrono::Duration::seconds(2))).await?;
    assert_eq!(app.query(&expiring, VIEWER, json!({})).await?["viewer"]["role"], "INTEGRATOR");
    let expires_at = row.expires_at.ok_or_else(|| anyhow::anyhow!("no expiry stored"))?;
    tokio::time::sleep((expires_at - chrono::Utc::now()).to_std().unwrap_or_default()).await;
    let (status, body) = app.post(Some(&expiring), VIEWER, json!({})).await?;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    assert!(body["errors"][0]["message"].as_str().unwrap_or_default().contains("expired"), "{body}");

    // Other tokens are untouched.
    assert_eq!(app.query(&s.integrator, VIEWER, json!({})).await?["viewer"]["role"], "INTEGRATOR");
    Ok(())
}

/// The revocation is written from the test's own connection, as `onroll
/// token revoke` in another process would: neither server is told, each
/// finds it by its own watch.
async fn revocation_closes_sockets_on_every_replica(engine: Engine) -> anyhow::Result<()> {
    let app = TestApp::spawn(&engine).await?;
    let replica = app.replica(&engine).await?;
    let s = Scenario::build(app.db()).await?;
    let (revoked, row) = token(app.db(), &s, Role::TrustAdmin, None).await?;
    let mut here = open(app.addr, &revoked).await?;
    let mut there = open(replica.addr, &revoked).await?;
    let mut bystander = open(replica.addr, &s.trust_admin).await?;
    for socket in [&mut here, &mut there, &mut bystander] {
        assert_eq!(operate(socket, "v", VIEWER, json!({})).await?["data"]["viewer"]["role"], "TRUST_ADMIN");
        subscribe(socket, "d", DEACTIVATIONS, json!({})).await?;
    }

    let revoked_at = Instant::now();
    revoke(app.db(), row.id).await?;
    let (here, there) =
        tokio::join!(closed(&mut here, CLOSE_WITHIN * 2), closed(&mut there, CLOSE_WITHIN * 2));
    for (name, closed) in [("this replica", here?), ("the other replica", there?)] {
        let latency = closed.at - revoked_at;
        eprintln!("revocation to close on {name}: {latency:?}");
        assert_eq!(closed.code, 4403, "{name}: {closed:?}");
        assert!(closed.reason.contains("revoked"), "{name}: {closed:?}");
        assert!(latency < CLOSE_WITHIN, "{name}: closed after {latency:?}");
    }

    // Another token's socket on the same replica carries on.
    let answer = operate(&mut bystander, "v2", VIEWER, json!({})).await?;
    assert_eq!(answer["data"]["viewer"]["role"], "TRUST_ADMIN", "{answer}");
    let (_, first) = ws::connect(replica.addr, Some(&revoked)).await?;
    assert_eq!(first, json!({ "close": 4403 }), "a revoked token opens no new socket");
    Ok(())
}

/// An expiring token's sockets close when it expires, on both replicas,
/// and not before; HTTP refuses it from then on.
async fn expiry_closes_sockets_on_every_replica(engine: Engine) -> anyhow::Result<()> {
    let app = TestApp::spawn(&engine).await?;
    let replica = app.replica(&engine).await?;
    let s = Scenario::build(app.db()).await?;
    let (expiring, row) = token(app.db(), &s, Role::Integrator, Some(chrono::Duration::seconds(3))).await?;
    let expires_at = row.expires_at.ok_or_else(|| anyhow::anyhow!("no expiry stored"))?;
    let mut here = open(app.addr, &expiring).await?;
    let mut there = open(replica.addr, &expiring).await?;
    for socket in [&mut here, &mut there] {
        assert_eq!(operate(socket, "v", VIEWER, json!({})).await?["data"]["viewer"]["role"], "INTEGRATOR");
        subscribe(socket, "d", DEACTIVATIONS, json!({})).await?;
    }
    let limit = (expires_at - chrono::Utc::now()).to_std().unwrap_or_default() + CLOSE_WITHIN;
    let (here, there) = tokio::join!(closed(&mut here, limit), closed(&mut there, limit));
    for (name, closed) in [("this replica", here?), ("the other replica", there?)] {
        let now = chrono::Utc::now();
        let after_expiry = (now - expires_at).to_std().unwrap_or_default();
        eprintln!("expiry to close on {name}: {after_expiry:?} (read at {now})");
        assert!(now >= expires_at, "{name}: closed before the token expired");
        assert_eq!(closed.code, 4403, "{name}: {closed:?}");
        assert!(closed.reason.contains("expired"), "{name}: {closed:?}");
        assert!(after_expiry < CLOSE_WITHIN, "{name}: closed {after_expiry:?} after the expiry");
    }
    let (status, body) = app.post(Some(&expiring), VIEWER, json!({})).await?;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    Ok(())
}

/// The report: after a revocation, a socket ran
/// `disconnectWonde(deactivateAccounts: true)`. With the watch slowed to
/// an hour, only the socket's own check stands between the two: the
/// mutation is refused (UNAUTHENTICATED), changes nothing, and the socket
/// closes behind the refusal.
async fn operations_on_a_socket_check_the_token_first(engine: Engine) -> anyhow::Result<()> {
    let app = TestApp::spawn_with_token_watch(&engine, Duration::from_secs(3600)).await?;
    let s = Scenario::build(app.db()).await?;
    let (revoked, row) = token(app.db(), &s, Role::TrustAdmin, None).await?;
    let mut socket = open(app.addr, &revoked).await?;
    assert_eq!(operate(&mut socket, "v", VIEWER, json!({})).await?["data"]["viewer"]["role"], "TRUST_ADMIN");

    revoke(app.db(), row.id).await?;
    let disconnect = "mutation($s: ID!) { disconnectWonde(schoolId: $s, deactivateAccounts: true) {
        connection { status } } }";
    let refused =
        operate(&mut socket, "m", disconnect, json!({ "s": gid(NodeType::School, s.school_a.id) })).await?;
    assert_eq!(refused["data"], Value::Null, "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{refused}");
    let closed = closed(&mut socket, CLOSE_WITHIN).await?;
    assert_eq!((closed.code, closed.reason.contains("revoked")), (4403, true), "{closed:?}");

    let connection = connection_of(app.db(), s.school_a.id).await?;
    assert_eq!(connection.status, ConnectionStatus::Approved, "nothing was disconnected");
    let active = count_at!(app.db(), s.school_a.id, student, Status, AccountStatus::Active);
    assert_eq!(active, 2, "nobody was deactivated");
    Ok(())
}

/// `connectWonde` over the socket (an INTERNAL_SERVER_ERROR before: the
/// socket's operations lacked the Wonde client and sealing key) answers as
/// over HTTP: the same refusals with the same codes, and the same school.
async fn mutations_over_a_socket_answer_as_over_http(engine: Engine) -> anyhow::Result<()> {
    let config = wonde_sim::SimConfig { students_per_school: 10, ..wonde_sim::SimConfig::default() };
    let (_sim, sim_school, app, s) = crate::support::sim::with_wonde(&engine, config).await?;
    let connect = "mutation($i: ConnectWondeInput!) { connectWonde(input: $i) {
        id name wondeId connection { status } } }";
    let input = |token: &str| {
        json!({ "i": { "trustId": gid(NodeType::Trust, s.trust.id), "wondeSchoolId": sim_school.wonde_id,
            "apiToken": token } })
    };
    let mut admin = open(app.addr, &s.trust_admin).await?;
    let mut integrator = open(app.addr, &s.integrator).await?;

    // Refusals: the same code either way.
    let cases = [
        (&mut admin, &s.trust_admin, input("wrong-token"), "WONDE_UNAUTHORIZED"),
        (&mut integrator, &s.integrator, input(&sim_school.token), "FORBIDDEN"),
    ];
    for (i, (socket, token, vars, expected)) in cases.into_iter().enumerate() {
        let (_, over_http) = app.post(Some(token), connect, vars.clone()).await?;
        let over_socket = operate(socket, &format!("r{i}"), connect, vars).await?;
        assert_eq!(over_http["errors"][0]["extensions"]["code"], expected, "{over_http}");
        assert_eq!(over_socket["errors"][0]["extensions"]["code"], expected, "{over_socket}");
        assert_eq!(over_socket["errors"][0]["message"], over_http["errors"][0]["message"]);
    }

    // Success: connected over the socket, then again over HTTP (an update).
    let over_socket = operate(&mut admin, "ok", connect, input(&sim_school.token)).await?;
    assert!(over_socket.get("errors").is_none(), "{over_socket}");
    let school = &over_socket["data"]["connectWonde"];
    assert_eq!(school["connection"]["status"], "APPROVED", "{over_socket}");
    assert_eq!(school["wondeId"], sim_school.wonde_id.as_str());
    let over_http = app.query(&s.trust_admin, connect, input(&sim_school.token)).await?;
    assert_eq!(over_http["connectWonde"], *school);
    // The token was sealed with the server's key, as over HTTP.
    let sealed = wonde_connection::Entity::find()
        .filter(wonde_connection::Column::WondeSchoolId.eq(sim_school.wonde_id.as_str()))
        .one(app.db())
        .await?
        .and_then(|c| c.token_ciphertext)
        .unwrap_or_default();
    assert_eq!(app.secret_key.decrypt(&sealed)?, sim_school.token);

    // The socket is still open for more.
    let answer = operate(&mut admin, "v", VIEWER, json!({})).await?;
    assert_eq!(answer["data"]["viewer"]["role"], "TRUST_ADMIN", "{answer}");
    Ok(())
}
