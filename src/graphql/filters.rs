//! The list filters of the contract, as SQL conditions and as in-memory
//! predicates (rosters are filtered after they are loaded in one batch).

use async_graphql::{ID, InputObject};
use entity::{class_student, form_student, guardian, guardian_link, staff, student, year_student};
use sea_orm::sea_query::{Expr, ExprTrait, Query, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, Select};

use super::enums::{AccountStatus, RelationshipType};
use super::ids::{NodeType, decode_as};
use crate::error::AppError;
use crate::search::escape_like;
pub use crate::search::words_condition;

#[derive(InputObject, Clone, Debug, Default)]
pub struct StudentFilter {
    pub status: Option<AccountStatus>,
    pub year_group_id: Option<ID>,
    pub form_group_id: Option<ID>,
    pub class_id: Option<ID>,
    /// Words matched, each anywhere, against names, email and UPN.
    pub search: Option<String>,
}

#[derive(InputObject, Clone, Debug, Default)]
pub struct StaffFilter {
    pub status: Option<AccountStatus>,
    pub search: Option<String>,
}

/// Guardians by status and search words, and by the current link that
/// makes them a child's guardian: the link conditions (`relationship`,
/// `relationships`, `parentalResponsibility`, `livesWithStudent`) must all
/// hold for one link. In a parent group, that link is to a child of the
/// group; a null condition is no condition.
#[derive(InputObject, Clone, Debug, Default)]
pub struct GuardianFilter {
    pub status: Option<AccountStatus>,
    /// Guardians with a current link of this relationship type.
    pub relationship: Option<RelationshipType>,
    /// Any of these types (with `relationship`: any of all of them; an
    /// empty list: any type).
    pub relationships: Option<Vec<RelationshipType>>,
    /// The link gives (true) or does not give (false) parental
    /// responsibility; a link the MIS leaves unsaid matches neither.
    pub parental_responsibility: Option<bool>,
    /// The child lives (true) or does not live (false) with the guardian;
    /// unsaid matches neither.
    pub lives_with_student: Option<bool>,
    pub search: Option<String>,
}

/// [`GuardianFilter`] across a trust, plus `yearGroupName`.
#[derive(InputObject, Clone, Debug, Default)]
pub struct TrustGuardianFilter {
    /// Only guardians of the current year groups of this exact name at the
    /// trust's schools ("Year 7"); null: every guardian with a current
    /// link to an active child.
    pub year_group_name: Option<String>,
    pub status: Option<AccountStatus>,
    pub relationship: Option<RelationshipType>,
    pub relationships: Option<Vec<RelationshipType>>,
    pub parental_responsibility: Option<bool>,
    pub lives_with_student: Option<bool>,
    pub search: Option<String>,
}

impl TrustGuardianFilter {
    /// The guardian conditions, without the year.
    pub fn guardian_filter(&self) -> GuardianFilter {
        GuardianFilter {
            status: self.status,
            relationship: self.relationship,
            relationships: self.relationships.clone(),
            parental_responsibility: self.parental_responsibility,
            lives_with_student: self.lives_with_student,
            search: self.search.clone(),
        }
    }
}

impl GuardianFilter {
    /// The filter as parent-group criteria (the relationship types merged).
    pub fn criteria(filter: Option<&Self>) -> Result<crate::parent_groups::Criteria, AppError> {
        let Some(filter) = filter else { return Ok(Default::default()) };
        let mut relationships: Vec<entity::enums::RelationshipType> =
            filter.relationships.iter().flatten().chain(&filter.relationship).map(|&r| r.into()).collect();
        relationships.sort_by_key(|r| r.as_str());
        relationships.dedup();
        Ok(crate::parent_groups::Criteria {
            status: filter.status.map(Into::into),
            words: search_words(filter.search.as_deref())?,
            relationships,
            parental_responsibility: filter.parental_responsibility,
            lives_with_student: filter.lives_with_student,
        })
    }

    fn has_link_condition(&self) -> bool {
        self.relationship.is_some()
            || self.relationships.as_ref().is_some_and(|r| !r.is_empty())
            || self.parental_responsibility.is_some()
            || self.lives_with_student.is_some()
    }
}

#[derive(InputObject, Clone, Debug, Default)]
pub struct FamilyFilter {
    /// Only families with records at more than one school.
    pub multi_school_only: Option<bool>,
    pub search: Option<String>,
}

/// A student filter with its IDs decoded and its words split.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct StudentCriteria {
    pub status: Option<entity::enums::AccountStatus>,
    pub year_group_id: Option<i32>,
    pub form_group_id: Option<i32>,
    pub class_id: Option<i32>,
    pub words: Vec<String>,
}

impl StudentCriteria {
    pub fn parse(filter: Option<&StudentFilter>) -> Result<Self, AppError> {
        let Some(filter) = filter else { return Ok(Self::default()) };
        let decode = |id: &Option<ID>, kind| id.as_deref().map(|id| decode_as(id, kind)).transpose();
        Ok(Self {
            status: filter.status.map(Into::into),
            year_group_id: decode(&filter.year_group_id, NodeType::YearGroup)?,
            form_group_id: decode(&filter.form_group_id, NodeType::FormGroup)?,
            class_id: decode(&filter.class_id, NodeType::Class)?,
            words: search_words(filter.search.as_deref())?,
        })
    }

