//! Putting the server together: database, migrations, listener, routes.
//!
//! `build` binds before `run_until_stopped` serves, so a caller (a test, the
//! demo) learns the real port when it asks for port 0.

use sea_orm::DatabaseConnection;
use std::future::Future;
use std::net::SocketAddr;
use tokio::net::TcpListener;

use std::sync::Arc;
use tokio::sync::{Notify, watch};

use crate::auth::OpenSockets;
use crate::auth::revocation::WATCH_EVERY;
use crate::config::{ServeConfig, SyncConfig};
use crate::crypto::{Secret, SecretKey};
use crate::events::EventBus;
use crate::graphql::build_schema;
use crate::http::{AppState, DEFAULT_WS_KEEPALIVE, router};
use crate::sync::schedule::Schedule;
use crate::sync::{SyncEngine, runs};
use crate::webhooks_out::WebhookSettings;
use crate::webhooks_out::delivery::Deliverer;
use crate::wonde::{SecretToken, WondeClient, WondeConfig};

/// What a server is built from, apart from its address.
#[derive(Clone)]
pub struct Services {
    pub db: DatabaseConnection,
    pub secret_key: SecretKey,
    pub webhook_secret: Option<Secret>,
    pub events: EventBus,
    /// Wakes the sync worker when a run is queued.
    pub sync_wake: Arc<Notify>,
    /// Reaches Wonde (connecting a school, and the syncs).
    pub wonde: WondeClient,
    /// The app's own Wonde token (catalog, access requests), if configured.
    pub wonde_app_token: Option<SecretToken>,
}

