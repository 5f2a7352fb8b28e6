//! What one GraphQL request carries: the database, the viewer, its loaders.

use async_graphql::Context;
use sea_orm::DatabaseConnection;
use std::sync::Arc;

use super::loaders::{Loaders, Spawner};
use crate::auth::Viewer;
use crate::error::{AppError, ResultExt};
use crate::families::{FamilyIndex, FamilySource};

/// Built per request, after authentication, so that loader caches never
/// outlive a request nor cross from one viewer's scope to another's.
pub struct RequestContext {
    pub db: DatabaseConnection,
    pub viewer: Viewer,
    pub loaders: Loaders,
    families: Arc<FamilySource>,
}

impl RequestContext {
    pub fn new(db: DatabaseConnection, viewer: Viewer, spawner: Spawner) -> Self {
        let families = Arc::new(FamilySource::new(db.clone(), viewer.clone()));
        let loaders = Loaders::new(&db, &viewer, spawner, families.clone());
        Self { db, viewer, loaders, families }
    }

    /// A context for a subscription: batches run as ordinary tasks and
    /// nothing is cached between events.
    pub fn for_subscription(db: DatabaseConnection, viewer: Viewer) -> Self {
        let mut context = Self::new(db, viewer, Spawner::Runtime);
        context.loaders = context.loaders.without_cache();
        context
    }

    pub fn of<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Self> {
        ctx.data::<Self>().map_err(|_| AppError::Internal("request context missing")).gql()
    }

    /// Every family of the viewer's schools, worked out once per request
    /// (`totalCount` of families, which counts them all). Fields of rows go
    /// through `loaders.family_of` instead, so that the index is built
    /// inside a batch.
    pub async fn families(&self) -> Result<Arc<FamilyIndex>, AppError> {
        self.families.index().await
    }

    /// The families of these guardians and students only, read from them
    /// outwards (`families::reach`): what a page or a lookup needs.
    pub async fn families_of(&self, guardians: &[i32], students: &[i32]) -> Result<FamilyIndex, AppError> {
        self.families.of(guardians, students).await
    }
}

/// A service the server put in the schema's data (the event bus, the
/// Wonde client, the secret key); `what` names it in the internal error
/// raised when it is missing.
pub fn service<'a, T: std::any::Any + Send + Sync>(
    ctx: &Context<'a>,
    what: &'static str,
) -> async_graphql::Result<&'a T> {
    ctx.data::<T>().map_err(|_| AppError::Internal(what)).gql()
}
