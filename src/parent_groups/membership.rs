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

/// One GUARDIAN_LEFT_GROUP event per pair only in `before`, then one
/// GUARDIAN_JOINED_GROUP per pair only in `after`, each in group order.
pub fn changes(before: &Snapshot, after: &Snapshot, origin: Origin) -> Vec<event::ActiveModel> {
    let row = |kind: EventKind, (group, guardian): &(GroupRef, i32)| event::ActiveModel {
        trust_id: Set(origin.trust_id),
        school_id: Set(origin.school_id),
        kind: Set(kind),
        person_kind: Set(Some(PersonKind::Guardian)),
        person_id: Set(Some(*guardian)),
        reason: Set(None),
        sync_run_id: Set(origin.run_id),
        payload: Set(Some(group.to_payload())),
        occurred_at: Set(origin.now),
        ..Default::default()
    };
    let left = before.difference(after).map(|pair| row(EventKind::GuardianLeftGroup, pair));
    let joined = after.difference(before).map(|pair| row(EventKind::GuardianJoinedGroup, pair));
    left.chain(joined).collect()
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
        let value: serde_json::Value = serde_json::from_str(payload).ok()?;
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
    fn changes_are_the_two_differences() {
        let before: Snapshot = [(GroupRef::Year(1), 10), (GroupRef::Class(3), 10)].into();
        let after: Snapshot = [(GroupRef::Year(1), 10), (GroupRef::Class(4), 10)].into();
        let origin = Origin { trust_id: 1, school_id: 2, run_id: None, now: Utc::now() };
        let rows = changes(&before, &after, origin);
        let kinds: Vec<_> =
            rows.iter().map(|r| (r.kind.clone().unwrap(), r.payload.clone().unwrap())).collect();
        assert_eq!(
            kinds,
            vec![
                (EventKind::GuardianLeftGroup, Some(GroupRef::Class(3).to_payload())),
                (EventKind::GuardianJoinedGroup, Some(GroupRef::Class(4).to_payload())),
            ]
        );
        for group in [GroupRef::Year(5), GroupRef::Form(6), GroupRef::Class(7)] {
            assert_eq!(GroupRef::from_payload(&group.to_payload()), Some(group));
        }
    }
}
