//! Wonde's approvals are believed only when Wonde agrees (issue 13): the
//! token an approval carries is checked with the simulator over HTTP, so a
//! forged token or another trust's school's token changes nothing; a repeated
//! delivery changes nothing; an approval for a school an admin disconnected,
//! or one whose held token works, changes nothing; Wonde unreachable means
//! 503 and nothing changed.

use entity::enums::{ConnectionStatus, Role};
use entity::{school, wonde_connection};
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::json;
use wonde_sim::{SimConfig, SimSchool, Simulator};

use crate::on_both_engines;
use crate::support::fixture::{Fixture, gid};
use crate::support::{Engine, TestApp, WEBHOOK_SECRET};
use crate::webhooks::{post, state};
use onroll::graphql::ids::NodeType;

on_both_engines!(forged_replayed_and_cross_trust_approvals_change_nothing);

/// A school of `trust` whose Wonde id is the simulator's `simulated`, with
/// its connection in `status`, holding `token` (sealed) if given.
async fn school_of(
    app: &TestApp,
    f: &Fixture<'_>,
    trust: &entity::trust::Model,
    simulated: &SimSchool,
    status: ConnectionStatus,
    token: Option<&str>,
) -> anyhow::Result<school::Model> {
    let school = f.school(trust, &simulated.wonde_id).await?;
    let mut row: school::ActiveModel = school.clone().into();
    row.wonde_id = Set(Some(simulated.wonde_id.clone()));
    let school = row.update(app.db()).await?;
    let connection = f.connection(&school).await?;
    let mut row: wonde_connection::ActiveModel = connection.into();
    row.status = Set(status);
    row.token_ciphertext = Set(token.map(|t| app.secret_key.encrypt(t)));
    row.update(app.db()).await?;
    Ok(school)
}

fn approval(school: &SimSchool, token: &str) -> String {
    json!({ "payload_type": "schoolApproved", "school_id": school.wonde_id, "school_token": token })
        .to_string()
}

async fn forged_replayed_and_cross_trust_approvals_change_nothing(engine: Engine) -> anyhow::Result<()> {
    let sim =
        Simulator::start(SimConfig { schools: 3, students_per_school: 2, ..SimConfig::default() }).await?;
    let [x, y, z]: [SimSchool; 3] =
        sim.schools().try_into().map_err(|_| anyhow::anyhow!("the simulator has not 3 schools"))?;
    let app = TestApp::spawn_with_wonde(&engine, &sim.base_url()).await?;
    let f = Fixture::new(app.db());
    let north = f.trust("North").await?;
    let south = f.trust("South").await?;
    // X awaits approval (North); Y is connected with a working token
    // (South); Z (North) will be disconnected by an admin.
    let school_x = school_of(&app, &f, &north, &x, ConnectionStatus::Pending, None).await?;
    let school_y = school_of(&app, &f, &south, &y, ConnectionStatus::Approved, Some(&y.token)).await?;
    let school_z = school_of(&app, &f, &north, &z, ConnectionStatus::Approved, Some(&z.token)).await?;
    let before_x = state(&app, school_x.id).await?;

    // Forged: a token Wonde refuses.
    let (status, answer) = post(&app, Some(WEBHOOK_SECRET), true, &approval(&x, "forged-token")).await?;
    assert_eq!((status, answer["status"].as_str()), (403, Some("refused")), "{answer}");
    assert_eq!(state(&app, school_x.id).await?, before_x, "a forged approval changes nothing");

    // Cross-trust: South's school's real token, claimed for North's school.
    let (status, answer) = post(&app, Some(WEBHOOK_SECRET), true, &approval(&x, &y.token)).await?;
    assert_eq!((status, answer["status"].as_str()), (403, Some("refused")), "{answer}");
    assert_eq!(state(&app, school_x.id).await?, before_x, "another school's token changes nothing");

    // Genuine: X's own token; applied once.
    let genuine = approval(&x, &x.token);
    let (status, answer) = post(&app, Some(WEBHOOK_SECRET), true, &genuine).await?;
    assert_eq!((status, answer["status"].as_str()), (200, Some("accepted")), "{answer}");
    let applied = state(&app, school_x.id).await?;
    assert_eq!(applied.0.status, ConnectionStatus::Approved);
    assert_eq!(applied.1, before_x.1 + 1, "the first FULL run is queued");

    // Replayed: the same delivery again changes nothing.
    for _ in 0..2 {
        let (status, answer) = post(&app, Some(WEBHOOK_SECRET), false, &genuine).await?;
        assert_eq!((status, answer["status"].as_str()), (200, Some("repeated")), "{answer}");
    }
    assert_eq!(state(&app, school_x.id).await?, applied, "a replay changes nothing");

    // A school whose held token works keeps it, whatever token comes.
    let before_y = state(&app, school_y.id).await?;
    for token in [x.token.as_str(), "forged-token"] {
        let (status, answer) = post(&app, Some(WEBHOOK_SECRET), true, &approval(&y, token)).await?;
        assert_eq!((status, answer["status"].as_str()), (200, Some("ignored")), "{answer}");
    }
    assert_eq!(state(&app, school_y.id).await?, before_y);

    // Disconnected by an admin: even Wonde's genuine approval changes
    // nothing until access is requested again.
    let admin = f.token(Role::TrustAdmin, Some(north.id), &[]).await?;
    app.query(
        &admin,
        "mutation($s: ID!) { disconnectWonde(schoolId: $s) { id } }",
        json!({ "s": gid(NodeType::School, school_z.id) }),
    )
    .await?;
    let before_z = state(&app, school_z.id).await?;
    let (status, answer) = post(&app, Some(WEBHOOK_SECRET), true, &approval(&z, &z.token)).await?;
    assert_eq!((status, answer["status"].as_str()), (200, Some("ignored")), "{answer}");
    let after_z = state(&app, school_z.id).await?;
    assert_eq!(after_z, before_z);
    assert_eq!(after_z.0.status, ConnectionStatus::Disconnected);
    assert_eq!(after_z.0.token_ciphertext, None);

    // Wonde unreachable: nothing is believed, and the sender is told to retry.
    sim.shutdown().await;
    let rotated = json!({ "payload_type": "schoolApproved", "school_id": y.wonde_id, "school_token": "t2" });
    let (status, _) = post(&app, Some(WEBHOOK_SECRET), true, &rotated.to_string()).await?;
    assert_eq!(status, 503, "a held token that cannot be checked is not replaced");
    assert_eq!(state(&app, school_y.id).await?, before_y);
    Ok(())
}
