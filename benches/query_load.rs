//! Query load: a mixed read load held for BENCH_SECONDS (default 60) on
//! loopback against `onroll demo`'s server (the simulator-populated trust of
//! BENCH_SCHOOLS (3) schools of BENCH_STUDENTS (200) students), by
//! BENCH_CLIENTS (8) closed-loop clients; throughput and latency, then the
//! same load beside one client sending the most expensive query the limits
//! allow, back to back. Not a test: `cargo bench --bench query_load`.
//! SQLite, and PostgreSQL too when ONROLL_BENCH_DATABASE_URL (or
//! ONROLL_TEST_DATABASE_URL) is set.
//!
//! The mix: `viewer`, a school's page of 20 students with their year
//! group, a page of 20 guardians with their children, a trust's 10
//! families, 20 deactivation events, a student by `node` with guardians.
//! Any error (HTTP status other than 200, or an `errors` entry) in the
//! mixed load is counted and fails the run.
//!
//! The expensive client's query is built to cost just under the ceiling
//! (100,000): every school, its students and guardians with their
//! children, pages as large as the ceiling lets them be. Its points budget
//! is lifted (so it is not throttled: the worst case, where only the cost
//! ceiling, the turns of expensive operations and the time limit protect
//! the others); with the default budget such a client gets five a minute.

mod support;
use support::{engines, env_number};

use onroll::config::Every;
use onroll::demo::{Demo, DemoConfig};
use onroll::limits::LimitsConfig;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// One operation of the mix.
#[derive(Clone)]
struct Operation {
    query: String,
    variables: Value,
}

struct Client {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Client {
    /// Posts one operation: its latency, and whether it answered cleanly.
    async fn send(&self, op: &Operation) -> (Duration, Result<Value, String>) {
        let started = Instant::now();
        let sent = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .json(&json!({ "query": op.query, "variables": op.variables }))
            .send()
            .await;
        let answer = match sent {
            Ok(response) if response.status() == 200 => match response.json::<Value>().await {
                Ok(body) if body.get("errors").is_none() => Ok(body),
                Ok(body) => Err(body["errors"].to_string()),
                Err(err) => Err(err.to_string()),
            },
            Ok(response) => Err(format!("HTTP {}", response.status())),
            Err(err) => Err(err.without_url().to_string()),
        };
        (started.elapsed(), answer)
    }
}

/// The `q`-quantile (0..=1) of samples in ms, nearest rank.
fn quantile(samples: &[Duration], q: f64) -> f64 {
    onroll::bench::support::Samples::new(samples.to_vec()).ms(q)
}

#[derive(Default)]
struct Phase {
    latencies: Vec<Duration>,
    errors: Vec<String>,
    elapsed: Duration,
    expensive: Vec<Duration>,
    expensive_refused: usize,
}

async fn mix(demo: &Demo) -> anyhow::Result<Vec<Operation>> {
    let api = demo.api();
    let schools = demo.schools().await?;
    let op = |query: &str, variables: Value| Operation { query: query.to_owned(), variables };
    let mut ops = vec![op("{ viewer { role } }", json!({}))];
    for (_, school) in &schools {
        ops.push(op(
            "query($s: ID!) { school(id: $s) { name students(first: 20) { edges { node {
                id forename surname yearGroup { name } } } } } }",
            json!({ "s": school }),
        ));
        ops.push(op(
            "query($s: ID!) { school(id: $s) { guardians(first: 20) { edges { node {
                id email children { student { forename } } } } } } }",
            json!({ "s": school }),
        ));
    }
    ops.push(op("{ trusts { families(first: 10) { edges { node { id children { forename } guardians { email } } } } } }", json!({})));
    ops.push(op(
        "{ deactivationEvents(first: 20) { edges { node { kind reason occurredAt } } } }",
        json!({}),
    ));
    let (_, first) = schools.first().ok_or_else(|| anyhow::anyhow!("no school"))?;
    let page = api
        .call(
            "query($s: ID!) { school(id: $s) { students(first: 5) { edges { node { id } } } } }",
            json!({ "s": first }),
        )
        .await?;
    let students = page["school"]["students"]["edges"].as_array().cloned().unwrap_or_default();
    for student in students {
        ops.push(op(
            "query($id: ID!) { node(id: $id) { ... on Student { forename guardians { guardian { email } } } } }",
            json!({ "id": student["node"]["id"] }),
        ));
    }
    Ok(ops)
}

/// The costliest operation the limits accept: every school's students and
/// guardians, nested, with the largest page that keeps it under the
/// ceiling. Answers the operation and its requested cost.
async fn most_expensive(demo: &Demo, client: &Client) -> anyhow::Result<(Operation, u64)> {
    let schools = demo.schools().await?;
    let mut last = String::new();
    for page in (5..=100).rev().step_by(5) {
        let mut query = String::from("{");
        for (i, (_, school)) in schools.iter().enumerate() {
            query.push_str(&format!(
                " s{i}: school(id: \"{school}\") {{
                    students(first: {page}) {{ edges {{ node {{ id forename surname
                        guardians {{ guardian {{ email children {{ student {{ id forename }} }} }} }} }} }} }}
                    guardians(first: {page}) {{ edges {{ node {{ id email
                        children {{ student {{ id forename classes {{ id name }} }} }} }} }} }} }}"
            ));
        }
        query.push('}');
        let op = Operation { query, variables: json!({}) };
        match client.send(&op).await {
            (_, Ok(body)) => {
                let cost = body["extensions"]["cost"]["requestedQueryCost"].as_u64().unwrap_or(0);
                return Ok((op, cost));
            }
            (_, Err(err)) => last = err,
        }
    }
    anyhow::bail!("no page size fits under the cost ceiling: {last}")
}

