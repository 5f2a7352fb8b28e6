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
//! made), `catalog` (the other schools of Wonde's directory), `api` /
//! `render` / `paging` (what clients see), `ops` (changes), `access` (the
//! access workflow), [`faults`], [`webhooks`], `control` (the HTTP control
//! API).
//!
//! # Asking Wonde for access, end to end
//!
//! The catalog (`/schools/all`, app token) lists the trust's schools and
//! [`SimConfig::catalog_extra`] others. An app asks for one with
//! `POST /schools/{id}/request-access` (→ pending) and the school decides
//! through the simulator: [`SimHandle::approve`], [`SimHandle::decline`],
//! [`SimHandle::revoke`] (or `POST /_control/schools/{id}/approve|decline|revoke`)
//! check the state, change it, and post Wonde's webhook to the registered
//! [`WebhookTarget`] ([`SimConfig::webhook_target`],
//! [`SimHandle::set_webhook_target`] or `PUT /_control/webhook-target`).
//! An approval issues a new per-school token, carried by the
//! `schoolApproved` webhook and returned to the caller, and a catalog school
//! gets a small roster then, so a first FULL sync finds students.
//!
//! ```no_run
//! # async fn demo(app_port: u16) -> anyhow::Result<()> {
//! use wonde_sim::{SimConfig, Simulator, WebhookTarget};
//! let sim = Simulator::start(SimConfig::default()).await?;
//! sim.set_webhook_target(Some(
//!     WebhookTarget::new(format!("http://127.0.0.1:{app_port}/webhooks/wonde")).with_secret("s"),
//! ))?;
//! let Some(school) = sim.catalog().into_iter().find(|s| !s.in_trust) else { return Ok(()) };
//! // ... the app calls request-access for school.wonde_id, then the school approves:
//! let approval = sim.approve(&school.wonde_id).await?;
//! // `approval.token` opens /v1.0/schools/{id}/...; the app got it in `schoolApproved`.
//! assert_eq!(approval.webhook.map(|w| w.status), Some(200));
//! # Ok(()) }
//! ```

mod access;
mod api;
mod catalog;
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
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use faults::{FaultKind, FaultSpec};
pub use model::{AccessState, MisSnapshot, Student};
pub use ops::{MisMigration, NewStarter, RolloverSummary, SimError, StaffLeave};
pub use webhooks::{SecretPlacement, WebhookEvent, WebhookOutcome, WebhookRequest, WebhookTarget};

use crate::access::Decision;
use crate::model::School;
use crate::world::{Patch, SchoolState, World};

/// Sizes and seed of the generated trust, and where to listen.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// `127.0.0.1:0` picks a free port; tests keep to loopback.
    pub bind: SocketAddr,
    /// Schools of the trust (with people).
    pub schools: usize,
    pub students_per_school: usize,
    pub seed: u64,
    /// Schools that only appear in the `/schools/all` catalog (not
    /// approved, no people until approved).
    pub catalog_extra: usize,
    /// How many students a catalog school gets when first approved (with
    /// guardians, staff, groups and classes); `0..=0` leaves it empty.
    pub catalog_roster: RangeInclusive<usize>,
    /// The app's own key (catalog, access requests); generated when absent.
    pub app_token: Option<String>,
    /// Where approve / decline / revoke send their webhook. Also settable
    /// later ([`SimHandle::set_webhook_target`]), as an app's port is often
    /// known only after the simulator starts.
    pub webhook_target: Option<WebhookTarget>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            schools: 3,
            students_per_school: 200,
            seed: 1,
            catalog_extra: 300,
            catalog_roster: 5..=20,
            app_token: None,
            webhook_target: None,
        }
    }
}

/// One school as a caller needs it: its id and token, and what the catalog
/// shows about it. Debug output leaves the token out.
#[derive(Clone, Serialize, Deserialize)]
pub struct SimSchool {
    pub wonde_id: String,
    /// The per-school token; it opens the school's data while it is approved.
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

impl std::fmt::Debug for SimSchool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimSchool")
            .field("wonde_id", &self.wonde_id)
            .field("token", &"<redacted>")
            .field("name", &self.name)
            .field("phase_of_education", &self.phase_of_education)
            .field("urn", &self.urn)
            .field("la_code", &self.la_code)
            .field("establishment_number", &self.establishment_number)
            .field("postcode", &self.postcode)
            .field("mis", &self.mis)
            .field("access", &self.access)
            .field("in_trust", &self.in_trust)
            .field("students", &self.students)
            .finish()
    }
}

