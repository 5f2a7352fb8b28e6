//! What the simulator shows its callers: schools as a test sees them (token
//! left out of Debug), the results of access controls, the request log and
//! record patches.

use serde::{Deserialize, Serialize};

use crate::world::SchoolState;
use crate::{AccessState, WebhookOutcome};

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

pub(crate) fn sim_school(s: &SchoolState) -> SimSchool {
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
