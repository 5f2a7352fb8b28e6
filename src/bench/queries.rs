//! Issue 15's three hot query shapes under load: requests per second, p99
//! and SQL statements per request, on a school filled by a FULL sync of
//! the simulator.
//!
//! The server's pool counts every statement it issues (the event feed's
//! own reads excepted, as in `tests/api/query_shapes.rs`); a request's
//! count is the difference across one request alone, after a warm-up.
//! The load is closed-loop: `connections` clients over loopback, each
//! sending its next request when the last is answered. Baseline, in the
//! same run: `{ __typename }` under the same load (what every request pays:
//! HTTP, authentication, metering).

use entity::enums::{Role, SyncKind};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use wonde_sim::{SimConfig, Simulator};

use super::support::{Engine, Samples};
use crate::graphql::ids::{NodeType, encode};
use crate::server::{Application, Services};
use crate::tenancy::{TokenSpec, create_token};

/// A school's first 100 students with guardians and classes.
pub const FIRST_STUDENTS: &str = "query($school: ID!) { school(id: $school) { students(first: 100) {
    edges { node { id forename surname
        guardians { relationship guardian { forename surname } }
        classes { name } } } } } }";

/// A class roster's first 100 pupils and its size.
pub const ROSTER: &str = "query($class: ID!) { node(id: $class) { ... on Class { name
    students(first: 100) { totalCount edges { node { forename surname } } } } } }";

/// One student by id with guardians.
pub const ONE_STUDENT: &str = "query($student: ID!) { node(id: $student) { ... on Student { forename surname
    guardians { relationship guardian { forename surname } } } } }";

/// The baseline: the least a request can ask.
const FLOOR: &str = "{ __typename }";

/// How the load is shaped.
#[derive(Clone, Copy, Debug)]
pub struct LoadSize {
    /// Pupils of the one simulated school.
    pub students: usize,
    /// Concurrent connections (closed-loop clients).
    pub connections: usize,
    /// Length of each measured phase.
    pub phase: Duration,
}

/// One query's figures.
#[derive(Clone, Debug)]
pub struct QueryFigures {
    /// The shape, as the table names it.
    pub name: &'static str,
    /// Answers a second under the load.
    pub per_second: f64,
    /// Each request's time, sent to answered.
    pub latency: Samples,
    /// Statements one request issues.
    pub statements: usize,
}

/// The three shapes (in issue 15's order) and the baseline, last.
#[derive(Clone, Debug)]
pub struct QueriesFigures {
    pub shapes: Vec<QueryFigures>,
    pub floor: QueryFigures,
}

