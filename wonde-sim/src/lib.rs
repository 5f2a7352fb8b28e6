//! A local Wonde: serves a generated multi-academy trust over real HTTP with
//! Wonde's quirks (wonde-api.md §9), lets tests change the "MIS" through an
//! HTTP control API or the same Rust methods, injects faults, and sends
//! Wonde's webhooks.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let sim = wonde_sim::Simulator::start(wonde_sim::SimConfig::default()).await?;
//! for school in sim.schools() {
//!     println!("{} {}", school.wonde_id, sim.base_url());
//! }
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Read in this order: [`model`] (the truth), `generate` (how a trust is
//! made), `api` / `render` / `paging` (what clients see), `ops` (changes),
//! [`faults`], [`webhooks`], `control` (the HTTP control API).

mod api;
mod control;
pub mod faults;
mod generate;
pub mod model;
mod ops;
mod paging;
mod query;
mod render;
mod server;
pub mod webhooks;
mod world;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use faults::{FaultKind, FaultSpec};
pub use model::{AccessState, MisSnapshot, Student};
pub use ops::{NewStarter, RolloverSummary, SimError, StaffLeave};
pub use webhooks::{SecretPlacement, WebhookEvent, WebhookOutcome, WebhookRequest};

use crate::world::{Patch, World};

/// Sizes and seed of the generated trust, and where to listen.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// `127.0.0.1:0` picks a free port; tests keep to loopback.
    pub bind: SocketAddr,
    /// Schools of the trust (with people).
    pub schools: usize,
    pub students_per_school: usize,
    pub seed: u64,
    /// Extra, empty schools that only appear in the `/schools/all` catalog.
    pub catalog_extra: usize,
    /// The app's own key (catalog, access requests); generated when absent.
    pub app_token: Option<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            schools: 3,
            students_per_school: 200,
            seed: 1,
            catalog_extra: 20,
            app_token: None,
        }
    }
}

/// One school as a caller needs it: its id and token, and what the catalog
/// shows about it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SimSchool {
    pub wonde_id: String,
    pub token: String,
    pub name: String,
    pub phase_of_education: String,
    pub urn: u32,
    pub la_code: String,
    pub establishment_number: String,
    pub postcode: String,
    pub mis: String,
    pub access: AccessState,
    pub in_trust: bool,
    pub students: usize,
}

/// One request the simulator answered (or dropped), for assertions such as
/// "a 401 was not retried".
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RequestRecord {
    pub method: String,
    /// Path after trailing-slash normalisation.
    pub path: String,
    pub query: Option<String>,
    /// See [`FaultSpec::endpoint`].
    pub endpoint: String,
    /// 0 when the connection was dropped.
    pub status: u16,
    pub dropped: bool,
}

/// A body received by `POST /schools/{id}/request-access`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccessRequestRecord {
    pub school_id: String,
    pub body: serde_json::Value,
}