async fn run_phase(
    demo: &Demo,
    ops: &[Operation],
    clients: usize,
    seconds: u64,
    expensive: Option<Operation>,
) -> anyhow::Result<Phase> {
    let http = reqwest::Client::new();
    let url = format!("http://{}/graphql", demo.addr);
    let stop = Arc::new(AtomicBool::new(false));
    let heavy = expensive.map(|op| {
        let client = Client { http: http.clone(), url: url.clone(), token: demo.admin_token.clone() };
        let stop = stop.clone();
        tokio::spawn(async move {
            let (mut done, mut refused) = (Vec::new(), 0);
            while !stop.load(Ordering::Relaxed) {
                match client.send(&op).await {
                    (took, Ok(_)) => done.push(took),
                    (_, Err(_)) => refused += 1,
                }
            }
            (done, refused)
        })
    });
    let started = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..clients {
        let token = if n % 2 == 0 { demo.integrator_token.clone() } else { demo.admin_token.clone() };
        let client = Client { http: http.clone(), url: url.clone(), token };
        let (ops, stop) = (ops.to_vec(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), Vec::new());
            let mut i = n;
            while !stop.load(Ordering::Relaxed) {
                let (took, answer) = client.send(&ops[i % ops.len()]).await;
                latencies.push(took);
                if let Err(err) = answer {
                    errors.push(err);
                }
                i += 1;
            }
            (latencies, errors)
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut phase = Phase::default();
    for task in tasks {
        let (latencies, errors) = task.await?;
        phase.latencies.extend(latencies);
        phase.errors.extend(errors);
    }
    phase.elapsed = started.elapsed();
    if let Some(heavy) = heavy {
        let (done, refused) = heavy.await?;
        phase.expensive = done;
        phase.expensive_refused = refused;
    }
    phase.latencies.sort();
    phase.expensive.sort();
    Ok(phase)
}

async fn measure(engine: &'static str, seconds: u64, clients: usize) -> anyhow::Result<()> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = DemoConfig {
        bind: ([127, 0, 0, 1], 0).into(),
        schools: env_number("BENCH_SCHOOLS", 3),
        students: env_number("BENCH_STUDENTS", 200),
        seed: 13,
        incremental_every: Every(None),
        database_url: Some(support::database_url(engine, "query_load").await?),
        // Budgets lifted: the load measures the server, not the throttle.
        limits: LimitsConfig { rate_points_per_minute: 10_000_000, ..LimitsConfig::default() },
    };
    let demo = Demo::start(config, async move {
        let _ = stopped.await;
    })
    .await?;
    let ops = mix(&demo).await?;
    let heavy_client = Client {
        http: reqwest::Client::new(),
        url: format!("http://{}/graphql", demo.addr),
        token: demo.admin_token.clone(),
    };
    let (expensive, cost) = most_expensive(&demo, &heavy_client).await?;
    // Warm pools and caches alike for both phases.
    run_phase(&demo, &ops, clients, 2, None).await?;
    let base = run_phase(&demo, &ops, clients, seconds, None).await?;
    let loaded = run_phase(&demo, &ops, clients, seconds, Some(expensive)).await?;
    let _ = stop.send(());
    demo.finish().await?;

    let rate = |p: &Phase| p.latencies.len() as f64 / p.elapsed.as_secs_f64();
    println!("\n{engine}: {} operations in the mix, {clients} clients, {seconds} s per phase", ops.len());
    println!(
        "{:<26} {:>9} {:>10} {:>8} {:>8} {:>8} {:>7}",
        "phase", "requests", "req/s", "p50 ms", "p99 ms", "max ms", "errors"
    );
    for (name, phase) in [("mixed load", &base), ("mixed + expensive client", &loaded)] {
        println!(
            "{:<26} {:>9} {:>10.1} {:>8.1} {:>8.1} {:>8.1} {:>7}",
            name,
            phase.latencies.len(),
            rate(phase),
            quantile(&phase.latencies, 0.5),
            quantile(&phase.latencies, 0.99),
            quantile(&phase.latencies, 1.0),
            phase.errors.len()
        );
    }
    println!(
        "{:<26} {:>9} {:>10.2}x {:>7.2}x {:>7.2}x",
        "ratio (with / without)",
        "",
        rate(&loaded) / rate(&base),
        quantile(&loaded.latencies, 0.5) / quantile(&base.latencies, 0.5),
        quantile(&loaded.latencies, 0.99) / quantile(&base.latencies, 0.99),
    );
    println!(
        "expensive client: cost {cost} each, {} answered (p50 {:.0} ms, p99 {:.0} ms), {} refused",
        loaded.expensive.len(),
        quantile(&loaded.expensive, 0.5),
        quantile(&loaded.expensive, 0.99),
        loaded.expensive_refused
    );
    for phase in [&base, &loaded] {
        if let Some(first) = phase.errors.first() {
            anyhow::bail!("{} errors in the mixed load; the first: {first}", phase.errors.len());
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let (seconds, clients) = (env_number::<u64>("BENCH_SECONDS", 60), env_number::<u64>("BENCH_CLIENTS", 8));
    println!("query_load: loopback (127.0.0.1), server and clients in one process");
    for engine in engines() {
        runtime.block_on(measure(engine, seconds, usize::try_from(clients)?))?;
    }
    Ok(())
}
