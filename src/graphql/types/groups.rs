//! Class, YearGroup and FormGroup, with their rosters and parent groups.
//! The fields all three share are resolved once, by [`GroupNames`] and
//! [`GroupRoster`], which each type flattens into its own fields.
//!
//! A roster is paged in SQL, in one statement with its siblings' rosters
//! (`graphql::roster_pages`), so nested rosters keep a constant statement
//! count and a roster of 1,000 pupils reads one page, not 1,000 rows.

use async_graphql::{Context, ID, Object};
use entity::{class, form_group, year_group};
use std::sync::Arc;

use super::parent_groups::{GroupGuardianConnection, count_of, guardians_of};
use super::{School, Staff, Student, required, rows_by_id};
use crate::error::ResultExt;
use crate::graphql::RequestContext;
use crate::graphql::filters::{GuardianFilter, StudentCriteria, StudentFilter};
use crate::graphql::ids::{NodeType, encode};
use crate::graphql::pagination::{PageRequest, StudentConnection};
use crate::graphql::roster_pages::RosterKey;
use crate::parent_groups::{GroupRef, Reach};

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
        let request = PageRequest::parse(first, after.as_deref()).gql()?;
        let criteria = Arc::new(StudentCriteria::parse(filter.as_ref()).gql()?);
        let l = &rc.loaders;
        let page = match self.0 {
            GroupRef::Year(group) => l.year_pages.load_one(RosterKey { group, request, criteria }).await,
            GroupRef::Form(group) => l.form_pages.load_one(RosterKey { group, request, criteria }).await,
            GroupRef::Class(group) => l.class_pages.load_one(RosterKey { group, request, criteria }).await,
        };
        Ok(page.gql()?.unwrap_or_default().into_page(request).into_connection(Student))
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
        let loaders = &RequestContext::of(ctx)?.loaders;
        rows_by_id(&loaders.class_teachers, self.0.id, &loaders.staff, Staff).await
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
        let loaders = &RequestContext::of(ctx)?.loaders;
        rows_by_id(&loaders.form_tutors, self.0.id, &loaders.staff, Staff).await
    }

    #[graphql(flatten)]
    async fn roster(&self) -> GroupRoster {
        GroupRoster(GroupRef::Form(self.0.id))
    }
}
