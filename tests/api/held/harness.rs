//! The harness of the held-changes tests (`held.rs`, and the review and
//! link tests that reuse it): a simulated school connected over the API on
//! a server whose key is known, with its queries and the `onroll` command.

use base64::Engine as _;
use entity::enums::{AccountStatus, EventKind, HeldStatus, SyncKind, SyncStatus};
use entity::{event, held_change, school, student, sync_run};
use onroll::crypto::SecretKey;
use onroll::graphql::ids::NodeType;
use onroll::sync::SyncEngine;
use onroll::wonde::{WondeClient, WondeConfig};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;
use wonde_sim::{MisSnapshot, SimConfig, SimHandle};

use crate::count_at;
use crate::support::fixture::{Scenario, gid};
use crate::support::sim::{fast_retry, one_school};
use crate::support::{Engine, TestApp, connect_over_api};

const BIN: &str = env!("CARGO_BIN_EXE_onroll");
pub(crate) const HELD: &str = "query($s: ID!, $status: HeldChangeStatus) {
    heldChanges(schoolId: $s, status: $status, first: 100) {
        totalCount
        edges { node {
            id target targetId evidence reason status decidedBy decidedAt
            syncRun { id held }
            person { __typename ... on Student { id forename } ... on Staff { id } ... on Guardian { id } }
            group { __typename ... on Class { id name } }
        } }
    } }";
pub(crate) const APPROVE: &str = "mutation($s: ID!, $ids: [ID!]!) {
    approveHeldChanges(schoolId: $s, ids: $ids) {
        decided { id status decidedBy } skipped withdrawn deactivated groupsEnded } }";
pub(crate) const REJECT: &str = "mutation($s: ID!, $ids: [ID!]!) {
    rejectHeldChanges(schoolId: $s, ids: $ids) { decided { id status decidedBy } skipped withdrawn deactivated } }";
pub(crate) const PREVIEW: &str = "query($s: ID!, $k: SyncKind) { previewSync(schoolId: $s, kind: $k) {
    kind held
    students { created updated deactivated reactivated reidentified held }
    staff { created updated deactivated reactivated reidentified held }
    guardians { created updated deactivated reactivated reidentified held }
    groups { created updated deactivated reactivated reidentified held }
    studentChanges { change id wondeId forename reason }
    guardianChanges { change id wondeId reason }
} }";

/// A simulated school connected through `connectWonde` on a server whose
/// key is known, so `onroll` commands can use the same database.
pub(crate) struct Held {
    pub sim: SimHandle,
    pub app: TestApp,
    pub s: Scenario,
    pub wonde_id: String,
    pub school: school::Model,
    pub engine: SyncEngine,
    key_text: String,
    database_url: String,
}

impl Held {
    /// Connected and synced once (FULL).
    pub async fn start(engine: &Engine, students: usize) -> anyhow::Result<Self> {
        let held = Self::connect(engine, students).await?;
        let first = held.sync(SyncKind::Full).await?;
        anyhow::ensure!(first.status == SyncStatus::Completed, "first run: {:?}", first.error);
        Ok(held)
    }

    /// Connected and synced once (FULL), then the MIS goes dark: an
    /// outage answers every list empty.
    pub async fn in_outage(engine: &Engine, students: usize) -> anyhow::Result<Self> {
        let held = Self::start(engine, students).await?;
        held.sim.set_outage(&held.wonde_id, true)?;
        Ok(held)
    }

    /// Connected, never synced.
    pub async fn connect(engine: &Engine, students: usize) -> anyhow::Result<Self> {
        let (sim, sim_school) =
            one_school(SimConfig { students_per_school: students, seed: 31, ..SimConfig::default() }).await?;
        let key_text = base64::engine::general_purpose::STANDARD.encode([11u8; 32]);
        let key = SecretKey::parse(&key_text)?;
        let app = TestApp::spawn_with_key(engine, &sim.base_url(), key.clone()).await?;
        let s = Scenario::build(app.db()).await?;
        let school = connect_over_api(&app, &s, &sim_school).await?;
        let retry = fast_retry(1, 20, Duration::from_secs(5));
        let client = WondeClient::new(WondeConfig {
            base_url: Some(sim.base_url()),
            retry,
            ..WondeConfig::default()
        })?;
        let sync = SyncEngine {
            db: app.db().clone(),
            key,
            events: app.events.clone(),
            client,
            guard_share: 0.5,
            worker: "test".to_owned(),
            clock: Default::default(),
        };
        let database_url = app.data.url(engine);
        Ok(Self { sim, app, s, wonde_id: sim_school.wonde_id, school, engine: sync, key_text, database_url })
    }

