//! Emails arrive with stray whitespace (a MIS field typed " ann@x.org\t"):
//! they are cleaned once, where records enter (`sync::source::clean_email`),
//! so answers, search and events show the clean address, case as given.
//! On both engines, over HTTP against the simulator.

use entity::enums::{SyncKind, SyncStatus};
use entity::{guardian, staff};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use wonde_sim::PatchRequest;

use crate::held::Held;
use crate::on_both_engines;
use crate::row_by_wonde_id;
use crate::support::Engine;

on_both_engines!(emails_with_stray_whitespace_are_kept_clean);

const PEOPLE: &str = "query($s: ID!, $g: String, $t: String) { school(id: $s) {
    guardians(first: 5, filter: { search: $g }) { edges { node { wondeId email } } }
    staff(first: 5, filter: { search: $t }) { edges { node { wondeId email } } }
} }";
const EVENTS: &str = "query($s: ID!) { deactivationEvents(schoolId: $s, first: 50) { edges { node {
    person { __typename ... on Guardian { wondeId email } }
} } } }";

fn patch(kind: &str, id: &str, value: &str) -> PatchRequest {
    PatchRequest {
        kind: kind.into(),
        id: id.into(),
        path: "contact_details.data.emails.email".into(),
        value: json!(value),
    }
}

fn nodes(data: &Value, field: &str) -> Vec<Value> {
    data["school"][field]["edges"]
        .as_array()
        .map(|edges| edges.iter().map(|e| e["node"].clone()).collect())
        .unwrap_or_default()
}

async fn emails_with_stray_whitespace_are_kept_clean(engine: Engine) -> anyhow::Result<()> {
    let h = Held::start(&engine, 6).await?;
    let truth = h.sim.truth(&h.wonde_id)?;
    let parent = truth.contacts.first().ok_or_else(|| anyhow::anyhow!("a contact"))?.clone();
    let teacher = truth.employees.first().ok_or_else(|| anyhow::anyhow!("an employee"))?.clone();
    h.sim.patch_record(&h.wonde_id, patch("contact", &parent.id, " Ann.Parent@Example.org\t"))?;
    h.sim
        .patch_record(&h.wonde_id, patch("employee", &teacher.id, "\u{a0}\tMr.Teacher@School.example \n"))?;
    let run = h.sync(SyncKind::Full).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);

    // Stored clean, case kept.
    let g = row_by_wonde_id!(h.db(), h.school.id, guardian, parent.id.as_str())?;
    assert_eq!(g.email.as_deref(), Some("Ann.Parent@Example.org"));
    assert_eq!(g.email_key.as_deref(), Some("ann.parent@example.org"));
    let t = row_by_wonde_id!(h.db(), h.school.id, staff, teacher.id.as_str())?;
    assert_eq!(t.email.as_deref(), Some("Mr.Teacher@School.example"));

    // Answered and found by the clean address.
    let vars = json!({ "s": h.school_id(), "g": "Ann.Parent@Example.org", "t": "Mr.Teacher@School.example" });
    let data = h.app.query(&h.s.trust_admin, PEOPLE, vars).await?;
    assert_eq!(
        nodes(&data, "guardians"),
        vec![json!({ "wondeId": parent.id, "email": "Ann.Parent@Example.org" })],
        "{data}"
    );
    assert_eq!(
        nodes(&data, "staff"),
        vec![json!({ "wondeId": teacher.id, "email": "Mr.Teacher@School.example" })],
        "{data}"
    );

    // An event about the parent shows the clean address too.
    h.sim.patch_record(
        &h.wonde_id,
        PatchRequest {
            kind: "contact".into(),
            id: parent.id.clone(),
            path: "contact_details.data.emails.email".into(),
            value: json!("\tAnn.Parent@Example.org "),
        },
    )?;
    for link in truth.links.iter().filter(|l| l.contact_id == parent.id) {
        h.sim.student_leaves(&h.wonde_id, &link.student_id, None)?;
    }
    let run = h.sync(SyncKind::Full).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    let data = h.app.query(&h.s.trust_admin, EVENTS, json!({ "s": h.school_id() })).await?;
    let about: Vec<Value> = data["deactivationEvents"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["node"]["person"].clone())
        .filter(|p| p["wondeId"] == json!(parent.id))
        .collect();
    assert!(!about.is_empty(), "the parent left with their children: {data}");
    assert!(about.iter().all(|p| p["email"] == "Ann.Parent@Example.org"), "{about:?}");
    Ok(())
}
