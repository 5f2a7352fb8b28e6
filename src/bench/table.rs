//! The one markdown table `onroll bench` prints: a row a measurement and
//! engine, each with its baseline from the same run and their ratio.

use std::fmt::Write as _;
use std::time::Duration;

use super::support::Samples;
use super::{EngineFigures, Sizes};

/// One row: what was measured, on which engine, the figure, its baseline
/// and the ratio of the two.
struct Row {
    what: String,
    engine: &'static str,
    result: String,
    baseline: String,
    ratio: String,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A ratio to two significant places at least: `1.23×`, `0.0042×`.
fn x(ratio: f64) -> String {
    if ratio.abs() >= 0.01 || ratio == 0.0 { format!("{ratio:.2}×") } else { format!("{ratio:.4}×") }
}

fn p50_p99(s: &Samples) -> String {
    format!("p50 {:.1} ms, p99 {:.1} ms", s.ms(0.5), s.ms(0.99))
}

fn rows_of(f: &EngineFigures) -> Vec<Row> {
    let engine = f.engine;
    let row = |what: String, result: String, baseline: String, ratio: String| Row {
        what,
        engine,
        result,
        baseline,
        ratio,
    };
    let mut rows = Vec::new();
    for s in &f.syncs {
        rows.push(row(
            format!(
                "FULL sync, {} school(s) of {} pupils, {} at once",
                s.schools, s.students, s.runs_at_once
            ),
            format!("{:.2} s, {:.0} records/s, peak RSS {:.0} MiB", s.full_s, s.records_per_s(), s.peak_mib),
            format!("paging floor {:.2} s ({} records)", s.floor_s, s.records),
            x(s.ratio()),
        ));
    }
    if let Some(s) = f.syncs.last() {
        let full_ms = s.full_s * 1000.0 / s.schools as f64;
        rows.push(row(
            format!("no-change INCREMENTAL, a school ({} schools)", s.schools),
            format!("{:.1} ms a school", s.incremental_ms),
            format!(
                "its Wonde requests alone {:.1} ms a school (FULL {full_ms:.1} ms)",
                s.incremental_floor_ms
            ),
            x(s.incremental_ms / s.incremental_floor_ms),
        ));
    }
    let l = &f.latency;
    rows.push(row(
        format!("leaver latency, leave → subscriber ({} leavers)", l.subscriber.len()),
        p50_p99(&l.subscriber),
        format!("no-change triggered run p50 {:.1} ms", l.no_change_run.ms(0.5)),
        format!(
            "p50 {}, p99 {}",
            x(l.subscriber.ms(0.5) / l.no_change_run.ms(0.5)),
            x(l.subscriber.ms(0.99) / l.no_change_run.ms(0.5))
        ),
    ));
    let floor = &f.queries.floor;
    for q in &f.queries.shapes {
        rows.push(row(
            q.name.to_owned(),
            format!(
                "{:.0} req/s, p99 {:.1} ms, SQL statements a request: {}",
                q.per_second,
                q.latency.ms(0.99),
                q.statements
            ),
            format!(
                "{}: {:.0} req/s, p99 {:.1} ms, statements: {}",
                floor.name,
                floor.per_second,
                floor.latency.ms(0.99),
                floor.statements
            ),
            format!(
                "req/s {}, p99 {}",
                x(q.per_second / floor.per_second),
                x(q.latency.ms(0.99) / floor.latency.ms(0.99))
            ),
        ));
    }
    let (all, one) = f.fan_out;
    rows.push(row(
        "fan-out: one event to every subscriber (person selected)".to_owned(),
        format!("{:.1} ms to the last", ms(all)),
        format!("one subscriber {:.1} ms", ms(one)),
        x(ms(all) / ms(one)),
    ));
    if let Some((same, cross)) = &f.replicas {
        rows.push(row(
            format!("cross-replica: commit on A → subscriber on B ({} events)", cross.len()),
            p50_p99(cross),
            format!("same replica: {}", p50_p99(same)),
            format!("p50 {}, p99 {}", x(cross.ms(0.5) / same.ms(0.5)), x(cross.ms(0.99) / same.ms(0.99))),
        ));
    }
    rows.push(row(
        format!("webhook delivery, leave → signed POST received ({} leavers)", l.webhook.len()),
        p50_p99(&l.webhook),
        format!("subscriber, same leavers: {}", p50_p99(&l.subscriber)),
        format!(
            "p50 {}, p99 {}",
            x(l.webhook.ms(0.5) / l.subscriber.ms(0.5)),
            x(l.webhook.ms(0.99) / l.subscriber.ms(0.99))
        ),
    ));
    rows
}

/// The table, with a heading naming the sizes and a footnote on method.
pub fn render(sizes: &Sizes, figures: &[EngineFigures], took: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### onroll bench ({})\n", sizes.describe());
    let _ = writeln!(out, "| measurement | engine | result | baseline (same run) | ratio |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    for f in figures {
        for r in rows_of(f) {
            let _ =
                writeln!(out, "| {} | {} | {} | {} | {} |", r.what, r.engine, r.result, r.baseline, r.ratio);
        }
    }
    let fan_out = sizes.subscribers;
    let _ = writeln!(
        out,
        "\nFan-out: {fan_out} subscriptions over {} socket(s). Peak RSS: the process's `VmHWM` \
         (/proc/self/status) during the FULL runs; simulator, server and clients share the process. \
         Queries: closed-loop clients over loopback; statements counted on the server's pool for one request alone. \
         {} logical CPU(s), {}; took {:.0} s.",
        fan_out.clamp(1, 100),
        std::thread::available_parallelism().map_or(0, usize::from),
        std::env::consts::ARCH,
        took.as_secs_f64()
    );
    out
}
