//! Who joined and who left a school's parent groups in one write.
//!
//! Membership is derived from links and student memberships, so it changes
//! exactly when they do. A writer that may change them (a run's
//! reconciliation, a held change approved, a disconnection) takes a
//! [`snapshot`] before its first write and another before it appends its
//! events, and appends [`changes`] with them: the log says who joined and
//! who left, in the same commit as the change itself. (A run whose batch
//! names no pupil, guardian or group first tries without one, in a
//! savepoint it rolls back if it did change them: `sync::apply`.)

use chrono::{DateTime, Utc};
use entity::enums::{AccountStatus, EventKind, PersonKind};
use entity::{class_student, event, form_student, guardian_link, student, year_student};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use std::collections::{BTreeSet, HashMap, HashSet};

use super::GroupRef;

/// Every (group, guardian) pair of a school's parent groups.
pub type Snapshot = BTreeSet<(GroupRef, i32)>;

/// The school's parent groups now: five statements whatever its size.
pub async fn snapshot<C: ConnectionTrait>(db: &C, school_id: i32) -> Result<Snapshot, DbErr> {
    let active = active_students(db, school_id).await?;
    let links: Vec<(i32, i32)> = guardian_link::Entity::find()
        .select_only()
        .columns([guardian_link::Column::StudentId, guardian_link::Column::GuardianId])
        .filter(guardian_link::Column::SchoolId.eq(school_id))
        .filter(guardian_link::Column::Active.eq(true))
        .into_tuple()
        .all(db)
        .await?;
    let mut guardians_of: HashMap<i32, Vec<i32>> = HashMap::new();
    for (student, guardian) in links {
        guardians_of.entry(student).or_default().push(guardian);
    }
    let mut out = Snapshot::new();
    macro_rules! members {
        ($module:ident, $group:ident, $variant:ident) => {{
            let rows: Vec<(i32, i32)> = $module::Entity::find()
                .select_only()
                .columns([$module::Column::$group, $module::Column::StudentId])
                .filter($module::Column::SchoolId.eq(school_id))
                .filter($module::Column::Active.eq(true))
                .into_tuple()
                .all(db)
                .await?;
            for (group, student) in rows.into_iter().filter(|(_, student)| active.contains(student)) {
                for guardian in guardians_of.get(&student).into_iter().flatten() {
                    out.insert((GroupRef::$variant(group), *guardian));
                }
            }
        }};
    }
    members!(year_student, YearGroupId, Year);
    members!(form_student, FormGroupId, Form);
    members!(class_student, ClassId, Class);
    Ok(out)
}

/// The ids of the school's active pupils. Read on their own and matched
/// here, never joined in SQL: without statistics for a school's new rows
/// (its first run, before `ANALYZE`) PostgreSQL believes the school holds
/// one row of each and joins the two with a nested loop, 10,000 memberships
/// by 500 pupils, 1.2 s for one snapshot of a 1,000-pupil school.
pub(crate) async fn active_students<C: ConnectionTrait>(
    db: &C,
    school_id: i32,
) -> Result<HashSet<i32>, DbErr> {
    let ids: Vec<i32> = student::Entity::find()
        .select_only()
        .column(student::Column::Id)
        .filter(student::Column::SchoolId.eq(school_id))
        .filter(student::Column::Status.eq(AccountStatus::Active))
        .into_tuple()
        .all(db)
        .await?;
    Ok(ids.into_iter().collect())
}

/// Where an event of the log was written from.
#[derive(Clone, Copy, Debug)]
pub struct Origin {
    pub trust_id: i32,
    pub school_id: i32,
    pub run_id: Option<i32>,
    pub now: DateTime<Utc>,
}

/// Guardians one log row names at most. A year group's parents fit in
/// one row (about 500 for 300 pupils); a larger change takes several.
pub const GUARDIANS_PER_ROW: usize = 500;

/// The log rows of the pairs only in `before` (GUARDIAN_LEFT_GROUP), then
/// of those only in `after` (GUARDIAN_JOINED_GROUP): one row per group and
/// direction, in group order, naming its guardians in id order
/// ([`GroupChange`]). A school's first run joins about 22,000 pairs for
/// 1,000 pupils; as a row each, they were two-thirds of the rows the run
/// wrote and a quarter of its time on PostgreSQL.
pub fn changes(before: &Snapshot, after: &Snapshot, origin: Origin) -> Vec<event::ActiveModel> {
    let row = |kind: EventKind, change: GroupChange| event::ActiveModel {
        trust_id: Set(origin.trust_id),
        school_id: Set(origin.school_id),
        kind: Set(kind),
        person_kind: Set(Some(PersonKind::Guardian)),
        person_id: Set(None),
        reason: Set(None),
        sync_run_id: Set(origin.run_id),
        payload: Set(Some(change.to_payload())),
        occurred_at: Set(origin.now),
        ..Default::default()
    };
    let mut rows = Vec::new();
    for (kind, mut pairs) in [
        (EventKind::GuardianLeftGroup, before.difference(after).peekable()),
        (EventKind::GuardianJoinedGroup, after.difference(before).peekable()),
    ] {
        // A snapshot is ordered by group, then guardian.
        while let Some(&&(group, _)) = pairs.peek() {
            let mut guardians = Vec::new();
            while let Some((_, guardian)) = pairs.next_if(|(g, _)| *g == group) {
                guardians.push(*guardian);
            }
            for chunk in guardians.chunks(GUARDIANS_PER_ROW) {
                rows.push(row(kind, GroupChange { group, guardians: chunk.to_vec() }));
            }
        }
    }
    rows
}

