//! The catalog and the "ask Wonde for access" flow over real HTTP: the
//! catalog pages and filters, request-access and revoke-access, and the
//! school's approve / decline / revoke with webhooks to a tiny receiver.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result, bail, ensure};
use axum::extract::RawQuery;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use wonde_sim::{
    AccessState, SecretPlacement, SimConfig, SimError, SimHandle, SimSchool, Simulator, WebhookTarget,
};

/// What the receiver saw of one webhook: the query string, the
/// `X-Webhook-Secret` header, and the JSON body.
#[derive(Clone, Debug)]
struct Received {
    query: Option<String>,
    header: Option<String>,
    body: Value,
}

/// A tiny webhook receiver answering `status`.
struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(status: StatusCode) -> Result<Receiver> {
        let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
        let sink = seen.clone();
        let app = axum::Router::new().route(
            "/webhooks/wonde",
            axum::routing::post(
                move |headers: HeaderMap, RawQuery(query): RawQuery, body: axum::body::Bytes| {
                    let sink = sink.clone();
                    async move {
                        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        let header =
                            headers.get("x-webhook-secret").and_then(|v| v.to_str().ok()).map(str::to_owned);
                        if let Ok(mut seen) = sink.lock() {
                            seen.push(Received { query, header, body });
                        }
                        status
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/webhooks/wonde", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Receiver { url, seen })
    }

    fn seen(&self) -> Vec<Received> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

async fn start() -> Result<SimHandle> {
    Simulator::start(SimConfig { schools: 2, students_per_school: 10, seed: 7, ..SimConfig::default() }).await
}

fn outsiders(sim: &SimHandle) -> Vec<SimSchool> {
    sim.catalog().into_iter().filter(|s| !s.in_trust).collect()
}

fn outsider(sim: &SimHandle, n: usize) -> Result<SimSchool> {
    outsiders(sim).into_iter().nth(n).context("not enough catalog schools")
}

async fn get(url: &str, token: &str) -> Result<(u16, Value)> {
    let resp = reqwest::Client::new().get(url).bearer_auth(token).send().await?;
    let status = resp.status().as_u16();
    Ok((status, resp.json().await.unwrap_or(Value::Null)))
}

async fn send(
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Result<(u16, Value)> {
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    Ok((status, resp.json().await.unwrap_or(Value::Null)))
}

/// Every page of a list, following `next`; returns the records and the
/// number of pages.
async fn all_pages(first: &str, token: &str) -> Result<(Vec<Value>, usize)> {
    let mut url = Some(first.to_owned());
    let (mut records, mut pages) = (Vec::new(), 0);
    while let Some(u) = url.take() {
        let (status, body) = get(&u, token).await?;
        ensure!(status == 200, "{u}: {status} {body}");
        records.extend(body["data"].as_array().cloned().unwrap_or_default());
        pages += 1;
        url = body["meta"]["pagination"]["next"].as_str().map(str::to_owned);
        ensure!(pages < 100, "too many pages");
    }
    Ok((records, pages))
}

fn ids(records: &[Value]) -> BTreeSet<String> {
    records.iter().filter_map(|r| r["id"].as_str().map(str::to_owned)).collect()
}

async fn request_access(sim: &SimHandle, school_id: &str) -> Result<Value> {
    let url = format!("{}/schools/{school_id}/request-access", sim.base_url());
    let contacts = json!({"contacts": [{"first_name": "Ada", "last_name": "Admin",
        "email_address": "ada@trust.example", "phone_number": "01234 567890", "notes": "For Onroll"}]});
    let (status, body) = send(reqwest::Method::POST, &url, Some(&sim.app_token()), Some(contacts)).await?;
    ensure!(status == 200, "request-access: {status} {body}");
    Ok(body)
}

async fn list_ids(sim: &SimHandle, which: &str) -> Result<BTreeSet<String>> {
    let (records, _) = all_pages(&format!("{}/schools/{which}", sim.base_url()), &sim.app_token()).await?;
    Ok(ids(&records))
}

fn one(id: &str) -> BTreeSet<String> {
    std::iter::once(id.to_owned()).collect()
}

#[tokio::test]
async fn catalog_lists_three_hundred_varied_schools_over_pages() -> Result<()> {
    let sim = start().await?;
    let app = sim.app_token();
    let base = format!("{}/schools/all", sim.base_url());
    let (records, pages) = all_pages(&base, &app).await?;
    assert_eq!(records.len(), 302, "2 trust schools and 300 others");
    assert_eq!(pages, 7, "Wonde's default of 50 a page");
    assert_eq!(ids(&records).len(), 302, "no school twice");
    let (big, pages) = all_pages(&format!("{base}?per_page=200"), &app).await?;
    assert_eq!((ids(&big), pages), (ids(&records), 2));
    let field = |k: &str| -> BTreeSet<String> { records.iter().map(|r| r[k].to_string()).collect() };
    assert_eq!(field("urn").len(), 302, "URNs are unique");
    assert!(field("name").len() > 200, "names vary");
    assert!(field("mis").len() >= 5);
    let phases = field("phase_of_education");
    for p in ["PRIMARY", "SECONDARY", "ALL THROUGH", "SPECIAL"] {
        assert!(phases.contains(&format!("\"{p}\"")), "{p} missing from {phases:?}");
    }
    for r in &records {
        ensure!(r["address"]["address_postcode"].as_str().is_some_and(|p| p.contains(' ')), "{r}");
        ensure!(r["updated_at"]["date"].is_string() && r["la_code"].is_string(), "{r}");
    }
    Ok(())
}

#[tokio::test]
async fn catalog_filters_by_postcode_prefix_urn_la_code_and_establishment_number() -> Result<()> {
    let sim = start().await?;
    let app = sim.app_token();
    let catalog = sim.catalog();
    let base = format!("{}/schools/all?per_page=200", sim.base_url());
    let expect = |keep: &dyn Fn(&SimSchool) -> bool| -> BTreeSet<String> {
        catalog.iter().filter(|s| keep(s)).map(|s| s.wonde_id.clone()).collect()
    };
    let squash = |p: &str| p.replace(' ', "").to_uppercase();

    let cb2 = expect(&|s| squash(&s.postcode).starts_with("CB2"));
    let cb21 = expect(&|s| squash(&s.postcode).starts_with("CB21"));
    ensure!(cb2.len() > cb21.len() && !cb21.is_empty(), "CB2 {} CB21 {}", cb2.len(), cb21.len());
    assert_eq!(ids(&all_pages(&format!("{base}&postcode=CB2"), &app).await?.0), cb2);
    assert_eq!(ids(&all_pages(&format!("{base}&postcode=cb21"), &app).await?.0), cb21);

    let school = outsider(&sim, 3)?;
    let by_urn = all_pages(&format!("{base}&urn={}", school.urn), &app).await?.0;
    assert_eq!(ids(&by_urn), one(&school.wonde_id));
    let by_la = all_pages(&format!("{base}&la_code={}", school.la_code), &app).await?.0;
    assert_eq!(ids(&by_la), expect(&|s| s.la_code == school.la_code));
    let both = all_pages(
        &format!("{base}&la_code={}&establishment_number={}", school.la_code, school.establishment_number),
        &app,
    )
    .await?
    .0;
    assert_eq!(ids(&both), one(&school.wonde_id));
    Ok(())
}

#[tokio::test]
async fn an_access_change_shows_in_updated_after_for_that_school_only() -> Result<()> {
    let sim = start().await?;
    let app = sim.app_token();
    let mark = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string();
    let url =
        |after: &str| format!("{}/schools/all?updated_after={}", sim.base_url(), after.replace(' ', "%20"));
    assert!(all_pages(&url(&mark), &app).await?.0.is_empty(), "nothing changed yet");
    let school = outsider(&sim, 0)?;
    request_access(&sim, &school.wonde_id).await?;
    let (changed, _) = all_pages(&url(&mark), &app).await?;
    assert_eq!(ids(&changed), one(&school.wonde_id));
    // The ISO form of the timestamp works too.
    let iso = mark.replacen(' ', "T", 1) + "Z";
    assert_eq!(ids(&all_pages(&url(&iso), &app).await?.0), one(&school.wonde_id));
    Ok(())
}

#[tokio::test]
async fn request_access_makes_a_school_pending_and_revoke_access_revokes_it() -> Result<()> {
    let sim = start().await?;
    let app = sim.app_token();
    let school = outsider(&sim, 1)?;
    let answer = request_access(&sim, &school.wonde_id).await?;
    assert_eq!(
        answer,
        json!({"success": true, "state": "pending", "message": "Access request successfully received"})
    );
    let recorded = sim.access_requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].school_id, school.wonde_id);
    assert_eq!(recorded[0].body["contacts"][0]["notes"], "For Onroll");
    assert_eq!(list_ids(&sim, "pending").await?, one(&school.wonde_id));

    let revoke = format!("{}/schools/{}/revoke-access", sim.base_url(), school.wonde_id);
    let (status, body) = send(reqwest::Method::DELETE, &revoke, Some(&app), None).await?;
    assert_eq!(
        (status, body),
        (200, json!({"success": true, "state": "revoked", "message": "Access revoked"}))
    );
    assert!(list_ids(&sim, "pending").await?.is_empty());
    assert_eq!(list_ids(&sim, "revoked").await?, one(&school.wonde_id));
    let (_, again) = send(reqwest::Method::DELETE, &revoke, Some(&app), None).await?;
    assert_eq!((&again["success"], &again["state"]), (&json!(false), &json!("revoked")));

    // From revoked, the app may ask again.
    assert_eq!(request_access(&sim, &school.wonde_id).await?["state"], "pending");

    // An approved school: request-access is refused with 400 and an
    // "already approved" message, as issue 10 saw Wonde answer.
    let trust = sim.schools().into_iter().next().context("trust school")?;
    let url = format!("{}/schools/{}/request-access", sim.base_url(), trust.wonde_id);
    let (status, approved) = send(reqwest::Method::POST, &url, Some(&app), Some(json!({}))).await?;
    assert_eq!(status, 400);
    assert!(approved["error"].as_str().is_some_and(|m| m.contains("already been approved")), "{approved}");
    // Revoking an approved school by the app stops its token.
    let url = format!("{}/schools/{}/revoke-access", sim.base_url(), trust.wonde_id);
    assert_eq!(send(reqwest::Method::DELETE, &url, Some(&app), None).await?.0, 200);
    assert_eq!(get(&format!("{}/schools/{}", sim.base_url(), trust.wonde_id), &trust.token).await?.0, 401);

    // Unknown school: 404 with Wonde's JSON error; a school token: 403.
    for (method, path) in
        [(reqwest::Method::POST, "request-access"), (reqwest::Method::DELETE, "revoke-access")]
    {
        let url = format!("{}/schools/A0000000000/{path}", sim.base_url());
        let (status, body) = send(method.clone(), &url, Some(&app), None).await?;
        assert_eq!(status, 404, "{path}");
        assert!(body["error"].is_string(), "{body}");
        let other = sim.schools().into_iter().nth(1).context("second school")?;
        let url = format!("{}/schools/{}/{path}", sim.base_url(), school.wonde_id);
        assert_eq!(send(method, &url, Some(&other.token), None).await?.0, 403, "{path}");
    }
    Ok(())
}

#[tokio::test]
async fn approval_sends_school_approved_with_a_token_that_opens_a_small_roster() -> Result<()> {
    let receiver = Receiver::start(StatusCode::OK).await?;
    let sim = start().await?;
    let control = sim.control_url();
    let (status, _) = send(
        reqwest::Method::PUT,
        &format!("{control}/webhook-target"),
        None,
        Some(json!({"url": receiver.url, "secret": "s3cret"})),
    )
    .await?;
    assert_eq!(status, 204);
    let school = outsider(&sim, 2)?;
    request_access(&sim, &school.wonde_id).await?;

    let (status, approval) =
        send(reqwest::Method::POST, &format!("{control}/schools/{}/approve", school.wonde_id), None, None)
            .await?;
    assert_eq!(status, 200, "{approval}");
    assert_eq!(approval["state"], "approved");
    assert_eq!(approval["webhook"]["status"], 200);
    assert!(approval["webhook_error"].is_null());
    let token = approval["token"].as_str().context("token")?.to_owned();
    assert_ne!(token, school.token, "an approval issues a new token");

    let seen = receiver.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].query.as_deref(), Some("secret=s3cret"));
    assert_eq!(seen[0].header, None);
    assert_eq!(
        seen[0].body,
        json!({
            "payload_type": "schoolApproved",
            "school_id": school.wonde_id,
            "school_name": school.name,
            "school_token": token,
            "school_la_code": school.la_code,
            "school_urn": school.urn.to_string(),
            "school_establishment_number": school.establishment_number,
        })
    );
    assert_eq!(approval["webhook"]["payload"], seen[0].body);

    // The token opens the school and its (small, generated) roster.
    let base = format!("{}/schools/{}", sim.base_url(), school.wonde_id);
    let (status, got) = get(&base, &token).await?;
    assert_eq!((status, got["data"]["id"].as_str()), (200, Some(school.wonde_id.as_str())));
    let (students, _) =
        all_pages(&format!("{base}/students?include=contacts,year,registration"), &token).await?;
    ensure!((5..=20).contains(&students.len()), "{} students", students.len());
    for s in &students {
        ensure!(!s["contacts"]["data"].as_array().is_none_or(Vec::is_empty), "no guardian: {s}");
        ensure!(s["year"]["data"]["code"].is_string(), "no year: {s}");
    }
    for collection in
        ["employees", "contacts", "classes", "groups", "subjects", "students-leaver", "deletions"]
    {
        let (status, body) = get(&format!("{base}/{collection}"), &token).await?;
        ensure!(status == 200 && body["data"].is_array(), "{collection}: {status} {body}");
    }
    let one_student = students[0]["id"].as_str().context("student id")?;
    assert_eq!(get(&format!("{base}/students/{one_student}"), &token).await?.0, 200);
    assert!(list_ids(&sim, "approved").await?.contains(&school.wonde_id));
    let now = sim.school(&school.wonde_id).context("school")?;
    assert_eq!((now.access, now.students, now.token), (AccessState::Approved, students.len(), token));
    Ok(())
}

#[tokio::test]
async fn only_a_pending_school_can_be_approved_or_declined() -> Result<()> {
    let receiver = Receiver::start(StatusCode::OK).await?;
    let sim = start().await?;
    sim.set_webhook_target(Some(WebhookTarget::new(receiver.url.clone())))?;
    let control = sim.control_url();
    let school = outsider(&sim, 4)?;
    for action in ["approve", "decline"] {
        let url = format!("{control}/schools/{}/{action}", school.wonde_id);
        let (status, body) = send(reqwest::Method::POST, &url, None, None).await?;
        assert_eq!(status, 409, "{action}: {body}");
        let message = body["error"].as_str().unwrap_or_default();
        assert!(message.contains("is none") && message.contains("only a pending school"), "{message}");
    }
    let trust = sim.schools().into_iter().next().context("trust school")?;
    let err = sim.approve(&trust.wonde_id).await.err();
    assert!(matches!(err, Some(SimError::Conflict(_))), "{err:?}");
    let url = format!("{control}/schools/{}/revoke", school.wonde_id);
    assert_eq!(
        send(reqwest::Method::POST, &url, None, None).await?.0,
        409,
        "only an approved school revokes"
    );
    let url = format!("{control}/schools/A0000000000/approve");
    assert_eq!(send(reqwest::Method::POST, &url, None, None).await?.0, 404);
    assert!(receiver.seen().is_empty(), "a refused change sends nothing");
    assert_eq!(sim.school(&school.wonde_id).map(|s| s.access), Some(AccessState::None));
    Ok(())
}

#[tokio::test]
async fn decline_sends_access_declined_and_the_app_may_ask_again() -> Result<()> {
    let receiver = Receiver::start(StatusCode::NO_CONTENT).await?;
    let sim = Simulator::start(SimConfig {
        schools: 1,
        students_per_school: 5,
        webhook_target: Some(
            WebhookTarget::new(receiver.url.clone()).with_secret("h3ader").secret_in(SecretPlacement::Header),
        ),
        ..SimConfig::default()
    })
    .await?;
    let school = outsider(&sim, 5)?;
    request_access(&sim, &school.wonde_id).await?;
    let url = format!("{}/schools/{}/decline", sim.control_url(), school.wonde_id);
    let (status, change) =
        send(reqwest::Method::POST, &url, None, Some(json!({"reason": "We use another provider"}))).await?;
    assert_eq!(status, 200, "{change}");
    assert_eq!((&change["state"], &change["webhook"]["status"]), (&json!("declined"), &json!(204)));
    let seen = receiver.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].header.as_deref(), seen[0].query.as_deref()), (Some("h3ader"), None));
    assert_eq!(seen[0].body["payload_type"], "accessDeclined");
    assert_eq!(seen[0].body["school_id"], school.wonde_id.as_str());
    assert_eq!(seen[0].body["decline_reason"], "We use another provider");
    assert!(seen[0].body.get("school_token").is_none());
    assert_eq!(list_ids(&sim, "declined").await?, one(&school.wonde_id));
    let (status, _) =
        get(&format!("{}/schools/{}/students", sim.base_url(), school.wonde_id), &school.token).await?;
    assert_eq!(status, 401, "a declined school's token opens nothing");

    // Declined → asked again → pending; the handle's decline has a default reason.
    assert_eq!(request_access(&sim, &school.wonde_id).await?["state"], "pending");
    let change = sim.decline(&school.wonde_id, None).await?;
    assert_eq!(change.state, AccessState::Declined);
    assert_eq!(receiver.seen()[1].body["decline_reason"], "Not interested");
    Ok(())
}