/// What [`SimHandle::approve`] did: the school is approved with a new
/// token, and the webhook went (or not) to the target.
#[derive(Clone, Serialize, Deserialize)]
pub struct Approval {
    pub school_id: String,
    /// Always `approved`.
    pub state: AccessState,
    /// The per-school token just issued: it opens `/v1.0/schools/{id}/...`
    /// and is the `school_token` of the webhook.
    pub token: String,
    /// What the target answered; `None` when no target is set (or when the
    /// delivery failed, see `webhook_error`).
    pub webhook: Option<WebhookOutcome>,
    /// Why the delivery to a set target failed (refused, timed out). The
    /// state change stands either way.
    pub webhook_error: Option<String>,
}

impl std::fmt::Debug for Approval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Approval")
            .field("school_id", &self.school_id)
            .field("state", &self.state)
            .field("token", &"<redacted>")
            .field("webhook", &self.webhook)
            .field("webhook_error", &self.webhook_error)
            .finish()
    }
}

/// What [`SimHandle::decline`] or [`SimHandle::revoke`] did.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccessChange {
    pub school_id: String,
    /// The state now: `declined` or `revoked`.
    pub state: AccessState,
    /// As in [`Approval::webhook`].
    pub webhook: Option<WebhookOutcome>,
    /// As in [`Approval::webhook_error`].
    pub webhook_error: Option<String>,
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
    webhook_target: Mutex<Option<WebhookTarget>>,
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
        self.world().schools.iter().filter(|s| !trust_only || s.mis.school.in_trust).map(sim_school).collect()
    }

    fn school(&self, school_id: &str) -> Option<SimSchool> {
        self.world().school(school_id).map(sim_school)
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

    fn set_access(&self, school_id: &str, state: AccessState) -> Result<(), SimError> {
        access::change(&mut self.world(), school_id, state).map(|_| ())
    }

    fn set_webhook_target(&self, target: Option<WebhookTarget>) -> Result<(), SimError> {
        if let Some(t) = &target {
            t.check().map_err(SimError::Invalid)?;
        }
        *lock(&self.webhook_target) = target;
        Ok(())
    }

    /// Applies a school's decision, then tells the target (the world is not
    /// locked meanwhile, so the app may call back while handling it).
    async fn decide(
        &self,
        school_id: &str,
        decision: Decision,
        event: WebhookEvent,
    ) -> Result<(School, Option<WebhookOutcome>, Option<String>), SimError> {
        let school = access::decide(&mut self.world(), school_id, decision)?;
        let target = lock(&self.webhook_target).clone();
        let Some(target) = target else {
            return Ok((school, None, None));
        };
        let payload = webhooks::payload(&event, &school);
        match webhooks::send(&self.http, &target, payload).await {
            Ok(outcome) => Ok((school, Some(outcome), None)),
            Err(e) => Ok((school, None, Some(format!("webhook delivery failed: {e}")))),
        }
    }

    async fn approve(&self, school_id: &str) -> Result<Approval, SimError> {
        let (school, webhook, webhook_error) =
            self.decide(school_id, Decision::Approve, WebhookEvent::SchoolApproved).await?;
        Ok(Approval {
            school_id: school.id,
            state: school.access,
            token: school.token,
            webhook,
            webhook_error,
        })
    }

    async fn decline(&self, school_id: &str, reason: Option<&str>) -> Result<AccessChange, SimError> {
        let event = WebhookEvent::AccessDeclined { reason: reason.map(str::to_owned) };
        let (school, webhook, webhook_error) = self.decide(school_id, Decision::Decline, event).await?;
        Ok(AccessChange { school_id: school.id, state: school.access, webhook, webhook_error })
    }

    async fn revoke(&self, school_id: &str, reason: Option<&str>) -> Result<AccessChange, SimError> {
        let event = WebhookEvent::AccessRevoked { reason: reason.map(str::to_owned) };
        let (school, webhook, webhook_error) = self.decide(school_id, Decision::Revoke, event).await?;
        Ok(AccessChange { school_id: school.id, state: school.access, webhook, webhook_error })
    }

    fn patch_record(&self, school_id: &str, patch: PatchRequest) -> Result<(), SimError> {
        self.with_state(school_id, |s| {
            s.patches.push(Patch { kind: patch.kind, id: patch.id, path: patch.path, value: patch.value });
        })
    }

    async fn send_webhook(&self, request: &WebhookRequest) -> Result<WebhookOutcome, SimError> {
        let payload = {
            let mut world = self.world();
            if let Some(state) = webhooks::new_state(&request.event) {
                access::change(&mut world, &request.school_id, state)?;
            }
            let school = world
                .school(&request.school_id)
                .ok_or_else(|| SimError::UnknownSchool(request.school_id.clone()))?;
            webhooks::payload(&request.event, &school.mis.school)
        };
        webhooks::send(&self.http, &request.target(), payload)
            .await
            .map_err(|e| SimError::Invalid(format!("webhook delivery failed: {e}")))
    }
}

