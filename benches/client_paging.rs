//! How fast the Wonde client pages through a large school on loopback: the
//! floor the sync is held against. Not a test: `cargo bench --bench
//! client_paging` (BENCH_STUDENTS=N to resize, default 5000).
//!
//! The simulator runs in this process, so every figure includes its
//! rendering time and peak RSS includes its generated world; the baseline
//! rows (raw GETs of the same pages, with and without a `serde_json::Value`
//! parse) make the client's own cost readable as a ratio.

use std::time::Instant;

use onroll::wonde::{GroupType, ListQuery, Page, Pager, SchoolAccess, SecretToken, WondeClient, WondeConfig};
use serde::de::DeserializeOwned;
use wonde_sim::{SimConfig, Simulator};

struct Row {
    name: String,
    records: usize,
    pages: u32,
    bytes: usize,
    seconds: f64,
}

async fn drain<T: DeserializeOwned>(name: &str, mut pager: Pager<T>) -> anyhow::Result<Row> {
    let started = Instant::now();
    let (mut records, mut pages, mut bytes) = (0, 0, 0);
    while let Some(Page { records: r, body_bytes, .. }) = pager.next_page().await? {
        records += r.len();
        pages += 1;
        bytes += body_bytes;
    }
    Ok(Row { name: name.to_owned(), records, pages, bytes, seconds: started.elapsed().as_secs_f64() })
}

/// The same pages by hand: GET, follow `next`, optionally parse to a Value.
async fn baseline(name: &str, first: &str, token: &str, parse: bool) -> anyhow::Result<Row> {
    let http = reqwest::Client::new();
    let started = Instant::now();
    let (mut records, mut pages, mut bytes) = (0, 0, 0);
    let mut next = Some(first.to_owned());
    while let Some(url) = next.take() {
        let body = http.get(&url).bearer_auth(token).send().await?.error_for_status()?.bytes().await?;
        pages += 1;
        bytes += body.len();
        if parse {
            let v: serde_json::Value = serde_json::from_slice(&body)?;
            records += v["data"].as_array().map_or(0, Vec::len);
            next = v["meta"]["pagination"]["next"].as_str().map(str::to_owned);
        } else {
            // Without a parse, find `next` cheaply so the loop can go on.
            let text = std::str::from_utf8(&body)?;
            next = text
                .find("\"next\":\"")
                .and_then(|i| text[i + 8..].split('"').next())
                .map(|s| s.replace("\\/", "/"));
        }
    }
    Ok(Row { name: name.to_owned(), records, pages, bytes, seconds: started.elapsed().as_secs_f64() })
}

#[derive(serde::Deserialize)]
struct Students {
    data: Vec<onroll::wonde::WondeStudent>,
}

/// Parsing alone, on pages already in memory: the client's ceiling, with
/// the simulator and the socket taken out.
async fn decode_only(first: &str, token: &str) -> anyhow::Result<Vec<Row>> {
    let http = reqwest::Client::new();
    let mut bodies = Vec::new();
    let mut next = Some(first.to_owned());
    while let Some(url) = next.take() {
        let body = http.get(&url).bearer_auth(token).send().await?.bytes().await?;
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        next = v["meta"]["pagination"]["next"].as_str().map(str::to_owned);
        bodies.push(body);
    }
    let typed = decode_all("decode only: students typed (client models)", &bodies, |b| {
        Ok(serde_json::from_slice::<Students>(b)?.data.len())
    })?;
    let value = decode_all("decode only: students serde_json::Value", &bodies, |b| {
        Ok(serde_json::from_slice::<serde_json::Value>(b)?["data"].as_array().map_or(0, Vec::len))
    })?;
    Ok(vec![typed, value])
}