#[tokio::test]
async fn revoke_by_the_school_stops_the_token_and_a_new_approval_issues_another() -> Result<()> {
    let receiver = Receiver::start(StatusCode::OK).await?;
    let sim = start().await?;
    let school = outsider(&sim, 6)?;
    request_access(&sim, &school.wonde_id).await?;
    // No target yet: the state changes and the answer says no webhook went.
    let url = format!("{}/schools/{}/approve", sim.control_url(), school.wonde_id);
    let (status, first) = send(reqwest::Method::POST, &url, None, None).await?;
    assert_eq!(status, 200);
    assert!(first["webhook"].is_null() && first["webhook_error"].is_null(), "{first}");
    let first_token = first["token"].as_str().context("token")?.to_owned();
    let students = format!("{}/schools/{}/students", sim.base_url(), school.wonde_id);
    let (status, roster) = get(&students, &first_token).await?;
    assert_eq!(status, 200);

    sim.set_webhook_target(Some(WebhookTarget::new(receiver.url.clone()).with_secret("s")))?;
    let url = format!("{}/schools/{}/revoke", sim.control_url(), school.wonde_id);
    let (status, change) =
        send(reqwest::Method::POST, &url, None, Some(json!({"reason": "Contract ended"}))).await?;
    assert_eq!(status, 200, "{change}");
    assert_eq!(change["state"], "revoked");
    assert_eq!(get(&students, &first_token).await?.0, 401);
    let seen = receiver.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].query.as_deref(), Some("secret=s"));
    assert_eq!(seen[0].body["payload_type"], "accessRevoked");
    assert_eq!(seen[0].body["revoke_reason"], "Contract ended");
    assert_eq!(list_ids(&sim, "revoked").await?, one(&school.wonde_id));
    assert!(!list_ids(&sim, "approved").await?.contains(&school.wonde_id));

    // Asked and approved again: a new token; the roster is the same one.
    request_access(&sim, &school.wonde_id).await?;
    let again = sim.approve(&school.wonde_id).await?;
    assert_ne!(again.token, first_token);
    assert_eq!(get(&students, &first_token).await?.0, 401, "the old token stays dead");
    let (status, roster_again) = get(&students, &again.token).await?;
    assert_eq!(status, 200);
    assert_eq!(
        ids(roster["data"].as_array().map_or(&[][..], Vec::as_slice)),
        ids(roster_again["data"].as_array().map_or(&[][..], Vec::as_slice))
    );
    assert_eq!(receiver.seen()[1].body["school_token"], again.token.as_str());
    Ok(())
}