/// State shared by the HTTP handlers and [`SimHandle`].
pub(crate) struct Shared {
    world: Mutex<World>,
    log: Mutex<Vec<RequestRecord>>,
    access_requests: Mutex<Vec<AccessRequestRecord>>,
    /// `http://127.0.0.1:PORT`, the origin of absolute `next` URLs.
    origin: String,
    http: reqwest::Client,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking handler must not wedge the simulator for the other tests.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }

    fn record_request(&self, r: RequestRecord) {
        lock(&self.log).push(r);
    }

    fn record_access_request(&self, school_id: &str, body: serde_json::Value) {
        lock(&self.access_requests).push(AccessRequestRecord { school_id: school_id.to_owned(), body });
    }

    fn schools(&self, trust_only: bool) -> Vec<SimSchool> {
        self.world()
            .schools
            .iter()
            .filter(|s| !trust_only || s.mis.school.in_trust)
            .map(|s| {
                let x = &s.mis.school;
                SimSchool {
                    wonde_id: x.id.clone(),
                    token: x.token.clone(),
                    name: x.name.clone(),
                    phase_of_education: x.phase_of_education.clone(),
                    urn: x.urn,
                    la_code: x.la_code.clone(),
                    establishment_number: x.establishment_number.clone(),
                    postcode: x.postcode.clone(),
                    mis: x.mis.clone(),
                    access: x.access,
                    in_trust: x.in_trust,
                    students: s.mis.students.len(),
                }
            })
            .collect()
    }

    fn truth(&self, school_id: &str) -> Result<MisSnapshot, SimError> {
        self.world()
            .school(school_id)
            .map(|s| s.mis.clone())
            .ok_or_else(|| SimError::UnknownSchool(school_id.to_owned()))
    }

    fn with_state<R>(
        &self,
        school_id: &str,
        f: impl FnOnce(&mut world::SchoolState) -> R,
    ) -> Result<R, SimError> {
        let mut world = self.world();
        let state =
            world.school_mut(school_id).ok_or_else(|| SimError::UnknownSchool(school_id.to_owned()))?;
        Ok(f(state))
    }

    fn set_outage(&self, school_id: &str, on: bool) -> Result<(), SimError> {
        self.with_state(school_id, |s| s.outage = on)
    }

    fn set_access(&self, school_id: &str, access: AccessState) -> Result<(), SimError> {
        self.with_state(school_id, |s| {
            let school = &mut s.mis_mut().school;
            school.access = access;
            school.updated_at = chrono::Utc::now();
        })
    }

    fn patch_record(&self, school_id: &str, patch: PatchRequest) -> Result<(), SimError> {
        self.with_state(school_id, |s| {
            s.patches.push(Patch { kind: patch.kind, id: patch.id, path: patch.path, value: patch.value });
        })
    }

    async fn send_webhook(&self, request: &WebhookRequest) -> Result<WebhookOutcome, SimError> {
        let payload = {
            let mut world = self.world();
            let state = world
                .school_mut(&request.school_id)
                .ok_or_else(|| SimError::UnknownSchool(request.school_id.clone()))?;
            if let Some(access) = webhooks::new_state(&request.event) {
                state.mis_mut().school.access = access;
            }
            webhooks::payload(&request.event, &state.mis.school)
        };
        webhooks::send(&self.http, request, payload)
            .await
            .map_err(|e| SimError::Invalid(format!("webhook delivery failed: {}", e.without_url())))
    }
}

/// A field override for one rendered record (see [`SimHandle::patch_record`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PatchRequest {
    /// `student`, `employee`, `contact`, `class`, `group`, `deletion`, `school`.
    pub kind: String,
    /// The record's Wonde id.
    pub id: String,
    /// A dotted path into the rendered JSON (`education_details.data.upn`).
    pub path: String,
    /// The value to put there; `{"$remove": true}` removes the field.
    pub value: serde_json::Value,
}

/// Starts simulators.
pub struct Simulator;

impl Simulator {
    /// Generates the trust, binds, and serves in the background until the
    /// handle is shut down or dropped.
    pub async fn start(config: SimConfig) -> anyhow::Result<SimHandle> {
        let listener = TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let world = generate::build_world(
            config.seed,
            config.schools,
            config.students_per_school,
            config.catalog_extra,
            config.app_token.clone(),
        );
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
        let shared = Arc::new(Shared {
            world: Mutex::new(world),
            log: Mutex::new(Vec::new()),
            access_requests: Mutex::new(Vec::new()),
            origin: format!("http://{addr}"),
            http,
        });
        let app = api::router(shared.clone()).merge(control::router(shared.clone()));
        let (shutdown, rx) = watch::channel(false);
        let task = tokio::spawn(server::serve(listener, app, shared.clone(), rx));
        Ok(SimHandle { shared, addr, shutdown, task: Some(task) })
    }
}

