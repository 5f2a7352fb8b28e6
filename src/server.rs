//! Putting the server together: database, migrations, listener, routes.
//!
//! `build` binds before `run_until_stopped` serves, so a caller (a test, the
//! demo) learns the real port when it asks for port 0.

use sea_orm::DatabaseConnection;
use std::future::Future;
use std::net::SocketAddr;
use tokio::net::TcpListener;

use crate::config::ServeConfig;
use crate::crypto::{Secret, SecretKey};
use crate::events::EventBus;
use crate::graphql::build_schema;
use crate::http::{AppState, router};

/// What a server is built from, apart from its address.
#[derive(Clone)]
pub struct Services {
    pub db: DatabaseConnection,
    pub secret_key: SecretKey,
    pub webhook_secret: Option<Secret>,
    pub events: EventBus,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error(transparent)]
    Key(#[from] crate::crypto::CryptoError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Connects, migrates and binds, from configuration.
    pub async fn build(config: &ServeConfig) -> Result<Self, StartError> {
        let url = &config.database.database_url;
        let secret_key = SecretKey::resolve(config.database.secret_key.as_deref(), url)?;
        let db = crate::db::connect(url, None).await?;
        crate::db::migrate(&db).await?;
        let services = Services {
            db,
            secret_key,
            webhook_secret: config.webhook_secret.clone().map(Secret::new),
            events: EventBus::default(),
        };
        Self::new(services, config.bind).await
    }

    /// Binds a server over a database that is already migrated.
    pub async fn new(services: Services, bind: SocketAddr) -> Result<Self, StartError> {
        let listener =
            TcpListener::bind(bind).await.map_err(|source| StartError::Bind { addr: bind, source })?;
        let Services { db, secret_key, webhook_secret, events } = services;
        let state = AppState { db, schema: build_schema(), secret_key, webhook_secret, events };
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then lets requests in flight finish.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, router(self.state)).with_graceful_shutdown(shutdown).await
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
