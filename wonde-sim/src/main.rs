//! `wonde-sim`: serves a generated trust as a local Wonde until stopped.

use std::net::SocketAddr;

use clap::Parser;
use wonde_sim::{SimConfig, Simulator, WebhookTarget};

/// A local Wonde API serving a generated multi-academy trust, for tests,
/// demos and benchmarks. Once listening it prints `school <id> token <token>`
/// per trust school on stdout; the API base URL, control URL and app token go
/// to stderr.
///
/// The access flow: an app asks for a catalog school with
/// `POST /v1.0/schools/{id}/request-access`; then
/// `POST /_control/schools/{id}/approve` (or `decline`, `revoke` with an
/// optional `{"reason": "..."}`) answers as the school would, sending Wonde's
/// webhook to `--webhook-url` (or the URL set later with
/// `PUT /_control/webhook-target {"url": "...", "secret": "..."}`).
#[derive(Parser)]
#[command(name = "wonde-sim", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8091")]
    bind: SocketAddr,
    /// Schools in the trust.
    #[arg(long, default_value_t = 3)]
    schools: usize,
    /// Students generated per school.
    #[arg(long, default_value_t = 200)]
    students_per_school: usize,
    /// Seed: the same seed and sizes give the same trust, ids and tokens.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Schools listed only in the `/schools/all` catalog; each gets a small
    /// roster (5-20 students) when first approved.
    #[arg(long, default_value_t = 300)]
    catalog_extra: usize,
    /// The app token for the catalog and access requests (generated when absent).
    #[arg(long, env = "WONDE_SIM_APP_TOKEN")]
    app_token: Option<String>,
    /// Where approve / decline / revoke post Wonde's webhooks (the app's
    /// `/webhooks/wonde`).
    #[arg(long, env = "WONDE_SIM_WEBHOOK_URL")]
    webhook_url: Option<String>,
    /// The shared secret sent with each webhook as `?secret=`.
    #[arg(long, env = "WONDE_SIM_WEBHOOK_SECRET", requires = "webhook_url", hide_env_values = true)]
    webhook_secret: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sim = Simulator::start(SimConfig {
        bind: args.bind,
        schools: args.schools,
        students_per_school: args.students_per_school,
        seed: args.seed,
        catalog_extra: args.catalog_extra,
        app_token: args.app_token,
        webhook_target: args
            .webhook_url
            .map(|url| WebhookTarget { secret: args.webhook_secret, ..WebhookTarget::new(url) }),
        ..SimConfig::default()
    })
    .await?;
    for school in sim.schools() {
        println!("school {} token {}", school.wonde_id, school.token);
    }
    eprintln!("api {}", sim.base_url());
    eprintln!("control {}", sim.control_url());
    eprintln!("app token {}", sim.app_token());
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(())
}
