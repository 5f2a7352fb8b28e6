//! How fast a parent group answers (issue 17). Not a test:
//! `cargo bench --bench parent_groups`.
//!
//! A school of BENCH_YEARS (default 3) year groups of BENCH_PUPILS (default
//! 300) pupils, each pupil with a mother and a father shared with a sibling
//! (about 450 guardians a year), served over real HTTP. Each row is a
//! GraphQL request timed end to end, BENCH_RUNS (default 50) times after a
//! warm-up; the baseline, measured in the same run the same way, is
//! `School.guardians(first: 100)`, the plain guardian list. The target: a
//! year group's first 100 guardians in under 50 ms (p50). SQLite, and
//! PostgreSQL too when ONROLL_BENCH_DATABASE_URL (or
//! ONROLL_TEST_DATABASE_URL) is set.

#[allow(dead_code)]
#[path = "../tests/api/support/big_year.rs"]
mod big_year;

mod support;
use support::{engines, env_number};

use entity::enums::Role;
use onroll::crypto::SecretKey;
use onroll::events::EventBus;
use onroll::graphql::ids::{NodeType, encode};
use onroll::server::{Application, Services};
use onroll::tenancy::{TokenSpec, create_token};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Instant;

const TARGET_MS: f64 = 50.0;

const BASELINE: &str = "query($s: ID!) { school(id: $s) { guardians(first: 100) {
    totalCount edges { cursor node { forename surname email } } } } }";

const YEAR_FIRST_100: &str = "query($y: ID!) { node(id: $y) { ... on YearGroup { guardianCount
    guardians(first: 100) { edges { cursor node { forename surname email } children { forename } relationships } } } } }";

const YEAR_PR_WITH_FAMILIES: &str = "query($y: ID!) { node(id: $y) { ... on YearGroup {
    guardianCount(filter: { parentalResponsibility: true })
    guardians(first: 100, filter: { parentalResponsibility: true }) { totalCount
      edges { cursor node { forename surname email } children { forename } relationships familyId } } } } }";

const TRUST_YEAR: &str = "query($name: String) { trusts { guardianCount(filter: { yearGroupName: $name })
    guardians(first: 100, filter: { yearGroupName: $name }) { edges { cursor node { forename email } children { forename } } } } }";

struct Bench {
    http: reqwest::Client,
    addr: SocketAddr,
    token: String,
    runs: usize,
}

impl Bench {
    async fn post(&self, query: &str, variables: &Value) -> anyhow::Result<Value> {
        let body: Value = self
            .http
            .post(format!("http://{}/graphql", self.addr))
            .bearer_auth(&self.token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await?
            .json()
            .await?;
        anyhow::ensure!(body.get("errors").is_none(), "query failed: {body}");
        Ok(body)
    }

    /// p50 and p99 in ms, after one warm-up request.
    async fn time(&self, query: &str, variables: Value) -> anyhow::Result<(f64, f64)> {
        self.post(query, &variables).await?;
        let mut samples = Vec::with_capacity(self.runs);
        for _ in 0..self.runs {
            let started = Instant::now();
            self.post(query, &variables).await?;
            samples.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        samples.sort_by(f64::total_cmp);
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Ok((at(0.5), at(0.99)))
    }
}

async fn measure(engine: &str, years: usize, pupils: usize, runs: usize) -> anyhow::Result<()> {
    let (_, db) = support::migrated_database(engine, "parents").await?;
    let trust = onroll::tenancy::create_trust(&db, "Bench Trust").await?;
    let school = onroll::bench::support::bench_school(&db, trust.id).await?;
    let mut groups = Vec::new();
    for y in 0..years {
        groups.push(
            big_year::populate(&db, school.id, &format!("Year {}", y + 3), &format!("y{y}"), pupils).await?,
        );
    }
    let spec = TokenSpec {
        role: Role::TrustAdmin,
        trust_id: Some(trust.id),
        school_ids: vec![],
        label: None,
        expires_in: None,
        scopes: vec![],
    };
    let token = create_token(&db, &spec).await?.0;
    let services = Services {
        db: db.clone(),
        secret_key: SecretKey::generate(),
        webhook_secret: None,
        events: EventBus::default(),
        sync_wake: Default::default(),
        wonde: onroll::wonde::WondeClient::new(onroll::wonde::WondeConfig::default())?,
        wonde_app_token: None,
    };
    let app = Application::new(services, ([127, 0, 0, 1], 0).into()).await?;
    let addr = app.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let bench = Bench { http: reqwest::Client::new(), addr, token, runs };
    let year = encode(NodeType::YearGroup, groups[0].year.id).0;
    let (base50, base99) =
        bench.time(BASELINE, json!({ "s": encode(NodeType::School, school.id).0 })).await?;
    let rows = [
        (format!("YearGroup.guardians first 100 ({pupils} pupils)"), YEAR_FIRST_100, json!({ "y": year })),
        (
            format!("YearGroup.guardians PR, with familyId ({pupils} pupils)"),
            YEAR_PR_WITH_FAMILIES,
            json!({ "y": year }),
        ),
        (
            format!("Trust.guardians yearGroupName first 100 ({pupils} pupils)"),
            TRUST_YEAR,
            json!({ "name": "Year 3" }),
        ),
    ];
    println!(
        "| School.guardians first 100 (baseline, {} guardians) | {engine} | {base50:.1} | {base99:.1} | 1.00 | |",
        years * (pupils + pupils.div_ceil(2))
    );
    for (label, query, variables) in rows {
        let (p50, p99) = bench.time(query, variables).await?;
        let verdict = if p50 < TARGET_MS { "yes" } else { "NO" };
        println!("| {label} | {engine} | {p50:.1} | {p99:.1} | {:.2} | {verdict} |", p50 / base50);
    }
    drop(stop);
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let years = env_number("BENCH_YEARS", 3);
        let pupils = env_number("BENCH_PUPILS", 300);
        let runs = env_number("BENCH_RUNS", 50);
        println!("| request ({runs} runs) | engine | p50 ms | p99 ms | ratio to baseline (p50) | under {TARGET_MS} ms |");
        println!("|---|---|---|---|---|---|");
        for engine in engines() {
            measure(engine, years, pupils, runs).await?;
        }
        anyhow::Ok(())
    })
}
