//! A school's Wonde connection: its status, its sealed token, and the event
//! each change of status leaves in the log. Losing access to Wonde is not
//! evidence that anyone left: only an administrator's explicit
//! `disconnect(deactivate = true)` deactivates accounts here.

use chrono::Utc;
use entity::enums::{AccountStatus, ConnectionStatus, DeactivationReason, EventKind, PersonKind, SyncKind};
use entity::{event, guardian, school, staff, student, sync_run, wonde_connection};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QuerySelect, TransactionTrait,
};
use serde_json::json;

use crate::crypto::{Secret, SecretKey};
use crate::parent_groups::membership;
use crate::sync::batch_write::MAX_PARAMS;
use crate::sync::runs;

/// A school's access to Wonde as it starts: every data type synced, the
/// default schedule, and the token (when we hold one) sealed.
pub async fn create<C: ConnectionTrait>(
    db: &C,
    school_id: i32,
    wonde_school_id: &str,
    status: ConnectionStatus,
    token: Option<(&Secret, &SecretKey)>,
) -> Result<wonde_connection::Model, DbErr> {
    let now = Utc::now();
    wonde_connection::ActiveModel {
        school_id: Set(school_id),
        status: Set(status),
        wonde_school_id: Set(wonde_school_id.to_owned()),
        region_domain: Set(None),
        token_ciphertext: Set(token.map(|(token, key)| key.encrypt(token.expose()))),
        sync_students: Set(true),
        sync_staff: Set(true),
        sync_guardians: Set(true),
        sync_classes: Set(true),
        sync_year_groups: Set(true),
        sync_form_groups: Set(true),
        full_every_secs: Set(None),
        incremental_every_secs: Set(None),
        watermark: Set(None),
        last_full_sync_at: Set(None),
        last_incremental_sync_at: Set(None),
        status_reason: Set(None),
        requested_by_token_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// The connection for a Wonde school id, if we know that school.
pub async fn by_wonde_id<C: ConnectionTrait>(
    db: &C,
    wonde_school_id: &str,
) -> Result<Option<wonde_connection::Model>, DbErr> {
    wonde_connection::Entity::find()
        .filter(wonde_connection::Column::WondeSchoolId.eq(wonde_school_id))
        .one(db)
        .await
}

/// Why a school cannot be synced from Wonde.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotWondeFed {
    /// No connection: the school is fed by CSV files (`importCsv`).
    CsvFed,
    /// Connected, but Wonde's access is not (or no longer) APPROVED.
    NotApproved(ConnectionStatus),
}

/// Whether a Wonde run of `school_id` can start: `Some` says why not, so
/// callers refuse before a run is recorded (a run that could only fail
/// would clutter the school's history; operations.md, `sync`).
pub async fn not_wonde_fed<C: ConnectionTrait>(db: &C, school_id: i32) -> Result<Option<NotWondeFed>, DbErr> {
    let connection = wonde_connection::Entity::find()
        .filter(wonde_connection::Column::SchoolId.eq(school_id))
        .one(db)
        .await?;
    Ok(match connection {
        None => Some(NotWondeFed::CsvFed),
        Some(c) if c.status != ConnectionStatus::Approved => Some(NotWondeFed::NotApproved(c.status)),
        Some(_) => None,
    })
}

/// Stores a token Wonde gave us and marks the connection APPROVED. When the
/// school was not approved before, its first FULL run is queued and returned.
pub async fn approve<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    connection: wonde_connection::Model,
    token: &Secret,
    key: &SecretKey,
) -> Result<(wonde_connection::Model, Option<sync_run::Model>), DbErr> {
    let was = connection.status;
    let mut row: wonde_connection::ActiveModel = connection.into();
    row.token_ciphertext = Set(Some(key.encrypt(token.expose())));
    row.status = Set(ConnectionStatus::Approved);
    row.status_reason = Set(None);
    row.updated_at = Set(Utc::now());
    let connection = row.update(db).await?;
    let run = if was == ConnectionStatus::Approved {
        None
    } else {
        let run = runs::enqueue(db, connection.school_id, SyncKind::Full, false).await?.0;
        // Last: appending takes the events lock (see `events::log`).
        record_change(db, &connection, None).await?;
        Some(run)
    };
    Ok((connection, run))
}

/// Sets a status Wonde told us (declined, revoked) with its reason. The
/// scheduler only syncs APPROVED connections, so this stops the schedule.
pub async fn set_status<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    connection: wonde_connection::Model,
    status: ConnectionStatus,
    reason: Option<String>,
) -> Result<wonde_connection::Model, DbErr> {
    let mut row: wonde_connection::ActiveModel = connection.into();
    row.status = Set(status);
    row.status_reason = Set(reason.clone());
    row.updated_at = Set(Utc::now());
    let connection = row.update(db).await?;
    record_change(db, &connection, reason.as_deref()).await?;
    Ok(connection)
}