/// A running simulator. Dropping it stops the server too.
pub struct SimHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What a client uses as `WONDE_API_URL`: `http://127.0.0.1:PORT/v1.0`.
    pub fn base_url(&self) -> String {
        format!("{}/v1.0", self.shared.origin)
    }

    /// Root of the HTTP control API: `http://127.0.0.1:PORT/_control`.
    pub fn control_url(&self) -> String {
        format!("{}/_control", self.shared.origin)
    }

    /// The app's own key, for `/schools/all` and access requests.
    pub fn app_token(&self) -> String {
        self.shared.world().app_token.clone()
    }

    /// The trust's schools (with people and tokens).
    pub fn schools(&self) -> Vec<SimSchool> {
        self.shared.schools(true)
    }

    /// Every school in the catalog, trust or not.
    pub fn catalog(&self) -> Vec<SimSchool> {
        self.shared.schools(false)
    }

    /// What the school's MIS holds now.
    pub fn truth(&self, school_id: &str) -> Result<MisSnapshot, SimError> {
        self.shared.truth(school_id)
    }

    /// Mid-year leaver: into `students-leaver` (with `leaving_date`, today
    /// when `None`) and the deletions feed.
    pub fn student_leaves(
        &self,
        school_id: &str,
        student_id: &str,
        leaving_date: Option<NaiveDate>,
    ) -> Result<Student, SimError> {
        ops::student_leaves(&mut self.shared.world(), school_id, student_id, leaving_date)
    }

    pub fn new_starter(&self, school_id: &str, spec: &NewStarter) -> Result<Student, SimError> {
        ops::new_starter(&mut self.shared.world(), school_id, spec)
    }

    pub fn move_class(
        &self,
        school_id: &str,
        student_id: &str,
        from_class: &str,
        to_class: &str,
    ) -> Result<(), SimError> {
        ops::move_class(&mut self.shared.world(), school_id, student_id, from_class, to_class)
    }

    pub fn change_form(&self, school_id: &str, student_id: &str, form_id: &str) -> Result<(), SimError> {
        ops::change_form(&mut self.shared.world(), school_id, student_id, form_id)
    }

    pub fn staff_leaves(&self, school_id: &str, employee_id: &str, how: &StaffLeave) -> Result<(), SimError> {
        ops::staff_leaves(&mut self.shared.world(), school_id, employee_id, how)
    }

    /// Back on roll under a new Wonde id with the same UPI.
    pub fn re_enrol(&self, school_id: &str, student_id: &str) -> Result<Student, SimError> {
        ops::re_enrol(&mut self.shared.world(), school_id, student_id)
    }

    /// The same record back, with `restored_at` set (and on its deletion).
    pub fn restore(&self, school_id: &str, student_id: &str) -> Result<Student, SimError> {
        ops::restore(&mut self.shared.world(), school_id, student_id)
    }

    pub fn rollover(&self, school_id: &str) -> Result<RolloverSummary, SimError> {
        ops::rollover(&mut self.shared.world(), school_id)
    }

    /// While on, every list of the school answers empty (a broken MIS).
    pub fn set_outage(&self, school_id: &str, on: bool) -> Result<(), SimError> {
        self.shared.set_outage(school_id, on)
    }

    pub fn set_access(&self, school_id: &str, access: AccessState) -> Result<(), SimError> {
        self.shared.set_access(school_id, access)
    }

    /// Overrides a field of one record as rendered, to produce the odd or
    /// malformed data a real MIS sends (a bad date, a null, a string flag).
    pub fn patch_record(&self, school_id: &str, patch: PatchRequest) -> Result<(), SimError> {
        self.shared.patch_record(school_id, patch)
    }

    pub fn inject_fault(&self, spec: FaultSpec) {
        self.shared.world().faults.push(spec);
    }

    pub fn clear_faults(&self) {
        self.shared.world().faults.clear();
    }

    /// Sends a webhook and applies its access-state change.
    pub async fn send_webhook(&self, request: &WebhookRequest) -> Result<WebhookOutcome, SimError> {
        self.shared.send_webhook(request).await
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.log).clone()
    }

    /// Requests answered for one endpoint name (see [`FaultSpec::endpoint`]).
    pub fn request_count(&self, endpoint: &str) -> usize {
        lock(&self.shared.log).iter().filter(|r| r.endpoint == endpoint).count()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    pub fn access_requests(&self) -> Vec<AccessRequestRecord> {
        lock(&self.shared.access_requests).clone()
    }

    /// Stops accepting, closes open connections and waits for the server.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
