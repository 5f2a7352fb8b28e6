//! Shared test harness: a server on a fresh database, over real HTTP.

pub mod big_year;
pub mod fixture;
pub mod receiver;
pub mod rows;
pub mod sim;
pub mod ws;

use anyhow::{Context as _, bail};
use onroll::crypto::{Secret, SecretKey};
use onroll::events::EventBus;
use onroll::server::{Application, Services};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::oneshot;

/// The webhook secret test servers are configured with.
pub const WEBHOOK_SECRET: &str = "test-webhook-secret";

/// Where the suite's logs go: one file per test process, which `.ci/run`
/// scans afterwards for secrets and personal data (`.ci/check-logs`).
pub const LOG_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/test-logs");

/// Sends this process's tracing output, at debug level for Onroll and its
/// HTTP layers (request spans included), to a file under [`LOG_DIR`], so
/// that what a server would log in production is checked for secrets.
pub fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = std::fs::create_dir_all(LOG_DIR);
        let path = format!("{LOG_DIR}/api-{}.log", std::process::id());
        let Ok(file) = std::fs::OpenOptions::new().create(true).append(true).open(path) else { return };
        let filter = tracing_subscriber::EnvFilter::new(
            "warn,onroll=trace,tower_http=trace,async_graphql=debug,axum=debug",
        );
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::sync::Mutex::new(file))
            .with_ansi(false)
            .try_init();
    });
}

/// The environment variable that points the PostgreSQL suite at a server.
pub const POSTGRES_ENV: &str = "ONROLL_TEST_DATABASE_URL";

/// Which database a test runs on.
#[derive(Clone, Debug)]
pub enum Engine {
    Sqlite,
    Postgres(String),
}

impl Engine {
    /// The PostgreSQL engine the suite was built for. Its tests are compiled
    /// as ignored (with the reason) when the variable was unset at build
    /// time (`build.rs`); run anyway, or with the variable since unset, they
    /// fail rather than pass without running.
    pub fn postgres() -> anyhow::Result<Self> {
        std::env::var(POSTGRES_ENV)
            .ok()
            .filter(|url| !url.trim().is_empty())
            .map(Self::Postgres)
            .ok_or_else(|| anyhow::anyhow!("{POSTGRES_ENV} is not set: the PostgreSQL suite cannot run"))
    }
}

/// Runs one async test body on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_engines {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() -> anyhow::Result<()> {
                super::$name($crate::support::Engine::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(not(postgres_suite), ignore = "PostgreSQL suite: set ONROLL_TEST_DATABASE_URL")]
            async fn postgres() -> anyhow::Result<()> {
                super::$name($crate::support::Engine::postgres()?).await
            }
        }
    )+};
}

/// The demo (a generated trust in the simulator, connected) serving on
/// `data`'s database with no schedule, so only triggered runs sync. It
/// serves until the returned sender is used or dropped.
pub async fn unscheduled_demo(
    engine: &Engine,
    data: &TestDb,
    schools: usize,
    students: usize,
    seed: u64,
) -> anyhow::Result<(onroll::demo::Demo, oneshot::Sender<()>)> {
    let (stop, stopped) = oneshot::channel::<()>();
    let config = onroll::demo::DemoConfig {
        bind: ([127, 0, 0, 1], 0).into(),
        schools,
        students,
        seed,
        incremental_every: onroll::config::Every(None),
        database_url: Some(data.url(engine)),
        limits: Default::default(),
    };
    let demo = onroll::demo::Demo::start(config, async move {
        let _ = stopped.await;
    })
    .await?;
    Ok((demo, stop))
}

/// `connectWonde` with the connection's status in the answer.
pub const CONNECT_WONDE: &str =
    "mutation($i: ConnectWondeInput!) { connectWonde(input: $i) { id connection { status } } }";

/// Connects the simulated `sim_school` to the scenario's trust over the
/// API, as its trust admin does, and reads back the school the connection
/// recorded.
pub async fn connect_over_api(
    app: &TestApp,
    s: &fixture::Scenario,
    sim_school: &wonde_sim::SimSchool,
) -> anyhow::Result<entity::school::Model> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let input = json!({ "i": {
        "trustId": fixture::gid(onroll::graphql::ids::NodeType::Trust, s.trust.id),
        "wondeSchoolId": sim_school.wonde_id, "apiToken": sim_school.token,
    } });
    app.query(&s.trust_admin, CONNECT_WONDE, input).await?;
    entity::school::Entity::find()
        .filter(entity::school::Column::WondeId.eq(sim_school.wonde_id.as_str()))
        .one(app.db())
        .await?
        .ok_or_else(|| anyhow::anyhow!("school not recorded"))
}

