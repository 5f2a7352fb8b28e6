//! Events to many subscribers, and across replicas.
//!
//! - **Fan-out**: one server, `subscribers` subscriptions over at most 100
//!   sockets, each selecting the person and the school; one event
//!   committed, timed until every subscriber has it. Baseline: the same
//!   event to one subscriber, on the same server.
//! - **Cross-replica** (PostgreSQL): two servers (each its own pool, bus,
//!   feed and LISTEN connection) on one schema; an event committed on A,
//!   timed to a subscriber on B. Baseline: its arrival on a subscriber of A.

use entity::enums::{DeactivationReason, EventKind, PersonKind, Role};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseConnection};
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::support::{Engine, Samples};
use super::ws;
use crate::crypto::SecretKey;
use crate::events::EventBus;
use crate::server::{Application, Services};
use crate::tenancy::{TokenSpec, create_token};

/// What each subscriber selects: the person and the school, as
/// integrators do (issue 15's goal is stated for subscribers selecting the
/// person).
const WITH_PERSON: &str = "subscription { deactivations { cursor kind
    person { __typename ... on Student { forename surname status } } school { name } } }";
const LIMIT: Duration = Duration::from_secs(30);

/// A server on loopback, serving until `stop` is dropped or sent.
pub struct Replica {
    pub addr: SocketAddr,
    pub db: DatabaseConnection,
    pub events: EventBus,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// One server on `url` (migrated), with its own pool, bus and feed.
pub async fn replica(url: &str) -> anyhow::Result<Replica> {
    let db = crate::db::connect(url, None).await?;
    let events = EventBus::default();
    let services = Services {
        db: db.clone(),
        secret_key: SecretKey::generate(),
        webhook_secret: None,
        events: events.clone(),
        sync_wake: Default::default(),
        wonde: crate::wonde::WondeClient::new(crate::wonde::WondeConfig::default())?,
        wonde_app_token: None,
    };
    // The fan-out opens 100 sockets with one token: above the default cap
    // of 50 per token (docs/limits.md), which is not what is measured here.
    let limits = crate::limits::LimitsConfig { ws_per_token: 200, ..Default::default() };
    let app = Application::new(services, ([127, 0, 0, 1], 0).into()).await?.with_limits(limits);
    let addr = app.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    Ok(Replica { addr, db, events, _stop: stop })
}

/// The rows an event names: trust, school and student ids.
#[derive(Clone, Copy)]
pub struct Subject {
    trust: i32,
    school: i32,
    student: i32,
}

/// A trust, a school, a student and an integrator's token for them.
pub async fn tenant(db: &DatabaseConnection) -> anyhow::Result<(Subject, String)> {
    let trust = crate::tenancy::create_trust(db, "Bench Trust").await?;
    let school = super::support::bench_school(db, trust.id).await?;
    let now = chrono::Utc::now();
    let student = entity::student::ActiveModel {
        school_id: Set(school.id),
        wonde_id: Set("B1".to_owned()),
        forename: Set("Bea".to_owned()),
        surname: Set("Bench".to_owned()),
        status: Set(entity::enums::AccountStatus::Active),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    let spec = TokenSpec {
        role: Role::Integrator,
        trust_id: Some(trust.id),
        school_ids: Vec::new(),
        label: None,
        expires_in: None,
        scopes: Vec::new(),
    };
    let (token, _) = create_token(db, &spec).await?;
    Ok((Subject { trust: trust.id, school: school.id, student: student.id }, token))
}

/// Commits one deactivation event on `db` and tells `bus`, as a run does.
pub async fn commit_one(db: &DatabaseConnection, bus: &EventBus, subject: Subject) -> anyhow::Result<i64> {
    let row = entity::event::ActiveModel {
        trust_id: Set(subject.trust),
        school_id: Set(subject.school),
        kind: Set(EventKind::Deactivated),
        person_kind: Set(Some(PersonKind::Student)),
        person_id: Set(Some(subject.student)),
        reason: Set(Some(DeactivationReason::LeftSchool)),
        sync_run_id: Set(None),
        payload: Set(None),
        occurred_at: Set(chrono::Utc::now()),
        ..Default::default()
    };
    let events = crate::events::log::append(db, vec![row]).await?;
    bus.publish(&events);
    events.last().map(|e| e.id).ok_or_else(|| anyhow::anyhow!("nothing appended"))
}

/// A socket with `subscriptions` subscriptions to deactivations.
pub async fn subscriber(addr: SocketAddr, token: &str, subscriptions: usize) -> anyhow::Result<ws::Socket> {
    let (mut socket, ack) = ws::connect(addr, Some(token)).await?;
    anyhow::ensure!(ack["type"] == "connection_ack", "not acknowledged: {ack}");
    for i in 0..subscriptions {
        ws::subscribe(&mut socket, &i.to_string(), WITH_PERSON, json!({})).await?;
    }
    Ok(socket)
}

/// Reads until `count` events have arrived on `socket`.
pub async fn receive(socket: &mut ws::Socket, count: usize) -> anyhow::Result<()> {
    let mut seen = 0;
    while seen < count {
        let message = ws::next_message_within(socket, LIMIT).await?;
        if message["type"] == "next" {
            seen += 1;
        }
    }
    Ok(())
}

/// Cross-replica latency: (same replica, other replica) samples over
/// `events` events committed on A.
pub async fn cross_replica(postgres_url: &str, events: usize) -> anyhow::Result<(Samples, Samples)> {
    let scratch = Engine::Postgres(postgres_url.to_owned()).scratch("replicas").await?;
    scratch.migrated().await?;
    let a = replica(&scratch.url).await?;
    let b = replica(&scratch.url).await?;
    let (subject, token) = tenant(&a.db).await?;
    let mut on_a = subscriber(a.addr, &token, 1).await?;
    let mut on_b = subscriber(b.addr, &token, 1).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut same, mut cross) = (Vec::with_capacity(events), Vec::with_capacity(events));
    for _ in 0..events {
        let started = Instant::now();
        commit_one(&a.db, &a.events, subject).await?;
        let (local, remote) = tokio::join!(
            async {
                receive(&mut on_a, 1).await?;
                anyhow::Ok(started.elapsed())
            },
            async {
                receive(&mut on_b, 1).await?;
                anyhow::Ok(started.elapsed())
            }
        );
        same.push(local?);
        cross.push(remote?);
    }
    drop((on_a, on_b, a, b));
    scratch.drop_now().await?;
    Ok((Samples::new(same), Samples::new(cross)))
}

/// One event to `subscribers` subscriptions, and (baseline) to one: the
/// times until the last subscriber had it.
pub async fn fan_out(engine: &Engine, subscribers: usize) -> anyhow::Result<(Duration, Duration)> {
    let scratch = engine.scratch("fanout").await?;
    scratch.migrated().await?;
    let server = replica(&scratch.url).await?;
    let (subject, token) = tenant(&server.db).await?;

    let mut one = subscriber(server.addr, &token, 1).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    commit_one(&server.db, &server.events, subject).await?;
    receive(&mut one, 1).await?;
    let baseline = started.elapsed();
    drop(one);

    let sockets = 100.min(subscribers.max(1));
    let per_socket = subscribers.div_ceil(sockets);
    let mut all = Vec::with_capacity(sockets);
    for _ in 0..sockets {
        all.push(subscriber(server.addr, &token, per_socket).await?);
    }
    // Subscriptions are registered asynchronously after `subscribe` is sent.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    commit_one(&server.db, &server.events, subject).await?;
    let readers = all.into_iter().map(|mut socket| {
        tokio::spawn(async move {
            receive(&mut socket, per_socket).await?;
            anyhow::Ok(())
        })
    });
    for reader in futures::future::join_all(readers).await {
        reader??;
    }
    let all = started.elapsed();
    drop(server);
    scratch.drop_now().await?;
    Ok((all, baseline))
}
