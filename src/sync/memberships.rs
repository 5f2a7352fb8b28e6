//! Memberships of groups (pupils of year groups, form groups and classes;
//! form tutors and class teachers): each table replaced to match what the
//! MIS says, for the scope the batch covers. Memberships of anyone no
//! longer active, or of a group that ended, end here too, which is the
//! leaver cascade's second step.

use chrono::{DateTime, Utc};
use entity::enums::HeldTarget;
use entity::*;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, DatabaseTransaction, DbErr, EntityName,
    EntityTrait, QueryFilter, QuerySelect,
};
use std::collections::{HashMap, HashSet};

use super::batch_write;
use super::ends::{Ends, RowPlan};
use super::groups::GroupIds;
use super::reconcile::{KnownAccounts, Work};
use super::source::{Batch, Memberships, MisGroup, listing};

/// A membership table.
trait MembershipTable: EntityTrait {
    /// How held changes name a row of this table, its group and its member.
    const ROW: HeldTarget;
    const GROUP: HeldTarget;
    const MEMBER: HeldTarget;
    fn school_column() -> Self::Column;
    /// Row id, group id, member id, and whether the membership is current:
    /// what a run reads of each row.
    fn pair_columns() -> [Self::Column; 4];
    fn id_column() -> Self::Column;
    fn active_column() -> Self::Column;
    fn ended_at_column() -> Self::Column;
    fn updated_at_column() -> Self::Column;
    fn new_row(school: i32, group: i32, member: i32, now: DateTime<Utc>) -> Self::ActiveModel;
}

macro_rules! membership_table {
    ($module:ident, $group:ident, $group_column:ident, $member:ident, $member_column:ident, $row_target:ident, $group_target:ident, $member_target:ident) => {
        impl MembershipTable for $module::Entity {
            const ROW: HeldTarget = HeldTarget::$row_target;
            const GROUP: HeldTarget = HeldTarget::$group_target;
            const MEMBER: HeldTarget = HeldTarget::$member_target;

            fn school_column() -> Self::Column {
                $module::Column::SchoolId
            }

            fn pair_columns() -> [Self::Column; 4] {
                use $module::Column as C;
                [C::Id, C::$group_column, C::$member_column, C::Active]
            }

            fn id_column() -> Self::Column {
                $module::Column::Id
            }

            fn active_column() -> Self::Column {
                $module::Column::Active
            }

            fn ended_at_column() -> Self::Column {
                $module::Column::EndedAt
            }

            fn updated_at_column() -> Self::Column {
                $module::Column::UpdatedAt
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
        }
    };
}

membership_table!(
    year_student,
    year_group_id,
    YearGroupId,
    student_id,
    StudentId,
    YearGroupMembership,
    YearGroup,
    Student
);
membership_table!(
    form_student,
    form_group_id,
    FormGroupId,
    student_id,
    StudentId,
    FormGroupMembership,
    FormGroup,
    Student
);
membership_table!(class_student, class_id, ClassId, student_id, StudentId, ClassMembership, Class, Student);
membership_table!(class_teacher, class_id, ClassId, staff_id, StaffId, ClassTeacher, Class, Staff);
membership_table!(form_tutor, form_group_id, FormGroupId, staff_id, StaffId, FormTutor, FormGroup, Staff);

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
    /// (group, member) pairs that members' own records list without
    /// speaking for their other groups (an incremental Wonde batch's
    /// students' classes): made or restarted, never ended by an absence.
    /// Ends stay with the class lists, which Wonde answers whole, so an
    /// incomplete list on a student record cannot end a membership.
    restated: HashSet<(i32, i32)>,
    /// Groups of the batch whose record did not include this side's list
    /// (pupils, or staff): their rows keep their state.
    unstated: &'a HashSet<String>,
    /// In a complete batch whose absences are no evidence (it repeated a
    /// record, so paging may have skipped one): the members it holds.
    /// Group lists speak only for those; the others keep their rows, as
    /// their accounts keep their status.
    present: Option<&'a HashSet<i32>>,
}

impl MembershipPlan<'_> {
    /// Says nothing of any row: not the whole school, no group's list, no
    /// member's own word (a quiet incremental run, a staff-only change to
    /// a pupils' table). Then, in [`sync_membership_table`]'s judgement,
    /// every row stays as it is except current rows whose member is no
    /// longer active or whose group is no longer current, which end
    /// whatever the guard or holds say: those are all a run need read.
    fn is_silent(&self) -> bool {
        !self.complete
            && (self.by_member || self.groups.is_empty())
            && self.stated.is_empty()
            && self.restated.is_empty()
    }
}

