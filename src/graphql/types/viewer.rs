//! Viewer: who the token belongs to.

use async_graphql::{Context, Object};
use entity::school;
use sea_orm::QueryOrder;

use super::School;
use crate::error::ResultExt;
use crate::graphql::RequestContext;
use crate::graphql::enums::Role;

/// Named `Viewer` in the schema; `ViewerInfo` here to keep it apart from the
/// authentication type.
pub struct ViewerInfo;

#[Object(name = "Viewer")]
impl ViewerInfo {
    async fn role(&self, ctx: &Context<'_>) -> async_graphql::Result<Role> {
        Ok(RequestContext::of(ctx)?.viewer.role.into())
    }

    /// The token's scopes (`onroll token create --scope`): `contact-details`
    /// lets an integrator see guardians' and staff's emails and phone
    /// numbers, which are null for it otherwise (admins always see them).
    async fn scopes(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<String>> {
        Ok(RequestContext::of(ctx)?.viewer.scopes.to_vec())
    }

    /// The schools this token may see.
    async fn schools(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<School>> {
        let rc = RequestContext::of(ctx)?;
        let schools = rc.viewer.schools().order_by_asc(school::Column::Id).all(&rc.db).await.gql()?;
        Ok(schools.into_iter().map(School).collect())
    }
}
