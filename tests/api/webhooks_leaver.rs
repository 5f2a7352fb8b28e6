//! The safeguarding path to an integrator's endpoint: a pupil leaves in
//! the MIS (the simulator), a sync runs, and the signed deactivation
//! reaches a receiver on 127.0.0.1, which verifies it with the
//! `standardwebhooks` crate; the demo's own receiver lists it too.

use serde_json::{Value, json};
use std::time::Duration;

use crate::on_both_engines;
use crate::support::receiver::Receiver;
use crate::support::{Engine, TestDb, unscheduled_demo};

on_both_engines!(a_leaver_reaches_the_endpoint);

async fn a_leaver_reaches_the_endpoint(engine: Engine) -> anyhow::Result<()> {
    let data = TestDb::create(&engine).await?;
    let (demo, _stop) = unscheduled_demo(&engine, &data, 1, 20, 11).await?;
    let api = demo.api();
    let receiver = Receiver::start(&[]).await?;
    let created = api
        .call(
            "mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { secret } }",
            json!({ "input": { "url": receiver.url(), "eventTypes": ["DEACTIVATED"] } }),
        )
        .await?;
    receiver.add_secret(created["createWebhookEndpoint"]["secret"].as_str().unwrap_or_default());

    let (wonde_school, school_gid) =
        demo.schools().await?.into_iter().next().ok_or_else(|| anyhow::anyhow!("no school"))?;
    let truth = demo.sim.truth(&wonde_school)?;
    let student = truth.students.first().ok_or_else(|| anyhow::anyhow!("no student"))?.id.clone();
    demo.sim.student_leaves(&wonde_school, &student, None)?;
    api.call(
        "mutation($s: ID!) { triggerSync(schoolId: $s, kind: INCREMENTAL) { id } }",
        json!({ "s": school_gid }),
    )
    .await?;

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let leaver = loop {
        let found = receiver.received().into_iter().find(|r| r.body["data"]["kind"] == "STUDENT");
        if let Some(found) = found {
            break found;
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "no student deactivation arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(leaver.verified, vec![true]);
    assert_eq!(leaver.body["type"], "account.deactivated");
    assert_eq!(leaver.body["data"]["reason"], "LEFT_SCHOOL");
    assert_eq!(leaver.body["data"]["school"]["id"], Value::from(school_gid.as_str()));
    // The person is the pupil who left, by the ID the API gives.
    let person = leaver.body["data"]["person"]["id"].as_str().unwrap_or_default().to_owned();
    let looked_up =
        api.call("query($id: ID!) { student(id: $id) { wondeId status } }", json!({ "id": person })).await?;
    assert_eq!(looked_up["student"]["wondeId"], Value::from(student.as_str()));
    assert_eq!(looked_up["student"]["status"], "DEACTIVATED");

    // The demo's receiver verified it too, and lists it.
    let listed: Vec<Value> = reqwest::get(demo.receiver.deliveries_url()).await?.json().await?;
    assert!(
        listed.iter().any(|d| d["webhookId"] == leaver.webhook_id.as_str() && d["verified"] == true),
        "{listed:?}"
    );
    Ok(())
}
