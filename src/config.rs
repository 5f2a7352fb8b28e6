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
}