/// `decode` (which answers how many records a page holds) over every page
/// of `bodies`, timed: the row `name`.
fn decode_all(
    name: &str,
    bodies: &[impl AsRef<[u8]>],
    decode: impl Fn(&[u8]) -> anyhow::Result<usize>,
) -> anyhow::Result<Row> {
    let bytes: usize = bodies.iter().map(|b| b.as_ref().len()).sum();
    let pages = u32::try_from(bodies.len())?;
    let started = Instant::now();
    let mut records = 0;
    for b in bodies {
        records += decode(b.as_ref())?;
    }
    Ok(Row { name: name.into(), records, pages, bytes, seconds: started.elapsed().as_secs_f64() })
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let students: usize = std::env::var("BENCH_STUDENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(5000);
    let generated = Instant::now();
    let sim = Simulator::start(SimConfig {
        schools: 1,
        students_per_school: students,
        catalog_extra: 0,
        ..SimConfig::default()
    })
    .await?;
    let school = sim.schools().into_iter().next().ok_or_else(|| anyhow::anyhow!("no school"))?;
    let setup = generated.elapsed().as_secs_f64();
    let wonde = WondeClient::new(WondeConfig { base_url: Some(sim.base_url()), ..WondeConfig::default() })?;
    let access = SchoolAccess::new(school.wonde_id.clone(), SecretToken::new(school.token.clone()));
    let all = ListQuery::default();

    // Warm-up: connections, the simulator's indexes, page cache.
    drain("warm-up", wonde.students(&access, &all)).await?;

    let mut rows = vec![
        drain("students (education_details,year,registration,contacts)", wonde.students(&access, &all))
            .await?,
        drain("employees (employment_details,contact_details)", wonde.employees(&access, &all)).await?,
        drain("contacts (contact_details,students)", wonde.contacts(&access, &all)).await?,
        drain("classes (employees,students,subject)", wonde.classes(&access, &all)).await?,
        drain("groups YEAR (students,employees)", wonde.groups(&access, GroupType::Year, &all)).await?,
        drain(
            "groups REGISTRATION (students,employees)",
            wonde.groups(&access, GroupType::Registration, &all),
        )
        .await?,
    ];
    let first = format!(
        "{}/schools/{}/students?include=education_details%2Cyear%2Cregistration%2Ccontacts&per_page=200",
        sim.base_url(),
        school.wonde_id
    );
    rows.push(baseline("baseline: students raw GET, no parse", &first, &school.token, false).await?);
    rows.push(baseline("baseline: students raw GET + serde_json::Value", &first, &school.token, true).await?);

    rows.extend(decode_only(&first, &school.token).await?);

    println!();
    println!(
        "client_paging: one school of {students} students on 127.0.0.1 (simulator in-process, set up in {setup:.2}s)"
    );
    println!(
        "{:<58} {:>8} {:>6} {:>9} {:>11} {:>9} {:>9}",
        "endpoint", "records", "pages", "seconds", "records/s", "MB", "MB/s"
    );
    for r in &rows {
        let mb = r.bytes as f64 / 1_000_000.0;
        let rate =
            if r.records > 0 { format!("{:.0}", r.records as f64 / r.seconds) } else { "-".to_owned() };
        println!(
            "{:<58} {:>8} {:>6} {:>9.3} {:>11} {:>9.2} {:>9.1}",
            r.name,
            r.records,
            r.pages,
            r.seconds,
            rate,
            mb,
            mb / r.seconds
        );
    }
    let total_records: usize = rows.iter().take(6).map(|r| r.records).sum();
    let total_secs: f64 = rows.iter().take(6).map(|r| r.seconds).sum();
    let total_mb: f64 = rows.iter().take(6).map(|r| r.bytes as f64 / 1_000_000.0).sum();
    println!(
        "{:<58} {:>8} {:>6} {:>9.3} {:>11.0} {:>9.2} {:>9.1}",
        "all client endpoints",
        total_records,
        "",
        total_secs,
        total_records as f64 / total_secs,
        total_mb,
        total_mb / total_secs
    );
    match peak_rss_kib() {
        Some(kib) => println!("peak RSS (VmHWM, simulator included): {:.1} MiB", kib as f64 / 1024.0),
        None => println!("peak RSS: unavailable (no /proc/self/status)"),
    }
    sim.shutdown().await;
    Ok(())
}
