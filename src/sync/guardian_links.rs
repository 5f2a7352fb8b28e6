//! Guardian links and the children rule's query: links replaced to match
//! what the MIS says for the students the batch speaks for, links of
//! students no longer active ended (the leaver cascade's third step), and
//! which guardians still have an active child at the school.

use entity::enums::HeldTarget;
use entity::*;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QuerySelect,
};
use std::collections::{HashMap, HashSet};

use super::batch_write;
use super::ends::{Ends, RowPlan};
use super::reconcile::{GuardianRecords, KnownAccounts, Work};
use super::relationship::relationship_type;
use super::source::{Batch, LinkScope, listing};

/// Guardian links: a complete batch speaks for every link; an incremental
/// one for the links of the students it holds (Wonde) or only the links it
/// lists (CSV), as its [`LinkScope`] says. Links of students no longer
/// active end (the cascade's third step), and so do all links of guardians
/// the MIS removed. Answers the removed guardians that had a current link
/// to a child who stays active, so that their reason stays the MIS's (see
/// `guardian_status`).
pub(super) async fn sync_links(
    txn: &DatabaseTransaction,
    work: &mut Work,
    batch: &Batch,
    students: &KnownAccounts,
    guardians: &GuardianRecords,
) -> Result<HashSet<i32>, DbErr> {
    let mut removed_with_child: HashSet<i32> = HashSet::new();
    let (school, now) = (work.scope.school_id, work.scope.now);
    let active_students: HashSet<i32> = students.values().filter(|k| k.active).map(|k| k.id).collect();
    let speaks = batch.types.guardians;
    let students_in_batch: HashSet<i32> =
        batch.students.iter().filter_map(|s| students.get(&s.source_id)).map(|k| k.id).collect();
    // Students linked to a contact whose record could not be read keep the
    // links stored: the link the MIS gives names an id the run cannot
    // place, and ending the stored one would deactivate a parent still
    // linked (trial: after a change of MIS, one unreadable contact record
    // lost its child and was deactivated, NO_ACTIVE_CHILDREN).
    let unread_guardians: HashSet<&str> = batch
        .unreadable
        .iter()
        .filter(|u| u.endpoint == listing::GUARDIANS)
        .filter_map(|u| u.what.record.as_deref())
        .collect();
    // So do students whose record did not list its contacts in full.
    let unsure: HashSet<i32> = batch
        .links
        .iter()
        .filter(|link| unread_guardians.contains(link.guardian.as_str()))
        .map(|link| &link.student)
        .chain(&batch.links_unstated)
        .filter_map(|student| students.get(student))
        .map(|k| k.id)
        .collect();
    let mut desired: HashMap<(i32, i32), &super::source::MisLink> = HashMap::new();
    if speaks {
        for link in &batch.links {
            if let (Some(student), Some(guardian)) =
                (students.get(&link.student), guardians.known.get(&link.guardian))
                && student.active
            {
                desired.insert((student.id, guardian.id), link);
            }
        }
    }
    // A batch that speaks for no link (a quiet incremental run: no
    // student, no link, not complete) changes none but the current links
    // of students no longer active and of guardians the MIS removed, which
    // end whatever the guard says: those are all it need read, not every
    // link of the school with all its fields. Schools too big to name in
    // one statement take the long way.
    let silent = desired.is_empty()
        && (!speaks
            || (!batch.absence_is_evidence()
                && (batch.link_scope == LinkScope::ByLink || students_in_batch.is_empty())));
    if silent && active_students.len() + guardians.removed.len() + 2 <= batch_write::MAX_PARAMS {
        return end_stray_links(txn, work, &active_students, guardians).await;
    }
    let rows =
        guardian_link::Entity::find().filter(guardian_link::Column::SchoolId.eq(school)).all(txn).await?;
    let mut existing: HashSet<(i32, i32)> = HashSet::new();
    let mut ends = Ends::default();
    let mut wanted_rows: Vec<bool> = Vec::with_capacity(rows.len());
    for (index, row) in rows.iter().enumerate() {
        let key = (row.student_id, row.guardian_id);
        existing.insert(key);
        // A complete batch speaks for every link, unless its absences are no
        // evidence: then, like an incremental one, only for what its scope
        // covers (Wonde: the students it holds; CSV: the links it lists).
        let in_scope = match batch.link_scope {
            LinkScope::ByStudent => students_in_batch.contains(&row.student_id),
            LinkScope::ByLink => desired.contains_key(&key),
        };
        let spoken_for =
            speaks && !unsure.contains(&row.student_id) && (batch.absence_is_evidence() || in_scope);
        let listed = if spoken_for { desired.contains_key(&key) } else { row.active };
        let spoken = spoken_for && desired.contains_key(&key);
        let follows = active_students.contains(&row.student_id);
        let wanted = if guardians.removed.contains_key(&row.guardian_id) {
            // A guardian the MIS removed (or suspended) leaves with every
            // link, also those the batch does not speak for: a deletion or
            // an approved hold carries no links, and a link kept current
            // would keep a removed guardian attached to a child. A link
            // current until now to a child who stays makes the removal the
            // reason: a guardian missing from a complete batch has no row
            // to list their links on, so whether the batch lists the link
            // says nothing here (product.md: REMOVED_FROM_MIS).
            if row.active && follows {
                removed_with_child.insert(row.guardian_id);
            }
            false
        } else {
            // A link the batch stops listing is judged by the guardians it
            // would leave with no child here at all.
            let holds = &mut work.holds;
            let kept = holds.is_kept((HeldTarget::Student, row.student_id))
                || holds.is_kept((HeldTarget::Guardian, row.guardian_id));
            let key = (HeldTarget::GuardianLink, row.id);
            let pair = (row.student_id, row.guardian_id);
            ends.judge(holds, RowPlan { index, key, pair, active: row.active, listed, spoken, follows, kept })
        };
        wanted_rows.push(wanted);
    }
    ends.count_new(
        desired
            .keys()
            .filter(|key| !existing.contains(key))
            .map(|(_, guardian)| *guardian)
            .filter(|guardian| !guardians.removed.contains_key(guardian)),
    );
    ends.decide(&mut work.holds, &mut wanted_rows);
    let mut updates = Vec::new();
    for (row, wanted) in rows.into_iter().zip(wanted_rows) {
        let key = (row.student_id, row.guardian_id);
        let mis = desired.get(&key).copied();
        let mut model: guardian_link::ActiveModel = row.clone().into();
        model.active.set_if_not_equals(wanted);
        if !wanted && row.active {
            model.ended_at = Set(Some(now));
        }
        if wanted && !row.active {
            model.ended_at = Set(None);
        }
        if let Some(mis) = mis.filter(|_| wanted) {
            apply_link_fields(&mut model, mis);
        }
        if model.is_changed() {
            model.updated_at = Set(now);
            updates.push(model);
        }
    }
    work.written.note::<guardian_link::Entity>(batch_write::update_changed(txn, updates).await?);
    let new: Vec<guardian_link::ActiveModel> = desired
        .iter()
        // A removed guardian gains no link either.
        .filter(|((_, guardian), _)| !guardians.removed.contains_key(guardian))
        .filter(|(key, _)| !existing.contains(key))
        .map(|((student, guardian), mis)| {
            let mut model = guardian_link::ActiveModel {
                school_id: Set(school),
                student_id: Set(*student),
                guardian_id: Set(*guardian),
                active: Set(true),
                ended_at: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            };
            apply_link_fields(&mut model, mis);
            model
        })
        .collect();
    work.written.note::<guardian_link::Entity>(batch_write::insert_all(txn, new).await?);
    Ok(removed_with_child)
}

