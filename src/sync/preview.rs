//! A dry run: fetch from Wonde and reconcile exactly as a run would, inside
//! a transaction that is rolled back, and answer the difference. Nothing
//! is written, no event is sent (not even progress), the watermark stays.

use chrono::{DateTime, SubsecRound, Utc};
use entity::enums::{DeactivationReason, EventKind, HeldTarget, PersonKind, SyncKind};
use entity::{guardian, school, staff, student};
use sea_orm::{ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QuerySelect};
use std::collections::{BTreeMap, HashMap, HashSet};

use super::apply::Failure;
use super::engine::{SyncEngine, WATERMARK_OVERLAP, data_types};
use super::ledger::{Guard, RunCounts};
use super::monitor::RunMonitor;
use super::reconcile::{Scope, reconcile};
use super::rekeyed::fetch_for_run;
use super::wonde_source::{FetchError, FetchPlan};
use crate::school_day;

/// How many people of each change and kind a preview lists.
pub const PREVIEW_PEOPLE: usize = 100;

/// What a run would change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preview {
    /// FULL or INCREMENTAL: what the run would be (INCREMENTAL becomes FULL
    /// for a school that has never synced).
    pub kind: SyncKind,
    pub counts: RunCounts,
    /// Up to [`PREVIEW_PEOPLE`] people per kind and change, by id (new
    /// people by their MIS id).
    pub people: Vec<PreviewPerson>,
    /// What the run would work around (repeated records...).
    pub warnings: Vec<String>,
}

/// What a run would do to one person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PreviewChange {
    Created,
    Updated,
    Deactivated,
    Reactivated,
    Held,
}

/// One person a run would change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviewPerson {
    pub kind: PersonKind,
    pub change: PreviewChange,
    /// The account's id; `None` for one the run would create.
    pub id: Option<i32>,
    /// The MIS's (Wonde's) id of the record.
    pub source_id: String,
    pub forename: String,
    pub surname: String,
    /// For a deactivation, or a held one, the reason it would get; for a
    /// reactivation, why the account had been deactivated.
    pub reason: Option<DeactivationReason>,
}

/// Why a preview could not be made, in words for an administrator.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error("no school with id {0}")]
    SchoolNotFound(i32),
    /// The school cannot be synced (not connected, access not approved).
    #[error("{0}")]
    Refused(String),
    /// Wonde could not be read.
    #[error("{0}")]
    Wonde(String),
    #[error(transparent)]
    Database(#[from] DbErr),
}

impl From<Failure> for PreviewError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Cancelled => Self::Refused("the preview was cancelled".to_owned()),
            Failure::Run(words) => Self::Refused(words),
            Failure::Database(err) => Self::Database(err),
        }
    }
}

impl From<FetchError> for PreviewError {
    fn from(err: FetchError) -> Self {
        match Failure::from(err) {
            Failure::Run(words) => Self::Wonde(words),
            other => other.into(),
        }
    }
}

