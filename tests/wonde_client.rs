//! The Wonde client against the simulator over real HTTP on 127.0.0.1: one
//! test per quirk of wonde-api.md §9 and per fault. Retry delays are
//! milliseconds so the suite stays fast.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use chrono::Utc;
use futures::StreamExt as _;
use onroll::wonde::model::AccessOutcome;
use onroll::wonde::{
    AccessContact, AccessList, AccessRequest, GroupType, ListQuery, Relation, RetryPolicy, SchoolAccess,
    SchoolSearch, SecretToken, WondeClient, WondeConfig, WondeError,
};
use serde_json::Value;
use wonde_sim::{
    AccessState, FaultKind, FaultSpec, NewStarter, PatchRequest, SimConfig, SimError, SimHandle, SimSchool,
    Simulator, StaffLeave, WebhookEvent, WebhookRequest, WebhookTarget,
};

const RETRIES: u32 = 3;

async fn start(schools: usize, students: usize) -> Result<SimHandle> {
    Simulator::start(SimConfig {
        schools,
        students_per_school: students,
        seed: 42,
        catalog_extra: 4,
        ..SimConfig::default()
    })
    .await
}

fn config(sim: &SimHandle) -> WondeConfig {
    WondeConfig {
        base_url: Some(sim.base_url()),
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_retries: RETRIES,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(40),
            max_elapsed: Duration::from_secs(10),
        },
        ..WondeConfig::default()
    }
}

fn client(sim: &SimHandle) -> Result<WondeClient> {
    Ok(WondeClient::new(config(sim))?)
}

fn first_school(sim: &SimHandle) -> Result<SimSchool> {
    sim.schools().into_iter().next().context("no school")
}

fn access(school: &SimSchool) -> SchoolAccess {
    SchoolAccess::new(school.wonde_id.clone(), SecretToken::new(school.token.clone()))
}

async fn raw_get(url: &str, token: &str) -> Result<(u16, Value)> {
    let resp = reqwest::Client::new().get(url).bearer_auth(token).send().await?;
    let status = resp.status().as_u16();
    Ok((status, resp.json().await.unwrap_or(Value::Null)))
}

#[tokio::test]
async fn school_parses_with_number_or_string_urn_and_dates_without_microseconds() -> Result<()> {
    let sim = start(2, 10).await?;
    let wonde = client(&sim)?;
    for school in sim.schools() {
        let got = wonde.school(&access(&school)).await?;
        assert_eq!(got.id, school.wonde_id);
        assert_eq!(got.urn, Some(school.urn.to_string()));
        assert_eq!(got.postcode(), Some(school.postcode.as_str()));
        assert_eq!(got.region_domain(), Some("api.wonde.com"));
        assert_eq!(got.phase_of_education.as_deref(), Some(school.phase_of_education.as_str()));
        let audited = got.extended.and_then(|e| e.audit_approved_at).context("audit date")?;
        assert_eq!(audited.timestamp_subsec_micros(), 0, "rendered without microseconds");
    }
    Ok(())
}

#[tokio::test]
async fn trailing_slash_and_basic_auth_are_accepted() -> Result<()> {
    let sim = start(1, 30).await?;
    let school = first_school(&sim)?;
    let base = format!("{}/schools/{}/students", sim.base_url(), school.wonde_id);
    let http = reqwest::Client::new();
    let mut counts = Vec::new();
    for url in [base.clone(), format!("{base}/"), format!("{base}/?include=year")] {
        let resp = http.get(&url).basic_auth(&school.token, Some("")).send().await?;
        ensure!(resp.status() == 200, "{url}: {}", resp.status());
        let body: Value = resp.json().await?;
        counts.push(body["data"].as_array().map_or(0, Vec::len));
    }
    assert_eq!(counts, vec![30, 30, 30]);
    Ok(())
}

