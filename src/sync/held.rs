//! Deciding what the guard held: approving applies the held changes that
//! are still valid, with the ordinary cascade and its events, in one
//! transaction; rejecting discards them (the accounts stay active, and a
//! later FULL run that still lacks them holds them again). Every decision
//! records who made it and when.

use chrono::Utc;
use entity::enums::{HeldStatus, HeldTarget};
use entity::{
    class, class_student, class_teacher, form_group, form_student, form_tutor, guardian, guardian_link,
    held_change, school, staff, student, year_group, year_student,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QuerySelect,
};
use std::collections::{BTreeMap, HashSet};

use super::holds::active_ids;
use super::ledger::{Guard, RunCounts};
use super::reconcile::{Scope, reconcile};
use super::source::{Batch, DataTypes, DeletedKind, MisDeletion};
use crate::events::EventBus;
use crate::parent_groups::membership;
use crate::school_day::{self, Clock};

/// Why a decision could not be made. The messages are safe to show an
/// administrator.
#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    #[error("no school with id {0}")]
    SchoolNotFound(i32),
    #[error("held change {0} is not one of this school's held changes")]
    UnknownChange(i32),
    #[error("no held change ids were given")]
    NoneGiven,
    #[error("a sync of this school is running (run {0}); decide once it has ended")]
    RunInProgress(i32),
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// What a decision did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// Held changes decided now (approved and applied, or rejected).
    pub decided: Vec<i32>,
    /// Held changes that were no longer pending (decided before, or
    /// withdrawn), left as they were.
    pub skipped: Vec<i32>,
    /// Held changes whose target had changed meanwhile (left, ended or
    /// gone on other evidence): withdrawn, nothing applied.
    pub withdrawn: Vec<i32>,
    /// What approval changed, cascade included.
    pub counts: RunCounts,
}

/// Approves held changes of `school_id` on behalf of `decided_by`.
pub async fn approve(
    db: &DatabaseConnection,
    events: &EventBus,
    clock: Clock,
    school_id: i32,
    ids: &[i32],
    decided_by: &str,
) -> Result<Decision, DecisionError> {
    let school = school::Entity::find_by_id(school_id)
        .one(db)
        .await?
        .ok_or(DecisionError::SchoolNotFound(school_id))?;
    let today = school_day::today(school_day::school_zone(db, &school).await?, clock.now());
    let txn = crate::db::begin_write(db).await?;
    let groups_before = membership::snapshot(&txn, school_id).await?;
    let (pending, skipped) = pending(&txn, school_id, ids).await?;
    let mut by_target: BTreeMap<&str, (HeldTarget, Vec<i32>)> = BTreeMap::new();
    for row in &pending {
        by_target.entry(row.target.as_str()).or_insert((row.target, Vec::new())).1.push(row.target_id);
    }
    let mut valid: HashSet<(HeldTarget, i32)> = HashSet::new();
    for (target, ids) in by_target.into_values() {
        valid.extend(active_ids(&txn, target, &ids).await?.into_iter().map(|id| (target, id)));
    }
    let (approved, withdrawn): (Vec<_>, Vec<_>) =
        pending.into_iter().partition(|row| valid.contains(&(row.target, row.target_id)));
    let now = Utc::now();
    let approved_ids: Vec<i32> = approved.iter().map(|r| r.id).collect();
    let withdrawn_ids: Vec<i32> = withdrawn.iter().map(|r| r.id).collect();
    decide(&txn, &approved_ids, HeldStatus::Approved, decided_by).await?;
    decide(&txn, &withdrawn_ids, HeldStatus::Withdrawn, decided_by).await?;

    // Groups, memberships and links end here; accounts go through the
    // reconciliation as the MIS's own deletions would, so that their
    // memberships, links and guardians follow and events are appended.
    let mut counts = RunCounts::default();
    let mut batch = Batch::new(false, DataTypes::ALL);
    for (target, rows) in grouped(&approved).into_values() {
        let ids: Vec<i32> = rows.iter().map(|r| r.target_id).collect();
        match target {
            HeldTarget::Student => {
                batch.deletions.extend(deletions::<student::Entity>(&txn, &ids, DeletedKind::Student).await?)
            }
            HeldTarget::Staff => {
                batch.deletions.extend(deletions::<staff::Entity>(&txn, &ids, DeletedKind::Staff).await?)
            }
            HeldTarget::Guardian => batch
                .deletions
                .extend(deletions::<guardian::Entity>(&txn, &ids, DeletedKind::Guardian).await?),
            other => counts.groups.deactivated += end_rows(&txn, other, &ids, now).await?,
        }
    }
    let scope = Scope { trust_id: school.trust_id, school_id, run_id: None, now, today };
    // Forced: an administrator decided, so the guard has nothing to judge.
    let mut outcome = reconcile(&txn, scope, &batch, Guard { share: 1.0, force: true }).await?;
    let groups_after = membership::snapshot(&txn, school_id).await?;
    let origin = membership::Origin { trust_id: school.trust_id, school_id, run_id: None, now };
    outcome.queue_events(membership::changes(&groups_before, &groups_after, origin));
    // Approved pupils are gone: findings about them go with them, in the
    // same commit, as a run's do.
    crate::quality::refresh(&txn, school_id, crate::quality::Occasion::Approval).await?;
    outcome.append_events(&txn).await?;
    txn.commit().await?;
    events.publish(&outcome.events);
    let mut total = outcome.counts;
    total.groups.deactivated += counts.groups.deactivated;
    tracing::info!(
        school.id = school_id,
        approved = approved_ids.len(),
        withdrawn = withdrawn_ids.len(),
        "held changes approved"
    );
    Ok(Decision { decided: approved_ids, skipped, withdrawn: withdrawn_ids, counts: total })
}