/// The active rows of the membership or link table `$table`, an entity
/// module, at school `$school`; `?` returns a database error. The caller
/// brings `EntityTrait`, `QueryFilter` and `ColumnTrait` into scope.
#[macro_export]
macro_rules! active_memberships {
    ($db:expr, $school:expr, $table:ident) => {
        $table::Entity::find()
            .filter($table::Column::SchoolId.eq($school))
            .filter($table::Column::Active.eq(true))
            .all($db)
            .await?
    };
}

/// A database of one's own: a SQLite file, or a PostgreSQL schema.
pub struct TestDb {
    pub db: DatabaseConnection,
    cleanup: Cleanup,
}

enum Cleanup {
    File(PathBuf),
    Schema { url: String, schema: String },
}

/// Test schemas share this prefix, so leftovers are easy to find and drop.
pub const SCHEMA_PREFIX: &str = "onroll_t_";

fn unique_name() -> String {
    let token = onroll::auth::generate_token().replace(['-', '_'], "").to_lowercase();
    format!("{SCHEMA_PREFIX}{}", &token[4..20])
}

impl TestDb {
    pub async fn create(engine: &Engine) -> anyhow::Result<Self> {
        capture_logs();
        let name = unique_name();
        let (db, cleanup) = match engine {
            Engine::Sqlite => {
                let path = std::env::temp_dir().join(format!("onroll-{name}.db"));
                let url = format!("sqlite://{}?mode=rwc", path.display());
                (onroll::db::connect(&url, None).await?, Cleanup::File(path))
            }
            Engine::Postgres(url) => {
                let admin = onroll::db::connect(url, None)
                    .await
                    .with_context(|| format!("PostgreSQL at {POSTGRES_ENV} is unreachable"))?;
                admin.execute_unprepared(&format!("CREATE SCHEMA {name}")).await?;
                let db = onroll::db::connect(url, Some(&name)).await?;
                (db, Cleanup::Schema { url: url.clone(), schema: name })
            }
        };
        onroll::db::migrate(&db).await?;
        Ok(Self { db, cleanup })
    }

    /// A URL that opens this database from another process (PostgreSQL:
    /// the test's schema first on the search path).
    pub fn url(&self, engine: &Engine) -> String {
        match (&self.cleanup, engine) {
            (Cleanup::File(path), _) => format!("sqlite://{}?mode=rwc", path.display()),
            (Cleanup::Schema { schema, .. }, Engine::Postgres(url)) => {
                let joiner = if url.contains('?') { '&' } else { '?' };
                format!("{url}{joiner}options=-c%20search_path%3D{schema}")
            }
            (Cleanup::Schema { url, .. }, Engine::Sqlite) => url.clone(),
        }
    }

    /// A second pool on the same database, e.g. one that counts statements.
    pub async fn reconnect(&self, engine: &Engine) -> anyhow::Result<DatabaseConnection> {
        Ok(match (&self.cleanup, engine) {
            (Cleanup::File(path), _) => {
                onroll::db::connect(&format!("sqlite://{}?mode=rwc", path.display()), None).await?
            }
            (Cleanup::Schema { schema, .. }, Engine::Postgres(url)) => {
                onroll::db::connect(url, Some(schema)).await?
            }
            _ => bail!("engine and database disagree"),
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::Schema { url, schema } => {
                // Drop cannot await, and the test's runtime may be shutting
                // down: drop the schema from a thread with a runtime of its
                // own. A schema left by a crashed test holds only its rows.
                let (url, sql) = (url.clone(), format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
                let dropped = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                    runtime.block_on(async {
                        let admin = onroll::db::connect(&url, None).await?;
                        admin.execute_unprepared(&sql).await?;
                        admin.close().await?;
                        anyhow::Ok(())
                    })
                });
                let _ = dropped.join();
            }
        }
    }
}