/// [`sync_links`] for a batch that speaks for no link: ends the current
/// links of students not in `active_students` and of removed guardians,
/// and answers the removed guardians among them with a child who stays.
async fn end_stray_links(
    txn: &DatabaseTransaction,
    work: &mut Work,
    active_students: &HashSet<i32>,
    guardians: &GuardianRecords,
) -> Result<HashSet<i32>, DbErr> {
    use guardian_link::Column as C;
    let (school, now) = (work.scope.school_id, work.scope.now);
    let strays: Vec<(i32, i32, i32)> = guardian_link::Entity::find()
        .select_only()
        .columns([C::Id, C::StudentId, C::GuardianId])
        .filter(C::SchoolId.eq(school))
        .filter(C::Active.eq(true))
        .filter(
            Condition::any()
                .add(C::StudentId.is_not_in(active_students.iter().copied()))
                .add(C::GuardianId.is_in(guardians.removed.keys().copied())),
        )
        .into_tuple()
        .all(txn)
        .await?;
    let removed_with_child: HashSet<i32> = strays
        .iter()
        .filter(|(_, student, guardian)| {
            guardians.removed.contains_key(guardian) && active_students.contains(student)
        })
        .map(|(_, _, guardian)| *guardian)
        .collect();
    let ids: Vec<i32> = strays.iter().map(|(id, ..)| *id).collect();
    let columns = batch_write::ActiveColumns {
        id: C::Id,
        active: C::Active,
        ended_at: C::EndedAt,
        updated_at: C::UpdatedAt,
    };
    let written = batch_write::set_active::<guardian_link::Entity, _>(txn, columns, &ids, false, now).await?;
    work.written.note::<guardian_link::Entity>(written);
    Ok(removed_with_child)
}

fn apply_link_fields(model: &mut guardian_link::ActiveModel, mis: &super::source::MisLink) {
    model.relationship.set_if_not_equals(relationship_type(mis.relationship_label.as_deref()));
    model.relationship_label.set_if_not_equals(mis.relationship_label.clone());
    model.parental_responsibility.set_if_not_equals(mis.parental_responsibility);
    model.lives_with_student.set_if_not_equals(mis.lives_with_student);
    model.priority.set_if_not_equals(mis.priority);
}

/// Guardians of a school with at least one active link to an active student.
pub(super) async fn guardians_with_active_children(
    txn: &DatabaseTransaction,
    school: i32,
) -> Result<HashSet<i32>, DbErr> {
    // Matched here, not joined in SQL (`membership::active_students` says why).
    let active = crate::parent_groups::membership::active_students(txn, school).await?;
    let links: Vec<(i32, i32)> = guardian_link::Entity::find()
        .select_only()
        .columns([guardian_link::Column::StudentId, guardian_link::Column::GuardianId])
        .filter(guardian_link::Column::SchoolId.eq(school))
        .filter(guardian_link::Column::Active.eq(true))
        .into_tuple()
        .all(txn)
        .await?;
    Ok(links
        .into_iter()
        .filter(|(student, _)| active.contains(student))
        .map(|(_, guardian)| guardian)
        .collect())
}