/// The background sync worker: its engine and schedule.
pub struct Worker {
    pub engine: SyncEngine,
    pub schedule: Schedule,
    /// How often the worker looks for due and queued runs.
    pub tick: std::time::Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error(transparent)]
    Connect(#[from] crate::db::ConnectError),
    #[error(transparent)]
    Key(#[from] crate::crypto::CryptoError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("the Wonde client: {0}")]
    Wonde(String),
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
    worker: Option<Worker>,
    /// Whether this process keeps the Wonde catalog fresh (`serve` does).
    catalog_refresh: bool,
    /// Whether the daily retention purge runs here (`serve` does; servers
    /// built with `new`, as tests build them, do not).
    retention_purge: bool,
    /// Reads the event log into this process's bus (every replica's
    /// commits reach its subscribers); stops when the application does.
    _feed: Option<crate::events::feed::Feed>,
    /// Empties the token cache at every revocation notice (PostgreSQL).
    _revocations: Option<crate::auth::notice::Listener>,
    /// How often the revocation watch looks at the tokens of open sockets.
    token_watch_every: std::time::Duration,
    /// Whether this process delivers outbound webhooks (`serve` does).
    webhook_worker: bool,
}

/// SQLite's pool holds 6 connections and one writer at a time: more than
/// two runs paging side by side (four under way, each of which may wait on
/// the writer with a connection) would leave the API waiting for one, so
/// SQLite runs two at most, and says so when asked for more.
fn runs_at_once(db: &sea_orm::DatabaseConnection, asked: usize) -> usize {
    const SQLITE_MOST: usize = 2;
    if db.get_database_backend() == sea_orm::DbBackend::Sqlite && asked > SQLITE_MOST {
        tracing::warn!(asked, running = SQLITE_MOST, "SQLite runs two syncs side by side at most");
        return SQLITE_MOST;
    }
    asked
}

impl Application {
    /// Connects, migrates and binds, from configuration.
    pub async fn build(config: &ServeConfig) -> Result<Self, StartError> {
        let url = &config.database.database_url;
        // The database first: a file that cannot be opened says so, rather
        // than as a key file beside it that cannot be written.
        let db = crate::db::connect(url, None).await?;
        let secret_key = SecretKey::resolve(config.database.secret_key.as_deref(), url)?;
        crate::db::migrate(&db).await?;
        // Runs whose process stopped (this one's last life, or a killed
        // `onroll sync`) are taken over at once; a live one is left alone.
        let recovered = runs::recover_abandoned(&db, crate::sync::worker::ABANDONED_AFTER).await?;
        if recovered != runs::Recovered::default() {
            tracing::warn!(
                requeued = recovered.requeued,
                failed = recovered.failed,
                "took over sync runs whose process stopped"
            );
        }
        let services = Services {
            db,
            secret_key,
            webhook_secret: config.webhook_secret.clone().map(Secret::new),
            events: EventBus::default(),
            sync_wake: Arc::new(Notify::new()),
            wonde: wonde_client(&config.sync)?,
            wonde_app_token: config.sync.wonde_app_token.clone().map(SecretToken::new),
        };
        let engine = sync_engine(&services, &config.sync);
        let schedule = Schedule {
            full_every: config.schedule.full_sync_every.0,
            incremental_every: config.schedule.incremental_sync_every.0,
            runs_at_once: runs_at_once(&services.db, config.schedule.sync_runs_at_once),
            ..Schedule::default()
        };
        let mut app = Self::new(services, config.bind).await?;
        // Short: the tick is also how soon a replica takes over the run of
        // one that died (see `runs::recover_abandoned`).
        app.worker = Some(Worker { engine, schedule, tick: std::time::Duration::from_secs(5) });
        app.catalog_refresh = true;
        app.retention_purge = true;
        app.state.guard_share = config.sync.deactivation_guard;
        app.state.limits = crate::limits::Limits::new(config.limits.clone());
        let webhooks =
            WebhookSettings { allow_private: config.webhooks.allow_private, ..WebhookSettings::default() };
        Ok(app.with_webhooks(webhooks))
    }

    /// Binds a server over a database that is already migrated.
    pub async fn new(services: Services, bind: SocketAddr) -> Result<Self, StartError> {
        // Before anything is counted; once per process (tests build many).
        crate::telemetry::install();
        let listener =
            TcpListener::bind(bind).await.map_err(|source| StartError::Bind { addr: bind, source })?;
        let Services { db, secret_key, webhook_secret, events, sync_wake, wonde, wonde_app_token } = services;
        let feed = crate::events::feed::start(db.clone(), events.clone()).await?;
        let tokens = crate::auth::TokenCache::for_database(crate::auth::cache::database_of(&db).await?);
        let revocations = crate::auth::notice::listen(&db, tokens.clone()).await?;
        let state = AppState {
            db,
            schema: build_schema(),
            queries: crate::graphql::query_path::QueryPath::new().await,
            secret_key,
            webhook_secret,
            events,
            sync_wake,
            wonde,
            wonde_app_token,
            guard_share: crate::sync::ledger::DEFAULT_GUARD_SHARE,
            ws_keepalive: DEFAULT_WS_KEEPALIVE,
            sockets: OpenSockets::default(),
            tokens,
            event_rows: crate::graphql::event_rows::EventRows::default(),
            limits: crate::limits::Limits::new(crate::limits::LimitsConfig::default()),
            webhooks: Arc::new(WebhookSettings::default()),
        };
        Ok(Self {
            listener,
            state,
            worker: None,
            catalog_refresh: false,
            retention_purge: false,
            _feed: feed,
            _revocations: revocations,
            token_watch_every: WATCH_EVERY,
            webhook_worker: false,
        })
    }

    /// Delivers outbound webhooks with these settings while serving.
    pub fn with_webhooks(mut self, settings: WebhookSettings) -> Self {
        self.state.webhooks = Arc::new(settings);
        self.webhook_worker = true;
        self
    }

    /// Changes the webhook settings the API reads (whether private
    /// addresses may be registered) without delivering from this process.
    pub fn with_webhook_settings(mut self, settings: WebhookSettings) -> Self {
        self.state.webhooks = Arc::new(settings);
        self
    }

    /// Runs syncs in the background while serving.
    pub fn with_worker(mut self, worker: Worker) -> Self {
        self.worker = Some(worker);
        self
    }

    /// Replaces the default limits (cost, time, rate, sockets).
    pub fn with_limits(mut self, config: crate::limits::LimitsConfig) -> Self {
        self.state.limits = crate::limits::Limits::new(config);
        self
    }

    /// Changes how often subscription sockets are pinged (tests use a short
    /// interval to see it happen).
    pub fn with_ws_keepalive(mut self, every: std::time::Duration) -> Self {
        self.state.ws_keepalive = every;
        self
    }

    /// Changes how long the token cache answers for a token
    /// (`auth::cache::TTL` by default).
    pub fn with_token_ttl(self, ttl: std::time::Duration) -> Self {
        self.state.tokens.set_ttl(ttl);
        self
    }

    /// Changes how often the revocation watch looks at the tokens of open
    /// sockets (tests slow it down to see each operation's own check).
    pub fn with_token_watch_every(mut self, every: std::time::Duration) -> Self {
        self.token_watch_every = every;
        self
    }

    /// How often the worker looks for due and queued runs (the demo syncs
    /// every few seconds, so it looks every second).
    pub fn with_worker_tick(mut self, tick: std::time::Duration) -> Self {
        if let Some(worker) = self.worker.as_mut() {
            worker.tick = tick;
        }
        self
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.state.db
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then lets requests in flight finish.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let wake = self.state.sync_wake.clone();
        let worker = self.worker.map(|w| {
            tokio::spawn(crate::sync::worker::run_until_stopped(w.engine, w.schedule, w.tick, wake, stopped))
        });
        let catalog = self.state.wonde_app_token.clone().filter(|_| self.catalog_refresh).map(|token| {
            tokio::spawn(crate::catalog::run_until_stopped(
                self.state.db.clone(),
                self.state.wonde.clone(),
                token,
                stop.subscribe(),
            ))
        });
        let retention = self.retention_purge.then(|| {
            tokio::spawn(crate::retention::run_until_stopped(
                self.state.db.clone(),
                crate::school_day::Clock::default(),
                stop.subscribe(),
            ))
        });
        let token_watch = tokio::spawn(crate::auth::revocation::watch_until_stopped(
            self.state.db.clone(),
            self.state.sockets.clone(),
            self.state.tokens.clone(),
            self.token_watch_every,
            stop.subscribe(),
        ));
        let budgets =
            tokio::spawn(crate::limits::forget_full_budgets(self.state.limits.clone(), stop.subscribe()));
        let webhooks = if self.webhook_worker {
            match Deliverer::new(
                self.state.db.clone(),
                self.state.secret_key.clone(),
                self.state.events.clone(),
                (*self.state.webhooks).clone(),
            ) {
                Ok(deliverer) => Some(tokio::spawn(crate::webhooks_out::worker::run_until_stopped(
                    deliverer,
                    stop.subscribe(),
                ))),
                Err(err) => {
                    tracing::error!(error = %err, "outbound webhooks are not delivered");
                    None
                }
            }
        } else {
            None
        };
        // Client addresses key the budgets of requests without a token.
        let app = router(self.state).into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(self.listener, app).with_graceful_shutdown(shutdown).await;
        let _ = stop.send(true);
        let _ = budgets.await;
        let _ = token_watch.await;
        if let Some(retention) = retention {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), retention).await;
        }
        if let Some(webhooks) = webhooks {
            // A delivery cut short keeps its lease until it lapses; the
            // next process (or another replica) sends it again then.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(20), webhooks).await;
        }
        if let Some(catalog) = catalog {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), catalog).await;
        }
        if let Some(worker) = worker {
            // A run cut short here applied nothing; the next start fails it
            // and the schedule runs it again.
            if tokio::time::timeout(std::time::Duration::from_secs(10), worker).await.is_err() {
                tracing::warn!("the sync worker did not stop in time; its run will be failed and retried");
            }
        }
        served
    }
}

/// The Wonde client for a configuration.
pub fn wonde_client(config: &SyncConfig) -> Result<WondeClient, StartError> {
    WondeClient::new(WondeConfig { base_url: config.wonde_api_url.clone(), ..WondeConfig::default() })
        .map_err(|err| StartError::Wonde(err.to_string()))
}

/// The sync engine over a server's services.
pub fn sync_engine(services: &Services, config: &SyncConfig) -> SyncEngine {
    SyncEngine {
        db: services.db.clone(),
        key: services.secret_key.clone(),
        events: services.events.clone(),
        client: services.wonde.clone(),
        guard_share: config.deactivation_guard,
        worker: crate::sync::runs::worker_name(),
        clock: Default::default(),
    }
}

/// Resolves on Ctrl-C or SIGTERM (what an orchestrator sends).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing requests in flight");
}