/// A running server and a client for it.
pub struct TestApp {
    pub addr: SocketAddr,
    pub data: TestDb,
    pub http: reqwest::Client,
    /// The key the server seals Wonde tokens with.
    pub secret_key: SecretKey,
    /// The server's event bus: publish here what a sync would.
    pub events: EventBus,
    statements: Arc<AtomicUsize>,
    /// The counted statements' SQL, while [`TestApp::record_sql`] records.
    sql_log: Arc<Mutex<Option<Vec<String>>>>,
    stop: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Nothing listens on the discard port: Wonde "answers" with a refused
/// connection unless a test brings a simulator.
const NO_WONDE: &str = "http://127.0.0.1:9/v1.0";

/// A test server's timings, where a test needs other than the defaults.
#[derive(Default)]
struct Tuning {
    keepalive: Option<Duration>,
    token_watch: Option<Duration>,
    limits: Option<onroll::limits::LimitsConfig>,
    /// Outbound webhooks delivered by this server, with these settings.
    webhooks: Option<onroll::webhooks_out::WebhookSettings>,
}

/// Webhook settings for tests: plain-HTTP receivers on 127.0.0.1, retries
/// in milliseconds (the schedule's unit is 5 ms: 25 ms, 1.5 s, 9 s...), a
/// short backstop.
pub fn test_webhook_settings() -> onroll::webhooks_out::WebhookSettings {
    onroll::webhooks_out::WebhookSettings {
        allow_private: true,
        retry_unit: Duration::from_millis(5),
        timeout: Duration::from_secs(5),
        backstop: Duration::from_millis(200),
        concurrency: 16,
    }
}

/// A second server on a `TestApp`'s database (`TestApp::replica`); it
/// stops when dropped.
pub struct Replica {
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl TestApp {
    pub async fn spawn(engine: &Engine) -> anyhow::Result<Self> {
        Self::spawn_with_wonde(engine, NO_WONDE).await
    }

    /// A server on a database holding the usual scenario, and the scenario.
    pub async fn with_scenario(engine: &Engine) -> anyhow::Result<(Self, fixture::Scenario)> {
        let app = Self::spawn(engine).await?;
        let s = fixture::Scenario::build(app.db()).await?;
        Ok((app, s))
    }

    /// A server whose Wonde is at `wonde_url` (a simulator's base URL).
    pub async fn spawn_with_wonde(engine: &Engine, wonde_url: &str) -> anyhow::Result<Self> {
        Self::spawn_configured(engine, wonde_url, Tuning::default(), None, SecretKey::generate()).await
    }

    /// A server on a simulator whose Wonde tokens are sealed with `key`,
    /// so that `onroll` commands given the same key can use them.
    pub async fn spawn_with_key(engine: &Engine, wonde_url: &str, key: SecretKey) -> anyhow::Result<Self> {
        Self::spawn_configured(engine, wonde_url, Tuning::default(), None, key).await
    }

    /// A server on a simulator with the app's own token (catalog, access
    /// requests) and a sync worker, as `serve` runs.
    pub async fn spawn_with_app_token(
        engine: &Engine,
        wonde_url: &str,
        app_token: &str,
    ) -> anyhow::Result<Self> {
        Self::spawn_configured(engine, wonde_url, Tuning::default(), Some(app_token), SecretKey::generate())
            .await
    }

    /// A server whose subscription sockets are pinged every `keepalive`.
    pub async fn spawn_with_keepalive(engine: &Engine, keepalive: Duration) -> anyhow::Result<Self> {
        Self::spawn_tuned(engine, Tuning { keepalive: Some(keepalive), ..Tuning::default() }).await
    }

    /// A server whose revocation watch looks only every `every`, so that a
    /// test sees what a socket's own check of each operation does.
    pub async fn spawn_with_token_watch(engine: &Engine, every: Duration) -> anyhow::Result<Self> {
        Self::spawn_tuned(engine, Tuning { token_watch: Some(every), ..Tuning::default() }).await
    }

    /// A server with other limits than the defaults (docs/limits.md), its
    /// Wonde at `wonde_url` when given.
    pub async fn spawn_with_limits(
        engine: &Engine,
        wonde_url: Option<&str>,
        limits: onroll::limits::LimitsConfig,
    ) -> anyhow::Result<Self> {
        let tuning = Tuning { limits: Some(limits), ..Tuning::default() };
        Self::spawn_configured(engine, wonde_url.unwrap_or(NO_WONDE), tuning, None, SecretKey::generate())
            .await
    }

    /// A server that delivers outbound webhooks with `settings`.
    pub async fn spawn_with_webhooks(
        engine: &Engine,
        settings: onroll::webhooks_out::WebhookSettings,
    ) -> anyhow::Result<Self> {
        Self::spawn_tuned(engine, Tuning { webhooks: Some(settings), ..Tuning::default() }).await
    }

    /// A server with no Wonde, tuned by `tuning`.
    async fn spawn_tuned(engine: &Engine, tuning: Tuning) -> anyhow::Result<Self> {
        Self::spawn_configured(engine, NO_WONDE, tuning, None, SecretKey::generate()).await
    }

    /// Stops this server (its webhook worker finishes its batch first) and
    /// keeps its database, as a process that exits would.
    pub async fn stop_server(&mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            served.await??;
        }
        Ok(())
    }