#[tokio::test]
async fn an_unreachable_target_is_reported_and_the_change_stands() -> Result<()> {
    let sim = start().await?;
    // A port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?
    };
    sim.set_webhook_target(Some(WebhookTarget::new(format!("http://{closed}/hook?x=1")).with_secret("zz")))?;
    let school = outsider(&sim, 7)?;
    request_access(&sim, &school.wonde_id).await?;
    let approval = sim.approve(&school.wonde_id).await?;
    let error = approval.webhook_error.clone().context("a delivery error")?;
    assert!(approval.webhook.is_none());
    assert!(!error.contains("zz"), "the secret leaked: {error}");
    assert_eq!(sim.school(&school.wonde_id).map(|s| s.access), Some(AccessState::Approved));
    Ok(())
}

#[tokio::test]
async fn the_webhook_target_must_be_an_http_url_and_can_be_cleared() -> Result<()> {
    let sim = start().await?;
    let url = format!("{}/webhook-target", sim.control_url());
    for bad in [json!({"url": "not a url"}), json!({"url": "ftp://x/y"}), json!({"secret": "s"})] {
        let (status, body) = send(reqwest::Method::PUT, &url, None, Some(bad.clone())).await?;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    assert!(matches!(sim.set_webhook_target(Some(WebhookTarget::new("nope"))), Err(SimError::Invalid(_))));
    assert_eq!(send(reqwest::Method::DELETE, &url, None, None).await?.0, 204);
    let bad_config = Simulator::start(SimConfig {
        webhook_target: Some(WebhookTarget::new("::")),
        ..SimConfig::default()
    })
    .await;
    if bad_config.is_ok() {
        bail!("a bad webhook URL in the config must be refused");
    }
    Ok(())
}

#[tokio::test]
async fn debug_output_carries_no_token_or_secret() -> Result<()> {
    let sim = start().await?;
    let receiver = Receiver::start(StatusCode::OK).await?;
    let target = WebhookTarget::new(receiver.url.clone()).with_secret("very-secret-value");
    sim.set_webhook_target(Some(target.clone()))?;
    let school = outsider(&sim, 8)?;
    request_access(&sim, &school.wonde_id).await?;
    let approval = sim.approve(&school.wonde_id).await?;
    let now = sim.school(&school.wonde_id).context("school")?;
    let texts = [
        format!("{approval:?}"),
        format!("{now:?}"),
        format!("{target:?}"),
        format!("{:?}", approval.webhook),
    ];
    for text in texts {
        assert!(!text.contains(&approval.token), "token in {text}");
        assert!(!text.contains("very-secret-value"), "secret in {text}");
    }
    Ok(())
}
