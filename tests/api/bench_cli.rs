//! `onroll bench` as an operator runs it, at the hidden smallest sizes:
//! every measurement ends, and the one table has a row for each with
//! numbers (no NaN, no infinity, no zero where a time or a rate must be
//! positive), on SQLite and, with `--postgres`, on PostgreSQL too.

use std::process::Command;

use crate::on_both_engines;
use crate::support::Engine;

on_both_engines!(bench_prints_every_row_with_numbers);

/// Rows every engine has (by the start of the measurement's name).
const ROWS: [&str; 9] = [
    "FULL sync, 1 school(s)",
    "FULL sync, 2 school(s)",
    "no-change INCREMENTAL",
    "leaver latency",
    "(a) a school's first 100 students",
    "(b) a class roster",
    "(c) one student by id",
    "fan-out: one event",
    "webhook delivery",
];

/// The numbers of a cell, as written (`12.5`, `1.20×` → 12.5, 1.2).
fn numbers(cell: &str) -> Vec<f64> {
    cell.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter(|w| w.chars().any(|c| c.is_ascii_digit()))
        .filter_map(|w| w.trim_matches('.').parse().ok())
        .collect()
}

async fn bench_prints_every_row_with_numbers(engine: Engine) -> anyhow::Result<()> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_onroll"));
    command.args(["bench", "--tiny"]);
    let mut engines = vec!["sqlite"];
    if let Engine::Postgres(url) = &engine {
        command.args(["--postgres", url]);
        engines.push("postgres");
    }
    let output = tokio::task::spawn_blocking(move || command.output()).await??;
    let stdout = String::from_utf8(output.stdout)?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "bench failed: {stderr}\n{stdout}");
    assert!(stdout.contains("tiny (tests)"), "the heading names the sizes: {stdout}");
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| measurement"))
        .map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect())
        .collect();
    for row in &rows {
        assert_eq!(row.len(), 5, "five cells: {row:?}");
        for cell in &row[2..] {
            let lower = cell.to_lowercase();
            assert!(!lower.contains("nan") && !lower.contains("inf"), "not a number: {row:?}");
        }
        // Every result and every ratio is a positive time, rate or count.
        for cell in [row[2], row[4]] {
            let found = numbers(cell);
            assert!(!found.is_empty() && found.iter().all(|n| *n > 0.0), "a zero or no figure: {row:?}");
        }
    }
    for engine in &engines {
        for name in ROWS {
            assert!(
                rows.iter().any(|r| r[0].starts_with(name) && r[1] == *engine),
                "no {name} row for {engine}:\n{stdout}"
            );
        }
    }
    let cross = rows.iter().any(|r| r[0].starts_with("cross-replica") && r[1] == "postgres");
    assert_eq!(cross, engines.contains(&"postgres"), "cross-replica is measured on PostgreSQL only");
    Ok(())
}
