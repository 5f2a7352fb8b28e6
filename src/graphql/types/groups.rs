//! Class, YearGroup and FormGroup, with their rosters and parent groups.
//! The fields all three share are resolved once, by [`GroupNames`] and
//! [`GroupRoster`], which each type flattens into its own fields.
//!
//! A roster is loaded whole in one batch with its siblings' rosters, then
//! filtered and paged in memory: rosters are tens to hundreds of students,
//! and this keeps nested rosters at a constant statement count.

use async_graphql::{Context, ID, Object};
use entity::{class, form_group, year_group};
use std::collections::BTreeSet;

use super::parent_groups::{GroupGuardianConnection, count_of, guardians_of};
use super::{School, Staff, Student, required, rows_by_id};
use crate::error::ResultExt;
use crate::graphql::RequestContext;
use crate::graphql::filters::{GuardianFilter, StudentCriteria, StudentFilter};
use crate::graphql::ids::{NodeType, encode};
use crate::graphql::pagination::{PageRequest, StudentConnection, page_in_memory};
use crate::parent_groups::{GroupRef, Reach};

/// Pages the students of a roster that pass a filter.
async fn roster(
    rc: &RequestContext,
    member_ids: Vec<i32>,
    first: Option<i32>,
    after: Option<String>,
    filter: Option<StudentFilter>,
) -> async_graphql::Result<StudentConnection> {
    let request = PageRequest::parse(first, after.as_deref()).gql()?;
    let criteria = StudentCriteria::parse(filter.as_ref()).gql()?;
    let mut allowed: Option<BTreeSet<i32>> = None;
    let mut narrow = |ids: Vec<i32>| {
        let ids: BTreeSet<i32> = ids.into_iter().collect();
        allowed = Some(match allowed.take() {
            Some(current) => current.intersection(&ids).copied().collect(),
            None => ids,
        });
    };
    if let Some(group) = criteria.year_group_id {
        narrow(rc.loaders.year_roster.load_one(group).await.gql()?.unwrap_or_default());
    }
    if let Some(group) = criteria.form_group_id {
        narrow(rc.loaders.form_roster.load_one(group).await.gql()?.unwrap_or_default());
    }
    if let Some(group) = criteria.class_id {
        narrow(rc.loaders.class_roster.load_one(group).await.gql()?.unwrap_or_default());
    }
    let students = rc.loaders.students.load_many(member_ids).await.gql()?;
    let mut rows: Vec<(i64, Student)> = students
        .into_values()
        .filter(|s| allowed.as_ref().is_none_or(|ids| ids.contains(&s.id)))
        .filter(|s| criteria.matches_fields(s))
        .map(|s| (i64::from(s.id), Student(s)))
        .collect();
    rows.sort_by_key(|(key, _)| *key);
    Ok(page_in_memory(rows, request).into_connection(|s| s))
}

/// `wondeId`, `name` and `school` of a group, which every group type
/// flattens into its fields after `id`.
pub struct GroupNames<'a> {
    wonde_id: &'a str,
    name: &'a str,
    school_id: i32,
}

impl<'a> GroupNames<'a> {
    fn of(wonde_id: &'a str, name: &'a str, school_id: i32) -> Self {
        Self { wonde_id, name, school_id }
    }
}

#[Object]
impl GroupNames<'_> {
    async fn wonde_id(&self) -> &str {
        self.wonde_id
    }

    async fn name(&self) -> &str {
        self.name
    }

    async fn school(&self, ctx: &Context<'_>) -> async_graphql::Result<School> {
        let rc = RequestContext::of(ctx)?;
        required(rc.loaders.schools.load_one(self.school_id).await, "group without school").map(School)
    }
}

/// `students`, `guardians` and `guardianCount` of a group, which every
/// group type flattens into its fields last.
pub struct GroupRoster(GroupRef);

#[Object]
impl GroupRoster {
    /// Current members.
    async fn students(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<StudentFilter>,
    ) -> async_graphql::Result<StudentConnection> {
        let rc = RequestContext::of(ctx)?;
        let l = &rc.loaders;
        let members = match self.0 {
            GroupRef::Year(id) => l.year_roster.load_one(id).await,
            GroupRef::Form(id) => l.form_roster.load_one(id).await,
            GroupRef::Class(id) => l.class_roster.load_one(id).await,
        };
        roster(rc, members.gql()?.unwrap_or_default(), first, after, filter).await
    }

    /// Parent group: guardians with a current link to an active student
    /// of this group, each once, with the children and links that put
    /// them here (see `GuardianFilter`), by surname, forename, record.
    async fn guardians(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<GuardianFilter>,
    ) -> async_graphql::Result<GroupGuardianConnection> {
        guardians_of(RequestContext::of(ctx)?, Reach::Group(self.0), first, after, filter.as_ref()).await
    }

    /// How many guardians `guardians` lists with this filter.
    async fn guardian_count(
        &self,
        ctx: &Context<'_>,
        filter: Option<GuardianFilter>,
    ) -> async_graphql::Result<i32> {
        count_of(RequestContext::of(ctx)?, Reach::Group(self.0), filter.as_ref()).await
    }
}

pub struct Class(pub class::Model);

#[Object]
impl Class {
    pub async fn id(&self, _ctx: &Context<'_>) -> async_graphql::Result<ID> {
        Ok(encode(NodeType::Class, self.0.id))
    }

    #[graphql(flatten)]
    async fn names(&self) -> GroupNames<'_> {
        GroupNames::of(&self.0.wonde_id, &self.0.name, self.0.school_id)
    }

    async fn code(&self) -> Option<&str> {
        self.0.code.as_deref()
    }

    async fn subject(&self) -> Option<&str> {
        self.0.subject.as_deref()
    }

    /// Current teachers.
    async fn teachers(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Staff>> {
        let rc = RequestContext::of(ctx)?;
        let ids = rc.loaders.class_teachers.load_one(self.0.id).await.gql()?;
        rows_by_id(&rc.loaders.staff, ids, Staff).await
    }

    #[graphql(flatten)]
    async fn roster(&self) -> GroupRoster {
        GroupRoster(GroupRef::Class(self.0.id))
    }
}

pub struct YearGroup(pub year_group::Model);

#[Object]
impl YearGroup {
    pub async fn id(&self, _ctx: &Context<'_>) -> async_graphql::Result<ID> {
        Ok(encode(NodeType::YearGroup, self.0.id))
    }

    #[graphql(flatten)]
    async fn names(&self) -> GroupNames<'_> {
        GroupNames::of(&self.0.wonde_id, &self.0.name, self.0.school_id)
    }

    #[graphql(flatten)]
    async fn roster(&self) -> GroupRoster {
        GroupRoster(GroupRef::Year(self.0.id))
    }
}

pub struct FormGroup(pub form_group::Model);

#[Object]
impl FormGroup {
    pub async fn id(&self, _ctx: &Context<'_>) -> async_graphql::Result<ID> {
        Ok(encode(NodeType::FormGroup, self.0.id))
    }

    #[graphql(flatten)]
    async fn names(&self) -> GroupNames<'_> {
        GroupNames::of(&self.0.wonde_id, &self.0.name, self.0.school_id)
    }

    /// Current tutors.
    async fn tutors(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Staff>> {
        let rc = RequestContext::of(ctx)?;
        let ids = rc.loaders.form_tutors.load_one(self.0.id).await.gql()?;
        rows_by_id(&rc.loaders.staff, ids, Staff).await
    }

    #[graphql(flatten)]
    async fn roster(&self) -> GroupRoster {
        GroupRoster(GroupRef::Form(self.0.id))
    }
}
