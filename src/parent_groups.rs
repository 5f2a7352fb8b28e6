//! Parent groups: the guardians of a year group, a form group or a class,
//! and of a year across the trust ("Year 7 parents").
//!
//! A guardian belongs to a group while it has at least one current
//! (`active`) link to an active student who is a current member of the
//! group. Membership is derived, never stored: it changes in the same
//! commit as the links and memberships it rests on ([`membership`] turns
//! those changes into `GUARDIAN_JOINED_GROUP` / `GUARDIAN_LEFT_GROUP`
//! entries of the event log).
//!
//! Every query here is a fixed number of statements whatever the group's
//! size: the guardians are one keyset-paged `SELECT` over `guardian` with
//! `IN (subquery)` conditions (links, students, memberships), the count one
//! more, and the links behind a page one more.

pub mod membership;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entity::enums::{AccountStatus, RelationshipType};
use entity::{
    class_student, form_student, guardian, guardian_link, school, student, year_group, year_student,
};
use sea_orm::sea_query::{Query, SelectStatement};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    Select,
};

use crate::auth::Viewer;

/// One group of a school.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupRef {
    Year(i32),
    Form(i32),
    Class(i32),
}

/// Whose guardians: one group's, a year's across a trust, or a trust's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reach {
    Group(GroupRef),
    /// The current year groups of this name at the trust's schools (names
    /// are shared across a trust: "Year 7").
    TrustYear {
        trust_id: i32,
        name: String,
    },
    /// Every guardian of the trust with a current link to an active child.
    Trust {
        trust_id: i32,
    },
}

/// Which guardians of the reach: conditions on the guardian (status,
/// search words) and on the link that puts it there (a guardian qualifies
/// through at least one link that meets every link condition).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Criteria {
    pub status: Option<AccountStatus>,
    /// Lower-cased words, each matched anywhere in names or email.
    pub words: Vec<String>,
    /// Any of these relationship types; empty: any.
    pub relationships: Vec<RelationshipType>,
    pub parental_responsibility: Option<bool>,
    pub lives_with_student: Option<bool>,
}

/// Where a page starts: the last row of the previous page, in the list's
/// order (surname, forename, id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SortKey {
    pub surname: String,
    pub forename: String,
    pub id: i32,
}

/// A cursor that this module did not give out.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`after` is not a cursor of this list")]
pub struct BadCursor;

impl SortKey {
    pub fn of(guardian: &guardian::Model) -> Self {
        Self { surname: guardian.surname.clone(), forename: guardian.forename.clone(), id: guardian.id }
    }

    /// Opaque to clients: base64url of a JSON triple.
    pub fn encode(&self) -> String {
        let json = serde_json::json!([self.surname, self.forename, self.id]).to_string();
        URL_SAFE_NO_PAD.encode(format!("g:{json}"))
    }

    pub fn decode(cursor: &str) -> Result<Self, BadCursor> {
        let bytes = URL_SAFE_NO_PAD.decode(cursor.trim()).map_err(|_| BadCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| BadCursor)?;
        let json = text.strip_prefix("g:").ok_or(BadCursor)?;
        let (surname, forename, id): (String, String, i32) =
            serde_json::from_str(json).map_err(|_| BadCursor)?;
        Ok(Self { surname, forename, id })
    }

    /// Rows strictly after this key in (surname, forename, id) order.
    fn after(&self) -> Condition {
        use guardian::Column as G;
        Condition::any().add(G::Surname.gt(self.surname.as_str())).add(
            Condition::all().add(G::Surname.eq(self.surname.as_str())).add(
                Condition::any()
                    .add(G::Forename.gt(self.forename.as_str()))
                    .add(Condition::all().add(G::Forename.eq(self.forename.as_str())).add(G::Id.gt(self.id))),
            ),
        )
    }
}

/// Active students of the reach (`None`: any active student).
fn members(reach: &Reach) -> Option<SelectStatement> {
    macro_rules! current {
        ($module:ident, $group:ident, $id:expr) => {
            Query::select()
                .column($module::Column::StudentId)
                .from($module::Entity)
                .and_where($module::Column::$group.eq($id))
                .and_where($module::Column::Active.eq(true))
                .to_owned()
        };
    }
    match reach {
        Reach::Group(GroupRef::Year(id)) => Some(current!(year_student, YearGroupId, *id)),
        Reach::Group(GroupRef::Form(id)) => Some(current!(form_student, FormGroupId, *id)),
        Reach::Group(GroupRef::Class(id)) => Some(current!(class_student, ClassId, *id)),
        Reach::TrustYear { trust_id, name } => {
            let groups = Query::select()
                .column(year_group::Column::Id)
                .from(year_group::Entity)
                .and_where(year_group::Column::Name.eq(name.as_str()))
                .and_where(year_group::Column::Active.eq(true))
                .and_where(year_group::Column::SchoolId.in_subquery(trust_schools(*trust_id)))
                .to_owned();
            Some(
                Query::select()
                    .column(year_student::Column::StudentId)
                    .from(year_student::Entity)
                    .and_where(year_student::Column::YearGroupId.in_subquery(groups))
                    .and_where(year_student::Column::Active.eq(true))
                    .to_owned(),
            )
        }
        Reach::Trust { .. } => None,
    }
}

