//! The app's own side: the catalog, access requests and the webhooks that
//! answer them; answers that are not whole, and refusals in Wonde's words.

use super::*;

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

    let (sim, school) = one_school(5).await?;
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
    let (sim, school) = one_school(30).await?;
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
