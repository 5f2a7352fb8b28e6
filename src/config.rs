//! Configuration: environment variables, mirrored by flags (operations.md).

use clap::Args;
use std::net::SocketAddr;

/// How to reach the database.
#[derive(Args, Clone, Debug)]
pub struct DatabaseConfig {
    /// SQLite file (the embedded default) or `postgres://...` (production).
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://onroll.db?mode=rwc")]
    pub database_url: String,
    /// Key that encrypts stored Wonde tokens: 32 bytes as base64 or hex.
    /// Generated beside a SQLite file when unset; required with PostgreSQL.
    #[arg(long, env = "ONROLL_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
}

/// Everything `onroll serve` needs.
#[derive(Args, Clone, Debug)]
pub struct ServeConfig {
    #[command(flatten)]
    pub database: DatabaseConfig,
    /// Listen address.
    #[arg(long, env = "ONROLL_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Shared secret that Wonde's registered webhook URL carries
    /// (`?secret=` or `X-Webhook-Secret`). Unset: webhooks are refused.
    #[arg(long, env = "ONROLL_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    #[command(flatten)]
    pub sync: SyncConfig,
    #[command(flatten)]
    pub schedule: ScheduleConfig,
    #[command(flatten)]
    pub limits: crate::limits::LimitsConfig,
    #[command(flatten)]
    pub webhooks: WebhooksConfig,
}

/// Outbound webhooks to integrators' endpoints (docs/webhooks.md).
#[derive(Args, Clone, Debug, Default)]
pub struct WebhooksConfig {
    /// Lets webhook endpoints be plain `http://` and resolve to loopback
    /// or private addresses (tests, demos). Never in production: it opens
    /// the server's own network to whoever registers an endpoint.
    #[arg(
        long = "webhooks-allow-private",
        env = "ONROLL_WEBHOOKS_ALLOW_PRIVATE",
        default_value = "false",
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub allow_private: bool,
}

/// How syncs reach Wonde and what the guard lets them do.
#[derive(Args, Clone, Debug)]
pub struct SyncConfig {
    /// Wonde base URL; when set it overrides every school's regional domain
    /// (simulators, staging).
    #[arg(long, env = "WONDE_API_URL")]
    pub wonde_api_url: Option<String>,
    /// The app's own Wonde token, for the school catalog (`/schools/all`)
    /// and access requests. Unset: no catalog, no access requests.
    #[arg(long, env = "WONDE_APP_TOKEN", hide_env_values = true)]
    pub wonde_app_token: Option<String>,
    /// The share of a school's active accounts (or groups, or members) of
    /// one kind that weak evidence (absence, deletions) may end in one run
    /// before the mass-deactivation guard holds those changes for a
    /// decision (docs/the-guard.md).
    #[arg(long, env = "ONROLL_DEACTIVATION_GUARD", default_value_t = 0.5, value_parser = parse_share)]
    pub deactivation_guard: f64,
}

/// When `serve` runs syncs by itself; only `serve` (and the demo) has a
/// schedule, so only it shows these flags.
#[derive(Args, Clone, Debug)]
pub struct ScheduleConfig {
    /// How often a FULL sync runs per school ("7d", "12h"; 0 turns it off).
    #[arg(long, env = "ONROLL_FULL_SYNC_EVERY", default_value = "7d", value_parser = parse_every)]
    pub full_sync_every: Every,
    /// How often an INCREMENTAL sync runs per school ("4h"; 0 turns it off).
    #[arg(long, env = "ONROLL_INCREMENTAL_SYNC_EVERY", default_value = "4h", value_parser = parse_every)]
    pub incremental_sync_every: Every,
    /// How many schools' sync runs page through Wonde side by side (1 to 4;
    /// on SQLite 2 at most), with as many more (two at most) waiting to
    /// page or writing; a run writes once it has paged. Each run under way
    /// holds up to about two of PostgreSQL's 16 pooled connections (one of
    /// SQLite's 6), hence the ceilings.
    #[arg(long, env = "ONROLL_SYNC_RUNS_AT_ONCE", default_value_t = crate::sync::schedule::DEFAULT_RUNS_AT_ONCE, value_parser = parse_runs_at_once)]
    pub sync_runs_at_once: usize,
}

/// A schedule interval; `None` is off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Every(pub Option<chrono::Duration>);

fn parse_every(text: &str) -> Result<Every, String> {
    crate::sync::schedule::parse_every(text).map(Every).map_err(|err| err.to_string())
}

/// Runs paging side by side at most: with two more under way, six runs of
/// about two PostgreSQL connections each leave four of the pool's sixteen
/// to the API.
const MAX_RUNS_AT_ONCE: usize = 4;

fn parse_runs_at_once(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(runs) if (1..=MAX_RUNS_AT_ONCE).contains(&runs) => Ok(runs),
        _ => Err(format!("`{text}` is not a number of runs from 1 to {MAX_RUNS_AT_ONCE}")),
    }
}

pub(crate) fn parse_share(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        _ => Err(format!("`{text}` is not a share between 0 and 1 (0.5 is half)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_at_once_is_one_to_four() {
        assert_eq!(parse_runs_at_once(" 2 "), Ok(2));
        assert_eq!(parse_runs_at_once("4"), Ok(4));
        for bad in ["0", "5", "-1", "two", ""] {
            let err = parse_runs_at_once(bad).err();
            assert!(err.as_deref().is_some_and(|e| e.contains("from 1 to 4")), "{bad}: {err:?}");
        }
    }
}