/// What a group-change row of the log says: a group, and the guardians
/// who joined it or left it (the row's kind says which).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupChange {
    pub group: GroupRef,
    /// In id order; never empty.
    pub guardians: Vec<i32>,
}

impl GroupChange {
    /// The payload: `{"group": "CLASS", "groupId": 7, "guardians": [3, 5]}`.
    pub fn to_payload(&self) -> String {
        serde_json::json!({ "group": self.group.kind_name(), "groupId": self.group.id(), "guardians": self.guardians })
            .to_string()
    }

    /// The change a row records. Rows written before a row named several
    /// guardians name one, in `person_id`, and no `guardians`; they read as
    /// a change of that one guardian. `None` for a row that is not one.
    pub fn of(row: &event::Model) -> Option<Self> {
        if !row.kind.log_only() {
            return None;
        }
        let payload: serde_json::Value = serde_json::from_str(row.payload.as_deref()?).ok()?;
        let group = GroupRef::from_value(&payload)?;
        let listed: Option<Vec<i32>> =
            payload.get("guardians").and_then(|ids| serde_json::from_value(ids.clone()).ok());
        let guardians = match (listed, row.person_id) {
            (Some(ids), _) if !ids.is_empty() => ids,
            (_, Some(one)) => vec![one],
            _ => return None,
        };
        Some(Self { group, guardians })
    }
}

impl GroupRef {
    /// The group's kind as the API names it.
    pub fn kind_name(self) -> &'static str {
        match self {
            Self::Year(_) => "YEAR_GROUP",
            Self::Form(_) => "FORM_GROUP",
            Self::Class(_) => "CLASS",
        }
    }

    pub fn id(self) -> i32 {
        match self {
            Self::Year(id) | Self::Form(id) | Self::Class(id) => id,
        }
    }

    /// The event payload: `{"group": "YEAR_GROUP", "groupId": 7}`.
    pub fn to_payload(self) -> String {
        serde_json::json!({ "group": self.kind_name(), "groupId": self.id() }).to_string()
    }

    pub fn from_payload(payload: &str) -> Option<Self> {
        Self::from_value(&serde_json::from_str(payload).ok()?)
    }

    /// The group of a payload already parsed.
    fn from_value(value: &serde_json::Value) -> Option<Self> {
        let id = i32::try_from(value["groupId"].as_i64()?).ok()?;
        match value["group"].as_str()? {
            "YEAR_GROUP" => Some(Self::Year(id)),
            "FORM_GROUP" => Some(Self::Form(id)),
            "CLASS" => Some(Self::Class(id)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_the_two_differences_one_row_per_group_and_direction() {
        let before: Snapshot =
            [(GroupRef::Year(1), 10), (GroupRef::Class(3), 10), (GroupRef::Class(3), 11)].into();
        let after: Snapshot = [
            (GroupRef::Year(1), 10),
            (GroupRef::Class(4), 12),
            (GroupRef::Class(4), 10),
            (GroupRef::Year(2), 10),
        ]
        .into();
        let origin = Origin { trust_id: 1, school_id: 2, run_id: None, now: Utc::now() };
        let rows = changes(&before, &after, origin);
        let kinds: Vec<_> =
            rows.iter().map(|r| (r.kind.clone().unwrap(), r.payload.clone().unwrap())).collect();
        let payload = |group, guardians: &[i32]| {
            Some(GroupChange { group, guardians: guardians.to_vec() }.to_payload())
        };
        assert_eq!(
            kinds,
            vec![
                (EventKind::GuardianLeftGroup, payload(GroupRef::Class(3), &[10, 11])),
                (EventKind::GuardianJoinedGroup, payload(GroupRef::Year(2), &[10])),
                (EventKind::GuardianJoinedGroup, payload(GroupRef::Class(4), &[10, 12])),
            ]
        );
        assert!(rows.iter().all(|r| r.person_id == Set(None)));
        for group in [GroupRef::Year(5), GroupRef::Form(6), GroupRef::Class(7)] {
            assert_eq!(GroupRef::from_payload(&group.to_payload()), Some(group));
        }
    }

    #[test]
    fn a_large_change_takes_several_rows() {
        let after: Snapshot = (0..1_200).map(|guardian| (GroupRef::Year(1), guardian)).collect();
        let origin = Origin { trust_id: 1, school_id: 2, run_id: None, now: Utc::now() };
        let rows = changes(&Snapshot::new(), &after, origin);
        let sizes: Vec<usize> = rows
            .iter()
            .map(|r| {
                let model = stored(r.payload.clone().unwrap(), None);
                GroupChange::of(&model).map_or(0, |c| c.guardians.len())
            })
            .collect();
        assert_eq!(sizes, [GUARDIANS_PER_ROW, GUARDIANS_PER_ROW, 200]);
    }

    fn stored(payload: Option<String>, person_id: Option<i32>) -> event::Model {
        event::Model {
            id: 1,
            trust_id: 1,
            school_id: 2,
            kind: EventKind::GuardianJoinedGroup,
            person_kind: Some(PersonKind::Guardian),
            person_id,
            reason: None,
            sync_run_id: None,
            payload,
            occurred_at: Utc::now(),
        }
    }

    #[test]
    fn a_row_of_one_guardian_written_before_still_reads() {
        let old = stored(Some(GroupRef::Class(7).to_payload()), Some(42));
        assert_eq!(
            GroupChange::of(&old),
            Some(GroupChange { group: GroupRef::Class(7), guardians: vec![42] })
        );
        assert_eq!(GroupChange::of(&stored(Some(GroupRef::Class(7).to_payload()), None)), None);
        assert_eq!(GroupChange::of(&stored(Some("not json".into()), Some(42))), None);
    }
}
