//! `node(id:)` finds every type by its global ID.

use onroll::graphql::ids::NodeType;
use serde_json::json;

use crate::on_both_engines;
use crate::support::fixture::gid;
use crate::support::{Engine, TestApp};

on_both_engines!(every_node_type_round_trips);

async fn every_node_type_round_trips(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let cases = [
        (gid(NodeType::Trust, s.trust.id), "Trust"),
        (gid(NodeType::School, s.school_a.id), "School"),
        (gid(NodeType::Student, s.ann_a.id), "Student"),
        (gid(NodeType::Staff, s.teacher.id), "Staff"),
        (gid(NodeType::Guardian, s.ann_at_b.id), "Guardian"),
        (gid(NodeType::Class, s.class.id), "Class"),
        (gid(NodeType::YearGroup, s.year.id), "YearGroup"),
        (gid(NodeType::FormGroup, s.form.id), "FormGroup"),
        (gid(NodeType::Family, s.ann_at_a.id), "Family"),
        (gid(NodeType::SyncRun, s.run.id), "SyncRun"),
    ];
    for (id, typename) in cases {
        let data = app
            .query(&s.trust_admin, "query($id: ID!) { node(id: $id) { __typename id } }", json!({ "id": id }))
            .await?;
        assert_eq!(data["node"]["__typename"], typename);
        assert_eq!(data["node"]["id"], id);
    }

    // The typed fields of each node answer too.
    let data = app
        .query(
            &s.trust_admin,
            "query($run: ID!, $staff: ID!, $school: ID!) {
                run: node(id: $run) { ... on SyncRun { kind status queuedAt finishedAt error
                    students { created deactivated } staff { created } guardians { created } groups { created }
                    school { name } } }
                staff: node(id: $staff) { ... on Staff { title forename classes { name } formGroups { name } school { name } } }
                school: node(id: $school) { ... on School { wondeId urn laCode establishmentNumber phase mis postcode
                    trust { name }
                    connection { status wondeSchoolId options { students formGroups } lastFullSyncAt latestRun { id } } } } }",
            json!({
                "run": gid(NodeType::SyncRun, s.run.id),
                "staff": gid(NodeType::Staff, s.teacher.id),
                "school": gid(NodeType::School, s.school_a.id),
            }),
        )
        .await?;
    assert_eq!(data["run"]["kind"], "FULL");
    assert_eq!(data["run"]["status"], "COMPLETED");
    assert_eq!(data["run"]["students"], json!({ "created": 3, "deactivated": 1 }));
    assert_eq!(data["staff"]["classes"][0]["name"], "Maths 5A");
    assert_eq!(data["staff"]["formGroups"][0]["name"], "5 Red");
    let school = &data["school"];
    assert_eq!(school["trust"]["name"], "Northern Lights Academy Trust");
    assert_eq!(school["connection"]["status"], "APPROVED");
    assert_eq!(school["connection"]["options"], json!({ "students": true, "formGroups": false }));
    assert_eq!(school["connection"]["latestRun"]["id"], gid(NodeType::SyncRun, s.run.id));
    assert!(!data.to_string().contains("sealed"), "the stored token never appears");

    // The event log answers through the polling query, with its person.
    let events = app
        .query(
            &s.trust_admin,
            "{ deactivationEvents { edges { cursor node { kind reason reactivated occurredAt school { name }
                syncRun { id } person { __typename ... on Student { forename status deactivationReason } } } } } }",
            json!({}),
        )
        .await?;
    let event = &events["deactivationEvents"]["edges"][0]["node"];
    assert_eq!(event["kind"], "STUDENT");
    assert_eq!(event["reason"], "LEFT_SCHOOL");
    assert_eq!(event["reactivated"], false);
    assert_eq!(event["person"]["forename"], "Cara");
    assert_eq!(event["person"]["status"], "DEACTIVATED");
    assert_eq!(event["syncRun"]["id"], gid(NodeType::SyncRun, s.run.id));
    Ok(())
}