    pub fn db(&self) -> &DatabaseConnection {
        self.app.db()
    }

    pub fn school_id(&self) -> String {
        gid(NodeType::School, self.school.id)
    }

    pub async fn sync(&self, kind: SyncKind) -> anyhow::Result<sync_run::Model> {
        Ok(self.engine.run_now(self.school.id, kind, false).await?)
    }

    pub async fn held(&self, status: &str) -> anyhow::Result<Vec<Value>> {
        let data = self
            .app
            .query(&self.s.trust_admin, HELD, json!({ "s": self.school_id(), "status": status }))
            .await?;
        Ok(data["heldChanges"]["edges"]
            .as_array()
            .map(|edges| edges.iter().map(|e| e["node"].clone()).collect())
            .unwrap_or_default())
    }

    pub async fn decide(&self, mutation: &str, ids: &[String]) -> anyhow::Result<Value> {
        let field = if mutation == APPROVE { "approveHeldChanges" } else { "rejectHeldChanges" };
        let data = self
            .app
            .query(&self.s.trust_admin, mutation, json!({ "s": self.school_id(), "ids": ids }))
            .await?;
        Ok(data[field].clone())
    }

    pub async fn student(&self, wonde_id: &str) -> anyhow::Result<student::Model> {
        crate::sync_wonde::student_by_wonde(self.db(), self.school.id, wonde_id).await
    }

    pub async fn active_students(&self) -> anyhow::Result<u64> {
        Ok(count_at!(self.db(), self.school.id, student, Status, AccountStatus::Active))
    }

    /// Status-change events at the school (not progress, not HELD).
    pub async fn status_events(&self) -> anyhow::Result<Vec<event::Model>> {
        Ok(event::Entity::find()
            .filter(event::Column::SchoolId.eq(self.school.id))
            .filter(event::Column::Kind.is_in([EventKind::Deactivated, EventKind::Reactivated]))
            .all(self.db())
            .await?)
    }

    /// Held rows by status, straight from the table.
    pub async fn statuses(&self) -> anyhow::Result<Vec<(i32, HeldStatus)>> {
        Ok(held_change::Entity::find()
            .filter(held_change::Column::SchoolId.eq(self.school.id))
            .all(self.db())
            .await?
            .into_iter()
            .map(|h| (h.id, h.status))
            .collect())
    }

    /// Rows a preview must not write: events, held changes, runs, and
    /// active students.
    pub async fn rows(&self) -> anyhow::Result<(u64, u64, u64, u64)> {
        let db = self.db();
        Ok((
            event::Entity::find().count(db).await?,
            held_change::Entity::find().count(db).await?,
            sync_run::Entity::find().count(db).await?,
            student::Entity::find()
                .filter(student::Column::Status.eq(AccountStatus::Active))
                .count(db)
                .await?,
        ))
    }

    /// Runs `onroll` with this database, key and simulator.
    pub async fn onroll(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let (url, key, base) = (self.database_url.clone(), self.key_text.clone(), self.sim.base_url());
        Ok(tokio::task::spawn_blocking(move || {
            Command::new(BIN)
                .args(&args)
                .env("DATABASE_URL", url)
                .env("ONROLL_SECRET_KEY", key)
                .env("WONDE_API_URL", base)
                .env_remove("ONROLL_DEACTIVATION_GUARD")
                .output()
        })
        .await??)
    }
}

pub(crate) fn ids_of(nodes: &[Value]) -> Vec<String> {
    nodes.iter().filter_map(|n| n["id"].as_str().map(str::to_owned)).collect()
}

/// A pupil of `truth` with at least `parents` contacts, none of whom has
/// another child here.
pub(crate) fn pupil_with_own_parents(truth: &MisSnapshot, parents: usize) -> Option<&wonde_sim::Student> {
    let only_child = |contact: &str| truth.links.iter().filter(|l| l.contact_id == contact).count() == 1;
    truth.students.iter().find(|s| {
        let contacts: Vec<_> = truth.links.iter().filter(|l| l.student_id == s.id).collect();
        contacts.len() >= parents && contacts.iter().all(|l| only_child(&l.contact_id))
    })
}
