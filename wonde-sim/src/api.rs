//! The Wonde endpoints: auth, faults, then the list or record as JSON.

// Helpers return the ready error `Response` so handlers stay a line each;
// its size does not matter at a handful of requests per page.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use base64::Engine as _;
use futures::StreamExt as _;
use serde_json::{Value, json};

use crate::access;
use crate::faults::{self, FaultKind};
use crate::model::{AccessState, Timestamp};
use crate::paging;
use crate::query::{PageReq, Query};
use crate::render::includes::{ClassInc, ContactInc, EmployeeInc, GroupInc, StudentInc, available_includes};
use crate::render::patches::apply_patches;
use crate::render::{self, Renderer};
use crate::shared::Shared;
use crate::world::World;

/// Marks a response the connection loop must answer by closing the socket.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DropConnection;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1.0/schools", get(approved_schools))
        .route("/v1.0/schools/{school}", get(school_or_list))
        .route("/v1.0/schools/{school}/request-access", post(request_access))
        .route("/v1.0/schools/{school}/revoke-access", delete(revoke_access))
        .route("/v1.0/schools/{school}/{collection}", get(collection))
        .route("/v1.0/schools/{school}/{collection}/{record}", get(single))
        .with_state(shared)
}

/// The name faults and the request log use for a path: `school`,
/// `schools`, `schools/all`, `schools/pending`, or the collection
/// (`students`, `deletions`, `request-access`, ...).
pub fn endpoint_name(path: &str) -> String {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["v1.0", "schools"] => "schools".to_owned(),
        ["v1.0", "schools", s] if is_list_name(s) => format!("schools/{s}"),
        ["v1.0", "schools", _] => "school".to_owned(),
        ["v1.0", "schools", _, c, ..] => (*c).to_owned(),
        ["_control", ..] => "control".to_owned(),
        _ => "other".to_owned(),
    }
}

fn is_list_name(s: &str) -> bool {
    matches!(s, "all" | "approved" | "pending" | "declined" | "revoked" | "audited" | "offline")
}

pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

fn json_response(value: &Value, truncate: bool) -> Response {
    let Ok(bytes) = serde_json::to_vec(value) else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "Server Error");
    };
    if truncate {
        return truncated(bytes);
    }
    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// Declares the full length, sends half, pauses so the half is flushed, then
/// fails the body so the server aborts the connection mid-message.
fn truncated(bytes: Vec<u8>) -> Response {
    let full = bytes.len();
    let half = Bytes::copy_from_slice(&bytes[..full / 2]);
    let stream =
        futures::stream::iter([Ok::<Bytes, std::io::Error>(half)]).chain(futures::stream::once(async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "body truncated by fault injection"))
        }));
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(full));
    resp
}

/// The token from `Authorization: Bearer T` or `Basic base64(T:)`.
fn presented_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.trim().to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let user = text.split_once(':').map_or(text.as_str(), |(u, _)| u);
        return Some(user.to_owned());
    }
    None
}

enum Caller {
    /// The app's own (multi-school) key.
    App,
    /// A per-school token of an approved school.
    School(String),
}

fn caller(world: &World, headers: &HeaderMap) -> Result<Caller, Response> {
    let unauthenticated = || error(StatusCode::UNAUTHORIZED, "Unauthenticated.");
    let token = presented_token(headers).ok_or_else(unauthenticated)?;
    if token == world.app_token {
        return Ok(Caller::App);
    }
    world
        .schools
        .iter()
        .find(|s| s.mis.school.token == token && s.mis.school.access == AccessState::Approved)
        .map(|s| Caller::School(s.mis.school.id.clone()))
        .ok_or_else(unauthenticated)
}

/// 401 for an unknown token, 404 for an unknown school, 403 for a token that
/// does not open this school.
fn authorize_school(
    world: &World,
    headers: &HeaderMap,
    school_id: &str,
    any_state: bool,
) -> Result<(), Response> {
    let who = caller(world, headers)?;
    let school = world.school(school_id).ok_or_else(|| error(StatusCode::NOT_FOUND, "School not found"))?;
    let allowed = match who {
        Caller::App => any_state || school.mis.school.access == AccessState::Approved,
        Caller::School(id) => id == school_id,
    };
    if allowed {
        Ok(())
    } else {
        Err(error(StatusCode::FORBIDDEN, "This token does not have access to this school"))
    }
}