fn sim_school(s: &SchoolState) -> SimSchool {
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
        if let Some(t) = &config.webhook_target {
            t.check().map_err(anyhow::Error::msg)?;
        }
        let mut world = generate::build_world(
            config.seed,
            config.schools,
            config.students_per_school,
            config.catalog_extra,
            config.app_token.clone(),
        );
        world.catalog_roster = config.catalog_roster.clone();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
        let shared = Arc::new(Shared {
            world: Mutex::new(world),
            log: Mutex::new(Vec::new()),
            access_requests: Mutex::new(Vec::new()),
            webhook_target: Mutex::new(config.webhook_target.clone()),
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

    /// One school of the catalog, as it is now (state, token, students).
    pub fn school(&self, school_id: &str) -> Option<SimSchool> {
        self.shared.school(school_id)
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

    /// A student deleted without a leaver record: out of roll, classes,
    /// groups and links, into the deletions feed only (contacts left with
    /// no child there are deleted too).
    pub fn delete_student(&self, school_id: &str, student_id: &str) -> Result<Student, SimError> {
        ops::delete_student(&mut self.shared.world(), school_id, student_id)
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

    /// A contact's relationship to a student, retyped in the MIS (any
    /// text: "Godmother", "Step-sister").
    pub fn relabel_contact(
        &self,
        school_id: &str,
        student_id: &str,
        contact_id: &str,
        relationship: &str,
    ) -> Result<(), SimError> {
        ops::relabel_contact(&mut self.shared.world(), school_id, student_id, contact_id, relationship)
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

    /// The school changes MIS: every record re-keyed (see [`MisMigration`]).
    pub fn migrate_mis(&self, school_id: &str, how: MisMigration) -> Result<(), SimError> {
        ops::migrate_mis(&mut self.shared.world(), school_id, how)
    }

    /// Records (or clears) a leaving date for a student who stays on roll
    /// until it comes.
    pub fn set_leaving_date(
        &self,
        school_id: &str,
        student_id: &str,
        leaving_date: Option<NaiveDate>,
    ) -> Result<Student, SimError> {
        ops::set_leaving_date(&mut self.shared.world(), school_id, student_id, leaving_date)
    }

    pub fn rollover(&self, school_id: &str) -> Result<RolloverSummary, SimError> {
        ops::rollover(&mut self.shared.world(), school_id)
    }

    /// While on, every list of the school answers empty (a broken MIS).
    pub fn set_outage(&self, school_id: &str, on: bool) -> Result<(), SimError> {
        self.shared.set_outage(school_id, on)
    }

    /// Forces an access state, without checks or webhook (dated now; a
    /// catalog school's first approval generates its roster).
    pub fn set_access(&self, school_id: &str, access: AccessState) -> Result<(), SimError> {
        self.shared.set_access(school_id, access)
    }

    /// Where approve / decline / revoke send their webhook; `None` stops
    /// sending. Refuses a URL that is not absolute http(s).
    pub fn set_webhook_target(&self, target: Option<WebhookTarget>) -> Result<(), SimError> {
        self.shared.set_webhook_target(target)
    }

    /// The school approves the app's pending request: approved, a new
    /// per-school token issued (the old one, if any, stops working), and
    /// `schoolApproved` with that `school_token` sent to the webhook target.
    /// A school that is not pending: [`SimError::Conflict`]. With no target
    /// set the state still changes and `webhook` is `None`.
    pub async fn approve(&self, school_id: &str) -> Result<Approval, SimError> {
        self.shared.approve(school_id).await
    }

    /// The school declines the app's pending request (`accessDeclined` with
    /// `decline_reason`, "Not interested" by default). Not pending:
    /// [`SimError::Conflict`].
    pub async fn decline(&self, school_id: &str, reason: Option<&str>) -> Result<AccessChange, SimError> {
        self.shared.decline(school_id, reason).await
    }

    /// The school revokes the app's access: its token answers 401 from now
    /// on (`accessRevoked` with `revoke_reason`, "No longer needed" by
    /// default). Not approved: [`SimError::Conflict`].
    pub async fn revoke(&self, school_id: &str, reason: Option<&str>) -> Result<AccessChange, SimError> {
        self.shared.revoke(school_id, reason).await
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

    /// How many more requests the injected faults will hit. A rule is taken
    /// when a request arrives, before a latency fault's wait, so a test can
    /// tell that a request it delayed is in flight and act meanwhile.
    pub fn pending_faults(&self) -> u32 {
        self.shared.world().faults.iter().map(|f| f.count).sum()
    }

    /// Sends a webhook to the request's URL and forces its access state,
    /// without checks (see [`SimHandle::approve`] for the checked flow).
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
