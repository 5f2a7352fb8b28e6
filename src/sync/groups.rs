//! Groups (year groups, form groups, classes) and their memberships: each
//! replaced to match what the MIS says, for the scope the batch covers.
//! Memberships of anyone no longer active end here too, which is the leaver
//! cascade's second step. The guard over ending rows ([`Ends`]) serves
//! guardian links too (`guardian_links.rs`).

use chrono::{DateTime, Utc};
use entity::enums::{HeldEvidence, HeldTarget};
use entity::*;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
    QuerySelect,
};
use std::collections::{HashMap, HashSet};

use super::holds::{Candidate, Holds};
use super::reconcile::{KnownAccounts, Work};
use super::source::{Batch, DeletedKind, Memberships, MisGroup};

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

fn count<T>(items: impl Iterator<Item = T>) -> i32 {
    i32::try_from(items.count()).unwrap_or(i32::MAX)
}

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
    with_held_members: &HashSet<i32>,
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
            if work.holds.is_kept(key) || (group.is_none() && with_held_members.contains(&id)) {
                // Held, or (groups made of their members' rows) absent only
                // because its members are held: it waits with them.
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
    for (row, (group, active)) in rows.iter().zip(plan) {
        let was_active = E::fields(row).3;
        if let Some(update) = E::refresh(row.clone(), group, active, now) {
            match (was_active, active) {
                (true, false) => work.counts.groups.deactivated += 1,
                (false, true) => work.counts.groups.reactivated += 1,
                _ => work.counts.groups.updated += 1,
            }
            update.update(txn).await?;
        }
    }
    let new: Vec<E::ActiveModel> = groups
        .iter()
        .filter(|g| !seen.contains(&g.source_id) && !deleted.contains(g.source_id.as_str()))
        .map(|g| E::new_row(school, g, now))
        .collect();
    work.counts.groups.created += i32::try_from(new.len()).unwrap_or(i32::MAX);
    for chunk in new.chunks(500) {
        E::insert_many(chunk.to_vec()).exec_without_returning(txn).await?;
    }
    let current = E::find().filter(E::school_column().eq(school)).all(txn).await?;
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
    // A batch that speaks for only some kinds of member (CSV students without
    // staff) cannot tell that an absent form or class is empty: its tutor or
    // teacher may still be in it.
    // A group kind's own fetch speaks for its groups; groups made of their
    // members' rows, for as much as the member files do.
    let ends_absent = |staff_too: bool, endpoint: &str| match batch.memberships {
        Memberships::ByGroup => batch.absence_is_evidence_in(&[endpoint]),
        Memberships::ByMember => batch.absence_is_evidence() && t.students && (t.staff || !staff_too),
    };
    let mut ids = GroupIds::default();
    let held = if batch.memberships == Memberships::ByMember {
        HeldMembers::load(txn, &work.holds).await?
    } else {
        HeldMembers::default()
    };
    if batch.types.year_groups {
        ids.years = sync_group_table::<year_group::Entity>(
            txn,
            work,
            ends_absent(false, "year groups"),
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
            ends_absent(true, "form groups"),
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
            ends_absent(true, "classes"),
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

/// Groups with a current member who is held: under
/// [`Memberships::ByMember`] a group exists through its members' rows, so
/// one missing only because its members are held waits with them.
#[derive(Default)]
struct HeldMembers {
    years: HashSet<i32>,
    forms: HashSet<i32>,
    classes: HashSet<i32>,
}

impl HeldMembers {
    async fn load(txn: &DatabaseTransaction, holds: &Holds) -> Result<Self, DbErr> {
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

/// A membership table.
trait MembershipTable: EntityTrait {
    /// How held changes name a row of this table, its group and its member.
    const ROW: HeldTarget;
    const GROUP: HeldTarget;
    const MEMBER: HeldTarget;
    fn school_column() -> Self::Column;
    /// Row id, group id, member id, and whether the membership is current.
    fn pair(model: &Self::Model) -> (i32, i32, i32, bool);
    fn new_row(school: i32, group: i32, member: i32, now: DateTime<Utc>) -> Self::ActiveModel;
    fn set_active(model: Self::Model, active: bool, now: DateTime<Utc>) -> Self::ActiveModel;
}

macro_rules! membership_table {
    ($module:ident, $group:ident, $member:ident, $row_target:ident, $group_target:ident, $member_target:ident) => {
        impl MembershipTable for $module::Entity {
            const ROW: HeldTarget = HeldTarget::$row_target;
            const GROUP: HeldTarget = HeldTarget::$group_target;
            const MEMBER: HeldTarget = HeldTarget::$member_target;

            fn school_column() -> Self::Column {
                $module::Column::SchoolId
            }

            fn pair(model: &Self::Model) -> (i32, i32, i32, bool) {
                (model.id, model.$group, model.$member, model.active)
            }

            fn new_row(school: i32, group: i32, member: i32, now: DateTime<Utc>) -> Self::ActiveModel {
                $module::ActiveModel {
                    school_id: Set(school),
                    $group: Set(group),
                    $member: Set(member),
                    active: Set(true),
                    ended_at: Set(None),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                }
            }

            fn set_active(model: Self::Model, active: bool, now: DateTime<Utc>) -> Self::ActiveModel {
                let mut row: $module::ActiveModel = model.into();
                row.active = Set(active);
                row.ended_at = Set((!active).then_some(now));
                row.updated_at = Set(now);
                row
            }
        }
    };
}

membership_table!(year_student, year_group_id, student_id, YearGroupMembership, YearGroup, Student);
membership_table!(form_student, form_group_id, student_id, FormGroupMembership, FormGroup, Student);
membership_table!(class_student, class_id, student_id, ClassMembership, Class, Student);
membership_table!(class_teacher, class_id, staff_id, ClassTeacher, Class, Staff);
membership_table!(form_tutor, form_group_id, staff_id, FormTutor, FormGroup, Staff);

/// Which memberships the batch speaks for.
struct MembershipPlan<'a> {
    /// Every group of the kind (a complete batch), or only those present.
    complete: bool,
    groups: &'a [MisGroup],
    group_ids: &'a HashMap<String, i32>,
    members: &'a KnownAccounts,
    students_not_staff: bool,
    /// Group lists speak for their members, not for whole groups
    /// ([`Memberships::ByMember`]): only `stated` members change.
    by_member: bool,
    /// Members whose groups the batch states (an incremental Wonde batch's
    /// students from their own record; every member present in a by-member
    /// batch): member id to all its groups of the kind.
    stated: HashMap<i32, HashSet<i32>>,
    /// In a complete batch whose absences are no evidence (it repeated a
    /// record, so paging may have skipped one): the members it holds.
    /// Group lists speak only for those; the others keep their rows, as
    /// their accounts keep their status.
    present: Option<&'a HashSet<i32>>,
}

async fn sync_membership_table<M>(
    txn: &DatabaseTransaction,
    work: &mut Work,
    plan: MembershipPlan<'_>,
) -> Result<(), DbErr>
where
    M: MembershipTable,
    M::Model: sea_orm::IntoActiveModel<M::ActiveModel>,
    M::ActiveModel: ActiveModelTrait<Entity = M> + Send,
{
    let (school, now) = (work.scope.school_id, work.scope.now);
    let active_members: HashSet<i32> = plan.members.values().filter(|k| k.active).map(|k| k.id).collect();
    let current_groups: HashSet<i32> = plan.group_ids.values().copied().collect();
    let mut in_scope: HashSet<i32> = HashSet::new();
    let mut desired: HashSet<(i32, i32)> = HashSet::new();
    for group in plan.groups.iter().filter(|_| !plan.by_member) {
        let Some(&group_id) = plan.group_ids.get(&group.source_id) else { continue };
        in_scope.insert(group_id);
        let members = if plan.students_not_staff { &group.students } else { &group.staff };
        for member in members {
            if let Some(known) = plan.members.get(member).filter(|k| k.active) {
                desired.insert((group_id, known.id));
            }
        }
    }
    for (member, groups) in plan.stated.iter().filter(|(member, _)| active_members.contains(member)) {
        desired.extend(groups.iter().map(|group| (*group, *member)));
    }
    let rows = M::find().filter(M::school_column().eq(school)).all(txn).await?;
    let mut existing: HashSet<(i32, i32)> = HashSet::new();
    let mut ends = Ends::default();
    let mut wanted_rows: Vec<bool> = Vec::with_capacity(rows.len());
    for (index, row) in rows.iter().enumerate() {
        let (id, group, member, active) = M::pair(row);
        existing.insert((group, member));
        // The batch's own word on the row, when it has one.
        let said = match plan.stated.get(&member) {
            Some(stated) => Some(stated.contains(&group)),
            None if !plan.by_member
                && (plan.complete || in_scope.contains(&group))
                && plan.present.is_none_or(|present| present.contains(&member)) =>
            {
                Some(desired.contains(&(group, member)))
            }
            None => None,
        };
        let (listed, spoken) = (said.unwrap_or(active), said == Some(true));
        // Leavers and ended groups lose their memberships whatever the batch says.
        let follows = active_members.contains(&member) && current_groups.contains(&group);
        let holds = &mut work.holds;
        let kept = holds.is_kept((M::GROUP, group)) || holds.is_kept((M::MEMBER, member));
        let row = RowPlan {
            index,
            key: (M::ROW, id),
            pair: (group, member),
            active,
            listed,
            spoken,
            follows,
            kept,
        };
        let wanted = ends.judge(holds, row);
        wanted_rows.push(wanted);
    }
    ends.count_new(desired.iter().filter(|pair| !existing.contains(pair)).map(|(_, member)| *member));
    ends.decide(&mut work.holds, &mut wanted_rows);
    for (row, wanted) in rows.into_iter().zip(wanted_rows) {
        if wanted != M::pair(&row).3 {
            M::set_active(row, wanted, now).update(txn).await?;
        }
    }
    let new: Vec<M::ActiveModel> = desired
        .iter()
        .filter(|pair| !existing.contains(pair))
        .map(|(group, member)| M::new_row(school, *group, *member, now))
        .collect();
    for chunk in new.chunks(500) {
        M::insert_many(chunk.to_vec()).exec_without_returning(txn).await?;
    }
    Ok(())
}

/// One existing membership (or link) row, as [`Ends::judge`] plans it.
pub(super) struct RowPlan {
    /// Its place among the table's rows.
    pub(super) index: usize,
    pub(super) key: (HeldTarget, i32),
    /// Group and member (for a link: student and guardian).
    pub(super) pair: (i32, i32),
    /// Current before the run.
    pub(super) active: bool,
    /// The batch's own view: listed (or not spoken of, and current).
    pub(super) listed: bool,
    /// The batch itself lists it (not merely silent about it): a held
    /// membership or link so listed came back.
    pub(super) spoken: bool,
    /// Its member and group stay; else it ends with them.
    pub(super) follows: bool,
    /// Its member or group is held: it stays with them.
    pub(super) kept: bool,
}

/// The guard over one membership (or link) table: which ends rest only on
/// the batch no longer listing a membership, and whether they leave too
/// many members in no group of the kind at all.
#[derive(Default)]
pub(super) struct Ends {
    /// Per member: current rows before the run, and after it as planned.
    members: HashMap<i32, (i32, i32)>,
    /// Judged ends: row index, member, and the change.
    judged: Vec<(usize, i32, Candidate)>,
}

impl Ends {
    /// Plans one existing row: answers whether it ends the run current.
    pub(super) fn judge(&mut self, holds: &mut Holds, row: RowPlan) -> bool {
        let RowPlan { index, key, pair: (_, member), active, listed, spoken, follows, kept } = row;
        let kept = kept || holds.is_kept(key);
        let mut wanted = listed && follows;
        if active && !wanted && follows && kept {
            wanted = true;
        } else if active && !wanted && follows {
            let change =
                Candidate { key, evidence: HeldEvidence::NotListed, reason: None, pair: Some(row.pair) };
            self.judged.push((index, member, change));
        }
        if spoken && follows {
            holds.spoke(key);
        }
        // Rows already held are neither weighed nor counted again.
        let counts = self.members.entry(member).or_default();
        counts.0 += i32::from(active && follows && !kept);
        counts.1 += i32::from(wanted && !kept);
        wanted
    }

    /// Counts the memberships the run creates, per member.
    pub(super) fn count_new(&mut self, members: impl Iterator<Item = i32>) {
        for member in members {
            self.members.entry(member).or_default().1 += 1;
        }
    }

    /// Judges the table: members that had a current row and would have
    /// none, against members that had one; when held, their judged ends
    /// stay current in `wanted`.
    pub(super) fn decide(self, holds: &mut Holds, wanted: &mut [bool]) {
        let emptied: HashSet<i32> = self
            .members
            .iter()
            .filter(|(_, (before, after))| *before > 0 && *after == 0)
            .map(|(m, _)| *m)
            .collect();
        let with_any = count(self.members.values().filter(|(before, _)| *before > 0));
        let doubted: Vec<&(usize, i32, Candidate)> =
            self.judged.iter().filter(|(_, member, _)| emptied.contains(member)).collect();
        let judged = count(doubted.iter().map(|(_, member, _)| member).collect::<HashSet<_>>().into_iter());
        let list: Vec<Candidate> = doubted.iter().map(|(_, _, c)| *c).collect();
        if holds.decide(with_any, judged, &list) {
            for (index, _, _) in doubted {
                wanted[*index] = true;
            }
        }
    }
}

pub(super) async fn sync_memberships<'a>(
    txn: &DatabaseTransaction,
    work: &mut Work,
    batch: &'a Batch,
    groups: &'a GroupIds,
    students: &'a KnownAccounts,
    staff: &'a KnownAccounts,
) -> Result<(), DbErr> {
    let t = batch.types;
    let by_member = batch.memberships == Memberships::ByMember;
    let plan = |complete: bool,
                list: &'a [MisGroup],
                ids: &'a HashMap<String, i32>,
                members: &'a KnownAccounts,
                students_not_staff: bool| MembershipPlan {
        complete,
        groups: list,
        group_ids: ids,
        members,
        students_not_staff,
        by_member,
        stated: HashMap::new(),
        present: None,
    };
    // An incremental batch's students say which year and form they are in.
    let stated = |pick: fn(&super::source::MisStudent) -> Option<&String>, ids: &HashMap<String, i32>| {
        batch
            .students
            .iter()
            .filter(|s| !batch.complete && s.groups_stated)
            .filter_map(|s| {
                students.get(&s.source_id).map(|k| (k.id, pick(s).and_then(|g| ids.get(g).copied())))
            })
            .map(|(member, group)| (member, group.into_iter().collect()))
            .collect::<HashMap<i32, HashSet<i32>>>()
    };
    let present_students = || batch.students.iter().filter(|_| t.students).map(|s| s.source_id.as_str());
    let present_staff = || batch.staff.iter().filter(|_| t.staff).map(|s| s.source_id.as_str());
    // A type that is not synced keeps its memberships as they are, except
    // that leavers still lose theirs.
    let years: &[MisGroup] = if t.year_groups { &batch.year_groups } else { &[] };
    let forms: &[MisGroup] = if t.form_groups { &batch.form_groups } else { &[] };
    let classes: &[MisGroup] = if t.classes { &batch.classes } else { &[] };
    let mut year_plan = plan(batch.complete && t.year_groups, years, &groups.years, students, true);
    let mut form_plan = plan(batch.complete && t.form_groups, forms, &groups.forms, students, true);
    let mut tutor_plan = plan(batch.complete && t.form_groups, forms, &groups.forms, staff, false);
    let mut class_plan = plan(batch.complete && t.classes, classes, &groups.classes, students, true);
    let mut teacher_plan = plan(batch.complete && t.classes, classes, &groups.classes, staff, false);
    // Members the batch may have missed (their fetch repeated a record)
    // keep their rows; group lists speak for the members it holds.
    let unsure_students = !batch.absence_is_evidence_in(&["students"]);
    let unsure_staff = !batch.absence_is_evidence_in(&["staff"]);
    let present_ids = |present: &mut dyn Iterator<Item = &'a str>, members: &KnownAccounts| -> HashSet<i32> {
        present.filter_map(|id| members.get(id)).map(|known| known.id).collect()
    };
    let present_students_ids = present_ids(&mut present_students(), students);
    let present_staff_ids = present_ids(&mut present_staff(), staff);
    if batch.complete && unsure_students {
        for plan in [&mut year_plan, &mut form_plan, &mut class_plan] {
            plan.present = Some(&present_students_ids);
        }
    }
    if batch.complete && unsure_staff {
        for plan in [&mut tutor_plan, &mut teacher_plan] {
            plan.present = Some(&present_staff_ids);
        }
    }
    if by_member {
        if t.year_groups {
            year_plan.stated = stated_by_member(present_students(), students, years, &groups.years, true);
        }
        if t.form_groups {
            form_plan.stated = stated_by_member(present_students(), students, forms, &groups.forms, true);
            tutor_plan.stated = stated_by_member(present_staff(), staff, forms, &groups.forms, false);
        }
        if t.classes {
            class_plan.stated =
                stated_by_member(present_students(), students, classes, &groups.classes, true);
            teacher_plan.stated = stated_by_member(present_staff(), staff, classes, &groups.classes, false);
        }
    } else {
        if t.year_groups {
            year_plan.stated = stated(|s| s.year.as_ref(), &groups.years);
        }
        if t.form_groups {
            form_plan.stated = stated(|s| s.form.as_ref(), &groups.forms);
        }
    }
    sync_membership_table::<year_student::Entity>(txn, work, year_plan).await?;
    sync_membership_table::<form_student::Entity>(txn, work, form_plan).await?;
    sync_membership_table::<form_tutor::Entity>(txn, work, tutor_plan).await?;
    sync_membership_table::<class_student::Entity>(txn, work, class_plan).await?;
    sync_membership_table::<class_teacher::Entity>(txn, work, teacher_plan).await?;
    Ok(())
}

/// Under [`Memberships::ByMember`]: every member present, known and of
/// this side (students or staff), to the groups whose lists hold it; a
/// member in none is stated to be in none.
fn stated_by_member<'a>(
    present: impl Iterator<Item = &'a str>,
    members: &KnownAccounts,
    groups: &[MisGroup],
    group_ids: &HashMap<String, i32>,
    students_not_staff: bool,
) -> HashMap<i32, HashSet<i32>> {
    let mut stated: HashMap<i32, HashSet<i32>> =
        present.filter_map(|id| members.get(id)).map(|known| (known.id, HashSet::new())).collect();
    for group in groups {
        let Some(&group_id) = group_ids.get(&group.source_id) else { continue };
        let listed = if students_not_staff { &group.students } else { &group.staff };
        for member in listed {
            if let Some(groups) = members.get(member).and_then(|known| stated.get_mut(&known.id)) {
                groups.insert(group_id);
            }
        }
    }
    stated
}
