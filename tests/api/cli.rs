//! The binary as an operator runs it: trust and token creation, `serve`
//! answering and stopping cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_onroll");

struct TempDb(std::path::PathBuf);

impl TempDb {
    fn new() -> Self {
        let name = onroll::auth::generate_token().replace(['-', '_'], "");
        Self(std::env::temp_dir().join(format!("onroll-cli-{}.db", &name[4..16])))
    }

    fn url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.0.display())
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", ".key"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

fn onroll(db: &TempDb, args: &[&str]) -> anyhow::Result<(bool, String, String)> {
    let output = Command::new(BIN)
        .args(args)
        .env("DATABASE_URL", db.url())
        .env_remove("ONROLL_SECRET_KEY")
        .output()?;
    Ok((output.status.success(), String::from_utf8(output.stdout)?, String::from_utf8(output.stderr)?))
}

fn last_line(text: &str) -> String {
    text.lines().last().unwrap_or_default().trim().to_owned()
}

#[tokio::test]
async fn operator_creates_a_trust_and_tokens_then_serves() -> anyhow::Result<()> {
    let db = TempDb::new();
    let (ok, out, err) = onroll(&db, &["trust", "create", "--name", "Oak Trust"])?;
    assert!(ok, "{err}");
    let trust = last_line(&out);

    let (ok, out, err) = onroll(&db, &["token", "create", "--role", "trust-admin", "--trust", &trust])?;
    assert!(ok, "{err}");
    let token = last_line(&out);
    assert!(token.starts_with("onr_"));

    // Refusals are clear and create nothing.
    let (ok, _, err) = onroll(&db, &["token", "create", "--role", "school-admin"])?;
    assert!(!ok);
    assert!(err.contains("--school"), "{err}");
    let (ok, _, err) = onroll(&db, &["token", "create", "--role", "trust-admin", "--trust", "999"])?;
    assert!(!ok);
    assert!(err.contains("no trust"), "{err}");
    let (ok, _, err) = onroll(&db, &["trust", "create", "--name", "  "])?;
    assert!(!ok);
    assert!(err.contains("name"), "{err}");

    // `serve` on the same database: the token works, SIGTERM stops it.
    let mut child = Command::new(BIN)
        .arg("serve")
        .env("DATABASE_URL", db.url())
        .env("ONROLL_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    let stderr = child.stderr.take().ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        anyhow::ensure!(Instant::now() < deadline, "serve did not start");
        let line = lines.next().ok_or_else(|| anyhow::anyhow!("serve exited early"))??;
        if let Some(rest) = line.split("addr=").nth(1) {
            break rest.split_whitespace().next().unwrap_or_default().to_owned();
        }
    };
    let client = reqwest::Client::new();
    let body: serde_json::Value = client
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "query": "{ viewer { role } trusts { name } }" }))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(body["data"]["viewer"]["role"], "TRUST_ADMIN", "{body}");
    assert_eq!(body["data"]["trusts"][0]["name"], "Oak Trust");

    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status()?;
    assert!(killed.success());
    let status = child.wait()?;
    assert!(status.success(), "serve exits cleanly on SIGTERM: {status}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(!rest.iter().any(|l| l.contains(&token)), "the token is never logged");
    Ok(())
}