fn require_app(world: &World, headers: &HeaderMap) -> Result<(), Response> {
    match caller(world, headers)? {
        Caller::App => Ok(()),
        Caller::School(_) => Err(error(StatusCode::FORBIDDEN, "This endpoint needs the application token")),
    }
}

/// How a fault lets a request be answered.
#[derive(Clone, Copy, Debug, Default)]
struct Answer {
    /// Send half the body, then cut the connection.
    truncate: bool,
    /// Start a list page with the previous page's last record.
    repeat_previous: bool,
}

/// Consumes a matching fault rule: `Err` is the faulty answer to send,
/// `Ok` says how to shape the normal one.
async fn apply_fault(
    shared: &Shared,
    school: Option<&str>,
    endpoint: &str,
    page: u32,
) -> Result<Answer, Response> {
    let fault = faults::take(&mut shared.world().faults, school, endpoint, page);
    match fault {
        None => Ok(Answer::default()),
        Some(FaultKind::Latency { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(Answer::default())
        }
        Some(FaultKind::Truncate) => Ok(Answer { truncate: true, ..Answer::default() }),
        Some(FaultKind::RepeatPrevious) => Ok(Answer { repeat_previous: true, ..Answer::default() }),
        Some(FaultKind::OkErrorBody { message }) => Err(axum::Json(json!({
            "error": message,
            "error_description": "The request could not be completed",
        }))
        .into_response()),
        Some(FaultKind::RawBody { status, body }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            Err((status, [(header::CONTENT_TYPE, "application/json")], body).into_response())
        }
        Some(FaultKind::StatusWithBody { status, message }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            Err(error(status, &message))
        }
        Some(FaultKind::RateLimited { retry_after_secs }) => {
            let mut resp = error(StatusCode::TOO_MANY_REQUESTS, "Too Many Attempts.");
            let h = resp.headers_mut();
            h.insert("x-ratelimit-limit", HeaderValue::from(60));
            h.insert("x-ratelimit-remaining", HeaderValue::from(0));
            if let Some(secs) = retry_after_secs {
                h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            Err(resp)
        }
        Some(FaultKind::ServerError { status }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Err(error(status, "Server Error"))
        }
        Some(FaultKind::Drop) => {
            let mut resp = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            resp.extensions_mut().insert(DropConnection);
            Err(resp)
        }
    }
}

fn bad_request(message: String) -> Response {
    error(StatusCode::UNPROCESSABLE_ENTITY, &message)
}

async fn collection(
    State(shared): State<Arc<Shared>>,
    Path((school_id, collection)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let q = Query::parse(raw.as_deref());
    let page = match q.page() {
        Ok(p) => p,
        Err(e) => return bad_request(e),
    };
    if let Err(r) = authorize_school(&shared.world(), &headers, &school_id, false) {
        return r;
    }
    let answer = match apply_fault(&shared, Some(&school_id), &collection, page.page).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let page = PageReq { repeat_previous: answer.repeat_previous, ..page };
    let truncate = answer.truncate;
    let path = format!("/v1.0/schools/{school_id}/{collection}");
    let body = render_list(&mut shared.world(), &shared.origin, &school_id, &collection, &path, &q, page);
    match body {
        Ok(v) => json_response(&v, truncate),
        Err(r) => r,
    }
}

/// Collects the filtered records, keeps one page, renders only that page.
fn page_of<'a, T: 'a>(
    items: impl Iterator<Item = &'a T>,
    page: PageReq,
    render: impl FnMut(&T) -> Value,
) -> (Vec<Value>, usize) {
    let all: Vec<&T> = items.collect();
    let range = paging::window(all.len(), page);
    let total = all.len();
    let repeated = range.start.checked_sub(1).filter(|_| page.repeat_previous).map(|i| all[i]);
    (repeated.into_iter().chain(all[range].iter().copied()).map(render).collect(), total)
}

fn render_list(
    world: &mut World,
    origin: &str,
    school_id: &str,
    collection: &str,
    path: &str,
    q: &Query,
    page: PageReq,
) -> Result<Value, Response> {
    let after = q.time("updated_after").map_err(bad_request)?;
    let before = q.time("updated_before").map_err(bad_request)?;
    let in_window = |t: &Timestamp| after.is_none_or(|a| *t > a) && before.is_none_or(|b| *t < b);
    let type_filter = q.get("type").map(str::to_lowercase);
    let inc = q.includes();
    let state =
        world.school_mut(school_id).ok_or_else(|| error(StatusCode::NOT_FOUND, "School not found"))?;
    let outage = state.outage;
    let quirks = state.quirks;
    let patches = state.patches.clone();
    let (mis, ix) = state.indexed();
    let r = Renderer { mis, ix, quirks };
    let live = !outage;
    let patched = |mut v: Value, kind: &str| {
        apply_patches(&mut v, kind, &patches);
        v
    };
    let (items, total) = match collection {
        "students" | "students-leaver" => {
            let si = StudentInc::from(&inc);
            let list = if collection == "students" { &mis.students } else { &mis.leavers };
            page_of(list.iter().filter(|s| live && in_window(&s.updated_at)), page, |s| {
                patched(r.student(s, &si), "student")
            })
        }
        "employees" => {
            let ei = EmployeeInc::from(&inc);
            page_of(mis.employees.iter().filter(|e| live && in_window(&e.updated_at)), page, |e| {
                patched(r.employee(e, &ei), "employee")
            })
        }
        "contacts" => {
            let ci = ContactInc::from(&inc);
            page_of(mis.contacts.iter().filter(|c| live && in_window(&c.updated_at)), page, |c| {
                patched(r.contact(c, &ci), "contact")
            })
        }
        "classes" => {
            let ci = ClassInc::from(&inc);
            page_of(mis.classes.iter().filter(|c| live && in_window(&c.updated_at)), page, |c| {
                patched(r.class(c, &ci), "class")
            })
        }
        "groups" => {
            let gi = GroupInc::from(&inc);
            let wanted = |k: &str| type_filter.as_deref().is_none_or(|t| t.eq_ignore_ascii_case(k));
            page_of(
                mis.groups.iter().filter(|g| live && in_window(&g.updated_at) && wanted(g.kind.as_str())),
                page,
                |g| patched(r.group(g, &gi), "group"),
            )
        }
        "subjects" => page_of(
            mis.subjects.iter().filter(|s| live && in_window(&s.updated_at)),
            page,
            |s| json!({ "id": s.id, "mis_id": s.mis_id, "code": s.code, "name": s.name }),
        ),
        "deletions" => {
            let wanted = |k: &str| type_filter.as_deref().is_none_or(|t| t == k);
            page_of(
                mis.deletions.iter().filter(|d| {
                    let changed = d.restored_at.map_or(d.deleted_at, |r| r.max(d.deleted_at));
                    live && wanted(&d.kind) && in_window(&changed)
                }),
                page,
                |d| patched(render::deletion(d), "deletion"),
            )
        }
        _ => return Err(error(StatusCode::NOT_FOUND, "Not found")),
    };
    Ok(envelope(items, total, page, origin, path, q, available_includes(collection)))
}

fn envelope(
    items: Vec<Value>,
    total: usize,
    page: PageReq,
    origin: &str,
    path: &str,
    q: &Query,
    includes: &[&str],
) -> Value {
    let mut meta = serde_json::Map::new();
    if let Some(p) = paging::pagination(total, page, origin, path, q) {
        meta.insert("pagination".into(), p);
    }
    meta.insert("includes".into(), json!(includes));
    json!({ "data": items, "meta": meta })
}

async fn single(
    State(shared): State<Arc<Shared>>,
    Path((school_id, collection, record)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let q = Query::parse(raw.as_deref());
    if let Err(r) = authorize_school(&shared.world(), &headers, &school_id, false) {
        return r;
    }
    let truncate = match apply_fault(&shared, Some(&school_id), &collection, 1).await {
        Ok(a) => a.truncate,
        Err(r) => return r,
    };
    let inc = q.includes();
    let mut world = shared.world();
    let Some(state) = world.school_mut(&school_id) else {
        return error(StatusCode::NOT_FOUND, "School not found");
    };
    let quirks = state.quirks;
    let (mis, ix) = state.indexed();
    let r = Renderer { mis, ix, quirks };
    let found = match collection.as_str() {
        "students" => {
            mis.students.iter().find(|s| s.id == record).map(|s| r.student(s, &StudentInc::from(&inc)))
        }
        "students-leaver" => {
            mis.leavers.iter().find(|s| s.id == record).map(|s| r.student(s, &StudentInc::from(&inc)))
        }
        "employees" => {
            mis.employees.iter().find(|e| e.id == record).map(|e| r.employee(e, &EmployeeInc::from(&inc)))
        }
        "contacts" => {
            mis.contacts.iter().find(|c| c.id == record).map(|c| r.contact(c, &ContactInc::from(&inc)))
        }
        "classes" => mis.classes.iter().find(|c| c.id == record).map(|c| r.class(c, &ClassInc::from(&inc))),
        "groups" => mis.groups.iter().find(|g| g.id == record).map(|g| r.group(g, &GroupInc::from(&inc))),
        _ => None,
    };
    match found {
        Some(v) => json_response(
            &json!({ "data": v, "meta": { "includes": available_includes(&collection) } }),
            truncate,
        ),
        None => error(StatusCode::NOT_FOUND, "Not found"),
    }
}

/// `GET /schools/{id}`, or one of the catalog lists that share the shape
/// (`/schools/all`, `/schools/pending`, ...).
async fn school_or_list(
    State(shared): State<Arc<Shared>>,
    Path(school_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    if is_list_name(&school_id) {
        return school_list(&shared, &school_id, raw.as_deref(), &headers).await;
    }
    if let Err(r) = authorize_school(&shared.world(), &headers, &school_id, true) {
        return r;
    }
    let truncate = match apply_fault(&shared, Some(&school_id), "school", 1).await {
        Ok(a) => a.truncate,
        Err(r) => return r,
    };
    let world = shared.world();
    let Some(state) = world.school(&school_id) else {
        return error(StatusCode::NOT_FOUND, "School not found");
    };
    let api_base = format!("{}/v1.0", shared.origin);
    let mut v = render::school(&state.mis.school, state.quirks, &api_base);
    apply_patches(&mut v, "school", &state.patches);
    json_response(&json!({ "data": v, "meta": { "includes": ["cbds"] } }), truncate)
}

async fn approved_schools(
    State(shared): State<Arc<Shared>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    school_list(&shared, "approved", raw.as_deref(), &headers).await
}

async fn school_list(shared: &Shared, which: &str, raw: Option<&str>, headers: &HeaderMap) -> Response {
    let q = Query::parse(raw);
    let page = match q.page() {
        Ok(p) => p,
        Err(e) => return bad_request(e),
    };
    if let Err(r) = require_app(&shared.world(), headers) {
        return r;
    }
    let endpoint = if which == "approved" { "schools".to_owned() } else { format!("schools/{which}") };
    let truncate = match apply_fault(shared, None, &endpoint, page.page).await {
        Ok(a) => a.truncate,
        Err(r) => return r,
    };
    let after = match q.time("updated_after") {
        Ok(a) => a,
        Err(e) => return bad_request(e),
    };
    let squash = |s: &str| s.replace(' ', "").to_uppercase();
    let postcode = q.get("postcode").map(squash);
    let world = shared.world();
    let api_base = format!("{}/v1.0", shared.origin);
    let (items, total) = page_of(
        world.schools.iter().filter(|st| {
            let s = &st.mis.school;
            let state_ok = match which {
                "all" => true,
                "approved" => s.access == AccessState::Approved,
                "audited" => s.access == AccessState::Approved && s.audit_approved_at.is_some(),
                "offline" => false,
                other => s.access.as_str() == other,
            };
            state_ok
                && postcode.as_ref().is_none_or(|p| squash(&s.postcode).starts_with(p.as_str()))
                && q.get("urn").is_none_or(|u| u == s.urn.to_string())
                && q.get("la_code").is_none_or(|l| l == s.la_code)
                && q.get("establishment_number").is_none_or(|e| e == s.establishment_number)
                && after.is_none_or(|a| s.updated_at > a)
        }),
        page,
        |st| render::school(&st.mis.school, st.quirks, &api_base),
    );
    let path =
        if which == "approved" { "/v1.0/schools".to_owned() } else { format!("/v1.0/schools/{which}") };
    json_response(&envelope(items, total, page, &shared.origin, &path, &q, &[]), truncate)
}

/// `POST /schools/{id}/request-access` (app token; body optional, recorded).
/// None, pending, declined or revoked → pending. On an approved school
/// Wonde answers 400 with an "already approved" message (seen in issue 10;
/// clients also accept the older guess, 200 `{"success":false,"state":"approved"}`).
async fn request_access(
    State(shared): State<Arc<Shared>>,
    Path(school_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = require_app(&shared.world(), &headers) {
        return r;
    }
    let payload: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => return bad_request("The body must be JSON.".into()),
        }
    };
    if let Err(r) = apply_fault(&shared, Some(&school_id), "request-access", 1).await {
        return r;
    }
    let mut world = shared.world();
    let Some(state) = world.school(&school_id) else {
        return error(StatusCode::NOT_FOUND, "School not found");
    };
    if state.mis.school.access == AccessState::Approved {
        drop(world);
        shared.record_access_request(&school_id, payload);
        return error(StatusCode::BAD_REQUEST, "Access to this school has already been approved");
    }
    if let Err(e) = access::change(&mut world, &school_id, AccessState::Pending) {
        return error(StatusCode::NOT_FOUND, &e.to_string());
    }
    let answer =
        json!({ "success": true, "state": "pending", "message": "Access request successfully received" });
    drop(world);
    shared.record_access_request(&school_id, payload);
    axum::Json(answer).into_response()
}

/// `DELETE /schools/{id}/revoke-access` (app token): approved or pending →
/// revoked. Otherwise `{"success":false,"state":<state>,...}` with 200 (a
/// guess, as for request-access).
async fn revoke_access(
    State(shared): State<Arc<Shared>>,
    Path(school_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = require_app(&shared.world(), &headers) {
        return r;
    }
    if let Err(r) = apply_fault(&shared, Some(&school_id), "revoke-access", 1).await {
        return r;
    }
    let mut world = shared.world();
    let Some(state) = world.school(&school_id) else {
        return error(StatusCode::NOT_FOUND, "School not found");
    };
    let answer = match state.mis.school.access {
        AccessState::Approved | AccessState::Pending => {
            if let Err(e) = access::change(&mut world, &school_id, AccessState::Revoked) {
                return error(StatusCode::NOT_FOUND, &e.to_string());
            }
            json!({ "success": true, "state": "revoked", "message": "Access revoked" })
        }
        other => json!({
            "success": false, "state": other.as_str(), "message": "No access to revoke",
        }),
    };
    axum::Json(answer).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_names() {
        assert_eq!(endpoint_name("/v1.0/schools"), "schools");
        assert_eq!(endpoint_name("/v1.0/schools/all"), "schools/all");
        assert_eq!(endpoint_name("/v1.0/schools/A1"), "school");
        assert_eq!(endpoint_name("/v1.0/schools/A1/students-leaver"), "students-leaver");
        assert_eq!(endpoint_name("/v1.0/schools/A1/students/A2"), "students");
    }

    #[test]
    fn basic_and_bearer_tokens() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(presented_token(&h).as_deref(), Some("abc"));
        // base64("abc:")
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic YWJjOg=="));
        assert_eq!(presented_token(&h).as_deref(), Some("abc"));
    }
}
