//! Group tables (year groups, form groups, classes): each upserted to
//! match what the MIS says, for the scope the batch covers, re-keyed by
//! name after a MIS change, and ended (under the guard) when the MIS no
//! longer has them. Their memberships are `memberships.rs`.

use chrono::{DateTime, Utc};
use entity::enums::{HeldEvidence, HeldTarget};
use entity::*;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbErr, EntityName, EntityTrait,
    QueryFilter, QuerySelect,
};
use std::collections::{HashMap, HashSet};

use super::batch_write;
use super::holds::Candidate;
use super::ledger::count;
use super::reconcile::{KnownAccounts, Work};
use super::source::{Batch, DeletedKind, Memberships, MisGroup, listing};

/// Source id to database id of each current group, per kind.
#[derive(Default)]
pub(super) struct GroupIds {
    pub years: HashMap<String, i32>,
    pub forms: HashMap<String, i32>,
    pub classes: HashMap<String, i32>,
}

/// A group table: year_group, form_group or class.
trait GroupTable: EntityTrait {
    /// How a held change names a group of this table.
    const TARGET: HeldTarget;
    fn school_column() -> Self::Column;
    /// Id, source id, name, and whether the group is current.
    fn fields(model: &Self::Model) -> (i32, &str, &str, bool);
    fn new_row(school: i32, group: &MisGroup, now: DateTime<Utc>) -> Self::ActiveModel;
    /// Copies the MIS's fields and marks the row current; true if it changed.
    fn refresh(
        model: Self::Model,
        group: Option<&MisGroup>,
        active: bool,
        now: DateTime<Utc>,
    ) -> Option<Self::ActiveModel>;
}

macro_rules! group_table {
    ($module:ident, $target:ident, $subject:expr) => {
        impl GroupTable for $module::Entity {
            const TARGET: HeldTarget = HeldTarget::$target;

            fn school_column() -> Self::Column {
                $module::Column::SchoolId
            }

            fn fields(model: &Self::Model) -> (i32, &str, &str, bool) {
                (model.id, &model.wonde_id, &model.name, model.active)
            }

            fn new_row(school: i32, group: &MisGroup, now: DateTime<Utc>) -> Self::ActiveModel {
                let mut row = $module::ActiveModel {
                    school_id: Set(school),
                    wonde_id: Set(group.source_id.clone()),
                    name: Set(group.name.clone()),
                    code: Set(group.code.clone()),
                    active: Set(true),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                };
                $subject(&mut row, group);
                row
            }

            fn refresh(
                model: Self::Model,
                group: Option<&MisGroup>,
                active: bool,
                now: DateTime<Utc>,
            ) -> Option<Self::ActiveModel> {
                let mut row: $module::ActiveModel = model.into();
                if let Some(group) = group {
                    // A group matched by name after a MIS change takes its new id.
                    row.wonde_id.set_if_not_equals(group.source_id.clone());
                    row.name.set_if_not_equals(group.name.clone());
                    row.code.set_if_not_equals(group.code.clone());
                    $subject(&mut row, group);
                }
                row.active.set_if_not_equals(active);
                row.is_changed().then(|| {
                    row.updated_at = Set(now);
                    row
                })
            }
        }
    };
}

fn no_subject<T>(_: &mut T, _: &MisGroup) {}

group_table!(year_group, YearGroup, no_subject);
group_table!(form_group, FormGroup, no_subject);
group_table!(class, Class, |row: &mut class::ActiveModel, group: &MisGroup| row
    .subject
    .set_if_not_equals(group.subject.clone()));