    /// Another server on this one's database delivering outbound webhooks
    /// with `settings` (a second replica, or the same service restarted).
    pub async fn webhook_replica(
        &self,
        engine: &Engine,
        settings: onroll::webhooks_out::WebhookSettings,
    ) -> anyhow::Result<Replica> {
        self.start_replica(engine, |app| app.with_webhooks(settings)).await
    }

    /// Another server on this one's database, as a second replica: its own
    /// pool, event bus and open sockets; no worker.
    pub async fn replica(&self, engine: &Engine) -> anyhow::Result<Replica> {
        self.start_replica(engine, |app| app).await
    }

    /// A server on this one's database, set up by `configure`, serving
    /// until the returned [`Replica`] is dropped.
    async fn start_replica(
        &self,
        engine: &Engine,
        configure: impl FnOnce(Application) -> Application,
    ) -> anyhow::Result<Replica> {
        let services = Services {
            db: self.data.reconnect(engine).await?,
            secret_key: self.secret_key.clone(),
            webhook_secret: Some(Secret::new(WEBHOOK_SECRET)),
            events: EventBus::default(),
            sync_wake: Default::default(),
            wonde: sim::test_wonde(NO_WONDE)?,
            wonde_app_token: None,
        };
        let app = configure(
            Application::new(services, ([127, 0, 0, 1], 0).into())
                .await?
                .with_token_ttl(Duration::from_secs(3600)),
        );
        let addr = app.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        Ok(Replica { addr, _stop: stop })
    }

