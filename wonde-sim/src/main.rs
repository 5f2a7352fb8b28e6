//! `wonde-sim`: serves a generated trust as a local Wonde until stopped.

use std::net::SocketAddr;

use clap::Parser;
use wonde_sim::{SimConfig, Simulator};

/// A local Wonde API serving a generated multi-academy trust, for tests,
/// demos and benchmarks. Once listening it prints `school <id> token <token>`
/// per trust school on stdout; the API base URL, control URL and app token go
/// to stderr.
#[derive(Parser, Debug)]
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
    /// Extra empty schools listed only in the `/schools/all` catalog.
    #[arg(long, default_value_t = 20)]
    catalog_extra: usize,
    /// The app token for the catalog and access requests (generated when absent).
    #[arg(long, env = "WONDE_SIM_APP_TOKEN")]
    app_token: Option<String>,
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
