//! Reading a school: every quirk of wonde-api.md §9 in what the client
//! parses and pages, and every fault it retries or reports.

use super::*;

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
    let (sim, school) = one_school(30).await?;
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
    let (sim, school) = one_school(5).await?;
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
    let (sim, school) = one_school(60).await?;
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
    let (sim, school) = one_school(120).await?;
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
    let (sim, school) = one_school(2000).await?;
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
    let (sim, school) = one_school(150).await?;
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
    let (sim, school) = one_school(80).await?;
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
    let (sim, school) = one_school(20).await?;
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
    let (sim, school) = one_school(20).await?;
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
    let (sim, school) = one_school(20).await?;
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
    let (sim, school) = one_school(60).await?;
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
    let (sim, school) = one_school(20).await?;
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
    let (sim, school) = one_school(20).await?;
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
async fn a_malformed_field_leaves_its_record_out_naming_field_and_record() -> Result<()> {
    let (sim, school) = one_school(120).await?;
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
    // One pupil's bad date must not hide the other 49 of the page (nor
    // fail the school's runs): the record is left out and named.
    let page = pager.next_page().await?.context("page 2")?;
    assert_eq!((page.number, page.records.len()), (2, 49));
    assert!(page.records.iter().all(|r| r.id != bad));
    let [unreadable] = page.unreadable.as_slice() else {
        bail!("expected one unreadable record, got {:?}", page.unreadable);
    };
    assert_eq!(unreadable.record.as_deref(), Some(bad.as_str()));
    assert_eq!(unreadable.field, "date_of_birth");
    assert!(!unreadable.detail.contains("2014-02-31"), "no values: {}", unreadable.detail);
    assert_eq!(pager.next_page().await?.map(|p| p.records.len()), Some(20));
    assert_eq!(sim.request_count("students"), 3, "bad data is not retried");

    // Lists stored whole (the catalog, the access lists) refuse the page.
    let mut whole = wonde.students(&access(&school), &ListQuery::default());
    assert!(whole.next_whole_page().await?.is_some());
    let err = whole.next_whole_page().await.err().context("page 2 must fail whole")?;
    let WondeError::Decode { page, field, record, .. } = &err else {
        bail!("expected Decode, got {err:?}");
    };
    assert_eq!((*page, field.as_str(), record.as_deref()), (2, "date_of_birth", Some(bad.as_str())));
    Ok(())
}

#[tokio::test]
async fn nulls_odd_scalars_and_datetimes_without_microseconds_are_read() -> Result<()> {
    let (sim, school) = one_school(10).await?;
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
    let (sim, school) = one_school(40).await?;
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
    let (sim, school) = one_school(90).await?;
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
    let (sim, school) = one_school(30).await?;
    sim.set_outage(&school.wonde_id, true)?;
    let wonde = client(&sim)?;
    assert!(wonde.students(&access(&school), &ListQuery::default()).collect_all().await?.is_empty());
    sim.set_outage(&school.wonde_id, false)?;
    assert_eq!(wonde.students(&access(&school), &ListQuery::default()).collect_all().await?.len(), 30);
    Ok(())
}

#[tokio::test]
async fn rollover_moves_everyone_up_over_the_control_api() -> Result<()> {
    let (sim, school) = one_school(100).await?;
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
