//! `createSchool`: a school fed by CSV rather than Wonde.

use async_graphql::{Context, Object};

use super::{school as visible_school, trust_admin_of};
use crate::error::ResultExt;
use crate::graphql::inputs::CreateSchoolInput;
use crate::graphql::types::School;
use crate::schools::NewSchool;

#[derive(Default)]
pub struct SchoolMutation;

#[Object]
impl SchoolMutation {
    /// A school fed by CSV rather than Wonde (trust admins only). It has no
    /// Wonde connection; `importCsv` fills it. A URN already used by a
    /// school of the trust is refused, so a school is not created twice.
    async fn create_school(
        &self,
        ctx: &Context<'_>,
        input: CreateSchoolInput,
    ) -> async_graphql::Result<School> {
        let (rc, trust_id) = trust_admin_of(ctx, &input.trust_id, "create schools")?;
        let fields =
            NewSchool::validate(&input.name, input.urn.as_deref(), input.postcode.as_deref()).gql()?;
        let created = crate::schools::create(&rc.db, trust_id, fields).await.gql()?;
        crate::graphql::audit::note_school(ctx, created.id);
        visible_school(rc, created.id).await.gql()
    }
}
