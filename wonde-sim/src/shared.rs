//! The state shared by the HTTP handlers and `SimHandle`: the world, the
//! request log, access requests and the webhook target, behind locks that a
//! panicking handler cannot wedge.

use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::access::{self, Decision};
use crate::model::School;
use crate::records::{
    AccessChange, AccessRequestRecord, Approval, PatchRequest, RequestRecord, SimSchool, sim_school,
};
use crate::world::{self, Patch, World};
use crate::{
    AccessState, MisSnapshot, SimError, WebhookEvent, WebhookOutcome, WebhookRequest, WebhookTarget, webhooks,
};

/// State shared by the HTTP handlers and [`SimHandle`].
pub(crate) struct Shared {
    pub(crate) world: Mutex<World>,
    pub(crate) log: Mutex<Vec<RequestRecord>>,
    pub(crate) access_requests: Mutex<Vec<AccessRequestRecord>>,
    pub(crate) webhook_target: Mutex<Option<WebhookTarget>>,
    /// `http://127.0.0.1:PORT`, the origin of absolute `next` URLs.
    pub(crate) origin: String,
    pub(crate) http: reqwest::Client,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking handler must not wedge the simulator for the other tests.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }

    pub(crate) fn record_request(&self, r: RequestRecord) {
        lock(&self.log).push(r);
    }

    pub(crate) fn record_access_request(&self, school_id: &str, body: serde_json::Value) {
        lock(&self.access_requests).push(AccessRequestRecord { school_id: school_id.to_owned(), body });
    }

    pub(crate) fn schools(&self, trust_only: bool) -> Vec<SimSchool> {
        self.world().schools.iter().filter(|s| !trust_only || s.mis.school.in_trust).map(sim_school).collect()
    }

    pub(crate) fn school(&self, school_id: &str) -> Option<SimSchool> {
        self.world().school(school_id).map(sim_school)
    }

    pub(crate) fn truth(&self, school_id: &str) -> Result<MisSnapshot, SimError> {
        self.world()
            .school(school_id)
            .map(|s| s.mis.clone())
            .ok_or_else(|| SimError::UnknownSchool(school_id.to_owned()))
    }

    pub(crate) fn with_state<R>(
        &self,
        school_id: &str,
        f: impl FnOnce(&mut world::SchoolState) -> R,
    ) -> Result<R, SimError> {
        let mut world = self.world();
        let state =
            world.school_mut(school_id).ok_or_else(|| SimError::UnknownSchool(school_id.to_owned()))?;
        Ok(f(state))
    }

    pub(crate) fn set_outage(&self, school_id: &str, on: bool) -> Result<(), SimError> {
        self.with_state(school_id, |s| s.outage = on)
    }

    pub(crate) fn set_access(&self, school_id: &str, state: AccessState) -> Result<(), SimError> {
        access::change(&mut self.world(), school_id, state).map(|_| ())
    }

    pub(crate) fn set_webhook_target(&self, target: Option<WebhookTarget>) -> Result<(), SimError> {
        if let Some(t) = &target {
            t.check().map_err(SimError::Invalid)?;
        }
        *lock(&self.webhook_target) = target;
        Ok(())
    }

    /// Applies a school's decision, then tells the target (the world is not
    /// locked meanwhile, so the app may call back while handling it).
    pub(crate) async fn decide(
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

    pub(crate) async fn approve(&self, school_id: &str) -> Result<Approval, SimError> {
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

    pub(crate) async fn decline(
        &self,
        school_id: &str,
        reason: Option<&str>,
    ) -> Result<AccessChange, SimError> {
        let event = WebhookEvent::AccessDeclined { reason: reason.map(str::to_owned) };
        let (school, webhook, webhook_error) = self.decide(school_id, Decision::Decline, event).await?;
        Ok(AccessChange { school_id: school.id, state: school.access, webhook, webhook_error })
    }

    pub(crate) async fn revoke(
        &self,
        school_id: &str,
        reason: Option<&str>,
    ) -> Result<AccessChange, SimError> {
        let event = WebhookEvent::AccessRevoked { reason: reason.map(str::to_owned) };
        let (school, webhook, webhook_error) = self.decide(school_id, Decision::Revoke, event).await?;
        Ok(AccessChange { school_id: school.id, state: school.access, webhook, webhook_error })
    }

    pub(crate) fn patch_record(&self, school_id: &str, patch: PatchRequest) -> Result<(), SimError> {
        self.with_state(school_id, |s| {
            s.patches.push(Patch { kind: patch.kind, id: patch.id, path: patch.path, value: patch.value });
        })
    }

    pub(crate) async fn send_webhook(&self, request: &WebhookRequest) -> Result<WebhookOutcome, SimError> {
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
