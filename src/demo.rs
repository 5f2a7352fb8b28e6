//! `onroll demo`: the server plus an in-process Wonde simulator holding a
//! generated trust, connected and synced before the first line is printed.
//!
//! The demo drives its own server the way an administrator would: it
//! connects each school with the public `connectWonde` mutation over HTTP
//! and waits for the first FULL runs through the API. What a newcomer sees
//! is therefore the product's real path, not a shortcut into the database.

use clap::Args;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use wonde_sim::{SimConfig, SimHandle, Simulator};

use crate::config::{DatabaseConfig, Every, ServeConfig, SyncConfig};
use crate::graphql::ids::{NodeType, encode};
use crate::server::{Application, shutdown_signal};
use crate::tenancy::{self, TokenSpec};

#[derive(Args, Clone, Debug)]
pub struct DemoConfig {
    /// Listen address of the GraphQL server.
    #[arg(long, env = "ONROLL_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Schools in the generated trust.
    #[arg(long, default_value_t = 3)]
    pub schools: usize,
    /// Students per school.
    #[arg(long, default_value_t = 200)]
    pub students: usize,
    /// Seed of the generated trust: the same seed gives the same people.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How often each school syncs incrementally, so that a change made in
    /// the simulator shows up by itself.
    #[arg(long, default_value = "5s", value_parser = parse_every)]
    pub incremental_every: Every,
    /// A database to use instead of a fresh SQLite file that is removed on exit.
    #[arg(long)]
    pub database_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the simulator did not start: {0}")]
    Simulator(String),
    #[error("the server did not start: {0}")]
    Start(#[from] crate::server::StartError),
    #[error("setting up the trust: {0}")]
    Tenancy(#[from] crate::tenancy::TenancyError),
    #[error("the demo's own API call failed: {0}")]
    Api(String),
    #[error("the first syncs did not complete within {0:?}: {1}")]
    SyncTimeout(Duration, String),
    #[error("cannot prepare the demo's database directory: {0}")]
    Io(#[from] std::io::Error),
}

/// How long the first FULL runs may take before the demo gives up.
const FIRST_SYNC_LIMIT: Duration = Duration::from_secs(180);

pub async fn run(config: DemoConfig) -> Result<(), DemoError> {
    let sim = Simulator::start(SimConfig {
        schools: config.schools,
        students_per_school: config.students,
        seed: config.seed,
        ..SimConfig::default()
    })
    .await
    .map_err(|err| DemoError::Simulator(err.to_string()))?;

    let scratch = match &config.database_url {
        Some(_) => None,
        None => Some(Scratch::new()?),
    };
    let database_url = match (&config.database_url, &scratch) {
        (Some(url), _) => url.clone(),
        (None, Some(scratch)) => scratch.sqlite_url(),
        (None, None) => return Err(DemoError::Api("no database".to_owned())),
    };
    let serve = ServeConfig {
        database: DatabaseConfig { database_url, secret_key: None },
        bind: config.bind,
        webhook_secret: Some(crate::auth::generate_token()),
        sync: SyncConfig {
            wonde_api_url: Some(sim.base_url()),
            full_sync_every: Every(Some(chrono::Duration::days(7))),
            incremental_sync_every: config.incremental_every,
            deactivation_guard: 0.5,
        },
    };
    let app = Application::build(&serve).await?.with_worker_tick(Duration::from_secs(1));
    let addr = app.local_addr()?;
    let db = app.db().clone();
    let trust = tenancy::create_trust(&db, "Demo Multi-Academy Trust").await?;
    let admin = token(&db, entity::enums::Role::TrustAdmin, trust.id, "demo trust admin").await?;
    let integrator = token(&db, entity::enums::Role::Integrator, trust.id, "demo integrator").await?;
    let server = tokio::spawn(app.run_until_stopped(shutdown_signal()));

    let api =
        Api { http: reqwest::Client::new(), url: format!("http://{addr}/graphql"), token: admin.clone() };
    let trust_gid = encode(NodeType::Trust, trust.id).0;
    for school in sim.schools() {
        api.call(
            "mutation($input: ConnectWondeInput!) { connectWonde(input: $input) { id } }",
            json!({ "input": { "trustId": trust_gid, "wondeSchoolId": school.wonde_id, "apiToken": school.token } }),
        )
        .await?;
    }
    wait_for_first_syncs(&api).await?;

    print_welcome(&addr, &admin, &integrator, &sim);
    let served = server.await.map_err(|err| DemoError::Api(err.to_string()))?;
    served?;
    sim.shutdown().await;
    drop(scratch);
    Ok(())
}

fn parse_every(text: &str) -> Result<Every, String> {
    crate::sync::schedule::parse_every(text).map(Every).map_err(|err| err.to_string())
}

async fn token(
    db: &sea_orm::DatabaseConnection,
    role: entity::enums::Role,
    trust_id: i32,
    label: &str,
) -> Result<String, DemoError> {
    let spec =
        TokenSpec { role, trust_id: Some(trust_id), school_ids: Vec::new(), label: Some(label.into()) };
    Ok(tenancy::create_token(db, &spec).await?.0)
}

/// The demo's own client of its GraphQL API.
struct Api {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Api {
    async fn call(&self, query: &str, variables: Value) -> Result<Value, DemoError> {
        let answer: Value = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .map_err(|err| DemoError::Api(err.without_url().to_string()))?
            .json()
            .await
            .map_err(|err| DemoError::Api(err.to_string()))?;
        if let Some(errors) = answer.get("errors") {
            return Err(DemoError::Api(errors.to_string()));
        }
        Ok(answer["data"].clone())
    }
}

/// Polls the API until every school's latest run has ended; a run that
/// failed stops the demo, since nothing after it would make sense.
async fn wait_for_first_syncs(api: &Api) -> Result<(), DemoError> {
    let started = std::time::Instant::now();
    let query =
        "{ trusts { schools { edges { node { name connection { latestRun { status error } } } } } } }";
    loop {
        let data = api.call(query, json!({})).await?;
        let schools = data["trusts"][0]["schools"]["edges"].as_array().cloned().unwrap_or_default();
        let statuses: Vec<(String, String, String)> = schools
            .iter()
            .map(|edge| {
                let node = &edge["node"];
                let run = &node["connection"]["latestRun"];
                (
                    node["name"].as_str().unwrap_or_default().to_owned(),
                    run["status"].as_str().unwrap_or("QUEUED").to_owned(),
                    run["error"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        if let Some((name, status, error)) =
            statuses.iter().find(|(_, status, _)| status == "FAILED" || status == "CANCELLED")
        {
            return Err(DemoError::Api(format!("the first sync of {name} ended {status}: {error}")));
        }
        if !statuses.is_empty() && statuses.iter().all(|(_, status, _)| status == "COMPLETED") {
            return Ok(());
        }
        if started.elapsed() > FIRST_SYNC_LIMIT {
            let summary = statuses.iter().map(|(n, s, _)| format!("{n}: {s}")).collect::<Vec<_>>();
            return Err(DemoError::SyncTimeout(FIRST_SYNC_LIMIT, summary.join(", ")));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Labelled lines first (scripts read them: `GraphiQL`, `Admin token`, ...),
/// then what to try.
fn print_welcome(addr: &SocketAddr, admin: &str, integrator: &str, sim: &SimHandle) {
    let control = sim.control_url();
    let leaver = sim.schools().into_iter().find_map(|school| {
        let truth = sim.truth(&school.wonde_id).ok()?;
        let student = truth.students.into_iter().next()?;
        Some((school.wonde_id, student.id, format!("{} {}", student.forename, student.surname)))
    });
    println!();
    println!("Onroll demo: a trust of {} schools, mirrored from a simulated Wonde.", sim.schools().len());
    println!();
    println!("GraphiQL:       http://{addr}/graphql");
    println!("Subscriptions:  ws://{addr}/graphql/ws");
    println!("Admin token:    {admin}");
    println!("Integrator:     {integrator}");
    println!("Simulator:      {control}");
    println!();
    println!("In GraphiQL, set the header  {{\"Authorization\": \"Bearer {admin}\"}}  and try:");
    println!("  {{ trusts {{ name schools {{ edges {{ node {{ name students {{ totalCount }} }} }} }} }} }}");
    println!("  {{ trusts {{ families(filter: {{multiSchoolOnly: true}}) {{ totalCount }} }} }}");
    println!(
        "  subscription {{ deactivations {{ cursor reason person {{ ... on Student {{ forename surname }} }} }} }}"
    );
    if let Some((school, student, name)) = leaver {
        println!();
        println!("Then make {name} leave; the next incremental sync (every few seconds) streams it:");
        println!("Leaver curl:    curl -X POST {control}/schools/{school}/students/{student}/leave");
    }
    println!();
    println!("Ctrl-C stops the demo.");
}

/// A directory for the demo's SQLite file, removed when the demo ends, so
/// that every demo starts from the same generated trust.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> std::io::Result<Self> {
        let dir = std::env::temp_dir().join(format!("onroll-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }

    fn sqlite_url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.0.join("onroll.db").display())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