fn trust_schools(trust_id: i32) -> SelectStatement {
    Query::select()
        .column(school::Column::Id)
        .from(school::Entity)
        .and_where(school::Column::TrustId.eq(trust_id))
        .to_owned()
}

/// The conditions on a link that puts its guardian in the reach: current,
/// to an active student of the reach, meeting the link criteria.
fn link_conditions(reach: &Reach, criteria: &Criteria) -> Condition {
    let mut students = Query::select()
        .column(student::Column::Id)
        .from(student::Entity)
        .and_where(student::Column::Status.eq(AccountStatus::Active))
        .to_owned();
    if let Some(members) = members(reach) {
        students.and_where(student::Column::Id.in_subquery(members));
    }
    let mut condition = Condition::all()
        .add(guardian_link::Column::Active.eq(true))
        .add(guardian_link::Column::StudentId.in_subquery(students));
    if let Reach::Trust { trust_id } | Reach::TrustYear { trust_id, .. } = reach {
        condition = condition.add(guardian_link::Column::SchoolId.in_subquery(trust_schools(*trust_id)));
    }
    if !criteria.relationships.is_empty() {
        condition =
            condition.add(guardian_link::Column::Relationship.is_in(criteria.relationships.iter().copied()));
    }
    if let Some(pr) = criteria.parental_responsibility {
        condition = condition.add(guardian_link::Column::ParentalResponsibility.eq(pr));
    }
    if let Some(lives) = criteria.lives_with_student {
        condition = condition.add(guardian_link::Column::LivesWithStudent.eq(lives));
    }
    condition
}

/// The viewer's guardians of the reach that meet the criteria, unordered.
pub fn guardians(viewer: &Viewer, reach: &Reach, criteria: &Criteria) -> Select<guardian::Entity> {
    let links = Query::select()
        .column(guardian_link::Column::GuardianId)
        .from(guardian_link::Entity)
        .cond_where(link_conditions(reach, criteria))
        .to_owned();
    let mut select = viewer.guardians().filter(guardian::Column::Id.in_subquery(links));
    if let Some(status) = criteria.status {
        select = select.filter(guardian::Column::Status.eq(status));
    }
    // Emails are searched only by viewers who may see them.
    let columns: &[guardian::Column] = if viewer.sees_contact_details() {
        &[guardian::Column::Forename, guardian::Column::Surname, guardian::Column::Email]
    } else {
        &[guardian::Column::Forename, guardian::Column::Surname]
    };
    select.filter(crate::search::words_condition(&criteria.words, columns))
}

/// One page of guardians, by surname, forename then id.
pub struct GuardianPage {
    pub guardians: Vec<guardian::Model>,
    pub has_next: bool,
}

/// Up to `first` guardians after `after`: one statement.
pub async fn page<C: ConnectionTrait>(
    db: &C,
    viewer: &Viewer,
    reach: &Reach,
    criteria: &Criteria,
    first: u64,
    after: Option<&SortKey>,
) -> Result<GuardianPage, DbErr> {
    let mut select = guardians(viewer, reach, criteria);
    if let Some(key) = after {
        select = select.filter(key.after());
    }
    let mut rows = select
        .order_by_asc(guardian::Column::Surname)
        .order_by_asc(guardian::Column::Forename)
        .order_by_asc(guardian::Column::Id)
        .limit(first + 1)
        .all(db)
        .await?;
    let has_next = rows.len() as u64 > first;
    rows.truncate(usize::try_from(first).unwrap_or(usize::MAX));
    Ok(GuardianPage { guardians: rows, has_next })
}

/// How many guardians meet the criteria: one statement.
pub async fn count<C: ConnectionTrait>(
    db: &C,
    viewer: &Viewer,
    reach: &Reach,
    criteria: &Criteria,
) -> Result<u64, DbErr> {
    guardians(viewer, reach, criteria).count(db).await
}

/// The links that put `guardian_ids` in the reach under the criteria (so
/// each guardian's children in the group, and how it is related to them),
/// by guardian, then contact priority: one statement.
pub async fn links<C: ConnectionTrait>(
    db: &C,
    viewer: &Viewer,
    reach: &Reach,
    criteria: &Criteria,
    guardian_ids: &[i32],
) -> Result<Vec<guardian_link::Model>, DbErr> {
    if guardian_ids.is_empty() {
        return Ok(Vec::new());
    }
    viewer
        .guardian_links()
        .filter(link_conditions(reach, criteria))
        .filter(guardian_link::Column::GuardianId.is_in(guardian_ids.iter().copied()))
        .order_by_asc(guardian_link::Column::GuardianId)
        .order_by_asc(guardian_link::Column::StudentId)
        .order_by_asc(guardian_link::Column::Id)
        .all(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_others() {
        let key = SortKey { surname: "O'Brien \"Jr\"".to_owned(), forename: "Zoë".to_owned(), id: 42 };
        assert_eq!(SortKey::decode(&key.encode()), Ok(key));
        assert_eq!(SortKey::decode("garbage"), Err(BadCursor));
        assert_eq!(SortKey::decode(&crate::graphql::pagination::encode_cursor(7)), Err(BadCursor));
    }
}
