//! The log as operators consume it: `ONROLL_LOG_FORMAT=json` writes one
//! JSON object per line, and every line of a request carries the request's
//! id, which the answer's `x-request-id` header gives back.

use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_onroll");

use crate::cli::{TempDb, spawn_serve};

fn onroll(db: &TempDb, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(BIN)
        .args(args)
        .env("DATABASE_URL", db.url())
        .env_remove("ONROLL_SECRET_KEY")
        .output()?;
    anyhow::ensure!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    Ok(String::from_utf8(output.stdout)?.lines().last().unwrap_or_default().trim().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_each_requests_id() -> anyhow::Result<()> {
    let db = TempDb::new();
    let trust = onroll(&db, &["trust", "create", "--name", "Log Trust"])?;
    let token = onroll(&db, &["token", "create", "--role", "trust-admin", "--trust", &trust])?;
    let url = db.url();
    let (mut child, mut lines) =
        spawn_serve(&[("DATABASE_URL", &url), ("ONROLL_LOG_FORMAT", "json"), ("RUST_LOG", "info")])?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    let addr = loop {
        anyhow::ensure!(Instant::now() < deadline, "serve did not start");
        let line = lines.next().ok_or_else(|| anyhow::anyhow!("serve exited early"))??;
        let parsed: Value =
            serde_json::from_str(&line).map_err(|e| anyhow::anyhow!("not JSON ({e}): {line}"))?;
        seen.push(parsed.clone());
        if let Some(addr) = parsed["fields"]["addr"].as_str() {
            break addr.to_owned();
        }
    };
    let client = reqwest::Client::new();
    let ask = |id: Option<&str>| {
        let mut request = client
            .post(format!("http://{addr}/graphql"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "query": "{ viewer { role } }" }));
        if let Some(id) = id {
            request = request.header("x-request-id", id);
        }
        request.send()
    };
    // A caller's plain id is kept; one that could forge log text is not.
    let kept = ask(Some("caller-7f3a.1")).await?;
    assert_eq!(kept.status(), 200);
    assert_eq!(kept.headers().get("x-request-id").and_then(|v| v.to_str().ok()), Some("caller-7f3a.1"));
    let replaced = ask(Some("x\"} forged")).await?;
    let made = replaced.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert_eq!(made.len(), 16, "a made id: {made:?}");
    assert!(made.chars().all(|c| c.is_ascii_hexdigit()));

    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status()?;
    assert!(killed.success());
    assert!(child.wait()?.success());
    for line in lines.map_while(Result::ok) {
        let parsed: Value =
            serde_json::from_str(&line).map_err(|e| anyhow::anyhow!("not JSON ({e}): {line}"))?;
        assert!(!line.contains(&token), "the token is never logged");
        seen.push(parsed);
    }
    // Every line logged inside a request names the request's id.
    let of_request = |id: &str| {
        seen.iter().filter(|l| l["span"]["name"] == "request" && l["span"]["request_id"] == id).count()
    };
    // At the default level, the access line of each request (status, latency).
    let access = |id: &str| {
        seen.iter().any(|l| {
            l["span"]["request_id"] == id
                && l["fields"]["status"] == 200
                && l["fields"]["latency"].is_string()
        })
    };
    assert!(access("caller-7f3a.1"), "an access line: {seen:#?}");
    assert!(access(&made));
    assert!(of_request("caller-7f3a.1") >= 1);
    assert!(
        seen.iter().all(|l| l["span"]["name"] != "request"
            || l["span"]["request_id"].as_str().is_some_and(|id| !id.is_empty())),
        "a request's line without its id"
    );
    Ok(())
}

#[test]
fn an_unknown_log_format_is_refused() -> anyhow::Result<()> {
    let output = Command::new(BIN).arg("schema").env("ONROLL_LOG_FORMAT", "xml").output()?;
    assert!(!output.status.success());
    let err = String::from_utf8(output.stderr)?;
    assert!(err.contains("ONROLL_LOG_FORMAT=\"xml\" is not a log format"), "{err}");
    assert_eq!(err.matches("not a log format").count(), 1, "said once: {err}");
    Ok(())
}
