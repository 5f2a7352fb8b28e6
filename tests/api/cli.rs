//! The binary as an operator runs it: trust and token creation, `serve`
//! answering and stopping cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_onroll");

/// A SQLite file of the test's own, removed (with its key) at the end.
pub(crate) struct TempDb(std::path::PathBuf);

impl TempDb {
    pub(crate) fn new() -> Self {
        let name = onroll::auth::generate_token().replace(['-', '_'], "");
        Self(std::env::temp_dir().join(format!("onroll-cli-{}.db", &name[4..16])))
    }

    pub(crate) fn url(&self) -> String {
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

/// The lines `onroll serve` logs on its standard error.
pub(crate) type ServeLog = std::io::Lines<BufReader<std::process::ChildStderr>>;

/// `onroll serve` on a port of its own with `env` set (`DATABASE_URL`,
/// `RUST_LOG`...): the process and the lines it logs.
pub(crate) fn spawn_serve(env: &[(&str, &str)]) -> anyhow::Result<(std::process::Child, ServeLog)> {
    let mut command = Command::new(BIN);
    command.arg("serve").env("ONROLL_BIND", "127.0.0.1:0").stderr(Stdio::piped()).stdout(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn()?;
    let stderr = child.stderr.take().ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    Ok((child, BufReader::new(stderr).lines()))
}

/// Where `serve` listens, from the `addr=` line of its text log (within 30 s).
fn served_addr(lines: &mut ServeLog) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        anyhow::ensure!(Instant::now() < deadline, "serve did not start");
        let line = lines.next().ok_or_else(|| anyhow::anyhow!("serve exited early"))??;
        if let Some(rest) = line.split("addr=").nth(1) {
            return Ok(rest.split_whitespace().next().unwrap_or_default().to_owned());
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

/// `onroll trust create --name <name>` on `db`, which must succeed: the
/// new trust's ID, the last line it prints.
fn create_trust(db: &TempDb, name: &str) -> anyhow::Result<String> {
    let (ok, out, err) = onroll(db, &["trust", "create", "--name", name])?;
    assert!(ok, "{err}");
    Ok(last_line(&out))
}

#[tokio::test]
async fn operator_creates_a_trust_and_tokens_then_serves() -> anyhow::Result<()> {
    let db = TempDb::new();
    let trust = create_trust(&db, "Oak Trust")?;

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
    let url = db.url();
    let (mut child, mut lines) = spawn_serve(&[("DATABASE_URL", &url), ("RUST_LOG", "info")])?;
    let addr = served_addr(&mut lines)?;
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
    use entity::enums::AccountStatus;
    use entity::student;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

    let db_file = TempDb::new();
    let db = onroll::db::connect(&db_file.url(), None).await?;
    onroll::db::migrate(&db).await?;
    let (sim, sim_school, school, key_text) =
        crate::support::sim::connected_school(&db, 42, 25, ("CLI Trust", "CLI School")).await?;

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
    assert_eq!(crate::count_at!(&db, school.id, student, Status, AccountStatus::Active), 25);
    assert!(!stdout.contains(&sim_school.token), "the Wonde token is never printed");

    let output = run(vec!["sync".into(), "--school".into(), "999".into()]).await??;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no school"));
    Ok(())
}

crate::on_both_engines!(a_run_killed_mid_fetch_is_taken_over_by_serve);

/// A FULL run killed with SIGKILL mid-fetch applies nothing; the next
/// `serve` on the same database fails the orphan (SQLite: at start, one
/// process owns the file; PostgreSQL: its liveness lock died with it) and
/// the next run converges to the MIS.
async fn a_run_killed_mid_fetch_is_taken_over_by_serve(engine: crate::support::Engine) -> anyhow::Result<()> {
    use crate::sync_wonde::Mirror;
    use entity::enums::{SyncKind, SyncStatus};
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

    let data = crate::support::TestDb::create(&engine).await?;
    let database_url = data.url(&engine);
    let db = data.db.clone();
    let (sim, sim_school, school, key_text) =
        crate::support::sim::connected_school(&db, 7, 400, ("Kill Trust", "Kill School")).await?;
    let env = |cmd: &mut Command| {
        cmd.env("DATABASE_URL", &database_url)
            .env("ONROLL_SECRET_KEY", &key_text)
            .env("WONDE_API_URL", sim.base_url());
    };
    let school_id = crate::support::fixture::gid(onroll::graphql::ids::NodeType::School, school.id);

    // A first FULL run, then a leaver in the MIS.
    let mut first = Command::new(BIN);
    first.args(["sync", "--school", &school_id, "--full"]);
    env(&mut first);
    let output = tokio::task::spawn_blocking(move || first.output()).await??;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let before = Mirror::read(&db, school.id).await?;
    let leaver = sim.truth(&sim_school.wonde_id)?.students[0].id.clone();
    sim.student_leaves(&sim_school.wonde_id, &leaver, None)?;

    // A FULL run that Wonde makes slow, killed once it is under way.
    sim.inject_fault(wonde_sim::FaultSpec::new("*", wonde_sim::FaultKind::Latency { ms: 400 }, 10_000));
    let mut slow = Command::new(BIN);
    slow.args(["sync", "--school", &school_id, "--full"]).stdout(Stdio::null()).stderr(Stdio::null());
    env(&mut slow);
    let mut child = slow.spawn()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let orphan = loop {
        let running = entity::sync_run::Entity::find()
            .filter(entity::sync_run::Column::SchoolId.eq(school.id))
            .filter(entity::sync_run::Column::Status.eq(SyncStatus::Running))
            .one(&db)
            .await?;
        if let Some(run) = running.filter(|r| r.heartbeat_at != r.started_at) {
            break run;
        }
        anyhow::ensure!(Instant::now() < deadline, "the slow run never got under way");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    child.kill()?;
    let _ = child.wait()?;
    sim.clear_faults();
    assert_eq!(Mirror::read(&db, school.id).await?, before, "a killed run applied nothing");

    // `serve` on the same database sees at once that the process holding
    // the run is gone (its lock is free), takes the run over and finishes
    // it: the school is not blocked until a heartbeat goes stale.
    let mut serve = Command::new(BIN);
    serve.arg("serve").env("ONROLL_BIND", "127.0.0.1:0").stdout(Stdio::null()).stderr(Stdio::null());
    env(&mut serve);
    let started = Instant::now();
    let mut server = serve.spawn()?;
    let deadline = started + Duration::from_secs(60);
    let finished = loop {
        let run = entity::sync_run::Entity::find_by_id(orphan.id).one(&db).await?;
        if let Some(run) = run.filter(|r| r.status == SyncStatus::Completed || r.status == SyncStatus::Failed)
        {
            break run;
        }
        if Instant::now() > deadline {
            let _ = server.kill();
            anyhow::bail!("the orphaned run was not taken over");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!("orphan finished by serve {:?} after it started", started.elapsed());
    let _ = Command::new("kill").args(["-TERM", &server.id().to_string()]).status()?;
    let _ = server.wait()?;
    assert_eq!(
        (finished.status, finished.kind, finished.attempts),
        (SyncStatus::Completed, SyncKind::Full, 2)
    );
    assert_ne!(finished.claimed_by, orphan.claimed_by, "another process finished it");
    let newer = entity::sync_run::Entity::find()
        .filter(entity::sync_run::Column::SchoolId.eq(school.id))
        .filter(entity::sync_run::Column::Id.gt(orphan.id))
        .filter(entity::sync_run::Column::Status.eq(SyncStatus::Failed))
        .count(&db)
        .await?;
    assert_eq!(newer, 0);
    let truth = Mirror::of_truth(&sim.truth(&sim_school.wonde_id)?);
    assert_eq!(Mirror::read(&db, school.id).await?, truth, "the directory converged to the MIS");
    Ok(())
}

/// `onroll catalog refresh` against the simulator: refused without the
/// app's token, skipped (visibly) before a full refresh, then full. The
/// commands block this thread, so the simulator needs a worker of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_refreshes_the_catalog() -> anyhow::Result<()> {
    let sim = wonde_sim::Simulator::start(wonde_sim::SimConfig { schools: 1, ..Default::default() }).await?;
    let db = TempDb::new();
    let run = |args: &[&str], token: Option<String>| {
        let mut command = Command::new(BIN);
        command.args(args).env("DATABASE_URL", db.url()).env("WONDE_API_URL", sim.base_url());
        match token {
            Some(token) => command.env("WONDE_APP_TOKEN", token),
            None => command.env_remove("WONDE_APP_TOKEN"),
        };
        command.output()
    };
    let refused = run(&["catalog", "refresh", "--full"], None)?;
    assert!(!refused.status.success());
    assert!(String::from_utf8(refused.stderr)?.contains("WONDE_APP_TOKEN"));

    let skipped = run(&["catalog", "refresh"], Some(sim.app_token()))?;
    assert!(skipped.status.success());
    let out = String::from_utf8(skipped.stdout)?;
    assert!(out.contains("skipped: an incremental catalog refresh needs a full one first"), "{out}");

    let full = run(&["catalog", "refresh", "--full"], Some(sim.app_token()))?;
    let out = String::from_utf8(full.stdout)?;
    assert!(full.status.success(), "{out}");
    let expected = format!("catalog refreshed: {} schools read", sim.catalog().len());
    assert!(out.contains(&expected), "{out} (expected {expected})");

    let wrong = run(&["catalog", "refresh", "--full"], Some("not-the-app-token".to_owned()))?;
    assert!(!wrong.status.success());
    let err = String::from_utf8(wrong.stderr)?;
    assert!(!err.contains("not-the-app-token"), "the token never appears: {err}");
    sim.shutdown().await;
    Ok(())
}

/// `token create --expires-in`, `token list [--trust]` and `token revoke`:
/// what each prints, never a secret, and refusals that quote the ID as typed.
#[tokio::test]
async fn operator_lists_and_revokes_tokens() -> anyhow::Result<()> {
    let db = TempDb::new();
    let (_, out, _) = onroll(&db, &["trust", "create", "--name", "Oak Trust"])?;
    let oak = last_line(&out);
    let (_, out, _) = onroll(&db, &["trust", "create", "--name", "Elm Trust"])?;
    let elm = last_line(&out);
    let args = ["token", "create", "--role", "trust-admin", "--trust", &oak, "--label", "office"];
    let (ok, out, err) = onroll(&db, &args)?;
    assert!(ok, "{err}");
    assert!(err.contains("token 1 created"), "{err}");
    let office = last_line(&out);
    let args = ["token", "create", "--role", "integrator", "--trust", &elm, "--expires-in", "30d"];
    let (ok, out, err) = onroll(&db, &args)?;
    assert!(ok, "{err}");
    assert!(err.contains("it expires at"), "{err}");
    let integrator = last_line(&out);
    for bad in ["0", "2w", "-1d", "soon"] {
        let expires_in = format!("--expires-in={bad}");
        let (ok, _, err) =
            onroll(&db, &["token", "create", "--role", "integrator", "--trust", &elm, &expires_in])?;
        assert!(!ok, "--expires-in {bad} was accepted");
        assert!(err.contains(&format!("`{bad}` is not a duration")) && err.contains("s, m, h or d"), "{err}");
    }

    let (ok, out, err) = onroll(&db, &["token", "list"])?;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "a header, two tokens, a count: {out}");
    for column in ["id", "role", "trust", "status", "created", "last used", "expires", "revoked", "schools"] {
        assert!(lines[0].contains(column), "{column} missing from {}", lines[0]);
    }
    assert!(lines[1].contains("TRUST_ADMIN") && lines[1].contains(&oak) && lines[1].contains("office"));
    assert!(lines[1].contains("active") && lines[1].contains("all"), "{}", lines[1]);
    let in_30_days = (chrono::Utc::now() + chrono::Duration::days(30)).format("%Y-%m-%d").to_string();
    assert!(lines[2].contains("INTEGRATOR") && lines[2].contains(&in_30_days), "{}", lines[2]);
    assert_eq!(lines[3], "2 tokens");
    for secret in [&office, &integrator] {
        assert!(!out.contains(secret.as_str()), "a token is never listed");
        assert!(!out.contains(&onroll::auth::hash_token(secret)), "nor its hash");
    }
    let (ok, out, _) = onroll(&db, &["token", "list", "--trust", &elm])?;
    assert!(ok);
    assert!(out.contains("INTEGRATOR") && !out.contains("TRUST_ADMIN"), "{out}");
    assert_eq!(last_line(&out), "1 token");
    let (ok, _, err) = onroll(&db, &["token", "list", "--trust", "999"])?;
    assert!(!ok);
    assert!(err.contains("no trust `999`"), "{err}");

    let (ok, out, err) = onroll(&db, &["token", "revoke", "1"])?;
    assert!(ok, "{err}");
    assert!(out.contains("token 1 revoked at"), "{out}");
    let (ok, out, _) = onroll(&db, &["token", "revoke", "1"])?;
    assert!(ok, "revoking again is not an error");
    assert!(out.contains("token 1 was already revoked"), "{out}");
    for (bad, expected) in [("999", "no token with id `999`"), ("abc", "`abc` is not a token id")] {
        let (ok, _, err) = onroll(&db, &["token", "revoke", bad])?;
        assert!(!ok);
        assert!(err.contains(expected), "{err}");
    }
    let (_, out, _) = onroll(&db, &["token", "list", "--trust", &oak])?;
    assert!(out.lines().nth(1).is_some_and(|l| l.contains("revoked")), "{out}");
    Ok(())
}

/// An `onroll serve` process, killed when dropped.
struct Served {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

impl Served {
    fn start(database_url: &str, key: &str) -> anyhow::Result<Self> {
        let env = [
            ("DATABASE_URL", database_url),
            ("ONROLL_SECRET_KEY", key),
            ("RUST_LOG", "warn,onroll::cli=info"),
        ];
        let (child, mut lines) = spawn_serve(&env)?;
        let mut served = Self { child, addr: ([127, 0, 0, 1], 0).into() };
        let addr = served_addr(&mut lines)?;
        served.addr = addr.parse()?;
        // Keep reading, so that a full pipe never blocks the server's logging.
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
        Ok(served)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

crate::on_both_engines!(a_token_revoked_from_the_cli_closes_its_sockets_on_every_serve_process);

/// `onroll token revoke` in one process; `onroll serve` in others (two on
/// PostgreSQL, as replicas; one on SQLite, which one process owns): each
/// server closes the token's socket within a second, by its own watch.
async fn a_token_revoked_from_the_cli_closes_its_sockets_on_every_serve_process(
    engine: crate::support::Engine,
) -> anyhow::Result<()> {
    use crate::support::ws;
    use base64::Engine as _;

    let data = crate::support::TestDb::create(&engine).await?;
    let url = data.url(&engine);
    let key = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    let cli = |args: &[&str]| -> anyhow::Result<String> {
        let output =
            Command::new(BIN).args(args).env("DATABASE_URL", &url).env("ONROLL_SECRET_KEY", &key).output()?;
        anyhow::ensure!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        Ok(String::from_utf8(output.stdout)?)
    };
    let trust = last_line(&cli(&["trust", "create", "--name", "Replica Trust"])?);
    let token = last_line(&cli(&["token", "create", "--role", "integrator", "--trust", &trust])?);
    let keeper = last_line(&cli(&["token", "create", "--role", "integrator", "--trust", &trust])?);
    let listed = cli(&["token", "list", "--trust", &trust])?;
    let id = listed
        .lines()
        .nth(1)
        .and_then(|line| line.split_whitespace().next())
        .ok_or_else(|| anyhow::anyhow!("no token listed: {listed}"))?
        .to_owned();

    let replicas = if matches!(engine, crate::support::Engine::Postgres(_)) { 2 } else { 1 };
    let servers = (0..replicas).map(|_| Served::start(&url, &key)).collect::<anyhow::Result<Vec<_>>>()?;
    let mut sockets = Vec::new();
    for server in &servers {
        let (mut socket, ack) = ws::connect(server.addr, Some(&token)).await?;
        assert_eq!(ack["type"], "connection_ack");
        ws::subscribe(&mut socket, "1", "subscription { deactivations { cursor } }", serde_json::json!({}))
            .await?;
        sockets.push(socket);
    }
    let (mut kept, _) = ws::connect(servers[0].addr, Some(&keeper)).await?;

    let started = Instant::now();
    let out = cli(&["token", "revoke", &id])?;
    let revoked = Instant::now();
    assert!(out.contains("revoked at"), "{out}");
    for (i, socket) in sockets.iter_mut().enumerate() {
        let closed = ws::next_within(socket, Duration::from_secs(5)).await?;
        eprintln!(
            "serve process {i}: closed {:?} after the revoke command returned ({:?} after it started)",
            revoked.elapsed(),
            started.elapsed()
        );
        assert_eq!(closed, serde_json::json!({ "close": 4403 }));
        assert!(
            revoked.elapsed() < Duration::from_secs(2),
            "closed {:?} after revocation",
            revoked.elapsed()
        );
    }
    // The other token's socket is open still.
    ws::subscribe(&mut kept, "v", "{ viewer { role } }", serde_json::json!({})).await?;
    let answer = ws::next(&mut kept).await?;
    assert_eq!(answer["payload"]["data"]["viewer"]["role"], "INTEGRATOR", "{answer}");
    drop(servers);
    Ok(())
}

/// The own-trust walk-through of the README, for a school fed by CSV:
/// `trust create`, `school create`, then `import-csv` with the documented
/// example files; a repeated URN is refused and creates nothing.
#[tokio::test]
async fn operator_creates_a_csv_school_and_fills_it() -> anyhow::Result<()> {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

    let db = TempDb::new();
    let trust = create_trust(&db, "Willow Trust")?;
    let create = ["school", "create", "--trust", &trust, "--name", "Willow Bank", "--urn", "123456"];
    let (ok, out, err) = onroll(&db, &create)?;
    assert!(ok, "{err}");
    let school = last_line(&out);
    let school_id = onroll::graphql::ids::decode_as(&school, onroll::graphql::ids::NodeType::School)?;

    let (ok, _, err) = onroll(&db, &create)?;
    assert!(!ok, "the same URN twice was accepted");
    assert!(err.contains("URN 123456"), "{err}");

    let dir = std::env::temp_dir().join(format!("onroll-cli-csv-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let doc = include_str!("../../docs/csv-formats.md");
    let mut paths = Vec::new();
    for name in ["students", "staff", "guardians"] {
        let fence = format!("```csv {name}.csv\n");
        let start = doc.find(&fence).ok_or_else(|| anyhow::anyhow!("no {name} example"))? + fence.len();
        let end = doc[start..].find("```").ok_or_else(|| anyhow::anyhow!("{name} example not closed"))?;
        let path = dir.join(format!("{name}.csv"));
        std::fs::write(&path, &doc[start..start + end])?;
        paths.push(path.display().to_string());
    }
    let import = [
        "import-csv",
        "--school",
        &school,
        "--students",
        &paths[0],
        "--staff",
        &paths[1],
        "--guardians",
        &paths[2],
    ];
    let (ok, out, err) = onroll(&db, &import)?;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(ok, "{out}{err}");

    let conn = onroll::db::connect(&db.url(), None).await?;
    let schools = entity::school::Entity::find().count(&conn).await?;
    assert_eq!(schools, 1, "the refused create made a school");
    let students =
        crate::count_at!(&conn, school_id, entity::student, Status, entity::enums::AccountStatus::Active);
    assert_eq!(students, 2, "{out}");

    // `sync` on this CSV-fed school is refused before any run is recorded,
    // in one message naming the school as typed.
    let runs = || entity::sync_run::Entity::find().filter(entity::sync_run::Column::SchoolId.eq(school_id));
    let before = runs().count(&conn).await?;
    for typed in [school.as_str(), &school_id.to_string()] {
        for extra in [None, Some("--full"), Some("--dry-run")] {
            let mut args = vec!["sync", "--school", typed];
            args.extend(extra);
            let (ok, out, err) = onroll(&db, &args)?;
            assert!(!ok, "{args:?}: {out}");
            let said: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
            assert_eq!(said.len(), 1, "{args:?}: one error line: {err}");
            assert!(said[0].contains(&format!("school `{typed}`")) && said[0].contains("CSV"), "{err}");
            assert_eq!(err.matches("CSV").count(), 1, "{args:?}: said once: {err}");
            assert!(!out.contains("run "), "{args:?}: no run printed: {out}");
        }
    }
    assert_eq!(runs().count(&conn).await?, before, "no run recorded");
    Ok(())
}

/// A reader that stops early (`onroll schema | head -1`) closes the pipe;
/// the command then exits quietly with its own status, no panic. The read
/// end is closed before the command starts, so every write meets it.
#[test]
fn a_closed_stdout_ends_a_command_quietly() -> anyhow::Result<()> {
    let db = TempDb::new();
    for args in [&["schema"][..], &["trust", "create", "--name", "Pipe Trust"], &["token", "list"]] {
        let (reader, writer) = std::io::pipe()?;
        drop(reader);
        let output = Command::new(BIN)
            .args(args)
            .env("DATABASE_URL", db.url())
            .env_remove("ONROLL_SECRET_KEY")
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()?;
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{args:?}: {:?} {err}", output.status);
        assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{args:?}: {err}");
    }
    // The command did its work: the trust exists.
    let (ok, out, err) = onroll(&db, &["trust", "create", "--name", "Second Trust"])?;
    assert!(ok, "{err}");
    assert!(last_line(&out).starts_with("VHJ1c3Q6"), "{out}");
    let conn = tokio::runtime::Runtime::new()?.block_on(async {
        use sea_orm::{EntityTrait, PaginatorTrait};
        let conn = onroll::db::connect(&db.url(), None).await?;
        anyhow::Ok(entity::trust::Entity::find().count(&conn).await?)
    })?;
    assert_eq!(conn, 2, "the piped `trust create` made its trust");
    Ok(())
}
