//! Subject access: every record Onroll holds about one person across a
//! trust, as one JSON document with a short explanation of each part.
//!
//! One person may be several records (a guardian at two schools, a pupil
//! who moved school). They are matched as the family rule
//! (`crate::families`) matches people: guardians by their email (trimmed,
//! case-folded; placeholder addresses such as `noemail@` match nobody),
//! students by a valid UPN (trimmed, upper-cased: `crate::upn`), staff by
//! email. A record with no such key (or purged) is only itself; so is one
//! whose key names more than one person: an email whose holders' names
//! disagree, a UPN whose holders cannot be one child
//! (`families::ambiguous_upns`: two on roll at one school, or two names).
//! Another person's records in an export are a disclosure, and an erasure
//! cannot be undone; the document says
//! which of the three its subject's key was ([`KeyUse`]), so that an
//! export cut short is told from a complete one.

use chrono::{DateTime, Utc};
use entity::enums::{EventKind, HeldTarget, PersonKind};
use entity::{
    class, class_student, class_teacher, event, form_group, form_student, form_tutor, guardian,
    guardian_link, held_change, school, staff, student, sync_run, year_group, year_student,
};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

use crate::families;
use crate::parent_groups::GroupRef;
use crate::parent_groups::membership::GroupChange;

/// One account: its kind, id and school.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Record {
    pub kind: PersonKindKey,
    pub id: i32,
}

/// [`PersonKind`] with an order, so records sort the same every time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PersonKindKey {
    Student,
    Staff,
    Guardian,
}

impl From<PersonKind> for PersonKindKey {
    fn from(kind: PersonKind) -> Self {
        match kind {
            PersonKind::Student => Self::Student,
            PersonKind::Staff => Self::Staff,
            PersonKind::Guardian => Self::Guardian,
        }
    }
}

impl From<PersonKindKey> for PersonKind {
    fn from(kind: PersonKindKey) -> Self {
        match kind {
            PersonKindKey::Student => Self::Student,
            PersonKindKey::Staff => Self::Staff,
            PersonKindKey::Guardian => Self::Guardian,
        }
    }
}

/// An account as the matching and erasure need it.
#[derive(Clone, Debug)]
pub struct Account {
    pub record: Record,
    pub school_id: i32,
    pub active: bool,
    pub reason: Option<entity::enums::DeactivationReason>,
}

/// What the subject's own key did in the matching.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyUse {
    /// The record has no key (no email or UPN, a placeholder or a value
    /// that is not a UPN, or purged): only itself.
    NoKey,
    /// Its key matched every record that holds it (perhaps none other).
    Followed,
    /// Its key is held by more than one person: only the record itself,
    /// though the person may have records elsewhere.
    HeldByMoreThanOnePerson,
}

impl KeyUse {
    /// The name the export document gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoKey => "NO_KEY",
            Self::Followed => "FOLLOWED",
            Self::HeldByMoreThanOnePerson => "HELD_BY_MORE_THAN_ONE_PERSON",
        }
    }

    fn explanation(self) -> &'static str {
        match self {
            Self::NoKey => {
                "This record holds no email or UPN that can name a person, so no other record is matched \
                            to it: the person may have records at other schools that this export does not list."
            }
            Self::Followed => "Every record of the trust's schools holding this record's key is listed.",
            Self::HeldByMoreThanOnePerson => {
                "This record's key (an email, or a UPN) is held by records that cannot all be one person \
                 (names that disagree, or two pupils of one school), so only this record is listed: the \
                 person may have records at other schools that this export does not list: look for them in \
                 those schools' MIS. A pupil's UPN is a PUPILS_SHARE_UPN finding of the schools holding \
                 it; a guardian's email, SHARED_EMAIL_DIFFERENT_NAMES."
            }
        }
    }
}

/// The records of one person, and what the subject's key did.
#[derive(Clone, Debug)]
pub struct Matched {
    /// The subject first, then the other records in id order.
    pub accounts: Vec<Account>,
    pub key: KeyUse,
}

