//! What an operator reads when `onroll` cannot start or cannot find what
//! they named: one line, said once, saying what to change.

use std::process::Command;

use crate::cli::TempDb;

const BIN: &str = env!("CARGO_BIN_EXE_onroll");

/// Runs `onroll args` with `env`, and returns its error lines: the final
/// `error:` and any ERROR the log wrote on the way, which would say it again.
fn errors(args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Vec<String>> {
    let mut command = Command::new(BIN);
    command.args(args).env_remove("ONROLL_SECRET_KEY").env_remove("WONDE_API_URL").env_remove("RUST_LOG");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output()?;
    anyhow::ensure!(!output.status.success(), "`onroll {}` succeeded", args.join(" "));
    let stderr = String::from_utf8(output.stderr)?;
    Ok(stderr
        .lines()
        .filter(|l| l.starts_with("error:") || l.contains(" ERROR "))
        .map(str::to_owned)
        .collect())
}

/// One error line, and no clause of it repeated (`a: b: b`).
fn said_once(lines: &[String]) -> anyhow::Result<&str> {
    anyhow::ensure!(lines.len() == 1, "expected one error line, got {lines:?}");
    let line = lines[0].as_str();
    let clauses: Vec<&str> = line.split(": ").collect();
    for (i, clause) in clauses.iter().enumerate() {
        anyhow::ensure!(!clauses[i + 1..].contains(clause), "`{clause}` is said twice in: {line}");
    }
    Ok(line)
}

fn scratch(name: &str) -> std::path::PathBuf {
    let token = onroll::auth::generate_token().replace(['-', '_'], "");
    std::env::temp_dir().join(format!("onroll-start-{name}-{}", &token[4..14]))
}

#[test]
fn a_database_url_of_another_engine_is_refused_as_such() -> anyhow::Result<()> {
    // No key is set: the URL must be refused before any talk of the key.
    let lines = errors(&["serve"], &[("DATABASE_URL", "mysql://user:pw@db.example/onroll")])?;
    let line = said_once(&lines)?;
    assert!(line.contains("must start with sqlite: or postgres:"), "{line}");
    assert!(!line.contains("ONROLL_SECRET_KEY") && !line.contains("pw@"), "{line}");
    Ok(())
}

#[test]
fn a_refused_postgres_connection_is_said_as_that() -> anyhow::Result<()> {
    // Port 9 (discard) has no listener here: the connection is refused.
    let key = "ab".repeat(32);
    let env = [("DATABASE_URL", "postgres://postgres@127.0.0.1:9/x"), ("ONROLL_SECRET_KEY", key.as_str())];
    let lines = errors(&["serve", "--bind", "127.0.0.1:0"], &env)?;
    let line = said_once(&lines)?;
    assert!(line.contains("connection refused") && line.contains("127.0.0.1:9"), "{line}");
    assert!(!line.contains("timed out"), "{line}");
    Ok(())
}

#[test]
fn a_sqlite_file_that_cannot_be_created_says_how_to_fix_it() -> anyhow::Result<()> {
    let file = scratch("norwc").join("x.db");
    // The directory exists but the URL does not ask to create the file.
    std::fs::create_dir_all(file.parent().unwrap_or(std::path::Path::new(".")))?;
    let url = format!("sqlite://{}", file.display());
    let line =
        said_once(&errors(&["trust", "create", "--name", "T"], &[("DATABASE_URL", &url)])?)?.to_owned();
    assert!(line.contains("mode=rwc"), "{line}");

    // With `mode=rwc` but no directory: the directory is named, once.
    let url = format!("sqlite://{}?mode=rwc", scratch("nodir").join("sub").join("x.db").display());
    let line =
        said_once(&errors(&["trust", "create", "--name", "T"], &[("DATABASE_URL", &url)])?)?.to_owned();
    assert!(line.contains("directory exists"), "{line}");
    let _ = std::fs::remove_dir_all(file.parent().unwrap_or(std::path::Path::new("/nonexistent")));
    Ok(())
}

#[test]
fn a_wonde_url_without_its_version_is_detected() -> anyhow::Result<()> {
    let db = TempDb::new();
    let url = db.url();
    let env = [("DATABASE_URL", url.as_str()), ("WONDE_API_URL", "http://127.0.0.1:9")];
    let line = said_once(&errors(&["sync", "--school", "1"], &env)?)?.to_owned();
    let serve = said_once(&errors(&["serve", "--bind", "127.0.0.1:0"], &env)?)?.to_owned();
    assert!(serve.contains("version"), "{serve}");
    assert!(line.contains("version") && line.contains("/v1.0"), "{line}");
    Ok(())
}

#[test]
fn cli_errors_name_the_id_as_typed() -> anyhow::Result<()> {
    let db = TempDb::new();
    let url = db.url();
    let env = [("DATABASE_URL", url.as_str())];
    // 42 as the API writes it: `School:42`, base64.
    let typed = "U2Nob29sOjQy";
    let cases: [(&[&str], &str); 4] = [
        (&["sync", "--school", typed], "no school `U2Nob29sOjQy`"),
        (&["held", "list", "--school", typed], "no school `U2Nob29sOjQy`"),
        (&["token", "create", "--role", "school-admin", "--school", typed], "no school `U2Nob29sOjQy`"),
        (&["token", "create", "--role", "integrator", "--trust", "9"], "no trust `9`"),
    ];
    let mut failures = Vec::new();
    for (args, wanted) in cases {
        let lines = errors(args, &env)?;
        let line = said_once(&lines)?;
        if !line.contains(wanted) || line.contains(" 42") {
            failures.push(format!("{}: {line}", args.join(" ")));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    Ok(())
}

#[test]
fn a_token_expiry_beyond_reason_is_refused_not_a_panic() -> anyhow::Result<()> {
    let db = TempDb::new();
    let url = db.url();
    let env = [("DATABASE_URL", url.as_str())];
    let output = Command::new(BIN).args(["trust", "create", "--name", "T"]).envs(env).output()?;
    let trust = String::from_utf8(output.stdout)?.trim().to_owned();
    let args = ["token", "create", "--role", "integrator", "--trust", &trust, "--expires-in", "99999999999d"];
    let lines = errors(&args, &env)?;
    let line = said_once(&lines)?;
    assert!(line.contains("within 100 years"), "{line}");
    Ok(())
}
