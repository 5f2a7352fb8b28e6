//! Wonde's webhooks: authenticated by our shared secret; bad bodies refused;
//! approval stores the token and queues the first FULL run; revocation and
//! refusal record the status and deactivate nobody.

use entity::enums::{AccountStatus, ConnectionStatus, SyncKind, SyncStatus};
use entity::{student, sync_run, wonde_connection};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::count_at;
use crate::on_both_engines;
use crate::row_at;
use crate::support::rows::connection_of;
use crate::support::sim::with_wonde;
use crate::support::{Engine, TestApp, WEBHOOK_SECRET};
use wonde_sim::SimConfig;

on_both_engines!(
    webhook_authentication_and_bad_bodies,
    approval_revocation_and_decline,
    migration_while_a_run_is_open
);

pub(crate) async fn post(
    app: &TestApp,
    secret: Option<&str>,
    header: bool,
    body: &str,
) -> anyhow::Result<(u16, Value)> {
    let mut url = app.url("/webhooks/wonde");
    let mut request = app.http.post(&url).header("content-type", "application/json");
    if let Some(secret) = secret {
        if header {
            request = request.header("X-Webhook-Secret", secret);
        } else {
            url = format!("{url}?secret={secret}");
            request = app.http.post(&url).header("content-type", "application/json");
        }
    }
    let response = request.body(body.to_owned()).send().await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

pub(crate) async fn state(app: &TestApp, school_id: i32) -> anyhow::Result<(wonde_connection::Model, u64)> {
    let connection = connection_of(app.db(), school_id).await?;
    let runs =
        sync_run::Entity::find().filter(sync_run::Column::SchoolId.eq(school_id)).count(app.db()).await?;
    Ok((connection, runs))
}

async fn webhook_authentication_and_bad_bodies(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let wonde_id = s.school_a.wonde_id.clone().unwrap_or_default();
    let approved =
        json!({ "payload_type": "schoolApproved", "school_id": wonde_id, "school_token": "tok-1" })
            .to_string();
    let before = state(&app, s.school_a.id).await?;

    for (secret, header) in [(None, false), (Some("wrong"), false), (Some("wrong"), true), (Some(""), true)] {
        let (status, _) = post(&app, secret, header, &approved).await?;
        assert_eq!(status, 401, "{secret:?}");
    }
    for body in [
        "not json",
        "[1,2]",
        "{}",
        r#"{"payload_type": "schoolApproved"}"#,
        &json!({ "payload_type": "schoolApproved", "school_id": wonde_id }).to_string(),
        // A NUL is no identifier (PostgreSQL cannot store it: a 503 before).
        &json!({ "payload_type": "accessRevoked", "school_id": "\u{0}A1" }).to_string(),
    ] {
        let (status, answer) = post(&app, Some(WEBHOOK_SECRET), true, body).await?;
        assert_eq!(status, 400, "{body}: {answer}");
    }
    // Unknown kinds and unknown schools are acknowledged and ignored.
    let (status, answer) =
        post(&app, Some(WEBHOOK_SECRET), true, r#"{"payload_type": "writeback", "writeback_id": "w1"}"#)
            .await?;
    assert_eq!((status, answer["status"].as_str()), (200, Some("ignored")));
    let stranger =
        json!({ "payload_type": "schoolApproved", "school_id": "A999", "school_token": "tok" }).to_string();
    let (status, answer) = post(&app, Some(WEBHOOK_SECRET), false, &stranger).await?;
    assert_eq!((status, answer["status"].as_str()), (200, Some("ignored")));

    // None of that changed anything.
    let after = state(&app, s.school_a.id).await?;
    assert_eq!(before, after);
    Ok(())
}

async fn approval_revocation_and_decline(engine: Engine) -> anyhow::Result<()> {
    let config = SimConfig { students_per_school: 2, ..SimConfig::default() };
    let (sim, simulated, app, s) = with_wonde(&engine, config).await?;
    let wonde_id = simulated.wonde_id.clone();
    // School A is the simulator's school, awaiting approval.
    let mut school: entity::school::ActiveModel = s.school_a.clone().into();
    school.wonde_id = Set(Some(wonde_id.clone()));
    school.update(app.db()).await?;
    let (connection, _) = state(&app, s.school_a.id).await?;
    let mut pending: wonde_connection::ActiveModel = connection.into();
    pending.wonde_school_id = Set(wonde_id.clone());
    pending.status = Set(ConnectionStatus::Pending);
    pending.token_ciphertext = Set(None);
    pending.update(app.db()).await?;
    let (_, runs_before) = state(&app, s.school_a.id).await?;

    let approved =
        json!({ "payload_type": "schoolApproved", "school_id": wonde_id, "school_token": simulated.token });
    let (status, answer) = post(&app, Some(WEBHOOK_SECRET), true, &approved.to_string()).await?;
    assert_eq!(status, 200, "{answer}");
    assert!(!answer.to_string().contains(&simulated.token));
    let (connection, runs) = state(&app, s.school_a.id).await?;
    assert_eq!(connection.status, ConnectionStatus::Approved);
    let sealed = connection.token_ciphertext.clone().unwrap_or_default();
    assert!(!sealed.contains(&simulated.token), "the token is stored sealed");
    assert_eq!(app.secret_key.decrypt(&sealed)?, simulated.token);
    assert_eq!(runs, runs_before + 1);
    let queued = row_at!(app.db(), s.school_a.id, sync_run, Status, SyncStatus::Queued)?;
    assert_eq!(queued.kind, SyncKind::Full);

    // Approved again while the held token works: nothing is replaced and no
    // second run is queued.
    let again = json!({ "payload_type": "schoolApproved", "school_id": wonde_id, "school_token": "rotated" });
    let (status, answer) = post(&app, Some(WEBHOOK_SECRET), false, &again.to_string()).await?;
    assert_eq!((status, answer["status"].as_str()), (200, Some("ignored")), "{answer}");
    let (connection, runs_now) = state(&app, s.school_a.id).await?;
    assert_eq!(app.secret_key.decrypt(&connection.token_ciphertext.unwrap_or_default())?, simulated.token);
    assert_eq!(runs_now, runs);

    // A revocation Wonde contradicts (the token still works) is refused.
    let revoked =
        json!({ "payload_type": "accessRevoked", "school_id": wonde_id, "revoke_reason": "Forged" });
    let (status, answer) = post(&app, Some(WEBHOOK_SECRET), true, &revoked.to_string()).await?;
    assert_eq!((status, answer["status"].as_str()), (403, Some("refused")), "{answer}");
    assert_eq!(state(&app, s.school_a.id).await?.0.status, ConnectionStatus::Approved);
    sim.set_access(&wonde_id, wonde_sim::AccessState::Revoked)?;

    // Revoked: status and reason recorded, nobody deactivated.
    let revoked = json!({ "payload_type": "accessRevoked", "school_id": wonde_id, "revoke_reason": "No longer needed" });
    let (status, _) = post(&app, Some(WEBHOOK_SECRET), true, &revoked.to_string()).await?;
    assert_eq!(status, 200);
    let (connection, _) = state(&app, s.school_a.id).await?;
    assert_eq!(connection.status, ConnectionStatus::Revoked);
    assert_eq!(connection.status_reason.as_deref(), Some("No longer needed"));
    let active = count_at!(app.db(), s.school_a.id, student, Status, AccountStatus::Active);
    assert_eq!(active, 2, "revocation deactivates nobody");

    let declined = json!({ "payload_type": "accessDeclined", "school_id": wonde_id, "decline_reason": "Not interested" });
    post(&app, Some(WEBHOOK_SECRET), true, &declined.to_string()).await?;
    let (connection, _) = state(&app, s.school_a.id).await?;
    assert_eq!(connection.status, ConnectionStatus::Declined);
    assert_eq!(connection.status_reason.as_deref(), Some("Not interested"));
    Ok(())
}

/// A `schoolMigration` for a school whose run is already queued is applied
/// (the open run stands for it): the queue's refusal of a second open run
/// must not break the webhook's transaction, on PostgreSQL above all.
async fn migration_while_a_run_is_open(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let wonde_id = s.school_a.wonde_id.clone().unwrap_or_default();
    let (open, _) =
        onroll::sync::runs::enqueue(app.db(), s.school_a.id, SyncKind::Incremental, false).await?;
    let (_, runs_before) = state(&app, s.school_a.id).await?;
    let body = json!({ "payload_type": "schoolMigration", "school_id": wonde_id }).to_string();
    let (status, answer) = post(&app, Some(WEBHOOK_SECRET), true, &body).await?;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "accepted", "{answer}");
    let (_, runs_after) = state(&app, s.school_a.id).await?;
    assert_eq!(runs_after, runs_before, "the open run stands for the migration");
    let still = sync_run::Entity::find_by_id(open.id).one(app.db()).await?;
    assert_eq!(still.map(|run| run.status), Some(SyncStatus::Queued));
    Ok(())
}

on_both_engines!(a_flood_of_webhooks_while_a_run_writes_is_answered);

/// Seen on SQLite: 200 webhooks arriving while runs wrote were answered
/// 503 "database is locked". Every one is answered 2xx now: write
/// transactions queue for the write lock instead of failing.
async fn a_flood_of_webhooks_while_a_run_writes_is_answered(engine: Engine) -> anyhow::Result<()> {
    use entity::enums::PersonKind;
    const WEBHOOKS: usize = 200;
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let wonde_id = s.school_a.wonde_id.clone().unwrap_or_default();
    // Writers: transactions appending events back to back, as runs do.
    let db = app.db().clone();
    let (trust, school, person) = (s.trust.id, s.school_a.id, s.solo.id);
    let writer = tokio::spawn(async move {
        let mut written = 0;
        for _ in 0..40 {
            let rows: Vec<entity::event::ActiveModel> = (0..200)
                .map(|_| entity::event::ActiveModel {
                    trust_id: Set(trust),
                    school_id: Set(school),
                    kind: Set(entity::enums::EventKind::Deactivated),
                    person_kind: Set(Some(PersonKind::Student)),
                    person_id: Set(Some(person)),
                    reason: Set(Some(entity::enums::DeactivationReason::RemovedFromMis)),
                    sync_run_id: Set(None),
                    payload: Set(None),
                    occurred_at: Set(chrono::Utc::now()),
                    ..Default::default()
                })
                .collect();
            written += onroll::events::log::append(&db, rows).await?.len();
        }
        anyhow::Ok(written)
    });
    let body = json!({ "payload_type": "schoolMigration", "school_id": wonde_id }).to_string();
    let posts = (0..WEBHOOKS).map(|_| post(&app, Some(WEBHOOK_SECRET), true, &body));
    let answers = futures::future::join_all(posts).await;
    let mut statuses = std::collections::BTreeMap::new();
    for answer in answers {
        let (status, _) = answer?;
        *statuses.entry(status).or_insert(0) += 1;
    }
    assert_eq!(writer.await??, 40 * 200, "the writers finished too");
    assert_eq!(statuses, std::collections::BTreeMap::from([(200, WEBHOOKS)]), "every webhook answered 200");
    // One open run however many asked.
    let open = count_at!(app.db(), s.school_a.id, sync_run, Status, SyncStatus::Queued);
    assert_eq!(open, 1);
    Ok(())
}