#[tokio::test]
async fn bad_token_is_unauthorized_not_retried_and_never_printed() -> Result<()> {
    let sim = start(1, 5).await?;
    let school = first_school(&sim)?;
    let secret = "sch_wrong_but_secret_0123456789";
    let wrong = SchoolAccess::new(school.wonde_id.clone(), SecretToken::new(secret));
    let err = client(&sim)?.school(&wrong).await.err().context("expected an error")?;
    assert!(matches!(err, WondeError::Unauthorized { .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(sim.request_count("school"), 1, "401 must not be retried");
    for text in [err.to_string(), format!("{err:?}"), format!("{wrong:?}")] {
        assert!(!text.contains(secret), "token leaked: {text}");
    }
    Ok(())
}

#[tokio::test]
async fn another_schools_token_is_forbidden_and_unknown_school_not_found() -> Result<()> {
    let sim = start(2, 5).await?;
    let schools = sim.schools();
    let wonde = client(&sim)?;
    let crossed = SchoolAccess::new(schools[0].wonde_id.clone(), SecretToken::new(schools[1].token.clone()));
    let err = wonde.students(&crossed, &ListQuery::default()).next_page().await.err();
    assert!(matches!(err, Some(WondeError::Forbidden { .. })), "{err:?}");
    let unknown = SchoolAccess::new("A0000000001", SecretToken::new(schools[0].token.clone()));
    let err = wonde.school(&unknown).await.err();
    assert!(matches!(err, Some(WondeError::NotFound { .. })), "{err:?}");
    assert_eq!(sim.request_count("students") + sim.request_count("school"), 2, "4xx are not retried");
    Ok(())
}

#[tokio::test]
async fn small_unpaged_answer_has_no_pagination_and_is_one_page() -> Result<()> {
    let sim = start(1, 60).await?;
    let school = first_school(&sim)?;
    let (status, body) =
        raw_get(&format!("{}/schools/{}/groups?type=YEAR", sim.base_url(), school.wonde_id), &school.token)
            .await?;
    assert_eq!(status, 200);
    assert!(body["meta"].get("pagination").is_none(), "{}", body["meta"]);

    let wonde = WondeClient::new(WondeConfig { per_page: 0, ..config(&sim) })?;
    let mut pager = wonde.groups(&access(&school), GroupType::Year, &ListQuery::default());
    let page = pager.next_page().await?.context("one page")?;
    assert_eq!(page.records.len(), 5, "years 7-11");
    assert!(!page.has_more);
    assert!(pager.next_page().await?.is_none());
    assert!(page.records.iter().all(|g| g.is_type(GroupType::Year)));
    Ok(())
}

#[tokio::test]
async fn absolute_next_urls_repeat_the_query_and_are_followed() -> Result<()> {
    let sim = start(1, 120).await?;
    let school = first_school(&sim)?;
    let (_, body) = raw_get(
        &format!("{}/schools/{}/students?include=year&per_page=50", sim.base_url(), school.wonde_id),
        &school.token,
    )
    .await?;
    let next = body["meta"]["pagination"]["next"].as_str().context("next")?;
    assert!(next.starts_with(&sim.base_url()), "{next}");
    assert!(
        next.contains("include=year") && next.contains("per_page=50") && next.ends_with("page=2"),
        "{next}"
    );

    let wonde = WondeClient::new(WondeConfig { per_page: 50, ..config(&sim) })?;
    sim.clear_requests();
    let mut pager = wonde.students(&access(&school), &ListQuery::default());
    let mut sizes = Vec::new();
    while let Some(page) = pager.next_page().await? {
        sizes.push(page.records.len());
    }
    assert_eq!(sizes, vec![50, 50, 20]);
    let queries: Vec<String> = sim.requests().into_iter().filter_map(|r| r.query).collect();
    assert_eq!(queries.len(), 3);
    assert!(
        queries[2].contains("include=education_details%2Cyear%2Cregistration%2Ccontacts"),
        "{}",
        queries[2]
    );
    assert!(queries[2].ends_with("page=3"));
    Ok(())
}

#[tokio::test]
async fn school_of_2000_students_streams_every_record_exactly_once() -> Result<()> {
    let sim = start(1, 2000).await?;
    let school = first_school(&sim)?;
    let truth: BTreeSet<String> = sim.truth(&school.wonde_id)?.students.into_iter().map(|s| s.id).collect();
    let wonde = client(&sim)?;
    let mut stream = Box::pin(wonde.students(&access(&school), &ListQuery::default()).into_stream());
    let mut seen = BTreeMap::<String, usize>::new();
    let mut pages = 0;
    while let Some(page) = stream.next().await {
        let page = page?;
        pages += 1;
        ensure!(page.records.len() <= 200);
        for s in page.records {
            ensure!(s.upn().is_some() || s.education_details.data().is_some(), "education_details included");
            *seen.entry(s.id).or_default() += 1;
        }
    }
    assert_eq!(pages, 10);
    assert!(seen.values().all(|&n| n == 1), "a record came twice");
    assert_eq!(seen.keys().cloned().collect::<BTreeSet<_>>(), truth);
    Ok(())
}

#[tokio::test]
async fn updated_after_sees_only_changed_records() -> Result<()> {
    let sim = start(1, 150).await?;
    let school = first_school(&sim)?;
    let id = &school.wonde_id;
    let truth = sim.truth(id)?;
    let watermark = Utc::now() - chrono::Duration::seconds(1);
    let starter = sim.new_starter(id, &NewStarter::default())?;
    let mover = &truth.students[10];
    let other_form = truth
        .groups
        .iter()
        .find(|g| {
            g.kind == wonde_sim::model::GroupKind::Registration && Some(&g.id) != mover.form_group_id.as_ref()
        })
        .context("another form")?;
    sim.change_form(id, &mover.id, &other_form.id)?;

    let wonde = client(&sim)?;
    let since = ListQuery::updated_after(watermark);
    let changed: BTreeSet<String> =
        wonde.students(&access(&school), &since).collect_all().await?.into_iter().map(|s| s.id).collect();
    assert_eq!(changed, BTreeSet::from([starter.id.clone(), mover.id.clone()]));
    let moved = wonde
        .students(&access(&school), &since)
        .collect_all()
        .await?
        .into_iter()
        .find(|s| s.id == mover.id)
        .context("mover")?;
    assert_eq!(moved.form_id(), Some(other_form.id.as_str()));
    let classes = wonde.classes(&access(&school), &since).collect_all().await?;
    assert!(!classes.is_empty());
    assert!(classes.iter().all(|c| c.students.items.iter().any(|s| s.id == starter.id)));
    let all = wonde.classes(&access(&school), &ListQuery::default()).collect_all().await?;
    assert!(classes.len() < all.len());
    Ok(())
}

#[tokio::test]
async fn a_leaver_appears_in_leavers_and_deletions_and_leaves_the_roll() -> Result<()> {
    let sim = start(1, 80).await?;
    let school = first_school(&sim)?;
    let id = &school.wonde_id;
    let leaver = sim.truth(id)?.students[3].clone();
    let watermark = Utc::now() - chrono::Duration::seconds(1);
    let leaving = chrono::NaiveDate::from_ymd_opt(2026, 2, 13).context("date")?;
    // Through the HTTP control API, as a non-Rust test would.
    let resp = reqwest::Client::new()
        .post(format!("{}/schools/{id}/students/{}/leave", sim.control_url(), leaver.id))
        .json(&serde_json::json!({ "leaving_date": "2026-02-13" }))
        .send()
        .await?;
    ensure!(resp.status() == 200, "control API: {}", resp.status());

    let wonde = client(&sim)?;
    let a = access(&school);
    let on_roll = wonde.students(&a, &ListQuery::default()).collect_all().await?;
    assert!(!on_roll.iter().any(|s| s.id == leaver.id));
    let leavers = wonde.leavers(&a, &ListQuery::default()).collect_all().await?;
    let found = leavers.iter().find(|s| s.id == leaver.id).context("in leavers")?;
    assert_eq!(found.leaving_date(), Some(leaving));
    assert_eq!(found.upi.as_deref(), Some(leaver.upi.as_str()));
    let deletions =
        wonde.deletions(&a, Some("student"), &ListQuery::updated_after(watermark)).collect_all().await?;
    assert_eq!(deletions.len(), 1);
    assert_eq!(deletions[0].id, leaver.id);
    assert!(deletions[0].deleted_at.is_some() && deletions[0].restored_at.is_none());

    // Re-enrolment: a new id with the same UPI.
    let back = sim.re_enrol(id, &leaver.id)?;
    let on_roll = wonde.students(&a, &ListQuery::default()).collect_all().await?;
    let again = on_roll.iter().find(|s| s.upi.as_deref() == Some(leaver.upi.as_str())).context("back")?;
    assert_eq!(again.id, back.id);
    assert_ne!(again.id, leaver.id);
    Ok(())
}

#[tokio::test]
async fn rate_limit_with_retry_after_is_waited_out() -> Result<()> {
    let sim = start(1, 20).await?;
    let school = first_school(&sim)?;
    sim.inject_fault(FaultSpec::new("students", FaultKind::RateLimited { retry_after_secs: Some(1) }, 1));
    let started = Instant::now();
    let all = client(&sim)?.students(&access(&school), &ListQuery::default()).collect_all().await?;
    assert_eq!(all.len(), 20);
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After honoured");
    assert_eq!(sim.request_count("students"), 2);
    Ok(())
}

#[tokio::test]
async fn rate_limit_that_persists_fails_after_bounded_retries() -> Result<()> {
    let sim = start(1, 20).await?;
    let school = first_school(&sim)?;
    sim.inject_fault(FaultSpec::new("students", FaultKind::RateLimited { retry_after_secs: Some(0) }, 100));
    let err = client(&sim)?.students(&access(&school), &ListQuery::default()).next_page().await.err();
    assert!(
        matches!(err, Some(WondeError::RateLimited { retry_after: Some(d), .. }) if d.is_zero()),
        "{err:?}"
    );
    assert_eq!(sim.request_count("students"), RETRIES as usize + 1);
    Ok(())
}

#[tokio::test]
async fn transient_500s_recover_and_persistent_500s_fail_bounded() -> Result<()> {
    let sim = start(1, 20).await?;
    let school = first_school(&sim)?;
    let wonde = client(&sim)?;
    sim.inject_fault(FaultSpec::new("school", FaultKind::ServerError { status: 503 }, 2));
    wonde.school(&access(&school)).await?;
    assert_eq!(sim.request_count("school"), 3);

    sim.clear_requests();
    sim.inject_fault(FaultSpec::new("school", FaultKind::ServerError { status: 500 }, 100));
    let started = Instant::now();
    let err = wonde.school(&access(&school)).await.err();
    assert!(matches!(err, Some(WondeError::Server { status: 500, .. })), "{err:?}");
    assert_eq!(sim.request_count("school"), RETRIES as usize + 1);
    assert!(started.elapsed() < Duration::from_secs(2));

    // The time budget bounds retries too.
    sim.clear_requests();
    let stingy = WondeClient::new(WondeConfig {
        retry: RetryPolicy {
            max_retries: 50,
            base_delay: Duration::from_millis(40),
            max_delay: Duration::from_millis(40),
            max_elapsed: Duration::from_millis(150),
        },
        ..config(&sim)
    })?;
    assert!(stingy.school(&access(&school)).await.is_err());
    assert!(sim.request_count("school") < 10);
    Ok(())
}

#[tokio::test]
async fn truncated_body_is_retried_then_fails() -> Result<()> {
    let sim = start(1, 60).await?;
    let school = first_school(&sim)?;
    let wonde = client(&sim)?;
    sim.inject_fault(FaultSpec::new("students", FaultKind::Truncate, 1));
    assert_eq!(wonde.students(&access(&school), &ListQuery::default()).collect_all().await?.len(), 60);
    assert_eq!(sim.request_count("students"), 2);

    sim.clear_requests();
    sim.inject_fault(FaultSpec::new("students", FaultKind::Truncate, 100));
    let err = wonde.students(&access(&school), &ListQuery::default()).next_page().await.err();
    assert!(matches!(err, Some(WondeError::Truncated { page: 1, .. })), "{err:?}");
    assert_eq!(sim.request_count("students"), RETRIES as usize + 1);
    Ok(())
}

#[tokio::test]
async fn dropped_connection_is_retried_then_fails() -> Result<()> {
    let sim = start(1, 20).await?;
    let school = first_school(&sim)?;
    let wonde = client(&sim)?;
    sim.inject_fault(FaultSpec::new("school", FaultKind::Drop, 1));
    wonde.school(&access(&school)).await?;
    let log = sim.requests();
    assert!(log.iter().any(|r| r.dropped) && log.iter().any(|r| r.status == 200));

    sim.clear_requests();
    sim.inject_fault(FaultSpec::new("school", FaultKind::Drop, 100));
    let err = wonde.school(&access(&school)).await.err();
    assert!(matches!(err, Some(WondeError::Connection { .. })), "{err:?}");
    assert!(sim.requests().iter().filter(|r| r.dropped).count() > RETRIES as usize);
    Ok(())
}

#[tokio::test]
async fn slow_answers_time_out_and_are_retried() -> Result<()> {
    let sim = start(1, 20).await?;
    let school = first_school(&sim)?;
    let wonde =
        WondeClient::new(WondeConfig { request_timeout: Duration::from_millis(300), ..config(&sim) })?;
    sim.inject_fault(FaultSpec::new("school", FaultKind::Latency { ms: 1500 }, 1));
    wonde.school(&access(&school)).await?;

    sim.inject_fault(FaultSpec::new("school", FaultKind::Latency { ms: 1500 }, 100));
    let err = wonde.school(&access(&school)).await.err();
    assert!(matches!(err, Some(WondeError::Timeout { .. })), "{err:?}");
    sim.clear_faults();
    Ok(())
}

#[tokio::test]
async fn a_malformed_field_fails_its_page_naming_endpoint_page_field_and_record() -> Result<()> {
    let sim = start(1, 120).await?;
    let school = first_school(&sim)?;
    let bad = sim.truth(&school.wonde_id)?.students[60].id.clone();
    sim.patch_record(
        &school.wonde_id,
        PatchRequest {
            kind: "student".into(),
            id: bad.clone(),
            path: "date_of_birth".into(),
            value: serde_json::json!({"date": "2014-02-31 00:00:00.000000", "timezone_type": 3, "timezone": "UTC"}),
        },
    )?;
    let wonde = WondeClient::new(WondeConfig { per_page: 50, ..config(&sim) })?;
    let mut pager = wonde.students(&access(&school), &ListQuery::default());
    assert_eq!(pager.next_page().await?.map(|p| p.records.len()), Some(50));
    let err = pager.next_page().await.err().context("page 2 must fail")?;
    let WondeError::Decode { endpoint, page, field, record, .. } = &err else {
        bail!("expected Decode, got {err:?}");
    };
    assert_eq!(endpoint, &format!("schools/{}/students", school.wonde_id));
    assert_eq!(*page, 2);
    assert_eq!(field, "data[10].date_of_birth");
    assert_eq!(record.as_deref(), Some(bad.as_str()));
    assert!(err.to_string().contains("data[10].date_of_birth"));
    assert_eq!(sim.request_count("students"), 2, "bad data is not retried");
    Ok(())
}

#[tokio::test]
async fn nulls_odd_scalars_and_datetimes_without_microseconds_are_read() -> Result<()> {
    let sim = start(1, 10).await?;
    let school = first_school(&sim)?;
    let id = sim.truth(&school.wonde_id)?.students[0].id.clone();
    let patch = |path: &str, value: Value| PatchRequest {
        kind: "student".into(),
        id: id.clone(),
        path: path.into(),
        value,
    };
    for p in [
        patch("forename", Value::Null),
        patch("gender", serde_json::json!({"$remove": true})),
        patch("date_of_birth", Value::Null),
        patch("mis_id", serde_json::json!(4711)),
        patch(
            "updated_at",
            serde_json::json!({"date": "2024-01-02 03:04:05", "timezone_type": 3, "timezone": "UTC"}),
        ),
        patch("education_details.data.upn", serde_json::json!(null)),
        patch("education_details.data.leaving_date", serde_json::json!("2026-07-20")),
    ] {
        sim.patch_record(&school.wonde_id, p)?;
    }
    let all = client(&sim)?.students(&access(&school), &ListQuery::default()).collect_all().await?;
    let s = all.iter().find(|s| s.id == id).context("student")?;
    assert_eq!((s.forename.as_deref(), s.gender.as_deref(), s.date_of_birth), (None, None, None));
    assert_eq!(s.mis_id.as_deref(), Some("4711"));
    assert_eq!(s.updated_at.map(|t| t.to_rfc3339()), Some("2024-01-02T03:04:05+00:00".to_owned()));
    assert_eq!(s.upn(), None);
    assert_eq!(s.leaving_date(), chrono::NaiveDate::from_ymd_opt(2026, 7, 20));
    Ok(())
}

#[tokio::test]
async fn relations_not_included_come_as_bare_ids() -> Result<()> {
    let sim = start(1, 40).await?;
    let school = first_school(&sim)?;
    let truth = sim.truth(&school.wonde_id)?;
    let wonde = client(&sim)?;
    let only = |i: &[&str]| ListQuery {
        includes: Some(i.iter().map(|s| (*s).to_owned()).collect()),
        ..ListQuery::default()
    };
    let classes = wonde.classes(&access(&school), &only(&["students"])).collect_all().await?;
    for c in &classes {
        let want = truth.classes.iter().find(|t| t.id == c.id).context("class")?;
        assert!(matches!(&c.subject, Relation::Id(s) if *s == want.subject_id), "{:?}", c.subject);
    }
    let students = wonde.students(&access(&school), &only(&["education_details"])).collect_all().await?;
    for s in &students {
        let want = truth.student(&s.id).context("student")?;
        assert!(matches!(s.year, Relation::Id(_)));
        assert_eq!(s.year_id(), want.year_group_id.as_deref());
        assert_eq!(s.form_id(), want.form_group_id.as_deref());
        assert!(!s.contacts.included, "contacts were not asked for");
    }
    Ok(())
}

#[tokio::test]
async fn guardian_pivots_match_the_mis_including_string_booleans() -> Result<()> {
    // The third school renders pivot flags as "1"/"0".
    let sim = start(3, 60).await?;
    let wonde = client(&sim)?;
    for school in sim.schools() {
        let truth = sim.truth(&school.wonde_id)?;
        let students = wonde.students(&access(&school), &ListQuery::default()).collect_all().await?;
        let mut links = 0;
        for s in &students {
            let want = truth.links_of(&s.id);
            assert_eq!(s.contacts.items.len(), want.len());
            for c in &s.contacts.items {
                let w = want.iter().find(|l| l.contact_id == c.id).context("link")?;
                let pivot = c.relationship.clone().context("pivot")?;
                assert_eq!(pivot.relationship.as_deref(), Some(w.relationship.as_str()));
                assert_eq!(pivot.parental_responsibility, Some(w.parental_responsibility));
                assert_eq!(pivot.lives_with_pupil, Some(w.lives_with_pupil));
                assert_eq!(pivot.priority, Some(i64::from(w.priority)));
                links += 1;
            }
        }
        assert!(links >= students.len());
        // Contacts endpoint: emails as the MIS typed them, students with the pivot.
        let contacts = wonde.contacts(&access(&school), &ListQuery::default()).collect_all().await?;
        assert_eq!(contacts.len(), truth.contacts.len());
        for c in contacts.iter().take(20) {
            let want = truth.contacts.iter().find(|t| t.id == c.id).context("contact")?;
            assert_eq!(c.email(), want.email.as_deref());
            assert!(c.students.items.iter().all(|s| s.relationship.is_some()));
        }
    }
    Ok(())
}

#[tokio::test]
async fn classes_groups_and_staff_carry_teachers_tutors_and_employment() -> Result<()> {
    let sim = start(1, 90).await?;
    let school = first_school(&sim)?;
    let id = &school.wonde_id;
    let truth = sim.truth(id)?;
    let wonde = client(&sim)?;
    let a = access(&school);
    for c in wonde.classes(&a, &ListQuery::default()).collect_all().await? {
        let want = truth.classes.iter().find(|t| t.id == c.id).context("class")?;
        let mains: Vec<&str> = c
            .employees
            .items
            .iter()
            .filter(|e| e.meta.as_ref().and_then(|m| m.is_main_teacher) == Some(true))
            .map(|e| e.id.as_str())
            .collect();
        assert_eq!(mains, vec![want.teachers[0].employee_id.as_str()]);
        assert_eq!(c.students.items.len(), want.student_ids.len());
        assert!(matches!(c.subject, Relation::Data(_)));
    }
    let forms = wonde.groups(&a, GroupType::Registration, &ListQuery::default()).collect_all().await?;
    assert_eq!(forms.len(), truth.groups_of_kind(wonde_sim::model::GroupKind::Registration).count());
    for g in &forms {
        let want = truth.groups.iter().find(|t| t.id == g.id).context("group")?;
        let tutors: Vec<&str> = g.employees.items.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(tutors, want.employee_ids.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(g.students.items.len(), truth.group_student_ids(&g.id).len());
    }

    let leaving = truth.employees[2].id.clone();
    sim.staff_leaves(id, &leaving, &StaffLeave::default())?;
    let today = Utc::now().date_naive() + chrono::Duration::days(1);
    let staff = wonde.employees(&a, &ListQuery::default()).collect_all().await?;
    let gone = staff.iter().find(|e| e.id == leaving).context("still listed")?;
    assert!(!gone.is_current_on(today));
    let current = staff.iter().filter(|e| e.is_current_on(today)).count();
    assert_eq!(current, truth.current_employees(today).len() - 1);
    Ok(())
}

#[tokio::test]
async fn outage_answers_empty_lists() -> Result<()> {
    let sim = start(1, 30).await?;
    let school = first_school(&sim)?;
    sim.set_outage(&school.wonde_id, true)?;
    let wonde = client(&sim)?;
    assert!(wonde.students(&access(&school), &ListQuery::default()).collect_all().await?.is_empty());
    sim.set_outage(&school.wonde_id, false)?;
    assert_eq!(wonde.students(&access(&school), &ListQuery::default()).collect_all().await?.len(), 30);
    Ok(())
}

#[tokio::test]
async fn rollover_moves_everyone_up_over_the_control_api() -> Result<()> {
    let sim = start(1, 100).await?;
    let school = first_school(&sim)?;
    let resp = reqwest::Client::new()
        .post(format!("{}/schools/{}/rollover", sim.control_url(), school.wonde_id))
        .send()
        .await?;
    ensure!(resp.status() == 200);
    let summary: wonde_sim::RolloverSummary = resp.json().await?;
    assert_eq!(summary.left.len(), 20);
    assert_eq!(summary.joined.len(), 20);
    let wonde = client(&sim)?;
    let a = access(&school);
    let students = wonde.students(&a, &ListQuery::default()).collect_all().await?;
    assert_eq!(students.len(), 100);
    let leavers = wonde.leavers(&a, &ListQuery::default()).collect_all().await?;
    assert_eq!(leavers.len(), 20);
    let year_codes: BTreeSet<String> =
        students.iter().filter_map(|s| s.year.data().and_then(|g| g.code.clone())).collect();
    assert_eq!(year_codes, ["10", "11", "7", "8", "9"].iter().map(|s| (*s).to_owned()).collect());
    Ok(())
}

#[tokio::test]
async fn catalog_search_and_the_access_workflow() -> Result<()> {
    let sim = start(2, 5).await?;
    let app = SecretToken::new(sim.app_token());
    let wonde = client(&sim)?;
    let school = first_school(&sim)?;
    let prefix: String = school.postcode.chars().take(3).collect();
    let found = wonde
        .search_schools(
            &app,
            &SchoolSearch { postcode: Some(prefix.to_lowercase()), ..SchoolSearch::default() },
        )
        .collect_all()
        .await?;
    assert!(found.iter().any(|s| s.id == school.wonde_id));
    let by_urn = wonde
        .search_schools(&app, &SchoolSearch { urn: Some(school.urn.to_string()), ..SchoolSearch::default() })
        .collect_all()
        .await?;
    assert_eq!(by_urn.len(), 1);
    assert_eq!(wonde.search_schools(&app, &SchoolSearch::default()).collect_all().await?.len(), 6);

    let outsider = sim.catalog().into_iter().find(|s| !s.in_trust).context("catalog school")?;
    let request = AccessRequest {
        contacts: vec![AccessContact {
            first_name: "Ada".into(),
            last_name: "Admin".into(),
            email_address: "ada@trust.example".into(),
            ..AccessContact::default()
        }],
    };
    let answer = wonde.request_access(&app, &outsider.wonde_id, &request).await?;
    assert_eq!(answer.state.as_deref(), Some("pending"));
    assert_eq!(answer.outcome(), AccessOutcome::Pending);
    assert_eq!(sim.access_requests()[0].body["contacts"][0]["email_address"], "ada@trust.example");
    let pending = wonde.schools_in(&app, AccessList::Pending).collect_all().await?;
    assert_eq!(pending.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), vec![outsider.wonde_id.as_str()]);

    let already = wonde.request_access(&app, &school.wonde_id, &request).await?;
    assert_eq!((already.success, already.outcome()), (Some(false), AccessOutcome::AlreadyApproved));
    let revoked = wonde.revoke_access(&app, &school.wonde_id).await?;
    assert_eq!(revoked.outcome(), AccessOutcome::Revoked);
    let err = wonde.school(&access(&school)).await.err();
    assert!(matches!(err, Some(WondeError::Unauthorized { .. })), "revoked token: {err:?}");
    // A (still approved) school's token cannot use the app's endpoints.
    let other = sim.schools().into_iter().nth(1).context("second school")?;
    let err =
        wonde.search_schools(&SecretToken::new(other.token), &SchoolSearch::default()).next_page().await;
    assert!(matches!(err, Err(WondeError::Forbidden { .. })), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn webhooks_reach_the_url_with_the_secret_and_change_access() -> Result<()> {
    type Seen = Arc<Mutex<Vec<(Option<String>, Option<String>, Value)>>>;
    let seen: Seen = Arc::default();
    let sink = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap,
                  axum::extract::RawQuery(q): axum::extract::RawQuery,
                  axum::Json(body): axum::Json<Value>| {
                let sink = sink.clone();
                async move {
                    let header =
                        headers.get("x-webhook-secret").and_then(|v| v.to_str().ok()).map(str::to_owned);
                    sink.lock()
                        .map_err(|_| axum::http::StatusCode::INTERNAL_SERVER_ERROR)?
                        .push((header, q, body));
                    Ok::<_, axum::http::StatusCode>(axum::http::StatusCode::NO_CONTENT)
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let sim = start(1, 5).await?;
    let school = first_school(&sim)?;
    let revoke = WebhookRequest {
        url: url.clone(),
        school_id: school.wonde_id.clone(),
        event: WebhookEvent::AccessRevoked { reason: None },
        secret: Some("s3cret".into()),
        secret_in: wonde_sim::SecretPlacement::Header,
    };
    assert_eq!(sim.send_webhook(&revoke).await?.status, 204);
    let approve = WebhookRequest {
        event: WebhookEvent::SchoolApproved,
        secret_in: wonde_sim::SecretPlacement::Query,
        ..revoke.clone()
    };
    sim.send_webhook(&approve).await?;
    let seen = seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].0.as_deref(), Some("s3cret"));
    assert_eq!(seen[0].2["payload_type"], "accessRevoked");
    assert_eq!(seen[1].1.as_deref(), Some("secret=s3cret"));
    assert_eq!(seen[1].2["payload_type"], "schoolApproved");
    assert_eq!(seen[1].2["school_token"], school.token.as_str());
    // Approved again: the token opens the school.
    client(&sim)?.school(&access(&school)).await?;
    Ok(())
}

// ------------------------------------------------------ the access flow

/// The bodies a tiny webhook receiver got, with their query strings.
type Hooks = Arc<Mutex<Vec<(Option<String>, Value)>>>;

async fn webhook_receiver() -> Result<(String, Hooks)> {
    let seen: Hooks = Arc::default();
    let sink = seen.clone();
    let app = axum::Router::new().route(
        "/webhooks/wonde",
        axum::routing::post(
            move |axum::extract::RawQuery(q): axum::extract::RawQuery,
                  axum::Json(body): axum::Json<Value>| {
                let sink = sink.clone();
                async move {
                    if let Ok(mut seen) = sink.lock() {
                        seen.push((q, body));
                    }
                    axum::http::StatusCode::OK
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/webhooks/wonde", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, seen))
}

fn hooks(seen: &Hooks) -> Vec<(Option<String>, Value)> {
    seen.lock().map(|s| s.clone()).unwrap_or_default()
}

fn ada() -> AccessRequest {
    AccessRequest {
        contacts: vec![AccessContact {
            first_name: "Ada".into(),
            last_name: "Admin".into(),
            email_address: "ada@trust.example".into(),
            phone_number: Some("01234 567890".into()),
            notes: Some("Onroll for the trust".into()),
        }],
    }
}

async fn start_with_catalog() -> Result<SimHandle> {
    Simulator::start(SimConfig { schools: 1, students_per_school: 5, seed: 3, ..SimConfig::default() }).await
}

fn catalog_school(sim: &SimHandle, n: usize) -> Result<SimSchool> {
    sim.catalog().into_iter().filter(|s| !s.in_trust).nth(n).context("catalog school")
}

fn ids(schools: &[onroll::wonde::WondeSchool]) -> Vec<String> {
    let mut ids: Vec<String> = schools.iter().map(|s| s.id.clone()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn the_catalog_of_three_hundred_pages_and_refreshes_incrementally() -> Result<()> {
    let sim = start_with_catalog().await?;
    let app = SecretToken::new(sim.app_token());
    let wonde = client(&sim)?;
    let mut pager = wonde.search_schools(&app, &SchoolSearch::default());
    let (mut all, mut pages) = (Vec::new(), 0);
    while let Some(page) = pager.next_page().await? {
        pages += 1;
        all.extend(page.records);
    }
    assert_eq!((all.len(), pages), (301, 2), "200 a page");
    let distinct: BTreeSet<&str> = all.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(distinct.len(), 301);
    for s in &all {
        ensure!(s.name.is_some() && s.urn.is_some() && s.la_code.is_some(), "{s:?}");
        ensure!(
            s.establishment_number.is_some() && s.phase_of_education.is_some() && s.mis.is_some(),
            "{s:?}"
        );
        ensure!(s.postcode().is_some() && s.updated_at.is_some(), "{s:?}");
    }
    // Wonde's own page size: 50.
    let small = WondeClient::new(WondeConfig { per_page: 0, ..config(&sim) })?;
    let mut pager = small.search_schools(&app, &SchoolSearch::default());
    let mut small_pages = 0;
    while pager.next_page().await?.is_some() {
        small_pages += 1;
    }
    assert_eq!(small_pages, 7);

    // The incremental refresh sees the school whose access changed, only.
    let mark = Utc::now();
    assert!(wonde.search_schools(&app, &SchoolSearch::updated_after(mark)).collect_all().await?.is_empty());
    let school = catalog_school(&sim, 0)?;
    let answer = wonde.request_access(&app, &school.wonde_id, &ada()).await?;
    assert_eq!(answer.outcome(), AccessOutcome::Pending);
    let changed = wonde.search_schools(&app, &SchoolSearch::updated_after(mark)).collect_all().await?;
    assert_eq!(ids(&changed), vec![school.wonde_id.clone()]);
    assert!(changed[0].updated_at.is_some_and(|t| t > mark));
    let pending = wonde.schools_in(&app, AccessList::Pending).collect_all().await?;
    assert_eq!(ids(&pending), vec![school.wonde_id.clone()]);
    let recorded = sim.access_requests();
    assert_eq!(recorded[0].body["contacts"][0]["phone_number"], "01234 567890");
    assert_eq!(recorded[0].body["contacts"][0]["notes"], "Onroll for the trust");
    Ok(())
}

#[tokio::test]
async fn approval_webhook_brings_a_token_the_client_syncs_a_small_roster_with() -> Result<()> {
    let (url, seen) = webhook_receiver().await?;
    let sim = start_with_catalog().await?;
    sim.set_webhook_target(Some(WebhookTarget::new(url).with_secret("hook-secret")))?;
    let app = SecretToken::new(sim.app_token());
    let wonde = client(&sim)?;
    let school = catalog_school(&sim, 1)?;
    wonde.request_access(&app, &school.wonde_id, &ada()).await?;
    let approval = sim.approve(&school.wonde_id).await?;
    assert_eq!(approval.webhook.as_ref().map(|w| w.status), Some(200));

    let got = hooks(&seen);
    assert_eq!(got.len(), 1);
    let (query, payload) = &got[0];
    assert_eq!(query.as_deref(), Some("secret=hook-secret"));
    assert_eq!(payload["payload_type"], "schoolApproved");
    assert_eq!(payload["school_id"], school.wonde_id.as_str());
    assert_eq!(payload["school_name"], school.name.as_str());
    assert_eq!(payload["school_urn"], school.urn.to_string().as_str());
    let token = payload["school_token"].as_str().context("school_token")?;
    assert_eq!(token, approval.token);

    // What a first FULL sync reads, with the token from the webhook.
    let access = SchoolAccess::new(school.wonde_id.clone(), SecretToken::new(token));
    let details = wonde.school(&access).await?;
    assert_eq!(details.name.as_deref(), Some(school.name.as_str()));
    let students = wonde.students(&access, &ListQuery::default()).collect_all().await?;
    ensure!((5..=20).contains(&students.len()), "{} students", students.len());
    for s in &students {
        ensure!(!s.contacts.items.is_empty(), "{} has no guardian", s.id);
        ensure!(s.year_id().is_some() && s.form_id().is_some(), "{} has no year or form", s.id);
    }
    let contacts = wonde.contacts(&access, &ListQuery::default()).collect_all().await?;
    assert!(!contacts.is_empty());
    let staff = wonde.employees(&access, &ListQuery::default()).collect_all().await?;
    assert!(!staff.is_empty());
    wonde.classes(&access, &ListQuery::default()).collect_all().await?;
    for kind in [GroupType::Year, GroupType::Registration] {
        assert!(!wonde.groups(&access, kind, &ListQuery::default()).collect_all().await?.is_empty());
    }
    assert!(wonde.leavers(&access, &ListQuery::default()).collect_all().await?.is_empty());
    assert!(wonde.deletions(&access, None, &ListQuery::default()).collect_all().await?.is_empty());
    let approved = wonde.schools_in(&app, AccessList::Approved).collect_all().await?;
    assert!(approved.iter().any(|s| s.id == school.wonde_id));
    assert!(wonde.schools_in(&app, AccessList::Pending).collect_all().await?.is_empty());
    // The truth the sync should mirror.
    assert_eq!(sim.truth(&school.wonde_id)?.students.len(), students.len());
    Ok(())
}

#[tokio::test]
async fn decline_and_revoke_move_the_school_between_the_apps_lists() -> Result<()> {
    let (url, seen) = webhook_receiver().await?;
    let sim = start_with_catalog().await?;
    sim.set_webhook_target(Some(WebhookTarget::new(url)))?;
    let app = SecretToken::new(sim.app_token());
    let wonde = client(&sim)?;
    let school = catalog_school(&sim, 2)?;
    let listed = |list: AccessList| {
        let wonde = wonde.clone();
        let app = app.clone();
        async move { wonde.schools_in(&app, list).collect_all().await.map(|s| ids(&s)) }
    };
    let just = vec![school.wonde_id.clone()];

    // Approving a school nobody asked for is refused, and sends nothing.
    let refused = sim.approve(&school.wonde_id).await.err();
    assert!(matches!(refused, Some(SimError::Conflict(_))), "{refused:?}");
    assert!(hooks(&seen).is_empty());

    wonde.request_access(&app, &school.wonde_id, &ada()).await?;
    let declined = sim.decline(&school.wonde_id, Some("Not this year")).await?;
    assert_eq!(declined.state, AccessState::Declined);
    assert_eq!(listed(AccessList::Declined).await?, just);
    assert_eq!(hooks(&seen)[0].1["payload_type"], "accessDeclined");
    assert_eq!(hooks(&seen)[0].1["decline_reason"], "Not this year");

    // Declined → asked again → approved → revoked by the school.
    let again = wonde.request_access(&app, &school.wonde_id, &ada()).await?;
    assert_eq!(again.outcome(), AccessOutcome::Pending);
    assert!(listed(AccessList::Declined).await?.is_empty());
    let approval = sim.approve(&school.wonde_id).await?;
    let access = SchoolAccess::new(school.wonde_id.clone(), SecretToken::new(approval.token.clone()));
    wonde.school(&access).await?;
    let already = wonde.request_access(&app, &school.wonde_id, &ada()).await?;
    assert_eq!(already.outcome(), AccessOutcome::AlreadyApproved);
    sim.revoke(&school.wonde_id, Some("Left the trust")).await?;
    assert_eq!(listed(AccessList::Revoked).await?, just);
    let err = wonde.school(&access).await.err();
    assert!(matches!(err, Some(WondeError::Unauthorized { .. })), "{err:?}");
    let revoked = hooks(&seen).pop().context("a webhook")?.1;
    assert_eq!(
        (revoked["payload_type"].as_str(), revoked["revoke_reason"].as_str()),
        (Some("accessRevoked"), Some("Left the trust"))
    );

    // The app withdraws a pending request with revoke-access.
    wonde.request_access(&app, &school.wonde_id, &ada()).await?;
    let withdrawn = wonde.revoke_access(&app, &school.wonde_id).await?;
    assert_eq!((withdrawn.success, withdrawn.outcome()), (Some(true), AccessOutcome::Revoked));
    assert!(listed(AccessList::Pending).await?.is_empty());
    // Unknown school: not found, for both calls.
    let err = wonde.request_access(&app, "A0000000000", &ada()).await.err();
    assert!(matches!(err, Some(WondeError::NotFound { .. })), "{err:?}");
    let err = wonde.revoke_access(&app, "A0000000000").await.err();
    assert!(matches!(err, Some(WondeError::NotFound { .. })), "{err:?}");
    Ok(())
}

fn paged(sim: &SimHandle, per_page: u32) -> Result<WondeClient> {
    Ok(WondeClient::new(WondeConfig { per_page, ..config(sim) })?)
}

/// Issue 10: a last page answering `200 {"error": ...}` was read as an empty
/// page. Such a page, and one whose `data` is missing, null or not a list,
/// is `Incomplete`, retried like a 5xx, then fails naming endpoint and page.
#[tokio::test]
async fn a_200_with_an_error_or_without_a_data_list_is_not_whole() -> Result<()> {
    let sim = start(1, 30).await?;
    let school = first_school(&sim)?;
    let wonde = paged(&sim, 10)?;

    // Once: the retry gets the page, and every record arrives.
    let error_body = FaultKind::OkErrorBody { message: "Something went wrong".into() };
    sim.inject_fault(FaultSpec::new("students", error_body.clone(), 1).on_page(3));
    let all = wonde.students(&access(&school), &ListQuery::default()).collect_all().await?;
    assert_eq!(all.len(), 30);

    let bodies = [
        (error_body, "\"Something went wrong\""),
        (FaultKind::RawBody { status: 200, body: r#"{"data":null,"meta":[]}"#.into() }, "no `data` list"),
        (FaultKind::RawBody { status: 200, body: r#"{"meta":{}}"#.into() }, "no `data` list"),
        (FaultKind::RawBody { status: 200, body: r#"{"data":{"id":"A1"}}"#.into() }, "an object"),
    ];
    for (fault, says) in bodies {
        sim.clear_requests();
        sim.inject_fault(FaultSpec::new("students", fault, 100).on_page(3));
        let mut pager = wonde.students(&access(&school), &ListQuery::default());
        assert_eq!(pager.next_page().await?.map(|p| p.records.len()), Some(10));
        assert_eq!(pager.next_page().await?.map(|p| p.records.len()), Some(10));
        let err = pager.next_page().await.err();
        let Some(WondeError::Incomplete { endpoint, page, detail }) = &err else {
            bail!("expected Incomplete, got {err:?}")
        };
        assert_eq!((endpoint.as_str(), *page), (format!("schools/{}/students", school.wonde_id).as_str(), 3));
        assert!(detail.contains(says), "{detail}");
        assert_eq!(sim.request_count("students"), 2 + RETRIES as usize + 1, "retried, then failed");
        sim.clear_faults();
    }

    // A single record needs its `data` object too.
    sim.inject_fault(FaultSpec::new("school", FaultKind::RawBody { status: 200, body: "{}".into() }, 100));
    let err = wonde.school(&access(&school)).await.err();
    assert!(matches!(err, Some(WondeError::Incomplete { page: 1, .. })), "{err:?}");
    Ok(())
}

/// Refusals are read for Wonde's words, which the error carries without
/// the token or anything like one; a refusal is not retried.
#[tokio::test]
async fn refusal_bodies_carry_wondes_words_never_the_token() -> Result<()> {
    let sim = start(1, 5).await?;
    let app = SecretToken::new(sim.app_token());
    let wonde = client(&sim)?;
    let outsider = sim.catalog().into_iter().find(|s| !s.in_trust).context("catalog school")?;
    let message = format!("The contact email is invalid for key {}", sim.app_token());
    sim.inject_fault(FaultSpec::new("request-access", FaultKind::StatusWithBody { status: 422, message }, 1));
    let err = wonde.request_access(&app, &outsider.wonde_id, &AccessRequest::default()).await.err();
    let Some(WondeError::Status { status: 422, message: Some(said), .. }) = &err else {
        bail!("expected a 422 with words, got {err:?}")
    };
    assert_eq!(said, "The contact email is invalid for key [redacted]");
    let shown = err.as_ref().map(ToString::to_string).unwrap_or_default();
    assert!(shown.contains("The contact email is invalid") && !shown.contains(&sim.app_token()), "{shown}");
    assert_eq!(sim.request_count("request-access"), 1, "a refusal is not retried");

    // A 5xx after retries keeps its words too, and says Wonde is failing.
    let failing = FaultKind::StatusWithBody { status: 503, message: "Down for maintenance".into() };
    sim.inject_fault(FaultSpec::new("school", failing, 100));
    let school = first_school(&sim)?;
    let err = wonde.school(&access(&school)).await.err();
    assert!(matches!(&err, Some(WondeError::Server { status: 503, .. })), "{err:?}");
    let shown = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(shown.contains("Wonde is failing") && shown.contains("Down for maintenance"), "{shown}");
    Ok(())
}