/// Rejects held changes of `school_id` on behalf of `decided_by`: nothing
/// changes in the directory.
pub async fn reject(
    db: &DatabaseConnection,
    school_id: i32,
    ids: &[i32],
    decided_by: &str,
) -> Result<Decision, DecisionError> {
    school::Entity::find_by_id(school_id).one(db).await?.ok_or(DecisionError::SchoolNotFound(school_id))?;
    let txn = crate::db::begin_write(db).await?;
    let (pending, skipped) = pending(&txn, school_id, ids).await?;
    let rejected: Vec<i32> = pending.iter().map(|r| r.id).collect();
    decide(&txn, &rejected, HeldStatus::Rejected, decided_by).await?;
    txn.commit().await?;
    tracing::info!(school.id = school_id, rejected = rejected.len(), "held changes rejected");
    Ok(Decision { decided: rejected, skipped, ..Decision::default() })
}

/// The pending entries among `ids`, and the ids no longer pending; an id
/// that is not this school's held change, or a run of the school under
/// way, refuses the whole decision.
async fn pending(
    txn: &DatabaseTransaction,
    school_id: i32,
    ids: &[i32],
) -> Result<(Vec<held_change::Model>, Vec<i32>), DecisionError> {
    if ids.is_empty() {
        return Err(DecisionError::NoneGiven);
    }
    // A run reads the pending set when it starts: deciding under it would
    // race its view of the school.
    if let Some(run) = super::runs::open_run(txn, school_id).await?
        && run.status == entity::enums::SyncStatus::Running
    {
        return Err(DecisionError::RunInProgress(run.id));
    }
    let wanted: HashSet<i32> = ids.iter().copied().collect();
    let mut rows = Vec::with_capacity(wanted.len());
    let list: Vec<i32> = wanted.iter().copied().collect();
    for chunk in list.chunks(500) {
        rows.extend(
            held_change::Entity::find()
                .filter(held_change::Column::SchoolId.eq(school_id))
                .filter(held_change::Column::Id.is_in(chunk.iter().copied()))
                // Two decisions at once: the second waits for the first and
                // then finds these decided (PostgreSQL; SQLite's write
                // transactions already take turns).
                .lock_exclusive()
                .all(txn)
                .await?,
        );
    }
    let found: HashSet<i32> = rows.iter().map(|r| r.id).collect();
    if let Some(missing) = list.iter().copied().filter(|id| !found.contains(id)).min() {
        return Err(DecisionError::UnknownChange(missing));
    }
    let (pending, decided): (Vec<_>, Vec<_>) =
        rows.into_iter().partition(|r| r.status == HeldStatus::Pending);
    let mut skipped: Vec<i32> = decided.iter().map(|r| r.id).collect();
    skipped.sort_unstable();
    Ok((pending, skipped))
}

async fn decide(txn: &DatabaseTransaction, ids: &[i32], status: HeldStatus, by: &str) -> Result<(), DbErr> {
    for chunk in ids.chunks(500) {
        held_change::Entity::update_many()
            .col_expr(held_change::Column::Status, Expr::value(status.as_str()))
            .col_expr(held_change::Column::DecidedAt, Expr::value(Utc::now()))
            .col_expr(held_change::Column::DecidedBy, Expr::value(by))
            .filter(held_change::Column::Id.is_in(chunk.iter().copied()))
            .filter(held_change::Column::Status.eq(HeldStatus::Pending))
            .exec(txn)
            .await?;
    }
    Ok(())
}