/// Upserts one kind of group; with `ends_absent` (a complete batch), or a
/// deletion, the groups it no longer has end. Returns the current groups by
/// source id.
async fn sync_group_table<E>(
    txn: &DatabaseTransaction,
    work: &mut Work,
    ends_absent: bool,
    groups: &[MisGroup],
    deleted: &HashSet<&str>,
    kept_by_members: &HashSet<i32>,
) -> Result<HashMap<String, i32>, DbErr>
where
    E: GroupTable,
    E::Model: Clone + sea_orm::IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    let (school, now) = (work.scope.school_id, work.scope.now);
    let rows = E::find().filter(E::school_column().eq(school)).all(txn).await?;
    let by_source: HashMap<&str, &MisGroup> = groups.iter().map(|g| (g.source_id.as_str(), g)).collect();
    // Only a batch that speaks for every group of the kind can say that a
    // known group's id is gone, so only there may a name carry it over.
    let renamed = if ends_absent { rekeyed_groups::<E>(&rows, groups) } else { HashMap::new() };
    let mut seen: HashSet<String> = HashSet::new();
    // Each row's group in the batch (if any) and whether it stays current.
    let mut plan: Vec<(Option<&MisGroup>, bool)> = Vec::with_capacity(rows.len());
    let mut candidates: Vec<(usize, Candidate)> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let (id, source_id, _, was_active) = E::fields(row);
        let group = by_source.get(source_id).copied().or_else(|| renamed.get(&i).copied());
        seen.insert(source_id.to_owned());
        if let Some(group) = group {
            seen.insert(group.source_id.clone());
        }
        let source_id = group.map_or(source_id, |g| g.source_id.as_str());
        let deleted = deleted.contains(source_id);
        let mut active = match group {
            Some(_) => !deleted,
            None => was_active && !ends_absent && !deleted,
        };
        let key = (E::TARGET, id);
        if active && group.is_some() {
            work.holds.spoke(key);
        }
        if was_active && !active {
            if work.holds.is_kept(key) || (group.is_none() && kept_by_members.contains(&id)) {
                // Held, or (groups made of their members' rows) absent only
                // because its members are held, or kept by a file that
                // says nothing of it: it stays with them.
                active = true;
            } else {
                let evidence =
                    if deleted { HeldEvidence::DeletedInMis } else { HeldEvidence::AbsentFromFullFetch };
                candidates.push((i, Candidate { key, evidence, reason: None, pair: None }));
            }
        }
        plan.push((group, active));
    }
    let new_count = groups
        .iter()
        .filter(|g| !seen.contains(&g.source_id) && !deleted.contains(g.source_id.as_str()))
        .count();
    // A group kind is judged by what it loses (ends less new groups),
    // against the groups the run could leave in place (not already held).
    let held_before = i32::try_from(work.holds.kept_ids(E::TARGET).len()).unwrap_or(i32::MAX);
    let active_before = count(rows.iter().filter(|r| E::fields(r).3)).saturating_sub(held_before);
    let judged = count(candidates.iter()).saturating_sub(i32::try_from(new_count).unwrap_or(i32::MAX));
    let list: Vec<Candidate> = candidates.iter().map(|(_, c)| *c).collect();
    if work.holds.decide(active_before, judged, &list) {
        for (i, _) in &candidates {
            plan[*i].1 = true;
        }
    }
    let mut updates = Vec::new();
    for (row, (group, active)) in rows.iter().zip(plan) {
        let was_active = E::fields(row).3;
        if let Some(update) = E::refresh(row.clone(), group, active, now) {
            match (was_active, active) {
                (true, false) => work.counts.groups.deactivated += 1,
                (false, true) => work.counts.groups.reactivated += 1,
                _ => work.counts.groups.updated += 1,
            }
            updates.push(update);
        }
    }
    let mut written = batch_write::update_changed(txn, updates).await?;
    let new: Vec<E::ActiveModel> = groups
        .iter()
        .filter(|g| !seen.contains(&g.source_id) && !deleted.contains(g.source_id.as_str()))
        .map(|g| E::new_row(school, g, now))
        .collect();
    work.counts.groups.created += i32::try_from(new.len()).unwrap_or(i32::MAX);
    written += batch_write::insert_all(txn, new).await?;
    work.written.note::<E>(written);
    // Nothing written: the groups stand as read.
    let current =
        if written == 0 { rows } else { E::find().filter(E::school_column().eq(school)).all(txn).await? };
    Ok(current
        .iter()
        .map(E::fields)
        .filter(|(_, _, _, active)| *active)
        .map(|(id, source_id, _, _)| (source_id.to_owned(), id))
        .collect())
}

