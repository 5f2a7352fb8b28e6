//! The list filters of the contract, as SQL conditions and as in-memory
//! predicates (rosters are filtered after they are loaded in one batch).

use async_graphql::{ID, InputObject};
use entity::{class_student, form_student, guardian, guardian_link, staff, student, year_student};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, Select};

use super::enums::{AccountStatus, RelationshipType};
use super::ids::{NodeType, decode_as};
use crate::error::AppError;

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

#[derive(InputObject, Clone, Debug, Default)]
pub struct GuardianFilter {
    pub status: Option<AccountStatus>,
    /// Guardians with a current link of this relationship type.
    pub relationship: Option<RelationshipType>,
    pub search: Option<String>,
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

    /// The same rules, for a student already loaded; group membership is
    /// decided by the caller, which holds the rosters.
    pub fn matches_fields(&self, model: &student::Model) -> bool {
        self.status.is_none_or(|s| s == model.status)
            && words_match(
                &self.words,
                &[&model.forename, &model.surname, opt(&model.email), opt(&model.upn)],
            )
    }
}

fn opt(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or_default()
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
    if let Some(status) = filter.status {
        select = select.filter(guardian::Column::Status.eq(entity::enums::AccountStatus::from(status)));
    }
    if let Some(relationship) = filter.relationship {
        let linked = Query::select()
            .column(guardian_link::Column::GuardianId)
            .from(guardian_link::Entity)
            .and_where(
                guardian_link::Column::Relationship.eq(entity::enums::RelationshipType::from(relationship)),
            )
            .and_where(guardian_link::Column::Active.eq(true))
            .to_owned();
        select = select.filter(Expr::col((guardian::Entity, guardian::Column::Id)).in_subquery(linked));
    }
    let words = search_words(filter.search.as_deref())?;
    Ok(select.filter(words_condition(&words, guardian_search_columns(contact_details))))
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

/// Every word must occur, case-insensitively, in at least one column.
pub fn words_condition<C: ColumnTrait>(words: &[String], columns: &[C]) -> Condition {
    let mut all = Condition::all();
    for word in words {
        let pattern = format!("%{}%", escape_like(word));
        let mut any = Condition::any();
        for column in columns {
            any = any.add(
                Expr::expr(Func::lower(Expr::col(column.as_column_ref())))
                    .like(sea_orm::sea_query::LikeExpr::new(pattern.clone()).escape('\\')),
            );
        }
        all = all.add(any);
    }
    all
}

pub fn words_match(words: &[String], fields: &[&str]) -> bool {
    words.iter().all(|word| fields.iter().any(|field| field.to_lowercase().contains(word.as_str())))
}

fn escape_like(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