fn grouped(rows: &[held_change::Model]) -> BTreeMap<&'static str, (HeldTarget, Vec<&held_change::Model>)> {
    let mut by: BTreeMap<&'static str, (HeldTarget, Vec<&held_change::Model>)> = BTreeMap::new();
    for row in rows {
        by.entry(row.target.as_str()).or_insert((row.target, Vec::new())).1.push(row);
    }
    by
}

/// An account table's rows as the deletions the MIS would have sent.
trait Account: EntityTrait {
    fn id_column() -> Self::Column;
    fn wonde_column() -> Self::Column;
}

macro_rules! account {
    ($module:ident) => {
        impl Account for $module::Entity {
            fn id_column() -> Self::Column {
                $module::Column::Id
            }
            fn wonde_column() -> Self::Column {
                $module::Column::WondeId
            }
        }
    };
}
account!(student);
account!(staff);
account!(guardian);

async fn deletions<E: Account>(
    txn: &DatabaseTransaction,
    ids: &[i32],
    kind: DeletedKind,
) -> Result<Vec<MisDeletion>, DbErr> {
    let mut found = Vec::new();
    for chunk in ids.chunks(500) {
        let wonde: Vec<String> = E::find()
            .select_only()
            .column(E::wonde_column())
            .filter(E::id_column().is_in(chunk.iter().copied()))
            .into_tuple()
            .all(txn)
            .await?;
        found.extend(wonde.into_iter().map(|source_id| MisDeletion { kind, source_id }));
    }
    Ok(found)
}

/// Ends groups, memberships or links directly (their members and cascade
/// follow in the reconciliation); answers how many groups ended.
async fn end_rows(
    txn: &DatabaseTransaction,
    target: HeldTarget,
    ids: &[i32],
    now: chrono::DateTime<Utc>,
) -> Result<i32, DbErr> {
    // Memberships and links also get the day they ended; groups do not
    // have one.
    macro_rules! end {
        ($module:ident $(, $ended_at:ident)?) => {{
            for chunk in ids.chunks(500) {
                $module::Entity::update_many()
                    .col_expr($module::Column::Active, Expr::value(false))
                    $(.col_expr($module::Column::$ended_at, Expr::value(now)))?
                    .col_expr($module::Column::UpdatedAt, Expr::value(now))
                    .filter($module::Column::Id.is_in(chunk.iter().copied()))
                    .exec(txn)
                    .await?;
            }
        }};
    }
    match target {
        HeldTarget::YearGroup => end!(year_group),
        HeldTarget::FormGroup => end!(form_group),
        HeldTarget::Class => end!(class),
        HeldTarget::YearGroupMembership => end!(year_student, EndedAt),
        HeldTarget::FormGroupMembership => end!(form_student, EndedAt),
        HeldTarget::FormTutor => end!(form_tutor, EndedAt),
        HeldTarget::ClassMembership => end!(class_student, EndedAt),
        HeldTarget::ClassTeacher => end!(class_teacher, EndedAt),
        HeldTarget::GuardianLink => end!(guardian_link, EndedAt),
        HeldTarget::Student | HeldTarget::Staff | HeldTarget::Guardian => {}
    }
    let groups = matches!(target, HeldTarget::YearGroup | HeldTarget::FormGroup | HeldTarget::Class);
    Ok(if groups { i32::try_from(ids.len()).unwrap_or(i32::MAX) } else { 0 })
}