/// Groups a MIS change re-keyed: a group of the batch with an unknown id is
/// the known group of the same name (case-folded) whose own id the batch no
/// longer has, when exactly one such group exists and no other group of
/// the batch claims it; so a school's "Year 7" keeps its ID, its members
/// and its history across a change of MIS.
fn rekeyed_groups<'a, E: GroupTable>(
    rows: &[E::Model],
    groups: &'a [MisGroup],
) -> HashMap<usize, &'a MisGroup> {
    let known: HashSet<&str> = rows.iter().map(|r| E::fields(r).1).collect();
    let present: HashSet<&str> = groups.iter().map(|g| g.source_id.as_str()).collect();
    let claimed: HashSet<usize> =
        rows.iter().enumerate().filter(|(_, r)| present.contains(E::fields(r).1)).map(|(i, _)| i).collect();
    let fold = |name: &str| Some(crate::families::name_key(name));
    let by_name = super::identity::index(rows, |r| fold(E::fields(r).2));
    let unknown: Vec<&MisGroup> = groups.iter().filter(|g| !known.contains(g.source_id.as_str())).collect();
    let wanted: Vec<Vec<usize>> =
        unknown.iter().map(|g| super::identity::candidates(&by_name, fold(&g.name))).collect();
    unknown
        .into_iter()
        .zip(super::identity::resolve(&wanted, &claimed))
        .filter_map(|(group, resolution)| match resolution {
            super::identity::Resolution::Same(row) => Some((row, group)),
            _ => None,
        })
        .collect()
}

pub(super) async fn sync_groups(
    txn: &DatabaseTransaction,
    work: &mut Work,
    batch: &Batch,
    students: &KnownAccounts,
    staff: &KnownAccounts,
) -> Result<GroupIds, DbErr> {
    let deleted_classes: HashSet<&str> = batch
        .deletions
        .iter()
        .filter(|d| d.kind == DeletedKind::Class)
        .map(|d| d.source_id.as_str())
        .collect();
    let deleted_groups: HashSet<&str> = batch
        .deletions
        .iter()
        .filter(|d| d.kind == DeletedKind::Group)
        .map(|d| d.source_id.as_str())
        .collect();
    let t = batch.types;
    // A batch that speaks for only some kinds of member (CSV students
    // without staff) cannot tell that an absent form or class is empty:
    // its tutor or teacher may still be in it. A group kind's own fetch
    // speaks for its groups; groups made of their members' rows, for as
    // much as the member files do.
    // A kind one of whose member columns a file lacks (staff.csv without
    // `classes`) still ends its absent groups, except those in which that
    // file keeps someone ([`KeptByMembers`]).
    let stated = batch.unstated.group_kinds_stated();
    let ends_absent = |kind: usize, staff_too: bool, endpoint: &str| match batch.memberships {
        Memberships::ByGroup => batch.absence_is_evidence_in(&[endpoint]),
        Memberships::ByMember => {
            batch.absence_is_evidence() && t.students && (t.staff || !staff_too) && stated[kind]
        }
    };
    let ends = [
        ends_absent(0, false, listing::YEAR_GROUPS),
        ends_absent(1, true, listing::FORM_GROUPS),
        ends_absent(2, true, listing::CLASSES),
    ];
    let mut ids = GroupIds::default();
    let held = if batch.memberships == Memberships::ByMember {
        let silent = Silent { unstated: &batch.unstated.memberships, ends, students, staff };
        KeptByMembers::load(txn, work, silent).await?
    } else {
        KeptByMembers::default()
    };
    if batch.types.year_groups {
        ids.years = sync_group_table::<year_group::Entity>(
            txn,
            work,
            ends[0],
            &batch.year_groups,
            &deleted_groups,
            &held.years,
        )
        .await?;
    } else {
        ids.years = current_groups::<year_group::Entity>(txn, work.scope.school_id).await?;
    }
    if batch.types.form_groups {
        ids.forms = sync_group_table::<form_group::Entity>(
            txn,
            work,
            ends[1],
            &batch.form_groups,
            &deleted_groups,
            &held.forms,
        )
        .await?;
    } else {
        ids.forms = current_groups::<form_group::Entity>(txn, work.scope.school_id).await?;
    }
    if batch.types.classes {
        ids.classes = sync_group_table::<class::Entity>(
            txn,
            work,
            ends[2],
            &batch.classes,
            &deleted_classes,
            &held.classes,
        )
        .await?;
    } else {
        ids.classes = current_groups::<class::Entity>(txn, work.scope.school_id).await?;
    }
    Ok(ids)
}