    pub fn apply(&self, mut select: Select<student::Entity>) -> Select<student::Entity> {
        if let Some(status) = self.status {
            select = select.filter(student::Column::Status.eq(status));
        }
        if let Some(group) = self.year_group_id {
            select = select.filter(member_of::<year_student::Entity>(
                year_student::Column::YearGroupId,
                group,
                year_student::Column::StudentId,
                year_student::Column::Active,
            ));
        }
        if let Some(group) = self.form_group_id {
            select = select.filter(member_of::<form_student::Entity>(
                form_student::Column::FormGroupId,
                group,
                form_student::Column::StudentId,
                form_student::Column::Active,
            ));
        }
        if let Some(group) = self.class_id {
            select = select.filter(member_of::<class_student::Entity>(
                class_student::Column::ClassId,
                group,
                class_student::Column::StudentId,
                class_student::Column::Active,
            ));
        }
        select.filter(words_condition(
            &self.words,
            &[
                student::Column::Forename,
                student::Column::Surname,
                student::Column::Email,
                student::Column::Upn,
            ],
        ))
    }
}

/// `student_id IN (SELECT member FROM membership WHERE group = ? AND active)`
fn member_of<M: EntityTrait>(
    group_column: M::Column,
    group: i32,
    member_column: M::Column,
    active_column: M::Column,
) -> SimpleExpr {
    let members = Query::select()
        .column(member_column)
        .from(M::default())
        .and_where(group_column.eq(group))
        .and_where(active_column.eq(true))
        .to_owned();
    Expr::col((student::Entity, student::Column::Id)).in_subquery(members)
}

/// `contact_details`: whether the viewer sees emails
/// ([`crate::auth::Viewer::sees_contact_details`]); without, a search does
/// not match them, so it cannot probe for an address.
pub fn apply_staff(
    filter: Option<&StaffFilter>,
    mut select: Select<staff::Entity>,
    contact_details: bool,
) -> Result<Select<staff::Entity>, AppError> {
    let Some(filter) = filter else { return Ok(select) };
    if let Some(status) = filter.status {
        select = select.filter(staff::Column::Status.eq(entity::enums::AccountStatus::from(status)));
    }
    let words = search_words(filter.search.as_deref())?;
    let columns: &[staff::Column] = if contact_details {
        &[staff::Column::Forename, staff::Column::Surname, staff::Column::Email]
    } else {
        &[staff::Column::Forename, staff::Column::Surname]
    };
    Ok(select.filter(words_condition(&words, columns)))
}

/// `contact_details` as in [`apply_staff`].
pub fn apply_guardian(
    filter: Option<&GuardianFilter>,
    mut select: Select<guardian::Entity>,
    contact_details: bool,
) -> Result<Select<guardian::Entity>, AppError> {
    let Some(filter) = filter else { return Ok(select) };
    let criteria = GuardianFilter::criteria(Some(filter))?;
    if let Some(status) = criteria.status {
        select = select.filter(guardian::Column::Status.eq(status));
    }
    if filter.has_link_condition() {
        let mut linked = Query::select()
            .column(guardian_link::Column::GuardianId)
            .from(guardian_link::Entity)
            .and_where(guardian_link::Column::Active.eq(true))
            .to_owned();
        if !criteria.relationships.is_empty() {
            linked
                .and_where(guardian_link::Column::Relationship.is_in(criteria.relationships.iter().copied()));
        }
        if let Some(pr) = criteria.parental_responsibility {
            linked.and_where(guardian_link::Column::ParentalResponsibility.eq(pr));
        }
        if let Some(lives) = criteria.lives_with_student {
            linked.and_where(guardian_link::Column::LivesWithStudent.eq(lives));
        }
        select = select.filter(Expr::col((guardian::Entity, guardian::Column::Id)).in_subquery(linked));
    }
    Ok(select.filter(words_condition(&criteria.words, guardian_search_columns(contact_details))))
}

/// The guardian columns a search matches: emails only for viewers who see
/// them.
pub fn guardian_search_columns(contact_details: bool) -> &'static [guardian::Column] {
    if contact_details {
        &[guardian::Column::Forename, guardian::Column::Surname, guardian::Column::Email]
    } else {
        &[guardian::Column::Forename, guardian::Column::Surname]
    }
}

/// A `column LIKE 'prefix%'` condition with the prefix's wildcards (`%`,
/// `_`) and the escape character escaped, so a search for `%%` matches
/// only text that starts with two percent signs. sea-orm's own
/// `starts_with` does not escape.
pub fn prefix_condition<C: ColumnTrait>(column: C, prefix: &str) -> Condition {
    let pattern = format!("{}%", escape_like(prefix));
    Condition::all()
        .add(Expr::col(column.as_column_ref()).like(sea_orm::sea_query::LikeExpr::new(pattern).escape('\\')))
}

/// The most words a search may have: each adds a condition per column.
const MAX_SEARCH_WORDS: usize = 8;

/// Splits a search into lower-cased words.
pub fn search_words(search: Option<&str>) -> Result<Vec<String>, AppError> {
    let words: Vec<String> = search.unwrap_or_default().split_whitespace().map(str::to_lowercase).collect();
    if words.len() > MAX_SEARCH_WORDS {
        return Err(AppError::bad_input(format!("`search` may have at most {MAX_SEARCH_WORDS} words")));
    }
    Ok(words)
}
