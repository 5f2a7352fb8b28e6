//! Several `onroll serve` processes on one PostgreSQL are one service
//! (issue 12): an event committed on one replica reaches subscribers on
//! another (LISTEN/NOTIFY, with a periodic read as backstop); triggers on
//! both give one run; a replica killed mid-run has its run finished by
//! another. Real processes, real WebSockets, real PostgreSQL; without
//! `ONROLL_TEST_DATABASE_URL` these tests say they were skipped.

use entity::enums::{Role, SyncStatus};
use entity::{school, student, sync_run};
use onroll::graphql::ids::NodeType;
use onroll::tenancy::{TokenSpec, create_token};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use wonde_sim::{FaultKind, FaultSpec, SimHandle};

use crate::row_by_wonde_id;
use crate::support::fixture::gid;
use crate::support::sim::connected_school;
use crate::support::{Engine, TestDb, ws};

const BIN: &str = env!("CARGO_BIN_EXE_onroll");
const TRIGGER: &str = "mutation($s: ID!, $k: SyncKind) { triggerSync(schoolId: $s, kind: $k) { id status } }";
const DEACTIVATIONS: &str = "subscription { deactivations { cursor kind person { ... on Student { id } } } }";

/// One `onroll serve` process.
struct Replica {
    child: Child,
    addr: std::net::SocketAddr,
}

impl Replica {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A PostgreSQL schema of its own, a simulated school connected in it, a
/// trust admin's and an integrator's tokens, and a way to start replicas.
struct Cluster {
    data: TestDb,
    database_url: String,
    key_text: String,
    sim: SimHandle,
    wonde_id: String,
    school: school::Model,
    admin: String,
    integrator: String,
    http: reqwest::Client,
}

impl Cluster {
    async fn start(url: String, students: usize) -> anyhow::Result<Self> {
        let engine = Engine::Postgres(url);
        let data = TestDb::create(&engine).await?;
        let database_url = data.url(&engine);
        let names = ("Replicated Trust", "Replicated School");
        let (sim, sim_school, school, key_text) = connected_school(&data.db, 5, students, names).await?;
        let spec = |role| TokenSpec {
            role,
            trust_id: Some(school.trust_id),
            school_ids: Vec::new(),
            label: None,
            expires_in: None,
            scopes: Vec::new(),
        };
        let (admin, _) = create_token(&data.db, &spec(Role::TrustAdmin)).await?;
        let (integrator, _) = create_token(&data.db, &spec(Role::Integrator)).await?;
        Ok(Self {
            data,
            database_url,
            key_text,
            sim,
            wonde_id: sim_school.wonde_id,
            school,
            admin,
            integrator,
            http: reqwest::Client::new(),
        })
    }

    fn db(&self) -> &DatabaseConnection {
        &self.data.db
    }

