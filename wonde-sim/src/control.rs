//! The HTTP control API (`/_control/...`, JSON, no auth: a loopback test
//! tool). Each route is a thin adapter over the same operations as the
//! `SimHandle` methods.

// As in `api`: helpers hand back the ready error response.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use chrono::NaiveDate;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::PatchRequest;
use crate::api::error;
use crate::faults::FaultSpec;
use crate::model::AccessState;
use crate::ops::{self, NewStarter, SimError, StaffLeave};
use crate::shared::{Shared, lock};
use crate::webhooks::{WebhookRequest, WebhookTarget};

type St = State<Arc<Shared>>;

/// A handler's answer; `Err` is the ready error response for a bad body,
/// so a handler reads its body with `?`.
type Answer = Result<Response, Response>;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/_control/schools", get(schools))
        .route("/_control/schools/{school}/truth", get(truth))
        .route("/_control/schools/{school}/students", post(new_starter))
        .route("/_control/schools/{school}/students/{student}/leave", post(student_leaves))
        .route("/_control/schools/{school}/students/{student}/move-class", post(move_class))
        .route("/_control/schools/{school}/students/{student}/change-form", post(change_form))
        .route(
            "/_control/schools/{school}/students/{student}/contacts/{contact}/relationship",
            put(relabel_contact),
        )
        .route("/_control/schools/{school}/students/{student}/re-enrol", post(re_enrol))
        .route("/_control/schools/{school}/students/{student}/restore", post(restore))
        .route("/_control/schools/{school}/employees/{employee}/leave", post(staff_leaves))
        .route("/_control/schools/{school}/rollover", post(rollover))
        .route("/_control/schools/{school}/migrate-mis", post(migrate_mis))
        .route("/_control/schools/{school}/students/{student}/leaving-date", put(set_leaving_date))
        .route("/_control/schools/{school}/outage", put(outage))
        .route("/_control/schools/{school}/access", put(access))
        .route("/_control/schools/{school}/approve", post(approve))
        .route("/_control/schools/{school}/decline", post(decline))
        .route("/_control/schools/{school}/revoke", post(revoke))
        .route("/_control/webhook-target", put(set_webhook_target).delete(clear_webhook_target))
        .route("/_control/schools/{school}/patch", post(patch))
        .route("/_control/faults", post(add_fault).delete(clear_faults))
        .route("/_control/webhooks", post(webhook))
        .route("/_control/requests", get(requests).delete(clear_requests))
        .with_state(shared)
}

fn sim_error(e: &SimError) -> Response {
    let status = match e {
        SimError::UnknownSchool(_) | SimError::UnknownRecord { .. } => StatusCode::NOT_FOUND,
        SimError::Invalid(_) => StatusCode::BAD_REQUEST,
        SimError::Conflict(_) => StatusCode::CONFLICT,
    };
    error(status, &e.to_string())
}

fn answer<T: serde::Serialize>(r: Result<T, SimError>) -> Response {
    match r {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => sim_error(&e),
    }
}

/// An optional JSON body: empty means the type's default.
fn body<T: DeserializeOwned + Default>(bytes: &Bytes) -> Result<T, Response> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| error(StatusCode::BAD_REQUEST, &format!("bad JSON body: {e}")))
}

fn required<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, Response> {
    serde_json::from_slice(bytes).map_err(|e| error(StatusCode::BAD_REQUEST, &format!("bad JSON body: {e}")))
}

async fn schools(State(sh): St) -> Response {
    axum::Json(json!({
        "app_token": sh.world().app_token,
        "schools": sh.schools(false),
    }))
    .into_response()
}

async fn truth(State(sh): St, Path(school): Path<String>) -> Response {
    answer(sh.truth(&school))
}

#[derive(Default, Deserialize)]
struct LeaveBody {
    #[serde(default)]
    leaving_date: Option<NaiveDate>,
}

async fn student_leaves(State(sh): St, Path((school, student)): Path<(String, String)>, b: Bytes) -> Answer {
    let leave: LeaveBody = body(&b)?;
    Ok(answer(ops::student_leaves(&mut sh.world(), &school, &student, leave.leaving_date)))
}

async fn new_starter(State(sh): St, Path(school): Path<String>, b: Bytes) -> Answer {
    let spec: NewStarter = body(&b)?;
    Ok(answer(ops::new_starter(&mut sh.world(), &school, &spec)))
}

#[derive(Deserialize)]
struct MoveClassBody {
    from_class_id: String,
    to_class_id: String,
}

async fn move_class(State(sh): St, Path((school, student)): Path<(String, String)>, b: Bytes) -> Answer {
    let m: MoveClassBody = required(&b)?;
    Ok(answer(ops::move_class(&mut sh.world(), &school, &student, &m.from_class_id, &m.to_class_id)))
}

#[derive(Deserialize)]
struct ChangeFormBody {
    form_id: String,
}

async fn change_form(State(sh): St, Path((school, student)): Path<(String, String)>, b: Bytes) -> Answer {
    let c: ChangeFormBody = required(&b)?;
    Ok(answer(ops::change_form(&mut sh.world(), &school, &student, &c.form_id)))
}