struct Target {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Target {
    async fn send(&self, query: &str, variables: &Value) -> anyhow::Result<()> {
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await?;
        anyhow::ensure!(response.status() == 200, "HTTP {}", response.status());
        let body: Value = response.json().await?;
        anyhow::ensure!(body.get("errors").is_none(), "errors: {}", body["errors"]);
        Ok(())
    }
}

/// `connections` closed-loop clients sending `query` for `phase`:
/// requests per second and latencies. Any error fails the measurement.
async fn load(
    target: &Arc<Target>,
    query: &'static str,
    variables: &Value,
    size: LoadSize,
) -> anyhow::Result<(f64, Samples)> {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let clients: Vec<_> = (0..size.connections)
        .map(|_| {
            let (target, stop, variables) = (target.clone(), stop.clone(), variables.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    target.send(query, &variables).await?;
                    latencies.push(sent.elapsed());
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    tokio::time::sleep(size.phase).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for client in clients {
        all.extend(client.await??);
    }
    let per_second = all.len() as f64 / started.elapsed().as_secs_f64();
    Ok((per_second, Samples::new(all)))
}

/// Variables of the three shapes for `school`: the school, its largest
/// class, a student with guardians.
async fn variables(db: &sea_orm::DatabaseConnection, school: i32) -> anyhow::Result<[Value; 3]> {
    let members = entity::class_student::Entity::find()
        .filter(entity::class_student::Column::SchoolId.eq(school))
        .filter(entity::class_student::Column::Active.eq(true))
        .all(db)
        .await?;
    let mut sizes = std::collections::HashMap::<i32, usize>::new();
    for m in &members {
        *sizes.entry(m.class_id).or_default() += 1;
    }
    let class = sizes.into_iter().max_by_key(|(id, n)| (*n, -id)).map(|(id, _)| id);
    let class = class.ok_or_else(|| anyhow::anyhow!("the synced school has no class members"))?;
    let link = entity::guardian_link::Entity::find()
        .filter(entity::guardian_link::Column::SchoolId.eq(school))
        .filter(entity::guardian_link::Column::Active.eq(true))
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the synced school has no guardian links"))?;
    Ok([
        json!({ "school": encode(NodeType::School, school).0 }),
        json!({ "class": encode(NodeType::Class, class).0 }),
        json!({ "student": encode(NodeType::Student, link.student_id).0 }),
    ])
}

/// Fills one school of `size.students` pupils by a FULL sync, serves it
/// with a counting pool and loads each shape in turn.
pub async fn measure(engine: &Engine, size: LoadSize) -> anyhow::Result<QueriesFigures> {
    let sim = Simulator::start(SimConfig::trust(1, size.students, 13)).await?;
    let scratch = engine.scratch("queries").await?;
    let db = scratch.migrated().await?;
    let (trust, schools, sync) = super::sync::connected_trust(&db, &sim).await?;
    super::sync::run_each(&sync, &schools, SyncKind::Full).await?;
    let school = *schools.first().ok_or_else(|| anyhow::anyhow!("no school"))?;
    let vars = variables(&db, school).await?;
    let spec = TokenSpec {
        role: Role::TrustAdmin,
        trust_id: Some(trust),
        school_ids: Vec::new(),
        label: None,
        expires_in: None,
        scopes: Vec::new(),
    };
    let (token, _) = create_token(&db, &spec).await?;

    let statements = Arc::new(AtomicUsize::new(0));
    let mut served = crate::db::connect(&scratch.url, None).await?;
    let counter = statements.clone();
    served.set_metric_callback(move |info| {
        // The event feed reads the log on its own clock; not a request's.
        if !info.statement.sql.contains(r#"FROM "event" WHERE "event"."id" >"#) {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let services = Services {
        db: served,
        secret_key: sync.key.clone(),
        webhook_secret: None,
        events: Default::default(),
        sync_wake: Default::default(),
        wonde: crate::wonde::WondeClient::new(crate::wonde::WondeConfig::default())?,
        wonde_app_token: None,
    };
    // Budgets lifted: the load measures the server, not the throttle.
    let limits = crate::limits::LimitsConfig { rate_points_per_minute: 100_000_000, ..Default::default() };
    let app = Application::new(services, ([127, 0, 0, 1], 0).into()).await?.with_limits(limits);
    let url = format!("http://{}/graphql", app.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let target = Arc::new(Target { http: reqwest::Client::new(), url, token });

    let no_variables = json!({});
    let shapes = [
        ("(a) a school's first 100 students with guardians and classes", FIRST_STUDENTS, &vars[0]),
        ("(b) a class roster (first 100)", ROSTER, &vars[1]),
        ("(c) one student by id with guardians", ONE_STUDENT, &vars[2]),
        ("`{ __typename }`", FLOOR, &no_variables),
    ];
    let mut figures = Vec::with_capacity(shapes.len());
    for (name, query, variables) in shapes {
        target.send(query, variables).await?;
        let before = statements.load(Ordering::SeqCst);
        target.send(query, variables).await?;
        let one = statements.load(Ordering::SeqCst) - before;
        // A short warm-up at the full concurrency: pools filled, caches alike.
        load(&target, query, variables, LoadSize { phase: size.phase / 4, ..size }).await?;
        let (per_second, latency) = load(&target, query, variables, size).await?;
        figures.push(QueryFigures { name, per_second, latency, statements: one });
    }
    let _ = stop.send(());
    server.await??;
    drop((sync, db));
    sim.shutdown().await;
    scratch.drop_now().await?;
    let floor = figures.pop().ok_or_else(|| anyhow::anyhow!("no baseline"))?;
    Ok(QueriesFigures { shapes: figures, floor })
}
