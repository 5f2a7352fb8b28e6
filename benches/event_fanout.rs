//! Events across replicas and to many subscribers (issue 12). Not a test:
//! `cargo bench --bench event_fanout`. The measurements are
//! `onroll::bench::fanout` (what `onroll bench` runs).
//!
//! - **Cross-replica latency**: two servers (each its own pool, bus, feed
//!   and LISTEN connection) on one PostgreSQL schema; an event committed on
//!   A, timed to its arrival on a subscriber's WebSocket on B. The baseline,
//!   measured in the same run the same way, is the same event's arrival on
//!   a subscriber of A itself. Needs ONROLL_BENCH_DATABASE_URL (or
//!   ONROLL_TEST_DATABASE_URL); skipped otherwise.
//! - **Fan-out**: one server (SQLite, and PostgreSQL when set), BENCH_SUBSCRIBERS
//!   (default 10,000) subscriptions over 100 sockets, each selecting the
//!   person and the school; one event committed,
//!   timed until every subscriber has it. Baseline: one subscriber.
//!
//! BENCH_EVENTS (default 100) events per latency measurement.

mod support;
use support::{engines, env_number, library_engine, postgres_url};

use onroll::bench::fanout::{cross_replica, fan_out};

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let events = env_number("BENCH_EVENTS", 100);
        let subscribers = env_number("BENCH_SUBSCRIBERS", 10_000);
        println!("| measurement | engine | p50 ms | p99 ms | baseline p50 ms | ratio (p50) |");
        println!("|---|---|---|---|---|---|");
        match postgres_url() {
            Some(url) => {
                let (same, cross) = cross_replica(&url, events).await?;
                let (p50, p99, base) = (cross.ms(0.5), cross.ms(0.99), same.ms(0.5));
                println!(
                    "| commit on A to a subscriber on B ({events} events) | postgres | {p50:.1} | {p99:.1} | {base:.1} (same replica) | {:.2} |",
                    p50 / base
                );
            }
            None => println!("| commit on A to a subscriber on B | postgres | skipped: no ONROLL_BENCH_DATABASE_URL | | | |"),
        }
        for engine in engines() {
            let (all, one) = fan_out(&library_engine(engine)?, subscribers).await?;
            let (all, one) = (all.as_secs_f64() * 1000.0, one.as_secs_f64() * 1000.0);
            println!(
                "| one event to {subscribers} subscribers (all received) | {engine} | {all:.1} | {all:.1} | {one:.1} (one subscriber) | {:.1} |",
                all / one
            );
        }
        // Server and clients share this process; the clients hold 100
        // sockets whatever the number of subscriptions.
        println!(
            "\npeak resident set of the process (server and clients): {:.0} MiB",
            onroll::bench::support::peak_mib()
        );
        anyhow::Ok(())
    })
}
