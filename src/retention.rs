//! Retention of leavers' data (issue 18): each trust keeps a deactivated
//! account's personal data for `trust.retention_days` after its
//! deactivation (365 by default; 0 turns purging off), then a daily purge
//! erases it (`purge.rs`). One row (`retention_state`) is claimed by a
//! conditional update so that replicas never purge together, as the
//! catalog's refresh does. `subject.rs` answers a subject access request,
//! `erasure.rs` erases one person at once.

use chrono::{DateTime, Duration, Utc};
use entity::{retention_state, trust};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
};

use crate::audit::{self, Actor, Entry};
use crate::school_day::Clock;

pub mod erasure;
pub mod purge;
pub mod subject;

pub use purge::Purged;

/// The retention state's only row.
const STATE_ID: i32 = 1;
/// A claim older than this belongs to a process that stopped mid-purge.
const CLAIM_EXPIRES: Duration = Duration::minutes(30);
/// How often the purge runs.
pub const PURGE_EVERY: Duration = Duration::days(1);
/// The longest retention period accepted: ten years.
pub const MAX_DAYS: i32 = 3_650;

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error("the retention period is a number of days from 0 (never purge) to {MAX_DAYS}; {0} is not")]
    BadDays(i32),
    #[error("no trust with that ID")]
    TrustNotFound,
    #[error("the directory's database failed: {0}")]
    Database(#[from] DbErr),
}

/// Sets a trust's retention period in days (0: deactivated accounts are
/// never purged). Refuses a negative period or one over [`MAX_DAYS`].
pub async fn set_policy(
    db: &DatabaseConnection,
    trust_id: i32,
    days: i32,
) -> Result<trust::Model, RetentionError> {
    if !(0..=MAX_DAYS).contains(&days) {
        return Err(RetentionError::BadDays(days));
    }
    let row = trust::Entity::find_by_id(trust_id).one(db).await?.ok_or(RetentionError::TrustNotFound)?;
    let mut model: trust::ActiveModel = row.into();
    model.retention_days = Set(days);
    model.updated_at = Set(Utc::now());
    Ok(model.update(db).await?)
}

/// How a claimed purge ended.
#[derive(Debug, PartialEq, Eq)]
pub enum PurgeOutcome {
    Done(Purged),
    /// Another process is purging now.
    Busy,
}

/// Purges, in every trust, what has passed its retention period at `now`,
/// once the state row is claimed; records the counts in the audit log
/// (one row per trust that purged anything, counts only).
/// `actor` is who the audit rows name: the operator (`retention purge`) or
/// the server's own schedule.
pub async fn purge_now(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    actor: Actor,
) -> Result<PurgeOutcome, DbErr> {
    if !claim(db, now).await? {
        return Ok(PurgeOutcome::Busy);
    }
    let result = purge_all(db, now, actor).await;
    let mut release = retention_state::Entity::update_many()
        .col_expr(retention_state::Column::PurgingSince, Expr::value(Option::<DateTime<Utc>>::None));
    // A failed purge is not a purge: the next look tries again.
    if let Ok(purged) = &result {
        let total = i32::try_from(purged.accounts()).unwrap_or(i32::MAX);
        release = release
            .col_expr(retention_state::Column::LastPurgeAt, Expr::value(now))
            .col_expr(retention_state::Column::LastPurged, Expr::value(total));
    }
    release.filter(retention_state::Column::Id.eq(STATE_ID)).exec(db).await?;
    result.map(PurgeOutcome::Done)
}

async fn purge_all(db: &DatabaseConnection, now: DateTime<Utc>, actor: Actor) -> Result<Purged, DbErr> {
    let mut total = Purged::default();
    for trust in trust::Entity::find().all(db).await? {
        if trust.retention_days <= 0 {
            continue;
        }
        let cutoff = now - Duration::days(i64::from(trust.retention_days));
        let purged = purge::purge_trust(db, trust.id, cutoff, now).await?;
        crate::telemetry::accounts_purged("retention", purged.students, purged.staff, purged.guardians);
        if purged.accounts() > 0 {
            let mut entry = Entry::new(actor.clone(), "retention purge", audit::OK);
            entry.trust_id = Some(trust.id);
            entry.detail = Some(purged.detail());
            audit::record_or_log(db, entry).await;
            tracing::info!(
                trust.id = trust.id,
                retention.students = purged.students,
                retention.staff = purged.staff,
                retention.guardians = purged.guardians,
                "retention purge erased leavers' personal data"
            );
        }
        total.add(&purged);
    }
    Ok(total)
}

/// The state row, as the last purge left it.
pub async fn state(db: &DatabaseConnection) -> Result<retention_state::Model, DbErr> {
    retention_state::Entity::find_by_id(STATE_ID)
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("retention_state row 1 (run the migrations)".to_owned()))
}

async fn claim(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<bool, DbErr> {
    use retention_state::Column;
    crate::db::stamp_unless_recent(db, (Column::Id, STATE_ID), Column::PurgingSince, now, CLAIM_EXPIRES).await
}

/// Whether a purge is due at `now`: never run, or the last over a day ago.
pub fn due(state: &retention_state::Model, now: DateTime<Utc>) -> bool {
    state.last_purge_at.is_none_or(|last| now - last >= PURGE_EVERY)
}

/// How often the background task looks whether a purge is due.
const LOOK_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Purges daily until `stop` turns true (the task `serve` runs). Failures
/// are logged and retried at the next look.
pub async fn run_until_stopped(
    db: DatabaseConnection,
    clock: Clock,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let now = clock.now();
        match state(&db).await {
            Ok(state) if due(&state, now) => {
                if let Err(err) = purge_now(&db, now, Actor::Server).await {
                    tracing::error!(db.error = crate::error::db_error_kind(&err), "retention purge failed");
                }
            }
            Ok(_) => {}
            Err(err) => {
                tracing::error!(db.error = crate::error::db_error_kind(&err), "retention state unreadable");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(LOOK_EVERY) => {}
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
            }
        }
    }
}
