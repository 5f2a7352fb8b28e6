//! What a one-shot command prints: its answer, and nothing of the
//! migrations it applies first. On PostgreSQL every command used to print
//! four `relation "seaql_migrations" already exists, skipping` notices and
//! two migration lines before its answer, on SQLite the two lines.

use std::process::Command;

use crate::on_both_engines;
use crate::support::{Engine, TestDb};

const BIN: &str = env!("CARGO_BIN_EXE_onroll");

on_both_engines!(a_one_shot_command_prints_its_answer_alone);

async fn a_one_shot_command_prints_its_answer_alone(engine: Engine) -> anyhow::Result<()> {
    let data = TestDb::create(&engine).await?;
    let url = data.url(&engine);
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["trust", "create", "--name", "Quiet Trust"])
            .env("DATABASE_URL", url)
            .env_remove("RUST_LOG")
            .output()
    })
    .await??;
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "trust create failed: {stderr}");
    let id = stdout.trim();
    assert!(
        !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "answer: {stdout:?}"
    );
    assert_eq!(stderr.trim(), "", "a one-shot command's standard error holds nothing when it succeeds");
    Ok(())
}
