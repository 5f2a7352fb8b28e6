//! The API's limits on cost, time, rate and sockets (docs/limits.md):
//! their configuration, and the process's shared state that enforces them.
//!
//! What each limit refuses is a [`Refusal`], with the `extensions.code`
//! the client branches on. The cost of a document is worked out in
//! `graphql::cost` and charged by `graphql::metering`; the HTTP and
//! WebSocket edges use the time limit and the socket caps from here.

pub mod rate;
pub mod sockets;

use clap::Args;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

pub use rate::{Meter, RateKey, RateStatus};
pub use sockets::SocketCaps;

/// Every limit, from the environment (mirrored by flags).
#[derive(Args, Clone, Debug)]
pub struct LimitsConfig {
    /// The most an operation may cost (docs/limits.md): each field 1, times
    /// the pages and lists around it. Over: MAX_COST_EXCEEDED.
    #[arg(long, env = "ONROLL_MAX_QUERY_COST", default_value_t = 100_000)]
    pub max_cost: u64,
    /// The most aliased fields one operation may select.
    #[arg(long, env = "ONROLL_MAX_ALIASES", default_value_t = 50)]
    pub max_aliases: usize,
    /// The most fields one operation may select at its root.
    #[arg(long, env = "ONROLL_MAX_ROOT_FIELDS", default_value_t = 20)]
    pub max_root_fields: usize,
    /// How long one HTTP request may run ("10s", "500ms");
    /// over: TIMEOUT, HTTP 503.
    #[arg(long, env = "ONROLL_REQUEST_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Points per token per minute (a point is 100 of cost, at least 1 per
    /// operation). Over: RATE_LIMITED, HTTP 429.
    #[arg(long, env = "ONROLL_RATE_LIMIT_POINTS", default_value_t = 5_000)]
    pub rate_points_per_minute: u32,
    /// From this cost on, an operation waits its turn among expensive ones.
    #[arg(long, env = "ONROLL_EXPENSIVE_QUERY_COST", default_value_t = 10_000)]
    pub expensive_cost: u64,
    /// How many expensive operations run at once (default: half the CPUs,
    /// at least one).
    #[arg(long, env = "ONROLL_EXPENSIVE_QUERIES_AT_ONCE")]
    pub expensive_at_once: Option<usize>,
    /// The most subscription sockets one token may hold open; the next
    /// closes with 4429.
    #[arg(long, env = "ONROLL_WS_MAX_PER_TOKEN", default_value_t = 50)]
    pub ws_per_token: usize,
    /// The most sockets one client address may hold before their
    /// `connection_init`; the next upgrade is refused (HTTP 429,
    /// TOO_MANY_SOCKETS).
    #[arg(long, env = "ONROLL_WS_MAX_PENDING_PER_ADDRESS", default_value_t = 20)]
    pub ws_pending_per_address: usize,
    /// How long a socket may wait before sending `connection_init`; then it
    /// closes with 4408.
    #[arg(long, env = "ONROLL_WS_INIT_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub ws_init_timeout: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_cost: 100_000,
            max_aliases: 50,
            max_root_fields: 20,
            request_timeout: Duration::from_secs(10),
            rate_points_per_minute: 5_000,
            expensive_cost: 10_000,
            expensive_at_once: None,
            ws_per_token: 50,
            ws_pending_per_address: 20,
            ws_init_timeout: Duration::from_secs(10),
        }
    }
}

/// "10s", "500ms", "2m"; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let bad = || format!("`{text}` is not a duration (\"10s\", \"500ms\", \"2m\")");
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let number: u64 = number.parse().map_err(|_| bad())?;
    match unit {
        "ms" => Ok(Duration::from_millis(number)),
        "s" => Ok(Duration::from_secs(number)),
        "m" => Ok(Duration::from_secs(number.saturating_mul(60))),
        _ => Err(bad()),
    }
}