/// Forgets the token and marks the connection DISCONNECTED (the scheduler
/// stops); with `deactivate`, every active account of the school is
/// deactivated as SCHOOL_DISCONNECTED. Returns the events to publish once
/// the caller commits.
pub async fn disconnect<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    connection: wonde_connection::Model,
    deactivate: bool,
) -> Result<Vec<event::Model>, DbErr> {
    let school_id = connection.school_id;
    let mut row: wonde_connection::ActiveModel = connection.into();
    row.status = Set(ConnectionStatus::Disconnected);
    row.token_ciphertext = Set(None);
    row.updated_at = Set(Utc::now());
    let connection = row.update(db).await?;
    if !deactivate {
        record_change(db, &connection, None).await?;
        return Ok(Vec::new());
    }
    let school = school::Entity::find_by_id(school_id)
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("school {school_id}")))?;
    let now = Utc::now();
    let groups_before = membership::snapshot(db, school_id).await?;
    let reason = DeactivationReason::SchoolDisconnected;
    let mut people: Vec<(PersonKind, i32)> = Vec::new();
    macro_rules! deactivate_all {
        ($module:ident, $kind:expr) => {{
            let ids: Vec<i32> = $module::Entity::find()
                .select_only()
                .column($module::Column::Id)
                .filter($module::Column::SchoolId.eq(school_id))
                .filter($module::Column::Status.eq(AccountStatus::Active))
                .into_tuple()
                .all(db)
                .await?;
            // A large school's guardians outnumber what one statement may
            // bind; three more values are bound besides the ids.
            for chunk in ids.chunks(MAX_PARAMS - 3) {
                $module::Entity::update_many()
                    .col_expr($module::Column::Status, Expr::value(AccountStatus::Deactivated.as_str()))
                    .col_expr($module::Column::DeactivatedAt, Expr::value(now))
                    .col_expr($module::Column::DeactivationReason, Expr::value(reason.as_str()))
                    .filter($module::Column::Id.is_in(chunk.iter().copied()))
                    .exec(db)
                    .await?;
            }
            people.extend(ids.into_iter().map(|id| ($kind, id)));
        }};
    }
    deactivate_all!(student, PersonKind::Student);
    deactivate_all!(staff, PersonKind::Staff);
    deactivate_all!(guardian, PersonKind::Guardian);
    let groups_after = membership::snapshot(db, school_id).await?;
    let mut rows: Vec<event::ActiveModel> = people
        .into_iter()
        .map(|(kind, id)| event::ActiveModel {
            trust_id: Set(school.trust_id),
            school_id: Set(school_id),
            kind: Set(EventKind::Deactivated),
            person_kind: Set(Some(kind)),
            person_id: Set(Some(id)),
            reason: Set(Some(reason)),
            sync_run_id: Set(None),
            payload: Set(None),
            occurred_at: Set(now),
            ..Default::default()
        })
        .collect();
    let origin = membership::Origin { trust_id: school.trust_id, school_id, run_id: None, now };
    rows.extend(membership::changes(&groups_before, &groups_after, origin));
    crate::quality::refresh(db, school_id, crate::quality::Occasion::Disconnection).await?;
    // Appended last and in one call, after every row this transaction
    // locks: appending takes the events locks, and a sync of the school
    // takes its rows first (`events::log`), so the other order could
    // deadlock with it.
    rows.insert(0, change_row(school.trust_id, &connection, None));
    crate::events::log::append(db, rows).await
}

async fn record_change<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    connection: &wonde_connection::Model,
    reason: Option<&str>,
) -> Result<(), DbErr> {
    let school = school::Entity::find_by_id(connection.school_id)
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("school {}", connection.school_id)))?;
    crate::events::log::append(db, vec![change_row(school.trust_id, connection, reason)]).await?;
    Ok(())
}

/// The CONNECTION_CHANGED event of `connection`'s new status.
fn change_row(
    trust_id: i32,
    connection: &wonde_connection::Model,
    reason: Option<&str>,
) -> event::ActiveModel {
    event::ActiveModel {
        trust_id: Set(trust_id),
        school_id: Set(connection.school_id),
        kind: Set(EventKind::ConnectionChanged),
        person_kind: Set(None),
        person_id: Set(None),
        reason: Set(None),
        sync_run_id: Set(None),
        payload: Set(Some(json!({ "status": connection.status.as_str(), "reason": reason }).to_string())),
        occurred_at: Set(Utc::now()),
        ..Default::default()
    }
}
