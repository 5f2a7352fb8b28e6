//! `onroll demo`: the server plus an in-process Wonde simulator holding a
//! generated trust, connected and synced before the first line is printed.
//!
//! The demo drives its own server the way an administrator would: it
//! connects each school with the public `connectWonde` mutation over HTTP
//! and waits for the first FULL runs through the API. What a newcomer sees
//! is therefore the product's real path, not a shortcut into the database.

use crate::cli_out::say;
use clap::Args;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use wonde_sim::{SimConfig, SimHandle, Simulator, WebhookTarget};

use crate::config::{DatabaseConfig, Every, ScheduleConfig, ServeConfig, SyncConfig};
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
    #[command(flatten)]
    pub limits: crate::limits::LimitsConfig,
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

/// A running demo: the simulator, the server and the trust's tokens. The
/// demo command prints it; the leaver-latency test and benchmark drive it.
pub struct Demo {
    pub addr: SocketAddr,
    pub trust_id: i32,
    pub admin_token: String,
    pub integrator_token: String,
    pub sim: SimHandle,
    /// An integrator's endpoint in miniature, registered for every event
    /// type: it verifies each delivery and lists them.
    pub receiver: crate::demo_receiver::DemoReceiver,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    scratch: Option<Scratch>,
}

impl Demo {
    /// Starts the simulator and the server, connects every school through
    /// the API and waits for their first FULL runs; serves until `shutdown`.
    pub async fn start(
        config: DemoConfig,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<Self, DemoError> {
        let sim = Simulator::start(SimConfig {
            schools: config.schools,
            students_per_school: config.students,
            seed: config.seed,
            ..SimConfig::default()
        })
        .await
        .map_err(|err| DemoError::Simulator(err.to_string()))?;
        let (database_url, scratch) = match config.database_url.clone() {
            Some(url) => (url, None),
            None => {
                let scratch = Scratch::new()?;
                (scratch.sqlite_url(), Some(scratch))
            }
        };
        // A demo on PostgreSQL gets a key of its own: its tokens live as
        // long as the demo's database, and nobody has to set one up.
        let secret_key = std::env::var("ONROLL_SECRET_KEY").ok().or_else(|| {
            (crate::db::Engine::of(&database_url) == Some(crate::db::Engine::Postgres)).then(random_key_hex)
        });
        let webhook_secret = crate::auth::generate_token();
        let serve = ServeConfig {
            database: DatabaseConfig { database_url, secret_key },
            bind: config.bind,
            webhook_secret: Some(webhook_secret.clone()),
            sync: SyncConfig {
                wonde_api_url: Some(sim.base_url()),
                wonde_app_token: Some(sim.app_token()),
                deactivation_guard: 0.5,
            },
            schedule: ScheduleConfig {
                full_sync_every: Every(Some(chrono::Duration::days(7))),
                incremental_sync_every: config.incremental_every,
                sync_runs_at_once: crate::sync::schedule::DEFAULT_RUNS_AT_ONCE,
            },
            limits: config.limits.clone(),
            // The demo's receiver listens on 127.0.0.1 over plain HTTP.
            webhooks: crate::config::WebhooksConfig { allow_private: true },
        };
        let app = Application::build(&serve).await?.with_worker_tick(Duration::from_secs(1));
        let addr = app.local_addr()?;
        let db = app.db().clone();
        let trust = tenancy::create_trust(&db, "Demo Multi-Academy Trust").await?;
        let admin_token = token(&db, entity::enums::Role::TrustAdmin, trust.id, "demo trust admin").await?;
        let integrator_token =
            token(&db, entity::enums::Role::Integrator, trust.id, "demo integrator").await?;
        let server = tokio::spawn(app.run_until_stopped(shutdown));
        // The simulator's approvals, declines and revocations reach this
        // server as Wonde's webhooks would, so `requestWondeAccess` works.
        let hook = WebhookTarget::new(format!("http://{addr}/webhooks/wonde")).with_secret(webhook_secret);
        sim.set_webhook_target(Some(hook)).map_err(|err| DemoError::Simulator(err.to_string()))?;
        let receiver = crate::demo_receiver::DemoReceiver::start().await?;
        let demo =
            Self { addr, trust_id: trust.id, admin_token, integrator_token, sim, receiver, server, scratch };

        let api = demo.api();
        let trust_gid = encode(NodeType::Trust, trust.id).0;
        for school in demo.sim.schools() {
            api.call(
                "mutation($input: ConnectWondeInput!) { connectWonde(input: $input) { id } }",
                json!({ "input": {
                    "trustId": trust_gid, "wondeSchoolId": school.wonde_id, "apiToken": school.token
                } }),
            )
            .await?;
        }
        wait_for_first_syncs(&api).await?;
        // Registered after the first syncs, so that it gets what happens
        // from now on (a leaver, say), not the initial load.
        let created = api
            .call(
                "mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { secret } }",
                json!({ "input": {
                    "url": demo.receiver.hook_url(),
                    "eventTypes": ["DEACTIVATED", "REACTIVATED", "HELD", "CONNECTION_CHANGED", "WEBHOOK_ENDPOINT_DISABLED"],
                    "description": "the demo's receiver"
                } }),
            )
            .await?;
        demo.receiver.set_secret(created["createWebhookEndpoint"]["secret"].as_str().unwrap_or_default());
        Ok(demo)
    }

    /// A client of the demo's GraphQL API, as its trust admin.
    pub fn api(&self) -> Api {
        Api {
            http: reqwest::Client::new(),
            url: format!("http://{}/graphql", self.addr),
            token: self.admin_token.clone(),
        }
    }

    /// The trust's schools as the API names them: (Wonde id, global ID).
    pub async fn schools(&self) -> Result<Vec<(String, String)>, DemoError> {
        let data =
            self.api().call("{ trusts { schools { edges { node { id wondeId } } } } }", json!({})).await?;
        let edges = data["trusts"][0]["schools"]["edges"].as_array().cloned().unwrap_or_default();
        Ok(edges
            .iter()
            .map(|edge| {
                let node = &edge["node"];
                let text = |field: &str| node[field].as_str().unwrap_or_default().to_owned();
                (text("wondeId"), text("id"))
            })
            .collect())
    }

    /// Waits for the server to stop (its shutdown future resolved), then
    /// stops the simulator and removes a scratch database.
    pub async fn finish(self) -> Result<(), DemoError> {
        let served = self.server.await.map_err(|err| DemoError::Api(err.to_string()))?;
        served?;
        self.sim.shutdown().await;
        drop(self.scratch);
        Ok(())
    }
}

pub async fn run(config: DemoConfig) -> Result<(), DemoError> {
    let demo = Demo::start(config, shutdown_signal()).await?;
    print_welcome(&demo);
    demo.finish().await
}

fn random_key_hex() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
    let spec = TokenSpec {
        role,
        trust_id: Some(trust_id),
        school_ids: Vec::new(),
        label: Some(label.into()),
        expires_in: None,
        scopes: Vec::new(),
    };
    Ok(tenancy::create_token(db, &spec).await?.0)
}