/// Words for each held change, for people who decide from a terminal: the
/// account's names and MIS id, the group's name, or a membership's (or
/// link's) group and member. Answers by held change id.
pub async fn describe<C: sea_orm::ConnectionTrait>(
    db: &C,
    rows: &[held_change::Model],
) -> Result<std::collections::HashMap<i32, String>, DbErr> {
    use std::collections::{HashMap, HashSet};
    let mut people: [HashSet<i32>; 3] = Default::default();
    let mut groups: [HashSet<i32>; 3] = Default::default();
    for row in rows {
        let (target, group, member) = (row.target, row.group_id, row.member_id);
        let (person, group) = match target {
            HeldTarget::Student => ((Some(0), Some(row.target_id)), None),
            HeldTarget::Staff => ((Some(1), Some(row.target_id)), None),
            HeldTarget::Guardian => ((Some(2), Some(row.target_id)), None),
            HeldTarget::YearGroup => ((None, None), Some((0, row.target_id))),
            HeldTarget::FormGroup => ((None, None), Some((1, row.target_id))),
            HeldTarget::Class => ((None, None), Some((2, row.target_id))),
            HeldTarget::YearGroupMembership => ((Some(0), member), group.map(|g| (0, g))),
            HeldTarget::FormGroupMembership => ((Some(0), member), group.map(|g| (1, g))),
            HeldTarget::ClassMembership => ((Some(0), member), group.map(|g| (2, g))),
            HeldTarget::FormTutor => ((Some(1), member), group.map(|g| (1, g))),
            HeldTarget::ClassTeacher => ((Some(1), member), group.map(|g| (2, g))),
            HeldTarget::GuardianLink => {
                // The link's "group" is its student.
                if let Some(student) = group {
                    people[0].insert(student);
                }
                ((Some(2), member), None)
            }
        };
        if let (Some(kind), Some(id)) = person {
            people[kind].insert(id);
        }
        if let Some((kind, id)) = group {
            groups[kind].insert(id);
        }
    }
    macro_rules! names {
        ($module:ident, $ids:expr, person) => {{
            let ids: Vec<i32> = $ids.iter().copied().collect();
            let mut found: HashMap<i32, String> = HashMap::new();
            for chunk in ids.chunks(500) {
                let rows: Vec<(i32, String, String, String)> = $module::Entity::find()
                    .select_only()
                    .columns([
                        $module::Column::Id,
                        $module::Column::Forename,
                        $module::Column::Surname,
                        $module::Column::WondeId,
                    ])
                    .filter($module::Column::Id.is_in(chunk.iter().copied()))
                    .into_tuple()
                    .all(db)
                    .await?;
                found.extend(
                    rows.into_iter().map(|(id, forename, surname, wonde)| {
                        (id, format!("{forename} {surname} ({wonde})"))
                    }),
                );
            }
            found
        }};
        ($module:ident, $ids:expr, group) => {{
            let ids: Vec<i32> = $ids.iter().copied().collect();
            let mut found: HashMap<i32, String> = HashMap::new();
            for chunk in ids.chunks(500) {
                let rows: Vec<(i32, String)> = $module::Entity::find()
                    .select_only()
                    .columns([$module::Column::Id, $module::Column::Name])
                    .filter($module::Column::Id.is_in(chunk.iter().copied()))
                    .into_tuple()
                    .all(db)
                    .await?;
                found.extend(rows);
            }
            found
        }};
    }
    let students = names!(student, people[0], person);
    let staff = names!(staff, people[1], person);
    let guardians = names!(guardian, people[2], person);
    let years = names!(year_group, groups[0], group);
    let forms = names!(form_group, groups[1], group);
    let classes = names!(class, groups[2], group);
    let name = |names: &HashMap<i32, String>, id: Option<i32>| {
        id.and_then(|id| names.get(&id).cloned()).unwrap_or_else(|| "(gone)".to_owned())
    };
    Ok(rows
        .iter()
        .map(|row| {
            let (group, member) = (row.group_id, row.member_id);
            let words = match row.target {
                HeldTarget::Student => name(&students, Some(row.target_id)),
                HeldTarget::Staff => name(&staff, Some(row.target_id)),
                HeldTarget::Guardian => name(&guardians, Some(row.target_id)),
                HeldTarget::YearGroup => name(&years, Some(row.target_id)),
                HeldTarget::FormGroup => name(&forms, Some(row.target_id)),
                HeldTarget::Class => name(&classes, Some(row.target_id)),
                HeldTarget::YearGroupMembership => {
                    format!("{} in {}", name(&students, member), name(&years, group))
                }
                HeldTarget::FormGroupMembership => {
                    format!("{} in {}", name(&students, member), name(&forms, group))
                }
                HeldTarget::ClassMembership => {
                    format!("{} in {}", name(&students, member), name(&classes, group))
                }
                HeldTarget::FormTutor => format!("{} tutoring {}", name(&staff, member), name(&forms, group)),
                HeldTarget::ClassTeacher => {
                    format!("{} teaching {}", name(&staff, member), name(&classes, group))
                }
                HeldTarget::GuardianLink => {
                    format!("{} of {}", name(&guardians, member), name(&students, group))
                }
            };
            (row.id, words)
        })
        .collect())
}