/// Groups with a current member who is held, or with a current row in a
/// membership table the batch says nothing of: under
/// [`Memberships::ByMember`] a group exists through its members' rows, so
/// one missing only because its members are held waits with them, and one
/// missing from the files that speak while a silent file's people are still
/// in it (a class whose teachers a staff.csv without `classes` keeps)
/// stays with them. Only active people keep a group: a leaver's rows are
/// still current here and end in this run's memberships step.
#[derive(Default)]
struct KeptByMembers {
    years: HashSet<i32>,
    forms: HashSet<i32>,
    classes: HashSet<i32>,
}

/// What [`KeptByMembers::load`] needs of the batch beyond the holds: the
/// membership tables it says nothing of, which kinds (years, forms,
/// classes) end their absent groups, and who is active.
struct Silent<'a> {
    unstated: &'a HashSet<&'static str>,
    ends: [bool; 3],
    students: &'a KnownAccounts,
    staff: &'a KnownAccounts,
}

impl KeptByMembers {
    async fn load(txn: &DatabaseTransaction, work: &Work, silent: Silent<'_>) -> Result<Self, DbErr> {
        let holds = &work.holds;
        let students = holds.kept_ids(HeldTarget::Student);
        let staff = holds.kept_ids(HeldTarget::Staff);
        let mut held = Self::default();
        macro_rules! groups_of {
            ($module:ident, $group:ident, $member:ident, $members:expr, $into:expr) => {
                for chunk in $members.chunks(500) {
                    let ids: Vec<i32> = $module::Entity::find()
                        .select_only()
                        .column($module::Column::$group)
                        .filter($module::Column::$member.is_in(chunk.iter().copied()))
                        .filter($module::Column::Active.eq(true))
                        .into_tuple()
                        .all(txn)
                        .await?;
                    $into.extend(ids);
                }
            };
        }
        groups_of!(year_student, YearGroupId, StudentId, students, held.years);
        groups_of!(form_student, FormGroupId, StudentId, students, held.forms);
        groups_of!(class_student, ClassId, StudentId, students, held.classes);
        groups_of!(form_tutor, FormGroupId, StaffId, staff, held.forms);
        groups_of!(class_teacher, ClassId, StaffId, staff, held.classes);
        let active = |members: &KnownAccounts| -> HashSet<i32> {
            members.values().filter(|k| k.active).map(|k| k.id).collect()
        };
        let (students, staff) = (active(silent.students), active(silent.staff));
        // Read only where a group could end: a kind that ends none needs no
        // keeper.
        macro_rules! groups_with_rows {
            ($module:ident, $group:ident, $member:ident, $active:expr, $kind:expr, $into:expr) => {
                if silent.ends[$kind] && silent.unstated.contains($module::Entity.table_name()) {
                    let rows: Vec<(i32, i32)> = $module::Entity::find()
                        .select_only()
                        .columns([$module::Column::$group, $module::Column::$member])
                        .filter($module::Column::SchoolId.eq(work.scope.school_id))
                        .filter($module::Column::Active.eq(true))
                        .into_tuple()
                        .all(txn)
                        .await?;
                    $into.extend(rows.into_iter().filter(|(_, m)| $active.contains(m)).map(|(g, _)| g));
                }
            };
        }
        groups_with_rows!(year_student, YearGroupId, StudentId, students, 0, held.years);
        groups_with_rows!(form_student, FormGroupId, StudentId, students, 1, held.forms);
        groups_with_rows!(form_tutor, FormGroupId, StaffId, staff, 1, held.forms);
        groups_with_rows!(class_student, ClassId, StudentId, students, 2, held.classes);
        groups_with_rows!(class_teacher, ClassId, StaffId, staff, 2, held.classes);
        Ok(held)
    }
}

async fn current_groups<E>(txn: &DatabaseTransaction, school: i32) -> Result<HashMap<String, i32>, DbErr>
where
    E: GroupTable,
{
    let rows = E::find().filter(E::school_column().eq(school)).all(txn).await?;
    Ok(rows
        .iter()
        .map(E::fields)
        .filter(|(_, _, _, active)| *active)
        .map(|(id, source_id, _, _)| (source_id.to_owned(), id))
        .collect())
}