#[derive(Debug, thiserror::Error)]
pub enum SubjectError {
    #[error("no person with that ID is visible to this token")]
    NotFound,
    #[error("the directory's database failed: {0}")]
    Database(#[from] DbErr),
}

/// How records are matched, as the document says it.
pub const MATCHING: &str = "Records are matched across the trust's schools as the family rule matches people: \
guardians and staff by email address (trimmed, case-folded; placeholder addresses such as noemail@ match nobody), \
students by UPN (trimmed, upper-cased; a value that is not a valid UPN, such as a placeholder, matches nobody). \
A record without such a key, or already purged, is only itself; so is one whose key is held by more than one person \
(an email whose holders' names disagree; a UPN that two pupils of one school on roll at once hold, or records under \
different names). The document's `match` says which applied to this record.";

fn schools_of(trust_id: i32) -> sea_orm::sea_query::SelectStatement {
    sea_orm::sea_query::Query::select()
        .column(school::Column::Id)
        .from(school::Entity)
        .and_where(school::Column::TrustId.eq(trust_id))
        .to_owned()
}

fn identifying_email(email: Option<&str>) -> Option<String> {
    email.filter(|e| !families::is_placeholder_email(e)).and_then(families::email_key)
}

/// The accounts of the trust that are the same person as (`kind`, `id`),
/// that one first; `visible` says which schools the asker sees (records
/// elsewhere are left out, and the subject itself must be visible).
pub async fn records_of<C: ConnectionTrait>(
    db: &C,
    trust_id: i32,
    kind: PersonKind,
    id: i32,
    visible: impl Fn(i32) -> bool,
) -> Result<Matched, SubjectError> {
    // `$identifies` judges a key by all its holders in the trust, the
    // subject included, whatever the asker sees.
    macro_rules! matching {
        ($entity:ident, $key:expr, $identifies:expr) => {{
            let subject = $entity::Entity::find_by_id(id)
                .filter($entity::Column::SchoolId.in_subquery(schools_of(trust_id)))
                .one(db)
                .await?
                .filter(|row| visible(row.school_id))
                .ok_or(SubjectError::NotFound)?;
            let key_of = $key;
            let mut rows = vec![subject.clone()];
            let mut key_use = KeyUse::NoKey;
            if let Some(key) = key_of(&subject) {
                let others = $entity::Entity::find()
                    .filter($entity::Column::SchoolId.in_subquery(schools_of(trust_id)))
                    .filter($entity::Column::PurgedAt.is_null())
                    .filter($entity::Column::Id.ne(id))
                    .order_by_asc($entity::Column::Id)
                    .all(db)
                    .await?;
                let holders: Vec<$entity::Model> =
                    others.into_iter().filter(|r| key_of(r).as_ref() == Some(&key)).collect();
                let identifies: fn(&[&$entity::Model]) -> bool = $identifies;
                if identifies(&rows.iter().chain(&holders).collect::<Vec<_>>()) {
                    key_use = KeyUse::Followed;
                    rows.extend(holders.into_iter().filter(|r| visible(r.school_id)));
                } else {
                    key_use = KeyUse::HeldByMoreThanOnePerson;
                }
            }
            let accounts = rows
                .into_iter()
                .map(|r| Account {
                    record: Record { kind: kind.into(), id: r.id },
                    school_id: r.school_id,
                    active: r.status == entity::enums::AccountStatus::Active,
                    reason: r.deactivation_reason,
                })
                .collect();
            Matched { accounts, key: key_use }
        }};
    }
    Ok(match kind {
        PersonKind::Student => {
            matching!(student, |r: &student::Model| r.upn.as_deref().and_then(families::upn_key), |holders| {
                let rows: Vec<families::IdentityRow> = holders
                    .iter()
                    .map(|r| {
                        (r.id, r.school_id, r.upn.clone(), r.status, r.forename.clone(), r.surname.clone())
                    })
                    .collect();
                families::ambiguous_upns(&rows).is_empty()
            })
        }
        PersonKind::Staff => {
            matching!(staff, |r: &staff::Model| identifying_email(r.email.as_deref()), |holders| {
                families::names_agree(holders.iter().map(|r| (r.forename.as_str(), r.surname.as_str())))
            })
        }
        PersonKind::Guardian => {
            matching!(guardian, |r: &guardian::Model| identifying_email(r.email.as_deref()), |holders| {
                families::names_agree(holders.iter().map(|r| (r.forename.as_str(), r.surname.as_str())))
            })
        }
    })
}

/// The names of these groups (a group since deleted has none), one
/// statement per distinct group: a guardian's changes name a few groups.
async fn names_of_groups<C: ConnectionTrait>(
    db: &C,
    groups: impl Iterator<Item = GroupRef>,
) -> Result<BTreeMap<GroupRef, String>, DbErr> {
    let mut names = BTreeMap::new();
    for group in groups.collect::<BTreeSet<_>>() {
        let name = match group {
            GroupRef::Year(id) => year_group::Entity::find_by_id(id).one(db).await?.map(|g| g.name),
            GroupRef::Form(id) => form_group::Entity::find_by_id(id).one(db).await?.map(|g| g.name),
            GroupRef::Class(id) => class::Entity::find_by_id(id).one(db).await?.map(|g| g.name),
        };
        names.extend(name.map(|name| (group, name)));
    }
    Ok(names)
}

fn time(at: Option<DateTime<Utc>>) -> Value {
    at.map_or(Value::Null, |t| Value::String(t.to_rfc3339()))
}

/// The whole document for the accounts `records_of` found.
pub async fn export<C: ConnectionTrait>(db: &C, matched: &Matched) -> Result<Value, SubjectError> {
    let mut records = Vec::with_capacity(matched.accounts.len());
    for account in &matched.accounts {
        records.push(record_document(db, account).await?);
    }
    Ok(json!({
        "explanation": "Everything Onroll holds about one person across the trust, one entry per school record. \
    Onroll copies these records from each school's MIS (through Wonde, or CSV files); the school's MIS stays the source.",
        "matching": MATCHING,
        "match": {"outcome": matched.key.as_str(), "explanation": matched.key.explanation()},
        "generatedAt": Utc::now().to_rfc3339(),
        "records": records,
    }))
}

async fn record_document<C: ConnectionTrait>(db: &C, account: &Account) -> Result<Value, SubjectError> {
    let Record { kind, id } = account.record;
    let kind: PersonKind = kind.into();
    let school = school::Entity::find_by_id(account.school_id).one(db).await?;
    // The person's rows in one membership table, each named by its group.
    macro_rules! memberships_in {
        ($into:ident, $label:literal, $table:ident.$person:ident, $group:ident.$group_id:ident) => {
            for m in $table::Entity::find().filter($table::Column::$person.eq(id)).all(db).await? {
                let name = $group::Entity::find_by_id(m.$group_id).one(db).await?.map(|g| g.name);
                $into.push(membership($label, m.$group_id, name, m.active, m.ended_at));
            }
        };
    }
    let (fields, links, memberships) = match kind {
        PersonKind::Student => {
            let row = student::Entity::find_by_id(id).one(db).await?.ok_or(SubjectError::NotFound)?;
            let fields = json!({
                "forename": row.forename, "surname": row.surname, "email": row.email, "upn": row.upn,
                "upi": row.upi, "misId": row.mis_id, "wondeId": row.wonde_id, "leavingDate": row.leaving_date,
                "status": row.status.as_str(), "deactivatedAt": time(row.deactivated_at),
                "deactivationReason": row.deactivation_reason.map(|r| r.as_str()),
                "createdAt": time(Some(row.created_at)), "updatedAt": time(Some(row.updated_at)),
                "purgedAt": time(row.purged_at),
            });
            let links = guardian_link::Entity::find()
                .filter(guardian_link::Column::StudentId.eq(id))
                .order_by_asc(guardian_link::Column::Id)
                .all(db)
                .await?;
            let mut memberships = Vec::new();
            memberships_in!(memberships, "CLASS", class_student.StudentId, class.class_id);
            memberships_in!(memberships, "FORM_GROUP", form_student.StudentId, form_group.form_group_id);
            memberships_in!(memberships, "YEAR_GROUP", year_student.StudentId, year_group.year_group_id);
            (fields, links.iter().map(|l| link(l, "guardianId", l.guardian_id)).collect(), memberships)
        }
        PersonKind::Staff => {
            let row = staff::Entity::find_by_id(id).one(db).await?.ok_or(SubjectError::NotFound)?;
            let fields = json!({
                "title": row.title, "forename": row.forename, "surname": row.surname, "email": row.email,
                "upi": row.upi, "misId": row.mis_id, "wondeId": row.wonde_id, "employmentEnd": row.employment_end,
                "status": row.status.as_str(), "deactivatedAt": time(row.deactivated_at),
                "deactivationReason": row.deactivation_reason.map(|r| r.as_str()),
                "createdAt": time(Some(row.created_at)), "updatedAt": time(Some(row.updated_at)),
                "purgedAt": time(row.purged_at),
            });
            let mut memberships = Vec::new();
            memberships_in!(memberships, "CLASS_TEACHER", class_teacher.StaffId, class.class_id);
            memberships_in!(memberships, "FORM_TUTOR", form_tutor.StaffId, form_group.form_group_id);
            (fields, Vec::new(), memberships)
        }
        PersonKind::Guardian => {
            let row = guardian::Entity::find_by_id(id).one(db).await?.ok_or(SubjectError::NotFound)?;
            let fields = json!({
                "title": row.title, "forename": row.forename, "surname": row.surname, "email": row.email,
                "upi": row.upi, "misId": row.mis_id, "wondeId": row.wonde_id,
                "status": row.status.as_str(), "deactivatedAt": time(row.deactivated_at),
                "deactivationReason": row.deactivation_reason.map(|r| r.as_str()),
                "createdAt": time(Some(row.created_at)), "updatedAt": time(Some(row.updated_at)),
                "purgedAt": time(row.purged_at),
            });
            let links = guardian_link::Entity::find()
                .filter(guardian_link::Column::GuardianId.eq(id))
                .order_by_asc(guardian_link::Column::Id)
                .all(db)
                .await?;
            (fields, links.iter().map(|l| link(l, "studentId", l.student_id)).collect(), Vec::new())
        }
    };
    let mut events = event::Entity::find()
        .filter(event::Column::PersonKind.eq(kind))
        .filter(event::Column::PersonId.eq(id))
        .order_by_asc(event::Column::Id)
        .all(db)
        .await?;
    if kind == PersonKind::Guardian {
        // A parent-group change names its guardians in the row, not in
        // `person_id` (`parent_groups::membership`): read the school's and
        // keep this guardian's.
        let group_changes = event::Entity::find()
            .filter(event::Column::SchoolId.eq(account.school_id))
            .filter(event::Column::Kind.is_in(EventKind::LOG_ONLY))
            .filter(event::Column::PersonId.is_null())
            .order_by_asc(event::Column::Id)
            .all(db)
            .await?;
        events.extend(
            group_changes
                .into_iter()
                .filter(|e| GroupChange::of(e).is_some_and(|c| c.guardians.contains(&id))),
        );
        events.sort_by_key(|e| e.id);
    }
    let group_names = names_of_groups(db, events.iter().filter_map(GroupChange::of).map(|c| c.group)).await?;
    let run_ids: BTreeSet<i32> = events.iter().filter_map(|e| e.sync_run_id).collect();
    let runs = sync_run::Entity::find()
        .filter(sync_run::Column::Id.is_in(run_ids))
        .order_by_asc(sync_run::Column::Id)
        .all(db)
        .await?;
    let target = match kind {
        PersonKind::Student => HeldTarget::Student,
        PersonKind::Staff => HeldTarget::Staff,
        PersonKind::Guardian => HeldTarget::Guardian,
    };
    let held = held_change::Entity::find()
        .filter(held_change::Column::Target.eq(target))
        .filter(held_change::Column::TargetId.eq(id))
        .order_by_asc(held_change::Column::Id)
        .all(db)
        .await?;
    Ok(json!({
        "explanation": "One school's record of this person, as copied from its MIS.",
        "kind": kind.as_str(),
        "id": id,
        "school": { "id": account.school_id, "name": school.map(|s| s.name) },
        "account": {
            "explanation": "The account's fields. After a purge or an erasure only the status, dates and reason remain.",
            "fields": fields,
        },
        "links": {
            "explanation": "Guardian links between this person and a pupil (or guardian) at the same school: \
    the relationship and contact flags the MIS gives. Deleted when the account is purged.",
            "items": links,
        },
        "memberships": {
            "explanation": "Class, form and year-group memberships (for staff: classes taught, forms tutored). \
    Deleted when the account is purged.",
            "items": memberships,
        },
        "events": {
            "explanation": "Entries of the event log about this account (deactivations, reactivations, erasure, \
    parent-group changes): what integrators were told, and when. A DEACTIVATED entry's reason is why the \
    account was deactivated; a REACTIVATED entry's reason is why it had been, the deactivation it undid.",
            "items": events.iter().map(|e| json!({
                "id": e.id, "kind": e.kind.as_str(), "reason": e.reason.map(|r| r.as_str()),
                "occurredAt": time(Some(e.occurred_at)), "syncRunId": e.sync_run_id, "schoolId": e.school_id,
                "group": GroupChange::of(e).map(|c| json!({
                    "kind": c.group.kind_name(), "groupId": c.group.id(), "name": group_names.get(&c.group),
                })),
            })).collect::<Vec<_>>(),
        },
        "syncRuns": {
            "explanation": "The sync runs that changed this account (those its events name): when they ran and how they ended.",
            "items": runs.iter().map(|r| json!({
                "id": r.id, "kind": r.kind.as_str(), "status": r.status.as_str(),
                "queuedAt": time(Some(r.queued_at)), "finishedAt": time(r.finished_at),
            })).collect::<Vec<_>>(),
        },
        "heldChanges": {
            "explanation": "Changes to this account that the mass-deactivation guard held for an administrator's decision.",
            "items": held.iter().map(|h| json!({
                "id": h.id, "status": h.status.as_str(), "reason": h.reason.map(|r| r.as_str()),
                "heldAt": time(Some(h.held_at)), "decidedAt": time(h.decided_at),
            })).collect::<Vec<_>>(),
        },
    }))
}

fn membership(
    group: &str,
    id: i32,
    name: Option<String>,
    active: bool,
    ended: Option<DateTime<Utc>>,
) -> Value {
    json!({ "group": group, "groupId": id, "name": name, "active": active, "endedAt": time(ended) })
}

fn link(row: &guardian_link::Model, other: &str, other_id: i32) -> Value {
    json!({
        other: other_id,
        "relationship": row.relationship.as_str(),
        "relationshipLabel": row.relationship_label,
        "parentalResponsibility": row.parental_responsibility,
        "livesWithStudent": row.lives_with_student,
        "priority": row.priority,
        "active": row.active,
        "endedAt": time(row.ended_at),
    })
}
