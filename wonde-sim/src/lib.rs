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
mod records;
mod render;
mod server;
mod shared;
pub mod webhooks;
mod world;

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDate;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use faults::{FaultKind, FaultSpec};
pub use model::{AccessState, GroupKind, MisSnapshot, Student};
pub use ops::{MisMigration, NewStarter, RolloverSummary, SimError, StaffLeave};
pub use records::{AccessChange, AccessRequestRecord, Approval, PatchRequest, RequestRecord, SimSchool};
pub use webhooks::{SecretPlacement, WebhookEvent, WebhookOutcome, WebhookRequest, WebhookTarget};

use crate::shared::{Shared, lock};

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

impl SimConfig {
    /// A trust of `schools` schools of `students_per_school` pupils each,
    /// generated from `seed`; everything else as [`SimConfig::default`].
    pub fn trust(schools: usize, students_per_school: usize, seed: u64) -> Self {
        SimConfig { schools, students_per_school, seed, ..SimConfig::default() }
    }
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