    async fn spawn_configured(
        engine: &Engine,
        wonde_url: &str,
        tuning: Tuning,
        app_token: Option<&str>,
        secret_key: SecretKey,
    ) -> anyhow::Result<Self> {
        let data = TestDb::create(engine).await?;
        let statements = Arc::new(AtomicUsize::new(0));
        let mut served = data.reconnect(engine).await?;
        let counter = statements.clone();
        let sql_log: Arc<Mutex<Option<Vec<String>>>> = Arc::new(Mutex::new(None));
        let log = Arc::clone(&sql_log);
        served.set_metric_callback(move |info| {
            // The event feed reads the log on its own clock (every second
            // and after each commit); those reads are not a request's.
            let feed = info.statement.sql.contains(r#"FROM "event" WHERE "event"."id" >"#);
            // So does the revocation watch (every 250 ms, for the tokens of
            // open sockets and, on SQLite, of the token cache).
            let watch = info.statement.sql.contains(r#"FROM "api_token" WHERE "api_token"."id" IN"#);
            if !feed && !watch {
                counter.fetch_add(1, Ordering::SeqCst);
                if let Some(log) = log.lock().unwrap_or_else(PoisonError::into_inner).as_mut() {
                    log.push(info.statement.sql.clone());
                }
            }
            if std::env::var_os("ONROLL_TEST_SHOW_SQL").is_some() {
                let sql = info.statement.sql.chars().take(150).collect::<String>();
                eprintln!("SQL {sql}");
            }
        });
        let events = EventBus::default();
        let services = Services {
            db: served,
            secret_key: secret_key.clone(),
            webhook_secret: Some(Secret::new(WEBHOOK_SECRET)),
            events: events.clone(),
            sync_wake: Default::default(),
            wonde: sim::test_wonde(wonde_url)?,
            wonde_app_token: app_token.map(onroll::wonde::SecretToken::new),
        };
        // With an app token the server is whole: a worker runs what the
        // webhooks and mutations queue (its tick is long: only wake-ups).
        let worker = app_token.map(|_| onroll::server::Worker {
            engine: onroll::sync::SyncEngine {
                db: services.db.clone(),
                key: services.secret_key.clone(),
                events: services.events.clone(),
                client: services.wonde.clone(),
                guard_share: 0.5,
                worker: "test".to_owned(),
                clock: Default::default(),
            },
            schedule: onroll::sync::schedule::Schedule::default(),
            tick: Duration::from_secs(3600),
        });
        // Cached tokens outlive the test: none ages out between warm-up and count.
        let mut app = Application::new(services, ([127, 0, 0, 1], 0).into())
            .await?
            .with_token_ttl(Duration::from_secs(3600));
        if let Some(worker) = worker {
            app = app.with_worker(worker);
        }
        if let Some(every) = tuning.keepalive {
            app = app.with_ws_keepalive(every);
        }
        if let Some(every) = tuning.token_watch {
            app = app.with_token_watch_every(every);
        }
        if let Some(limits) = tuning.limits {
            app = app.with_limits(limits);
        }
        app = match tuning.webhooks {
            Some(settings) => app.with_webhooks(settings),
            // Endpoints on 127.0.0.1 may be registered; nothing is sent.
            None => app.with_webhook_settings(test_webhook_settings()),
        };
        let addr = app.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            addr,
            data,
            http: reqwest::Client::new(),
            secret_key,
            events,
            statements,
            sql_log,
            stop: Some(stop),
            served: Some(served),
        })
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.data.db
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Waits until the app's bus has exactly `count` receivers: the
    /// subscriptions started are listening (each joins the bus once its
    /// start is read), those of closed sockets gone. A fixed sleep was not
    /// enough on a loaded machine.
    pub async fn listening(&self, count: usize) -> anyhow::Result<()> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.events.receivers() != count {
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "{} of {count} subscriptions listening after 10 s",
                self.events.receivers()
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        Ok(())
    }

    /// SQL statements the server has issued so far.
    pub fn statements(&self) -> usize {
        self.statements.load(Ordering::SeqCst)
    }

    /// Starts (`on`) or stops recording counted statements' SQL; answers what was recorded.
    pub fn record_sql(&self, on: bool) -> Vec<String> {
        let mut log = self.sql_log.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *log, on.then(Vec::new)).unwrap_or_default()
    }

    /// Posts a query; returns the HTTP status and the JSON body.
    pub async fn post(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request =
            self.http.post(self.url("/graphql")).json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await?))
    }

    /// Posts a query that must succeed; returns its `data`.
    pub async fn query(&self, token: &str, query: &str, variables: Value) -> anyhow::Result<Value> {
        let (status, body) = self.post(Some(token), query, variables).await?;
        if status != 200 || body.get("errors").is_some() {
            bail!("query failed with HTTP {status}: {body}");
        }
        Ok(body["data"].clone())
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The `id`s of a connection's nodes.
pub fn ids(connection: &Value) -> Vec<String> {
    connection["edges"]
        .as_array()
        .map(|edges| edges.iter().filter_map(|e| e["node"]["id"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// A string field of a list of objects.
pub fn strings(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .map(|items| items.iter().filter_map(|i| i[field].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// A valid UPN (DfE's format and check letter: `onroll::upn`) issued by
/// local authority 800, made from `label`: the same for the same label and
/// different for different labels of up to four ASCII characters (seven
/// bits each, the last nine digits).
pub fn upn(label: &str) -> String {
    let serial = label.bytes().fold(0u64, |n, b| (n << 7) | u64::from(b & 0x7f));
    let digits = format!("800{:09}", serial % 1_000_000_000);
    let sum: usize = digits.bytes().zip(2..).map(|(d, weight)| usize::from(d - b'0') * weight).sum();
    let check = char::from(onroll::upn::LETTERS[sum % 23]);
    let upn = format!("{check}{digits}");
    assert!(onroll::upn::is_valid(&upn), "{upn}");
    upn
}
