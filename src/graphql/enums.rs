//! GraphQL enums, mirrored from the stored ones so that the entity crate
//! stays free of GraphQL.

use async_graphql::Enum;
use entity::enums as db;

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "db::AccountStatus")]
pub enum AccountStatus {
    Active,
    Deactivated,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "db::DeactivationReason")]
pub enum DeactivationReason {
    LeftSchool,
    RemovedFromMis,
    NoActiveChildren,
    SuspendedOrArchived,
    SchoolDisconnected,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "db::RelationshipType")]
pub enum RelationshipType {
    Mother,
    Father,
    StepParent,
    Grandparent,
    FosterCarer,
    Guardian,
    Carer,
    OtherRelative,
    Other,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "db::PersonKind")]
pub enum PersonKind {
    Student,
    Staff,
    Guardian,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "db::ConnectionStatus")]
pub enum ConnectionStatus {
    Pending,
    Approved,
    Declined,
    Revoked,
    Disconnected,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "db::SyncKind")]
pub enum SyncKind {
    Full,
    Incremental,
    Webhook,
    Csv,
    /// The daily sweep at the start of a school's day: stored leaving
    /// dates and employment end dates that have come take effect, with no
    /// call to Wonde.
    Sweep,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "db::SyncStatus")]
pub enum SyncStatus {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "db::Role")]
pub enum Role {
    TrustAdmin,
    SchoolAdmin,
    Integrator,
}