/// The demo's own client of its GraphQL API.
pub struct Api {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Api {
    /// Runs one operation; GraphQL errors are errors. Answers `data`.
    pub async fn call(&self, query: &str, variables: Value) -> Result<Value, DemoError> {
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

/// The subscription the welcome suggests. It names every kind of person, so
/// that a leaver's own event shows who left, not only the guardians who
/// follow them out.
pub const SUBSCRIPTION: &str = "subscription { deactivations { cursor kind reason person { __typename \
    ... on Student { forename surname } ... on Staff { forename surname } ... on Guardian { forename surname } } } }";

/// Labelled lines first (scripts read them: `GraphiQL`, `Admin token`, ...),
/// then what to try.
fn print_welcome(demo: &Demo) {
    let (addr, admin, integrator, sim) = (&demo.addr, &demo.admin_token, &demo.integrator_token, &demo.sim);
    let control = sim.control_url();
    let leaver = sim.schools().into_iter().find_map(|school| {
        let truth = sim.truth(&school.wonde_id).ok()?;
        let student = suggested_leaver(&truth)?;
        Some((school.wonde_id, student.id.clone(), format!("{} {}", student.forename, student.surname)))
    });
    say!();
    say!("Onroll demo: a trust of {} schools, mirrored from a simulated Wonde.", sim.schools().len());
    say!();
    say!("GraphiQL:       http://{addr}/graphql");
    say!("Subscriptions:  ws://{addr}/graphql/ws");
    say!("Admin token:    {admin}");
    say!("Integrator:     {integrator}");
    say!("Simulator:      {control}");
    say!("Webhooks:       {}", demo.receiver.deliveries_url());
    say!();
    say!("In GraphiQL, set the header  {{\"Authorization\": \"Bearer {admin}\"}}  and try:");
    say!("  {{ trusts {{ name schools {{ edges {{ node {{ name students {{ totalCount }} }} }} }} }} }}");
    say!("  {{ trusts {{ families(filter: {{multiSchoolOnly: true}}) {{ totalCount }} }} }}");
    say!("  {SUBSCRIPTION}");
    if let Some((school, student, name)) = leaver {
        say!();
        say!("Then make {name} leave; the next incremental sync (every few seconds) streams it:");
        say!("Leaver curl:    curl -X POST {control}/schools/{school}/students/{student}/leave");
    }
    say!();
    say!("Each event is also POSTed, signed, to the demo's webhook receiver; it lists what it verified at");
    say!("the Webhooks URL above (docs/webhooks.md).");
    say!();
    say!(
        "Asking Wonde for access: search the catalog with  {{ wondeSchools(search: \"academy\") {{ wondeId name }} }},"
    );
    say!("request it with requestWondeAccess, then approve it as the school would:");
    say!("Approve curl:   curl -X POST {control}/schools/<wondeId>/approve");
    say!();
    say!("Ctrl-C stops the demo.");
}

/// The student the welcome suggests making leave: one whose guardians all
/// keep another child at the school, when there is one. Their guardians then
/// stay active, so the leaver's own event is the last one a subscriber (and
/// GraphiQL, which shows a subscription's latest answer) sees.
fn suggested_leaver(truth: &wonde_sim::MisSnapshot) -> Option<&wonde_sim::Student> {
    let keeps_another_child = |contact: &str, leaver: &str| {
        truth.links.iter().any(|l| l.contact_id == contact && l.student_id != leaver)
    };
    truth
        .students
        .iter()
        .find(|s| {
            let mut guardians = truth.links.iter().filter(|l| l.student_id == s.id).peekable();
            guardians.peek().is_some() && guardians.all(|l| keeps_another_child(&l.contact_id, &s.id))
        })
        .or_else(|| truth.students.first())
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