    /// Starts `onroll serve` on a port the system picks and waits until it
    /// is ready. The port is the one the server reports having bound: a
    /// port probed here and released would race with every other test
    /// binding one (a receiver could take it, and the "replica" would be
    /// another test's server).
    async fn replica(&self) -> anyhow::Result<Replica> {
        let mut child = Command::new(BIN)
            .arg("serve")
            .env("DATABASE_URL", &self.database_url)
            .env("ONROLL_SECRET_KEY", &self.key_text)
            .env("WONDE_API_URL", self.sim.base_url())
            .env("ONROLL_BIND", "127.0.0.1:0")
            // Runs happen when the test asks, not on a schedule.
            .env("ONROLL_FULL_SYNC_EVERY", "0")
            .env("ONROLL_INCREMENTAL_SYNC_EVERY", "0")
            // Warnings, and the line that says where it serves.
            .env("RUST_LOG", "warn,onroll::cli=info")
            .env_remove("ONROLL_LOG_FORMAT")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child.stderr.take().ok_or_else(|| anyhow::anyhow!("no stderr"))?;
        let (found, address) = std::sync::mpsc::channel();
        // Reads stderr to its end, so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut found = Some(found);
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("addr=").nth(1)
                    && let Some(sender) = found.take()
                {
                    let _ = sender.send(rest.split_whitespace().next().unwrap_or_default().to_owned());
                }
            }
        });
        let reported =
            tokio::task::spawn_blocking(move || address.recv_timeout(Duration::from_secs(30))).await?;
        let addr: std::net::SocketAddr = match reported {
            Ok(text) => text.parse()?,
            Err(_) => {
                let _ = child.kill();
                anyhow::bail!("replica never said where it serves");
            }
        };
        let replica = Replica { child, addr };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = self.http.get(replica.url("/readyz")).send().await
                && response.status().is_success()
            {
                return Ok(replica);
            }
            anyhow::ensure!(Instant::now() < deadline, "replica on {addr} never became ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn trigger(&self, replica: &Replica, kind: &str) -> anyhow::Result<Value> {
        let body = json!({ "query": TRIGGER, "variables": { "s": gid(NodeType::School, self.school.id), "k": kind } });
        let response: Value = self
            .http
            .post(replica.url("/graphql"))
            .bearer_auth(&self.admin)
            .json(&body)
            .send()
            .await?
            .json()
            .await?;
        anyhow::ensure!(response.get("errors").is_none(), "triggerSync failed: {response}");
        Ok(response["data"]["triggerSync"].clone())
    }

    async fn run(&self, id: i32) -> anyhow::Result<sync_run::Model> {
        sync_run::Entity::find_by_id(id).one(self.db()).await?.ok_or_else(|| anyhow::anyhow!("no run {id}"))
    }

    /// Waits until run `id` has ended.
    async fn ended(&self, id: i32, within: Duration) -> anyhow::Result<sync_run::Model> {
        let deadline = Instant::now() + within;
        loop {
            let run = self.run(id).await?;
            if matches!(run.status, SyncStatus::Completed | SyncStatus::Failed | SyncStatus::Cancelled) {
                return Ok(run);
            }
            anyhow::ensure!(Instant::now() < deadline, "run {id} still {:?}", run.status);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn run_id(run: &Value) -> anyhow::Result<i32> {
    let id = run["id"].as_str().ok_or_else(|| anyhow::anyhow!("no run id in {run}"))?;
    Ok(onroll::graphql::ids::decode_as(id, NodeType::SyncRun)?)
}

macro_rules! on_postgres {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(not(postgres_suite), ignore = "PostgreSQL suite: set ONROLL_TEST_DATABASE_URL")]
            async fn postgres() -> anyhow::Result<()> {
                match $crate::support::Engine::postgres()? {
                    $crate::support::Engine::Postgres(url) => super::$name(url).await,
                    $crate::support::Engine::Sqlite => unreachable!("Engine::postgres is PostgreSQL"),
                }
            }
        }
    )+};
}

on_postgres!(
    a_leaver_synced_on_one_replica_reaches_a_subscriber_on_another,
    a_replica_killed_mid_run_has_its_run_finished
);

/// Seen: a subscriber on replica B never received a leaver synced on A.
/// Triggers on both replicas at once give one run.
async fn a_leaver_synced_on_one_replica_reaches_a_subscriber_on_another(url: String) -> anyhow::Result<()> {
    let cluster = Cluster::start(url, 30).await?;
    let a = cluster.replica().await?;
    let b = cluster.replica().await?;

    // Triggers on both replicas at once: one run. A slow Wonde keeps that
    // run open for seconds, so both triggers land while it is (on a loaded
    // machine one replica may answer late; a run already ended would rightly
    // give a second one).
    cluster.sim.inject_fault(FaultSpec::new("*", FaultKind::Latency { ms: 1_000 }, 10_000));
    let (on_a, on_b) = tokio::join!(cluster.trigger(&a, "FULL"), cluster.trigger(&b, "FULL"));
    let (first, second) = (run_id(&on_a?)?, run_id(&on_b?)?);
    assert_eq!(first, second, "one open run per school, whichever replica is asked");
    cluster.sim.clear_faults();
    let run = cluster.ended(first, Duration::from_secs(60)).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);

    // A subscriber on each replica; the leaver is synced by whichever
    // replica's worker claims the run (usually A, asked; B's worker may
    // reach the queue first), and the other replica's subscriber is read.
    let mut sockets = Vec::new();
    for replica in [&a, &b] {
        let (mut socket, ack) = ws::connect(replica.addr, Some(&cluster.integrator)).await?;
        assert_eq!(ack["type"], "connection_ack");
        ws::subscribe(&mut socket, "1", DEACTIVATIONS, json!({})).await?;
        sockets.push(socket);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let truth = cluster.sim.truth(&cluster.wonde_id)?;
    let leaver = truth.students[0].id.clone();
    cluster.sim.student_leaves(&cluster.wonde_id, &leaver, None)?;
    let run = run_id(&cluster.trigger(&a, "INCREMENTAL").await?)?;
    let row = row_by_wonde_id!(cluster.db(), cluster.school.id, student, leaver.as_str())?;
    let finished = cluster.ended(run, Duration::from_secs(30)).await?;
    assert_eq!(finished.status, SyncStatus::Completed);
    let ran_on = |replica: &Replica| {
        finished.claimed_by.as_deref().is_some_and(|w| w.ends_with(&format!(":{}", replica.child.id())))
    };
    let other = match (ran_on(&a), ran_on(&b)) {
        (true, false) => 1,
        (false, true) => 0,
        _ => anyhow::bail!("one of the replicas ran it: {:?}", finished.claimed_by),
    };
    let message = ws::next_message_within(&mut sockets[other], Duration::from_secs(15)).await?;
    let received = chrono::Utc::now();
    let event = &message["payload"]["data"]["deactivations"];
    assert_eq!(event["person"]["id"], json!(gid(NodeType::Student, row.id)), "{message}");
    if let Some(committed) = finished.finished_at {
        eprintln!(
            "commit on one replica to the event on the other's socket: {} ms",
            (received - committed).num_milliseconds()
        );
    }
    Ok(())
}

