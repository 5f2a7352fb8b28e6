//! The object types of the schema, one module per area. Each wraps a row
//! and resolves its relations through the request's loaders.

mod account;
mod events;
mod family;
mod groups;
mod held;
mod node;
mod parent_groups;
mod people;
mod quality;
mod rate_limit;
mod school;
mod sync;
mod viewer;
mod webhooks;

pub use events::{
    CsvImportResult, CsvRowError, DeactivationEvent, Person, WondeCatalogStatus, WondeSchoolCandidate,
};
pub use family::Family;
pub use groups::{Class, FormGroup, YearGroup};
pub use held::{HeldChange, HeldChangeDecision, HeldChangesEvent, SyncPreview, decode_held};
pub use node::Node;
pub use parent_groups::{
    GroupGuardianConnection, GroupGuardianEdge, GroupMembershipChange, GroupMembershipChangeConnection,
    GroupMembershipChangeKind, ParentGroup, membership_changes,
};
pub use people::{Guardian, GuardianLink, Staff, Student};
pub use quality::DataQualityFinding;
pub use rate_limit::RateLimit;
pub use school::{School, Trust};
pub use sync::{SyncCounts, SyncOptions, SyncProgressEvent, SyncRun, WondeConnection};
pub use viewer::ViewerInfo;
pub use webhooks::{
    WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint, WebhookEndpointWithSecret,
    WebhookEventType,
};

use async_graphql::dataloader::Loader;

use crate::error::{AppError, ResultExt};
use crate::graphql::loaders::{ById, Cached, Scoped};

/// A relation that must exist: a missing row means broken data, not a
/// client mistake.
pub(crate) fn required<T, E: Into<AppError>>(
    loaded: Result<Option<T>, E>,
    what: &'static str,
) -> async_graphql::Result<T> {
    loaded.gql()?.ok_or(AppError::Internal(what)).gql()
}

/// The rows whose ids a list loader (a current-membership list) holds
/// for `key`, by id, wrapped: the staff a group answers.
pub(crate) async fn rows_by_id<L, E, T>(
    ids: &Cached<L>,
    key: i32,
    loader: &Cached<ById<E>>,
    wrap: impl Fn(E::Model) -> T,
) -> async_graphql::Result<Vec<T>>
where
    L: Loader<i32, Value = Vec<i32>>,
    L::Error: Into<AppError>,
    E: Scoped,
    E::Model: Clone + Send + Sync + 'static,
{
    let ids = ids.load_one(key).await.gql()?.unwrap_or_default();
    let mut rows = loader.load_many(ids).await.gql()?.into_values().collect::<Vec<_>>();
    rows.sort_by_key(E::id_of);
    Ok(rows.into_iter().map(wrap).collect())
}

/// The rows a list loader holds for `key` (none: an empty list), wrapped:
/// the groups of a school or of a person.
pub(crate) async fn listed<L, M, T>(
    loader: &Cached<L>,
    key: i32,
    wrap: impl Fn(M) -> T,
) -> async_graphql::Result<Vec<T>>
where
    L: Loader<i32, Value = Vec<M>>,
    L::Error: Into<AppError>,
{
    Ok(loader.load_one(key).await.gql()?.unwrap_or_default().into_iter().map(wrap).collect())
}
