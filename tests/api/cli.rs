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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_syncs_a_school_in_the_foreground() -> anyhow::Result<()> {
    use base64::Engine as _;
    use entity::enums::{AccountStatus, ConnectionStatus};
    use sea_orm::{
        ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter,
    };

    let db_file = TempDb::new();
    let key_text = base64::engine::general_purpose::STANDARD.encode([42u8; 32]);
    let key = onroll::crypto::SecretKey::parse(&key_text)?;
    let sim = wonde_sim::Simulator::start(wonde_sim::SimConfig {
        schools: 1,
        students_per_school: 25,
        ..wonde_sim::SimConfig::default()
    })
    .await?;
    let sim_school = sim.schools().into_iter().next().ok_or_else(|| anyhow::anyhow!("no school"))?;

    let db = onroll::db::connect(&db_file.url(), None).await?;
    onroll::db::migrate(&db).await?;
    let f = crate::support::fixture::Fixture::new(&db);
    let trust = f.trust("CLI Trust").await?;
    let school = f.school(&trust, "CLI School").await?;
    let now = chrono::Utc::now();
    entity::wonde_connection::ActiveModel {
        school_id: Set(school.id),
        status: Set(ConnectionStatus::Approved),
        wonde_school_id: Set(sim_school.wonde_id.clone()),
        region_domain: Set(None),
        token_ciphertext: Set(Some(key.encrypt(&sim_school.token))),
        sync_students: Set(true),
        sync_staff: Set(true),
        sync_guardians: Set(true),
        sync_classes: Set(true),
        sync_year_groups: Set(true),
        sync_form_groups: Set(true),
        full_every_secs: Set(None),
        incremental_every_secs: Set(None),
        watermark: Set(None),
        last_full_sync_at: Set(None),
        last_incremental_sync_at: Set(None),
        status_reason: Set(None),
        requested_by_token_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&db)
    .await?;

    let school_id = crate::support::fixture::gid(onroll::graphql::ids::NodeType::School, school.id);
    let run = |args: Vec<String>| {
        let (url, key_text, base) = (db_file.url(), key_text.clone(), sim.base_url());
        tokio::task::spawn_blocking(move || {
            Command::new(BIN)
                .args(&args)
                .env("DATABASE_URL", url)
                .env("ONROLL_SECRET_KEY", key_text)
                .env("WONDE_API_URL", base)
                .output()
        })
    };
    let output = run(vec!["sync".into(), "--school".into(), school_id.clone(), "--full".into()]).await??;
    let stdout = String::from_utf8(output.stdout)?;
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("FULL) COMPLETED"), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("students") && l.contains("25")), "{stdout}");
    let active = entity::student::Entity::find()
        .filter(entity::student::Column::SchoolId.eq(school.id))
        .filter(entity::student::Column::Status.eq(AccountStatus::Active))
        .count(&db)
        .await?;
    assert_eq!(active, 25);
    assert!(!stdout.contains(&sim_school.token), "the Wonde token is never printed");

    let output = run(vec!["sync".into(), "--school".into(), "999".into()]).await??;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no school"));
    Ok(())
}
