//! Family: guardians and children of one household across the trust.

use async_graphql::{Context, ID, Object};
use std::sync::Arc;

use super::{Guardian, School, Student};
use crate::error::ResultExt;
use crate::families::FamilyMembers;
use crate::graphql::RequestContext;
use crate::graphql::ids::{NodeType, encode};

pub struct Family(pub Arc<FamilyMembers>);

#[Object]
impl Family {
    pub async fn id(&self, _ctx: &Context<'_>) -> async_graphql::Result<ID> {
        Ok(encode(NodeType::Family, self.0.key))
    }

    /// Guardian records, one per school the guardian is known at.
    async fn guardians(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Guardian>> {
        let rc = RequestContext::of(ctx)?;
        let mut rows = rc.loaders.guardians.load_many(self.0.guardian_ids.iter().copied()).await.gql()?;
        Ok(self.0.guardian_ids.iter().filter_map(|id| rows.remove(id)).map(Guardian).collect())
    }

    /// Child records, one per school the child is known at.
    async fn children(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Student>> {
        let rc = RequestContext::of(ctx)?;
        let mut rows = rc.loaders.students.load_many(self.0.student_ids.iter().copied()).await.gql()?;
        Ok(self.0.student_ids.iter().filter_map(|id| rows.remove(id)).map(Student).collect())
    }

    async fn schools(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<School>> {
        let rc = RequestContext::of(ctx)?;
        let mut rows = rc.loaders.schools.load_many(self.0.school_ids.iter().copied()).await.gql()?;
        Ok(self.0.school_ids.iter().filter_map(|id| rows.remove(id)).map(School).collect())
    }
}
