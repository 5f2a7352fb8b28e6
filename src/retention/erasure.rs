//! Erasure (UK GDPR Article 17): one person's records across the trust
//! purged at once, as the retention job would, with one ERASED event per
//! record so that integrators erase their copies too. Refused while any of
//! the records is still on roll (ACTIVE): the next sync would bring the
//! person back.

use chrono::{DateTime, Utc};
use entity::enums::{EventKind, PersonKind, SyncStatus};
use entity::{event, sync_run};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
};
use std::collections::BTreeSet;

use super::purge::{Purged, purge_accounts};
use super::subject::{Account, SubjectError, records_of};
use crate::events::EventBus;

/// Why a person is erased: the grounds of UK GDPR Article 17(1), as the
/// ERASED event's payload and the audit log carry them (never free text,
/// which could hold personal data).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErasureGround {
    /// The person asked (Article 17 request).
    SubjectRequest,
    /// The data is no longer needed for its purpose.
    NoLongerNeeded,
    /// Consent was withdrawn.
    ConsentWithdrawn,
    /// The person objected to the processing.
    Objection,
    /// The processing was unlawful.
    UnlawfulProcessing,
    /// A legal obligation requires it.
    LegalObligation,
}

impl ErasureGround {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SubjectRequest => "SUBJECT_REQUEST",
            Self::NoLongerNeeded => "NO_LONGER_NEEDED",
            Self::ConsentWithdrawn => "CONSENT_WITHDRAWN",
            Self::Objection => "OBJECTION",
            Self::UnlawfulProcessing => "UNLAWFUL_PROCESSING",
            Self::LegalObligation => "LEGAL_OBLIGATION",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    #[error("no person with that ID is visible to this token")]
    NotFound,
    #[error(
        "the person is still on roll at {0} school(s) (ACTIVE in the MIS): the next sync would bring them back; \
the school must record them as a leaver in its MIS first"
    )]
    OnRoll(usize),
    #[error("a sync run of one of the person's schools is under way; try again when it has ended")]
    RunInProgress,
    #[error("the directory's database failed: {0}")]
    Database(#[from] DbErr),
}

impl From<SubjectError> for ErasureError {
    fn from(err: SubjectError) -> Self {
        match err {
            SubjectError::NotFound => Self::NotFound,
            SubjectError::Database(err) => Self::Database(err),
        }
    }
}

/// What an erasure did.
#[derive(Debug)]
pub struct Erased {
    pub accounts: Vec<Account>,
    pub purged: Purged,
    /// The ERASED events, one per record, in id order.
    pub events: Vec<event::Model>,
}

/// Erases (`kind`, `id`) and every record of the same person in the trust
/// (matched as `subject::records_of` says) that `visible` allows, in one
/// transaction; publishes the ERASED events after commit.
#[allow(clippy::too_many_arguments)]
pub async fn erase(
    db: &DatabaseConnection,
    bus: &EventBus,
    trust_id: i32,
    kind: PersonKind,
    id: i32,
    ground: ErasureGround,
    visible: impl Fn(i32) -> bool,
    now: DateTime<Utc>,
) -> Result<Erased, ErasureError> {
    let txn = crate::db::begin_write(db).await?;
    let accounts = records_of(&txn, trust_id, kind, id, visible).await?.accounts;
    let on_roll = accounts.iter().filter(|a| a.active).map(|a| a.school_id).collect::<BTreeSet<_>>().len();
    if on_roll > 0 {
        return Err(ErasureError::OnRoll(on_roll));
    }
    let schools: BTreeSet<i32> = accounts.iter().map(|a| a.school_id).collect();
    let open = sync_run::Entity::find()
        .filter(sync_run::Column::SchoolId.is_in(schools))
        .filter(sync_run::Column::Status.is_in([SyncStatus::Queued, SyncStatus::Running]))
        .count(&txn)
        .await?;
    if open > 0 {
        return Err(ErasureError::RunInProgress);
    }
    let mut purged = Purged::default();
    let mut erased = Vec::new();
    for account in &accounts {
        let kind: PersonKind = account.record.kind.into();
        purged.add(&purge_accounts(&txn, kind, &[account.record.id], now, &mut erased).await?);
    }
    let rows = accounts
        .iter()
        .map(|account| event::ActiveModel {
            trust_id: Set(trust_id),
            school_id: Set(account.school_id),
            kind: Set(EventKind::Erased),
            person_kind: Set(Some(account.record.kind.into())),
            person_id: Set(Some(account.record.id)),
            reason: Set(account.reason),
            sync_run_id: Set(None),
            payload: Set(Some(serde_json::json!({ "ground": ground.as_str() }).to_string())),
            occurred_at: Set(now),
            ..Default::default()
        })
        .collect();
    let events = crate::events::log::append(&txn, rows).await?;
    crate::quality::refresh_trust(&txn, trust_id, crate::quality::Occasion::Purge { erased: &erased })
        .await?;
    txn.commit().await?;
    bus.publish(&events);
    crate::telemetry::accounts_purged("erasure", purged.students, purged.staff, purged.guardians);
    Ok(Erased { accounts, purged, events })
}