async fn sync_membership_table<M>(
    txn: &DatabaseTransaction,
    work: &mut Work,
    plan: MembershipPlan<'_>,
) -> Result<(), DbErr>
where
    M: MembershipTable,
    M::ActiveModel: ActiveModelTrait<Entity = M> + Send,
{
    let (school, now) = (work.scope.school_id, work.scope.now);
    let active_members: HashSet<i32> = plan.members.values().filter(|k| k.active).map(|k| k.id).collect();
    let current_groups: HashSet<i32> = plan.group_ids.values().copied().collect();
    // A quiet run read every membership of the school (a class table's
    // 10,000 rows) to change none; asked only for the rows that must end,
    // it gets none back. Schools too big to name in one statement take
    // the long way.
    if plan.is_silent() && active_members.len() + current_groups.len() + 2 <= batch_write::MAX_PARAMS {
        let [id, group, member, active] = M::pair_columns();
        let strays: Vec<i32> = M::find()
            .select_only()
            .column(id)
            .filter(M::school_column().eq(school))
            .filter(active.eq(true))
            .filter(
                Condition::any()
                    .add(member.is_not_in(active_members.iter().copied()))
                    .add(group.is_not_in(current_groups.iter().copied())),
            )
            .into_tuple()
            .all(txn)
            .await?;
        work.written.note::<M>(set_active::<M>(txn, &strays, false, now).await?);
        return Ok(());
    }
    let mut in_scope: HashSet<i32> = HashSet::new();
    let mut desired: HashSet<(i32, i32)> = HashSet::new();
    let mut unstated: HashSet<i32> = HashSet::new();
    for group in plan.groups.iter().filter(|_| !plan.by_member) {
        let Some(&group_id) = plan.group_ids.get(&group.source_id) else { continue };
        if plan.unstated.contains(&group.source_id) {
            unstated.insert(group_id);
            continue;
        }
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
    desired.extend(plan.restated.iter().filter(|(_, member)| active_members.contains(member)));
    // Four columns, not whole rows: a run that speaks of memberships reads
    // every one of the school and changes few (a class table's 10,000).
    let rows: Vec<(i32, i32, i32, bool)> = M::find()
        .select_only()
        .columns(M::pair_columns())
        .filter(M::school_column().eq(school))
        .into_tuple()
        .all(txn)
        .await?;
    let mut existing: HashSet<(i32, i32)> = HashSet::new();
    let mut ends = Ends::default();
    let mut wanted_rows: Vec<bool> = Vec::with_capacity(rows.len());
    for (index, &(id, group, member, active)) in rows.iter().enumerate() {
        existing.insert((group, member));
        // The batch's own word on the row, when it has one.
        let said = match plan.stated.get(&member) {
            _ if plan.restated.contains(&(group, member)) => Some(true),
            Some(stated) => Some(stated.contains(&group)),
            None if !plan.by_member
                && !unstated.contains(&group)
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
    let (mut ending, mut restarting) = (Vec::new(), Vec::new());
    for (&(id, _, _, active), wanted) in rows.iter().zip(wanted_rows) {
        match (active, wanted) {
            (true, false) => ending.push(id),
            (false, true) => restarting.push(id),
            _ => {}
        }
    }
    work.written.note::<M>(set_active::<M>(txn, &ending, false, now).await?);
    work.written.note::<M>(set_active::<M>(txn, &restarting, true, now).await?);
    let new: Vec<M::ActiveModel> = desired
        .iter()
        .filter(|pair| !existing.contains(pair))
        .map(|(group, member)| M::new_row(school, *group, *member, now))
        .collect();
    work.written.note::<M>(batch_write::insert_all(txn, new).await?);
    Ok(())
}

/// Ends (`active` false) or restarts the memberships `ids`
/// ([`batch_write::set_active`]).
async fn set_active<M: MembershipTable>(
    txn: &DatabaseTransaction,
    ids: &[i32],
    active: bool,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let columns = batch_write::ActiveColumns {
        id: M::id_column(),
        active: M::active_column(),
        ended_at: M::ended_at_column(),
        updated_at: M::updated_at_column(),
    };
    batch_write::set_active::<M, _>(txn, columns, ids, active, now).await
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
    // A kind's groups speak for the whole school only when its listing was
    // read whole: a group left out (a record that could not be read) keeps
    // its members (trial: an unreadable class lost all 12).
    let plan = |(complete, listing): (bool, &str),
                list: &'a [MisGroup],
                ids: &'a HashMap<String, i32>,
                members: &'a KnownAccounts,
                students_not_staff: bool| MembershipPlan {
        complete: complete && batch.absence_is_evidence_in(&[listing]),
        groups: list,
        group_ids: ids,
        members,
        students_not_staff,
        by_member,
        stated: HashMap::new(),
        restated: HashSet::new(),
        unstated: if students_not_staff { &batch.group_pupils_unstated } else { &batch.group_staff_unstated },
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
    // A table the batch says nothing of (a CSV file without the column)
    // is planned as silent: only leavers' and ended groups' rows end.
    let speaks = |table: &str| batch.unstated.states(table);
    let (years_speak, forms_speak, tutors_speak, classes_speak, teachers_speak) = (
        t.year_groups && speaks(year_student::Entity.table_name()),
        t.form_groups && speaks(form_student::Entity.table_name()),
        t.form_groups && speaks(form_tutor::Entity.table_name()),
        t.classes && speaks(class_student::Entity.table_name()),
        t.classes && speaks(class_teacher::Entity.table_name()),
    );
    let mut year_plan =
        plan((batch.complete && years_speak, listing::YEAR_GROUPS), years, &groups.years, students, true);
    let mut form_plan =
        plan((batch.complete && forms_speak, listing::FORM_GROUPS), forms, &groups.forms, students, true);
    let mut tutor_plan =
        plan((batch.complete && tutors_speak, listing::FORM_GROUPS), forms, &groups.forms, staff, false);
    let mut class_plan =
        plan((batch.complete && classes_speak, listing::CLASSES), classes, &groups.classes, students, true);
    let mut teacher_plan =
        plan((batch.complete && teachers_speak, listing::CLASSES), classes, &groups.classes, staff, false);
    // Members the batch may have missed (their fetch repeated a record)
    // keep their rows; group lists speak for the members it holds.
    let unsure_students = !batch.absence_is_evidence_in(&[listing::STUDENTS]);
    let unsure_staff = !batch.absence_is_evidence_in(&[listing::STAFF]);
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
        if years_speak {
            year_plan.stated = stated_by_member(present_students(), students, years, &groups.years, true);
        }
        if forms_speak {
            form_plan.stated = stated_by_member(present_students(), students, forms, &groups.forms, true);
        }
        if tutors_speak {
            tutor_plan.stated = stated_by_member(present_staff(), staff, forms, &groups.forms, false);
        }
        if classes_speak {
            class_plan.stated =
                stated_by_member(present_students(), students, classes, &groups.classes, true);
        }
        if teachers_speak {
            teacher_plan.stated = stated_by_member(present_staff(), staff, classes, &groups.classes, false);
        }
    } else {
        if t.year_groups {
            year_plan.stated = stated(|s| s.year.as_ref(), &groups.years);
        }
        if t.form_groups {
            form_plan.stated = stated(|s| s.form.as_ref(), &groups.forms);
        }
        if t.classes && !batch.complete {
            class_plan.restated = classes_listed_by_students(batch, students, &groups.classes);
        }
    }
    sync_membership_table::<year_student::Entity>(txn, work, year_plan).await?;
    sync_membership_table::<form_student::Entity>(txn, work, form_plan).await?;
    sync_membership_table::<form_tutor::Entity>(txn, work, tutor_plan).await?;
    sync_membership_table::<class_student::Entity>(txn, work, class_plan).await?;
    sync_membership_table::<class_teacher::Entity>(txn, work, teacher_plan).await?;
    Ok(())
}

/// The (class, student) pairs an incremental batch's students list on
/// their own records ([`super::source::MisStudent::classes`]), so that a
/// pupil who comes back returns to every class in the same run, not only to
/// those whose own lists changed. A class that is not current here is left
/// out (a membership of it would end at once).
fn classes_listed_by_students(
    batch: &Batch,
    students: &KnownAccounts,
    class_ids: &HashMap<String, i32>,
) -> HashSet<(i32, i32)> {
    let mut pairs = HashSet::new();
    for student in &batch.students {
        let (Some(known), Some(classes)) = (students.get(&student.source_id), &student.classes) else {
            continue;
        };
        pairs.extend(classes.iter().filter_map(|c| class_ids.get(c)).map(|class| (*class, known.id)));
    }
    pairs
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
