//! The safeguarding path end to end: a student leaves in the MIS (the
//! simulator), an admin triggers an incremental run, and a subscriber on
//! `/graphql/ws` receives the deactivation. Latency is printed, not
//! asserted (`cargo bench --bench leaver_latency` measures it); what is
//! asserted is that every leaver arrives, once, with the right reason.

use serde_json::{Value, json};
use std::time::{Duration, Instant};

use crate::on_both_engines;
use crate::support::ws::{connect, next_within, subscribe};
use crate::support::{Engine, TestDb, unscheduled_demo};

on_both_engines!(leavers_reach_a_subscriber);

const DEACTIVATIONS: &str = "subscription { deactivations {
    cursor kind reason reactivated school { wondeId } person { ... on Student { wondeId status } } } }";

async fn leavers_reach_a_subscriber(engine: Engine) -> anyhow::Result<()> {
    let data = TestDb::create(&engine).await?;
    // No schedule: only the triggered runs below sync.
    let (demo, stop) = unscheduled_demo(&engine, &data, 2, 25, 7).await?;
    let api = demo.api();
    let school_ids = demo.schools().await?;
    assert_eq!(school_ids.len(), 2);

    let (mut socket, ack) = connect(demo.addr, Some(&demo.integrator_token)).await?;
    assert_eq!(ack["type"], "connection_ack");
    subscribe(&mut socket, "d", DEACTIVATIONS, json!({})).await?;

    let trigger = "mutation($s: ID!) { triggerSync(schoolId: $s, kind: INCREMENTAL) { id } }";
    let mut latencies = Vec::new();
    for round in 0..4 {
        let (wonde_school, school_gid) = &school_ids[round % school_ids.len()];
        let truth = demo.sim.truth(wonde_school)?;
        let student = truth.students.get(round).ok_or_else(|| anyhow::anyhow!("no student"))?.id.clone();
        let started = Instant::now();
        demo.sim.student_leaves(wonde_school, &student, None)?;
        api.call(trigger, json!({ "s": school_gid })).await?;
        let event = loop {
            let message = next_within(&mut socket, Duration::from_secs(30)).await?;
            let payload = &message["payload"]["data"]["deactivations"];
            anyhow::ensure!(message["type"] == "next", "unexpected message {message}");
            // The leaver's guardians may follow (NO_ACTIVE_CHILDREN): skip them.
            if payload["kind"] == "STUDENT" {
                break payload.clone();
            }
        };
        latencies.push(started.elapsed());
        assert_eq!(event["person"]["wondeId"], Value::from(student.as_str()), "round {round}");
        assert_eq!(event["reason"], "LEFT_SCHOOL");
        assert_eq!(event["reactivated"], false);
        assert_eq!(event["person"]["status"], "DEACTIVATED");
        assert_eq!(event["school"]["wondeId"], Value::from(wonde_school.as_str()));
    }
    eprintln!("leaver latency (sim change → subscriber), {engine:?}: {latencies:?}");

    // Exactly one deactivation per leaver in the log.
    let log = api
        .call(
            "{ deactivationEvents(first: 100) { edges { node { kind reactivated person { ... on Student { wondeId } } } } } }",
            json!({}),
        )
        .await?;
    let students = log["deactivationEvents"]["edges"]
        .as_array()
        .map(|edges| edges.iter().filter(|e| e["node"]["kind"] == "STUDENT").count())
        .unwrap_or_default();
    assert_eq!(students, 4);

    let _ = stop.send(());
    demo.finish().await?;
    Ok(())
}
