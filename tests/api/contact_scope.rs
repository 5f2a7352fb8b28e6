//! Contact details behind a scope (issue 13): guardians' and staff's
//! emails are null for integrators whose token lacks `contact-details`,
//! and a search does not match them; with the scope, and for admins, they
//! are shown; everything else is the same.

use entity::enums::Role;
use onroll::graphql::ids::NodeType;
use onroll::tenancy::{TokenSpec, create_token};
use serde_json::{Value, json};

use crate::on_both_engines;
use crate::support::fixture::gid;
use crate::support::{Engine, TestApp};

on_both_engines!(contact_details_need_the_scope);

const DIRECTORY: &str = "query($s: ID!, $q: String) { viewer { scopes } node(id: $s) { ... on School {
    guardians(first: 50) { edges { node { id forename surname email } } }
    staff(first: 50) { edges { node { id forename email } } }
    students(first: 50) { edges { node { id email upn } } }
    found: guardians(filter: { search: $q }) { totalCount } } } }";

async fn contact_details_need_the_scope(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let spec = |scopes: Vec<String>| TokenSpec {
        role: Role::Integrator,
        trust_id: Some(s.trust.id),
        school_ids: Vec::new(),
        label: None,
        expires_in: None,
        scopes,
    };
    let scoped = create_token(app.db(), &spec(vec!["contact-details".to_owned()])).await?.0;
    let unknown = create_token(app.db(), &spec(vec!["everything".to_owned()])).await;
    assert!(matches!(unknown, Err(onroll::tenancy::TenancyError::UnknownScope(_))), "{unknown:?}");
    let vars = json!({ "s": gid(NodeType::School, s.school_a.id), "q": "ann.smith@example" });

    let plain = app.query(&s.integrator, DIRECTORY, vars.clone()).await?;
    let with_scope = app.query(&scoped, DIRECTORY, vars.clone()).await?;
    let admin = app.query(&s.school_a_admin, DIRECTORY, vars).await?;
    assert_eq!(plain["viewer"]["scopes"], json!([]));
    assert_eq!(with_scope["viewer"]["scopes"], json!(["contact-details"]));

    let emails = |data: &Value, list: &str| -> Vec<Value> {
        data["node"][list]["edges"]
            .as_array()
            .map(|e| e.iter().map(|e| e["node"]["email"].clone()).collect())
            .unwrap_or_default()
    };
    for list in ["guardians", "staff"] {
        assert!(emails(&plain, list).iter().all(Value::is_null), "{list}: {plain}");
        assert!(emails(&with_scope, list).iter().any(Value::is_string), "{list}: {with_scope}");
        assert_eq!(emails(&with_scope, list), emails(&admin, list), "{list}");
    }
    assert!(!plain.to_string().contains("@example.org") && !plain.to_string().contains("@staff.example"));
    // A search cannot probe for an address it cannot see.
    assert_eq!(plain["node"]["found"]["totalCount"], 0);
    assert_eq!(with_scope["node"]["found"]["totalCount"], 1);
    // Everything else is unchanged: the same people, names and students.
    let strip = |mut data: Value| {
        for list in ["guardians", "staff"] {
            if let Some(edges) = data["node"][list]["edges"].as_array_mut() {
                for edge in edges {
                    edge["node"]["email"] = Value::Null;
                }
            }
        }
        data["node"]["found"] = Value::Null;
        data["viewer"] = Value::Null;
        data
    };
    assert_eq!(strip(plain), strip(with_scope));
    Ok(())
}