#[derive(Deserialize)]
struct RelationshipBody {
    relationship: String,
}

async fn relabel_contact(
    State(sh): St,
    Path((school, student, contact)): Path<(String, String, String)>,
    b: Bytes,
) -> Answer {
    let r: RelationshipBody = required(&b)?;
    Ok(answer(ops::relabel_contact(&mut sh.world(), &school, &student, &contact, &r.relationship)))
}

async fn re_enrol(State(sh): St, Path((school, student)): Path<(String, String)>) -> Response {
    answer(ops::re_enrol(&mut sh.world(), &school, &student))
}

async fn restore(State(sh): St, Path((school, student)): Path<(String, String)>) -> Response {
    answer(ops::restore(&mut sh.world(), &school, &student))
}

async fn staff_leaves(State(sh): St, Path((school, employee)): Path<(String, String)>, b: Bytes) -> Answer {
    let how: StaffLeave = body(&b)?;
    Ok(answer(ops::staff_leaves(&mut sh.world(), &school, &employee, &how)))
}

async fn rollover(State(sh): St, Path(school): Path<String>) -> Response {
    answer(ops::rollover(&mut sh.world(), &school))
}

/// `{"new_upis": true}` (optional): the school changes MIS.
async fn migrate_mis(State(sh): St, Path(school): Path<String>, b: Bytes) -> Answer {
    let how: ops::MisMigration = body(&b)?;
    Ok(answer(ops::migrate_mis(&mut sh.world(), &school, how)))
}

/// `{"leaving_date": "YYYY-MM-DD"}` (or null to clear): a leaving date
/// recorded ahead; the student stays on roll.
async fn set_leaving_date(
    State(sh): St,
    Path((school, student)): Path<(String, String)>,
    b: Bytes,
) -> Answer {
    let date: LeaveBody = body(&b)?;
    Ok(answer(ops::set_leaving_date(&mut sh.world(), &school, &student, date.leaving_date)))
}

#[derive(Deserialize)]
struct OutageBody {
    on: bool,
}

async fn outage(State(sh): St, Path(school): Path<String>, b: Bytes) -> Answer {
    let o = required::<OutageBody>(&b)?;
    Ok(answer(sh.set_outage(&school, o.on)))
}

#[derive(Deserialize)]
struct AccessBody {
    state: AccessState,
}

async fn access(State(sh): St, Path(school): Path<String>, b: Bytes) -> Answer {
    let a = required::<AccessBody>(&b)?;
    Ok(answer(sh.set_access(&school, a.state)))
}

/// `POST /_control/schools/{id}/approve` (no body): a pending school
/// approves; answers the [`crate::Approval`] (token, webhook outcome).
async fn approve(State(sh): St, Path(school): Path<String>) -> Response {
    answer(sh.approve(&school).await)
}

/// Body of decline and revoke: `{"reason": "..."}`, optional.
#[derive(Default, Deserialize)]
struct ReasonBody {
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /_control/schools/{id}/decline`: a pending school declines.
async fn decline(State(sh): St, Path(school): Path<String>, b: Bytes) -> Answer {
    let r = body::<ReasonBody>(&b)?;
    Ok(answer(sh.decline(&school, r.reason.as_deref()).await))
}

/// `POST /_control/schools/{id}/revoke`: an approved school revokes.
async fn revoke(State(sh): St, Path(school): Path<String>, b: Bytes) -> Answer {
    let r = body::<ReasonBody>(&b)?;
    Ok(answer(sh.revoke(&school, r.reason.as_deref()).await))
}

/// `PUT /_control/webhook-target` `{"url", "secret"?, "secret_in"?}` → 204.
async fn set_webhook_target(State(sh): St, b: Bytes) -> Response {
    match required::<WebhookTarget>(&b).map(|t| sh.set_webhook_target(Some(t))) {
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(e)) => sim_error(&e),
        Err(r) => r,
    }
}

/// `DELETE /_control/webhook-target` → 204: no webhooks from now on.
async fn clear_webhook_target(State(sh): St) -> Response {
    match sh.set_webhook_target(None) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => sim_error(&e),
    }
}

async fn patch(State(sh): St, Path(school): Path<String>, b: Bytes) -> Answer {
    let p = required::<PatchRequest>(&b)?;
    Ok(answer(sh.patch_record(&school, p)))
}

async fn add_fault(State(sh): St, b: Bytes) -> Answer {
    let spec = required::<FaultSpec>(&b)?;
    sh.world().faults.push(spec);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn clear_faults(State(sh): St) -> Response {
    sh.world().faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn webhook(State(sh): St, b: Bytes) -> Answer {
    let w = required::<WebhookRequest>(&b)?;
    Ok(answer(sh.send_webhook(&w).await))
}

async fn requests(State(sh): St) -> Response {
    axum::Json(lock(&sh.log).clone()).into_response()
}

async fn clear_requests(State(sh): St) -> Response {
    lock(&sh.log).clear();
    StatusCode::NO_CONTENT.into_response()
}
