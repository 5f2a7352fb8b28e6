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

/// What a data-quality finding is about. Active accounts are judged, and
/// for `PUPILS_SHARE_UPN` leavers holding the UPN too.
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
    /// A pupil's UPN is not a UPN by DfE's shape and check letter (13
    /// characters: a check letter, 11 digits, a digit or a letter): a
    /// placeholder such as `UNKNOWN`, or a slip. It joins no family, so the
    /// child is not recognised at another school of the trust (a slip with
    /// a UPN's shape still recognises the child at this school when its MIS
    /// re-keys its records). One finding per pupil.
    PupilUpnInvalid,
    /// Records that cannot be one child hold one valid UPN that the school
    /// holds (compared trimmed and upper-cased): two or more active pupils
    /// of one school, or records under different names, here or at another
    /// school of the trust, leavers included (a leaver and a pupil of one
    /// name are a child re-admitted, not a finding). A UPN is one child's
    /// for life (DfE), so at least one record is wrong: until it is
    /// fixed, that UPN joins no
    /// family and matches no record in a subject access request, here or
    /// at the trust's other schools (which record it names cannot be
    /// told; families seen through a token of some schools are judged by
    /// the records those schools hold, exports and erasures always by the
    /// whole trust's). One finding per UPN, listing every holder in the
    /// trust; a school whose one record agrees with the others' is told too,
    /// since its child joins nobody by that UPN meanwhile.
    PupilsShareUpn,
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
    /// Records of one Wonde listing that could not be read (a field of the
    /// wrong shape: a date that is no date, a missing id). They were left
    /// as stored, and until they can be read nobody missing from that
    /// listing is taken for gone: the finding lists the records (by
    /// source id, and their accounts) and the active accounts kept only
    /// for that reason, who may have left (active accounts only). One per
    /// listing, kept with its `detectedAt` while the listing stays broken;
    /// an INCREMENTAL run keeps it as the last FULL run left it, and the
    /// next FULL run that reads the listing whole ends it.
    UnreadableRecord,
}

/// What a held change would end: an account, a group, or one membership
/// or guardian link.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "db::HeldTarget")]
pub enum HeldChangeTarget {
    Student,
    Staff,
    Guardian,
    YearGroup,
    FormGroup,
    Class,
    /// A student's membership of a year group.
    YearGroupMembership,
    /// A student's membership of a form group.
    FormGroupMembership,
    /// A staff member's place as a form group's tutor.
    FormTutor,
    /// A student's membership of a class.
    ClassMembership,
    /// A staff member's place as a class's teacher.
    ClassTeacher,
    /// A link between a student and a guardian.
    GuardianLink,
}

/// The only evidence behind a held change. It is always weak: explicit
/// leaver evidence is never held (product.md, the guard).
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "db::HeldEvidence")]
pub enum HeldEvidence {
    /// Missing from a complete (FULL) Wonde fetch or a complete CSV import.
    AbsentFromFullFetch,
    /// On Wonde's deletions list.
    DeletedInMis,
    /// A membership or link the group's (or student's) list no longer has.
    NotListed,
}

/// Where a held change stands.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "db::HeldStatus")]
pub enum HeldChangeStatus {
    /// Waiting for a decision; nothing has changed meanwhile.
    Pending,
    /// Applied by an administrator's decision.
    Approved,
    /// Discarded by an administrator's decision; the account stayed.
    Rejected,
    /// Settled without a decision: the record came back, it ended on other
    /// evidence (a leaver record, a forced run), or it was gone by the
    /// time of an approval.
    Withdrawn,
}

/// What a previewed run would do to a person.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::sync::preview::PreviewChange")]
pub enum PreviewChange {
    Created,
    Updated,
    Deactivated,
    Reactivated,
    /// Deactivation the guard would hold for a decision.
    Held,
}
