//! Every request needs a known bearer token.

use serde_json::json;

use crate::on_both_engines;
use crate::support::{Engine, TestApp};

on_both_engines!(missing_wrong_and_malformed_tokens_are_refused, viewer_says_who_you_are);

async fn missing_wrong_and_malformed_tokens_are_refused(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let query = "{ viewer { role } trusts { name } }";

    for token in [None, Some("onr_not-a-real-token"), Some(""), Some(&s.trust_admin[..20])] {
        let (status, body) = app.post(token, query, json!({})).await?;
        assert_eq!(status, 401, "{token:?}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
        assert!(body.get("data").is_none(), "no data leaks: {body}");
    }

    // The right token under another scheme is still refused.
    let response = app
        .http
        .post(app.url("/graphql"))
        .header("Authorization", format!("Basic {}", s.trust_admin))
        .json(&json!({ "query": query }))
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(response.headers().get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Bearer"));
    let body = response.text().await?;
    assert!(!body.contains(&s.trust_admin), "the token is never echoed");
    Ok(())
}

async fn viewer_says_who_you_are(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let query = "{ viewer { role schools { name } } }";
    let cases = [
        (&s.trust_admin, "TRUST_ADMIN", vec!["Ash Primary", "Birch Secondary"]),
        (&s.school_a_admin, "SCHOOL_ADMIN", vec!["Ash Primary"]),
        (&s.integrator, "INTEGRATOR", vec!["Ash Primary", "Birch Secondary"]),
        (&s.integrator_b, "INTEGRATOR", vec!["Birch Secondary"]),
        (&s.other_admin, "TRUST_ADMIN", vec!["Cedar Primary"]),
    ];
    for (token, role, schools) in cases {
        let data = app.query(token, query, json!({})).await?;
        assert_eq!(data["viewer"]["role"], role);
        assert_eq!(crate::support::strings(&data["viewer"]["schools"], "name"), schools);
    }
    Ok(())
}
