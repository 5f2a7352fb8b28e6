//! HTTP routes (operations.md): GraphQL and GraphiQL, health, the SDL.

mod csv_templates;
pub mod edges;
mod graphiql;
mod graphql;
mod health;
mod limits;
mod metrics;
mod operation_ids;
pub mod request_id;
mod subscriptions;
mod webhooks;

use axum::Router;
use axum::handler::Handler;
use axum::routing::get;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use tokio::sync::Notify;
use tower_http::trace::TraceLayer;

use crate::auth::OpenSockets;
use crate::crypto::{Secret, SecretKey};
use crate::events::EventBus;
use crate::graphql::AppSchema;
use crate::wonde::WondeClient;

/// What every handler may use. Cheap to clone: each field is a handle.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    /// The full schema: mutations, subscriptions, SDL.
    pub schema: AppSchema,
    /// Queries over HTTP, on the schema without extensions.
    pub queries: crate::graphql::query_path::QueryPath,
    pub secret_key: SecretKey,
    pub webhook_secret: Option<Secret>,
    pub events: EventBus,
    /// Wakes the sync worker when a run is queued.
    pub sync_wake: Arc<Notify>,
    pub wonde: WondeClient,
    pub wonde_app_token: Option<crate::wonde::SecretToken>,
    /// The mass-deactivation guard's share for runs the API starts.
    pub guard_share: f64,
    /// How often a subscription socket gets a keep-alive `ping`.
    pub ws_keepalive: std::time::Duration,
    /// This process's open subscription sockets, by token, so that a
    /// revoked or expired token's sockets can be closed.
    pub sockets: OpenSockets,
    /// The tokens this server authenticated in the last few seconds
    /// (`auth::cache`), emptied by revocations.
    pub tokens: crate::auth::TokenCache,
    /// The rows events name, read once per event and shared by this
    /// process's subscribers (`graphql::event_rows`).
    pub event_rows: crate::graphql::event_rows::EventRows,
    /// Cost, time, rate and socket limits (docs/limits.md).
    pub limits: Arc<crate::limits::Limits>,
    /// Outbound webhooks: whether private addresses are allowed, the
    /// retry schedule's time base (registration reads the first).
    pub webhooks: Arc<crate::webhooks_out::WebhookSettings>,
}

impl AppState {
    /// Puts into an operation's context what resolvers read besides the
    /// `RequestContext`: the event bus, the worker's wake-up, the Wonde
    /// client and app token, the sealing key, the guard's share. HTTP
    /// requests and socket connections both call this, so a mutation works
    /// the same over either.
    pub(crate) fn provide(&self, data: &mut async_graphql::Data) {
        data.insert(self.events.clone());
        data.insert(self.sync_wake.clone());
        data.insert(self.wonde.clone());
        data.insert(self.secret_key.clone());
        data.insert(crate::catalog::WondeAppToken(self.wonde_app_token.clone()));
        data.insert(crate::sync::ledger::GuardShare(self.guard_share));
        data.insert(self.limits.clone());
        data.insert(self.webhooks.clone());
    }
}

/// The largest POST /graphql body: three CSV files and the operation.
pub const MAX_GRAPHQL_BODY: usize = 3 * crate::sync::csv_source::MAX_FILE_BYTES + 1024 * 1024;

/// Proxies commonly drop sockets idle for 30 to 60 seconds.
pub const DEFAULT_WS_KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(15);

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/graphql",
            get(graphiql::page)
                .post(graphql::execute.layer(axum::middleware::from_fn(edges::graphql_body)))
                // CSV uploads travel as multipart: three files of at most
                // 20 MB, and the operation.
                .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_GRAPHQL_BODY)),
        )
        .route("/graphiql/{asset}", get(graphiql::asset))
        .route("/graphql/ws", get(subscriptions::upgrade))
        .route("/schema.graphql", get(graphql::sdl))
        .route("/csv/templates/{file}", get(csv_templates::template))
        .route("/healthz", get(health::live))
        .route("/metrics", get(metrics::scrape))
        .route("/readyz", get(health::ready))
        .route("/webhooks/wonde", axum::routing::post(webhooks::wonde))
        // Paths and statuses only: bodies and headers hold tokens and names,
        // query strings the webhook secret.
        // One INFO line per answered request (status, latency): the access log.
        .layer(
            TraceLayer::new_for_http().make_span_with(edges::request_span).on_response(
                tower_http::trace::DefaultOnResponse::new()
                    .level(tracing::Level::INFO)
                    .latency_unit(tower_http::LatencyUnit::Millis),
            ),
        )
        // Outside the trace layer, so the request's span can name its id.
        .layer(axum::middleware::from_fn(request_id::assign))
        .with_state(state)
}
