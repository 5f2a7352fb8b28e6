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

/// What a data-quality finding is about. Only active accounts are judged.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "db::DataQualityKind")]
pub enum DataQualityKind {
    /// Guardians whose names disagree share one email (judged across the
    /// trust, as families are): the email joins none of them into a family.
    SharedEmailDifferentNames,
    /// Guardians at the school have a placeholder email (`noemail@...`,
    /// `n/a`): it joins no family.
    PlaceholderEmail,
    /// A guardian's email is also a pupil's at the school.
    GuardianEmailIsPupilEmail,
    /// A pupil has no UPN, so the child cannot be recognised at another
    /// school of the trust. One finding per pupil.
    PupilWithoutUpn,
    /// Two or more guardian records at the school with one email and one
    /// name: one person entered more than once.
    DuplicateGuardianRecords,
    /// A record from the MIS matched several existing accounts when
    /// re-identified (new ids after a MIS change): it was kept as a new
    /// account, never merged. Lasts while two of the accounts are active.
    AmbiguousReidentification,
    /// The source sent a record twice in one fetch; it was taken once.
    /// Lasts until the next run.
    DuplicateInFetch,
}