impl SyncEngine {
    /// What a run of `kind` (FULL or INCREMENTAL) would change at the
    /// school now, judged by the same guard (not forced).
    pub async fn preview(&self, school_id: i32, kind: SyncKind) -> Result<Preview, PreviewError> {
        let school = school::Entity::find_by_id(school_id)
            .one(&self.db)
            .await?
            .ok_or(PreviewError::SchoolNotFound(school_id))?;
        let (connection, access) = self.access(&school).await?;
        let complete = kind == SyncKind::Full || connection.watermark.is_none();
        let mut zoned = school.clone();
        if complete {
            // As a FULL run would, without keeping the school's zone.
            let details = self.client.school(&access).await.map_err(FetchError::from)?;
            zoned.timezone = school_day::zone_name(details.timezone.as_deref());
        }
        let today = school_day::today(school_day::school_zone(&self.db, &zoned).await?, self.clock.now());
        let plan = FetchPlan {
            complete,
            since: connection.watermark.map(|w| w - WATERMARK_OVERLAP),
            types: data_types(&connection),
            today,
        };
        let mut monitor = RunMonitor::unwatched(self.db.clone());
        let batch = fetch_for_run(&self.client, &access, &self.db, school_id, plan, &mut monitor).await?;
        // Whole microseconds: the rows this reconciliation stamps are found
        // again by this instant, on both engines.
        let now = Utc::now().trunc_subsecs(6);
        let scope = Scope { trust_id: school.trust_id, school_id, run_id: None, now, today };
        let txn = crate::db::begin_write(&self.db).await?;
        let outcome = reconcile(&txn, scope, &batch, Guard { share: self.guard_share, force: false }).await?;
        let mut people = Vec::new();
        // The events are never appended: a preview takes no events lock.
        let changed: Vec<(PersonKind, i32, PreviewChange, DeactivationReason)> = outcome
            .changes
            .iter()
            .filter_map(|c| {
                let change = match c.event {
                    EventKind::Deactivated => PreviewChange::Deactivated,
                    EventKind::Reactivated => PreviewChange::Reactivated,
                    _ => return None,
                };
                Some((c.kind, c.person_id, change, c.reason))
            })
            .chain(outcome.held.iter().filter_map(|held| {
                let kind = match held.key.0 {
                    HeldTarget::Student => PersonKind::Student,
                    HeldTarget::Staff => PersonKind::Staff,
                    HeldTarget::Guardian => PersonKind::Guardian,
                    _ => return None,
                };
                Some((kind, held.key.1, PreviewChange::Held, held.reason?))
            }))
            .collect();
        for kind in [PersonKind::Student, PersonKind::Staff, PersonKind::Guardian] {
            let mine: Vec<_> = changed.iter().filter(|c| c.0 == kind).collect();
            let ids: HashSet<i32> = mine.iter().map(|c| c.1).collect();
            let stamped = stamped(&txn, kind, school_id, now, &ids).await?;
            let by_id: HashMap<i32, &Row> = stamped.iter().map(|r| (r.id, r)).collect();
            let mut listed: BTreeMap<PreviewChange, Vec<PreviewPerson>> = BTreeMap::new();
            let person = |row: &Row, change, reason| PreviewPerson {
                kind,
                change,
                id: (change != PreviewChange::Created).then_some(row.id),
                source_id: row.wonde_id.clone(),
                forename: row.forename.clone(),
                surname: row.surname.clone(),
                reason,
            };
            for (_, id, change, reason) in &mine {
                if let Some(row) = by_id.get(id) {
                    listed.entry(*change).or_default().push(person(row, *change, Some(*reason)));
                }
            }
            for row in stamped.iter().filter(|r| !ids.contains(&r.id)) {
                let change =
                    if row.created_at == now { PreviewChange::Created } else { PreviewChange::Updated };
                listed.entry(change).or_default().push(person(row, change, None));
            }
            for (_, mut list) in listed {
                list.sort_by(|a, b| (a.id, &a.source_id).cmp(&(b.id, &b.source_id)));
                list.truncate(PREVIEW_PEOPLE);
                people.extend(list);
            }
        }
        // Nothing of it stays: not the directory's changes, not the held
        // set, not the events appended inside.
        txn.rollback().await?;
        Ok(Preview {
            kind: if complete { SyncKind::Full } else { SyncKind::Incremental },
            counts: outcome.counts,
            people,
            warnings: batch.warnings(),
        })
    }
}

/// An account as a preview lists it.
#[derive(sea_orm::FromQueryResult)]
struct Row {
    id: i32,
    wonde_id: String,
    forename: String,
    surname: String,
    created_at: DateTime<Utc>,
}

/// The accounts of `kind` the reconciliation stamped at `now` (created or
/// changed), and those of `ids`.
async fn stamped(
    txn: &DatabaseTransaction,
    kind: PersonKind,
    school_id: i32,
    now: DateTime<Utc>,
    ids: &HashSet<i32>,
) -> Result<Vec<Row>, DbErr> {
    macro_rules! rows {
        ($module:ident) => {{
            let ids: Vec<i32> = ids.iter().copied().collect();
            let columns = [
                $module::Column::Id,
                $module::Column::WondeId,
                $module::Column::Forename,
                $module::Column::Surname,
                $module::Column::CreatedAt,
            ];
            let mut rows: Vec<Row> = $module::Entity::find()
                .select_only()
                .columns(columns)
                .filter($module::Column::SchoolId.eq(school_id))
                .filter($module::Column::UpdatedAt.eq(now))
                .into_model()
                .all(txn)
                .await?;
            let seen: HashSet<i32> = rows.iter().map(|r| r.id).collect();
            let missing: Vec<i32> = ids.into_iter().filter(|id| !seen.contains(id)).collect();
            for chunk in missing.chunks(500) {
                rows.extend(
                    $module::Entity::find()
                        .select_only()
                        .columns(columns)
                        .filter($module::Column::Id.is_in(chunk.iter().copied()))
                        .into_model()
                        .all(txn)
                        .await?,
                );
            }
            rows
        }};
    }
    Ok(match kind {
        PersonKind::Student => rows!(student),
        PersonKind::Staff => rows!(staff),
        PersonKind::Guardian => rows!(guardian),
    })
}

/// How the API says it (`extensions.code`): the error converts itself
/// where it is defined, so `error.rs` depends on nothing above it.
impl From<PreviewError> for crate::error::AppError {
    fn from(err: PreviewError) -> Self {
        use PreviewError as E;
        match err {
            E::SchoolNotFound(_) => {
                Self::NotFound("no school with that ID is visible to this token".to_owned())
            }
            E::Wonde(_) => Self::Wonde { code: "WONDE_UNAVAILABLE", message: err.to_string() },
            E::Refused(_) => Self::BadInput(err.to_string()),
            E::Database(err) => Self::Database(err),
        }
    }
}