/// Failover: the replica running a school's run dies; another takes the
/// run over and finishes it, well within 30 s, instead of failing it.
async fn a_replica_killed_mid_run_has_its_run_finished(url: String) -> anyhow::Result<()> {
    let cluster = Cluster::start(url, 60).await?;
    let a = cluster.replica().await?;
    let first = run_id(&cluster.trigger(&a, "FULL").await?)?;
    assert_eq!(cluster.ended(first, Duration::from_secs(60)).await?.status, SyncStatus::Completed);
    let b = cluster.replica().await?;

    // A slow Wonde, and a leaver: the FULL run on A is under way when A dies.
    let leaver = cluster.sim.truth(&cluster.wonde_id)?.students[0].id.clone();
    cluster.sim.student_leaves(&cluster.wonde_id, &leaver, None)?;
    cluster.sim.inject_fault(FaultSpec::new("*", FaultKind::Latency { ms: 300 }, 10_000));
    // Asked on A; whichever replica's worker claims it (usually A; B's may
    // reach the queue first) is the one that dies.
    let run = run_id(&cluster.trigger(&a, "FULL").await?)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let name_of = |replica: &Replica| format!(":{}", replica.child.id());
    let (a_name, b_name) = (name_of(&a), name_of(&b));
    let a_runs = loop {
        let row = cluster.run(run).await?;
        let claimed = row.claimed_by.as_deref().unwrap_or_default();
        if row.status == SyncStatus::Running && (claimed.ends_with(&a_name) || claimed.ends_with(&b_name)) {
            break claimed.ends_with(&a_name);
        }
        anyhow::ensure!(row.status == SyncStatus::Queued || row.status == SyncStatus::Running, "{row:?}");
        anyhow::ensure!(Instant::now() < deadline, "no replica started the run");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (mut runner, survivor) = if a_runs { (a, b) } else { (b, a) };
    runner.kill();
    let killed = Instant::now();
    cluster.sim.clear_faults();

    let finished = cluster.ended(run, Duration::from_secs(30)).await?;
    let took = killed.elapsed();
    eprintln!("run taken over and finished {took:?} after its replica died");
    assert_eq!(finished.status, SyncStatus::Completed, "{:?}", finished.error);
    assert!(
        finished.claimed_by.as_deref().is_some_and(|w| w.ends_with(&name_of(&survivor))),
        "the surviving replica finished it: {:?}",
        finished.claimed_by
    );
    assert_eq!(finished.attempts, 2);
    let row = row_by_wonde_id!(cluster.db(), cluster.school.id, student, leaver.as_str())?;
    assert_eq!(
        row.status,
        entity::enums::AccountStatus::Deactivated,
        "the leaver left, without waiting hours"
    );
    Ok(())
}
