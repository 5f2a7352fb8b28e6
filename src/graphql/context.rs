//! What one GraphQL request carries: the database, the viewer, its loaders.

use async_graphql::Context;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use tokio::sync::OnceCell;

use super::loaders::Loaders;
use crate::auth::Viewer;
use crate::error::{AppError, ResultExt};
use crate::families::FamilyIndex;

/// Built per request, after authentication, so that loader caches never
/// outlive a request nor cross from one viewer's scope to another's.
pub struct RequestContext {
    pub db: DatabaseConnection,
    pub viewer: Viewer,
    pub loaders: Loaders,
    families: OnceCell<Arc<FamilyIndex>>,
}

impl RequestContext {
    pub fn new(db: DatabaseConnection, viewer: Viewer) -> Self {
        let loaders = Loaders::new(&db, &viewer);
        Self { db, viewer, loaders, families: OnceCell::new() }
    }

    pub fn of<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Self> {
        ctx.data::<Self>().map_err(|_| AppError::Internal("request context missing")).gql()
    }

    /// The families of the viewer's schools, worked out once per request.
    pub async fn families(&self) -> Result<Arc<FamilyIndex>, AppError> {
        self.families
            .get_or_try_init(|| async {
                FamilyIndex::build(&self.db, &self.viewer).await.map(Arc::new)
            })
            .await
            .cloned()
    }
}