/// What a limit refused, with the code clients see (docs/errors.md).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// Too long, too many tokens, nested or expanded too far
    /// (`DOCUMENT_TOO_LARGE`).
    #[error("{0}")]
    DocumentTooLarge(String),
    /// Over the cost, alias or root-field ceiling (`MAX_COST_EXCEEDED`).
    #[error("{message}")]
    MaxCost { message: String, cost: u64 },
    /// The token's (or address's) points are spent (`RATE_LIMITED`).
    #[error(
        "the points budget is spent ({limit} points a minute, per token, or per address without \
         one); this operation needs {needed}; retry in {} s",
        retry_after.as_secs().max(1)
    )]
    RateLimited { limit: u32, needed: u32, retry_after: Duration },
    /// The request ran longer than `ONROLL_REQUEST_TIMEOUT` (`TIMEOUT`).
    #[error("the request took longer than {} ms and was stopped", .0.as_millis())]
    Timeout(Duration),
    /// Too many sockets waiting for `connection_init` from one address
    /// (`TOO_MANY_SOCKETS`).
    #[error("too many sockets from this address are waiting to be initialised; send connection_init first")]
    TooManySockets,
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Self::DocumentTooLarge(_) => "DOCUMENT_TOO_LARGE",
            Self::MaxCost { .. } => "MAX_COST_EXCEEDED",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::Timeout(_) => "TIMEOUT",
            Self::TooManySockets => "TOO_MANY_SOCKETS",
        }
    }

    /// As a GraphQL error: the code, and the figures a client acts on.
    pub fn to_server_error(&self) -> async_graphql::ServerError {
        let mut error = async_graphql::ServerError::new(self.to_string(), None);
        let extensions = error.extensions.get_or_insert_with(Default::default);
        extensions.set("code", self.code());
        match self {
            Self::MaxCost { cost, .. } => extensions.set("cost", *cost),
            Self::RateLimited { retry_after, .. } => {
                extensions.set("retryAfter", retry_after.as_secs().max(1))
            }
            _ => {}
        }
        error
    }

    /// A whole response that is only this refusal.
    pub fn to_response(&self) -> async_graphql::Response {
        async_graphql::Response::from_errors(vec![self.to_server_error()])
    }
}

/// The process's limits: configuration, rate budgets, the turn-taking of
/// expensive operations, socket counts. One per server, shared.
pub struct Limits {
    pub config: LimitsConfig,
    pub rate: rate::Budgets,
    /// Operations of at least `expensive_cost` take a permit first, so they
    /// cannot fill every worker while cheap ones wait.
    expensive: Semaphore,
    pub sockets: SocketCaps,
}

impl Limits {
    pub fn new(config: LimitsConfig) -> Arc<Self> {
        let at_once = config
            .expensive_at_once
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get() / 2).unwrap_or(1).max(1));
        Arc::new(Self {
            rate: rate::Budgets::new(config.rate_points_per_minute),
            expensive: Semaphore::new(at_once.max(1)),
            sockets: SocketCaps::new(config.ws_per_token, config.ws_pending_per_address),
            config,
        })
    }

    /// Waits for an expensive operation's turn; `None` for a cheap one.
    pub async fn turn(&self, cost: u64) -> Option<tokio::sync::SemaphorePermit<'_>> {
        if cost < self.config.expensive_cost {
            return None;
        }
        self.expensive.acquire().await.ok()
    }

    /// Runs `work` within the request time limit.
    pub async fn in_time<T>(&self, work: impl Future<Output = T>) -> Result<T, Refusal> {
        let limit = self.config.request_timeout;
        tokio::time::timeout(limit, work).await.map_err(|_| Refusal::Timeout(limit))
    }
}

/// Every minute, until `stop`, forgets the rate budgets that are whole
/// again (every address that ever sent a request would stay otherwise).
pub async fn forget_full_budgets(limits: Arc<Limits>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = ticks.tick() => limits.rate.forget_full(),
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5h").is_err());
    }
}
