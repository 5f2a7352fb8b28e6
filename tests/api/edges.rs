//! The HTTP edge (issue 13): `POST /graphql` executes only JSON and
//! multipart bodies (415 otherwise: a `text/plain` mutation used to run),
//! JSON bodies are capped at 1 MiB (413) while CSV uploads keep their larger
//! cap, and search wildcards are taken literally (`%%` used to list the
//! whole catalog).

use chrono::Utc;
use entity::{sync_run, wonde_catalog_school};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::csv_upload::{IMPORT, multipart};
use crate::on_both_engines;
use crate::support::fixture::gid;
use crate::support::{Engine, TestApp};
use onroll::graphql::ids::NodeType;

on_both_engines!(only_json_and_multipart_bodies_and_json_is_capped, search_wildcards_are_literal);

async fn raw(
    app: &TestApp,
    token: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> anyhow::Result<(u16, Value)> {
    let mut request = app.http.post(app.url("/graphql")).bearer_auth(token).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

async fn only_json_and_multipart_bodies_and_json_is_capped(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let trigger = json!({
        "query": "mutation($s: ID!) { triggerSync(schoolId: $s) { id } }",
        "variables": { "s": gid(NodeType::School, s.school_a.id) },
    })
    .to_string();
    let runs = sync_run::Entity::find().count(app.db()).await?;
    for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
        let (status, body) = raw(&app, &s.trust_admin, content_type, trigger.clone().into_bytes()).await?;
        assert_eq!(status, 415, "{content_type:?}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNSUPPORTED_MEDIA_TYPE");
    }
    assert_eq!(sync_run::Entity::find().count(app.db()).await?, runs, "no refused body was executed");
    let (status, body) =
        raw(&app, &s.trust_admin, Some("application/json; charset=utf-8"), trigger.into_bytes()).await?;
    assert_eq!((status, body.get("errors")), (200, None), "{body}");

    // JSON: 1 MiB at most, however it is padded.
    let padding = " ".repeat(1024 * 1024);
    let big = format!(r#"{{"query": "{{ viewer {{ role }} }}"{padding}}}"#);
    let (status, body) = raw(&app, &s.trust_admin, Some("application/json"), big.into_bytes()).await?;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "PAYLOAD_TOO_LARGE");
    let fits = format!(r#"{{"query": "{{ viewer {{ role }} }}"{}}}"#, " ".repeat(1000 * 1000));
    let (status, _) = raw(&app, &s.trust_admin, Some("application/json"), fits.into_bytes()).await?;
    assert_eq!(status, 200);

    // A CSV upload larger than the JSON cap is still taken.
    let school = gid(NodeType::School, s.other_school.id);
    let mut students = String::from("id,forename,surname\n");
    let mut n = 0;
    // Long names, so that a few thousand rows pass the 1 MiB JSON cap.
    let long = "x".repeat(200);
    while students.len() < 1024 * 1024 + 4096 {
        n += 1;
        students.push_str(&format!("S{n},Forename{n}{long},Surname{n}\n"));
    }
    let other = onroll::tenancy::create_token(
        app.db(),
        &onroll::tenancy::TokenSpec {
            role: entity::enums::Role::TrustAdmin,
            trust_id: Some(s.other_school.trust_id),
            school_ids: Vec::new(),
            label: None,
            expires_in: None,
            scopes: Vec::new(),
        },
    )
    .await?
    .0;
    let (content_type, body) = multipart(IMPORT, json!({ "s": school }), &[("students", &students)]);
    let (status, answer) = raw(&app, &other, Some(&content_type), body).await?;
    assert_eq!(status, 200, "{answer}");
    let run = &answer["data"]["importCsv"]["run"];
    assert_eq!(
        (run["status"].as_str(), run["students"]["created"].as_i64()),
        (Some("COMPLETED"), Some(n)),
        "{answer}"
    );
    Ok(())
}

async fn search_wildcards_are_literal(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let now = Utc::now();
    for (id, name, postcode) in [("A1", "Oak Primary", "CB1 1AA"), ("A2", "Elm_Academy", "CB2 2BB")] {
        wonde_catalog_school::ActiveModel {
            wonde_id: Set(id.to_owned()),
            name: Set(name.to_owned()),
            name_key: Set(name.to_lowercase()),
            postcode: Set(Some(postcode.to_owned())),
            postcode_key: Set(Some(postcode.replace(' ', ""))),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(app.db())
        .await?;
    }
    let search = "query($q: String!) { wondeSchools(search: $q, first: 50) { wondeId } }";
    let found = |q: &'static str| {
        let app = &app;
        let token = s.trust_admin.clone();
        async move {
            let data = app.query(&token, search, json!({ "q": q })).await?;
            let ids: Vec<String> = data["wondeSchools"]
                .as_array()
                .map(|l| l.iter().filter_map(|s| s["wondeId"].as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            anyhow::Ok(ids)
        }
    };
    assert_eq!(found("%%").await?, Vec::<String>::new(), "`%%` matches nothing");
    assert_eq!(found("__").await?, Vec::<String>::new());
    assert_eq!(found("m_a").await?, vec!["A2".to_owned()], "`_` is an underscore");
    assert_eq!(found("cb1").await?, vec!["A1".to_owned()], "postcode prefixes still work");

    let guardians = "query($s: ID!, $q: String) { node(id: $s) { ... on School {
        guardians(filter: { search: $q }) { totalCount } } } }";
    for (q, expected) in [("%", 0), ("_", 0), ("\\", 0), ("smith", 2)] {
        let data = app
            .query(&s.trust_admin, guardians, json!({ "s": gid(NodeType::School, s.school_a.id), "q": q }))
            .await?;
        assert_eq!(data["node"]["guardians"]["totalCount"], expected, "{q:?}");
    }
    Ok(())
}
