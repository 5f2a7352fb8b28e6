//! Enumerations stored as text: the string values are the public GraphQL
//! names, so a row reads the same in SQL as in the API.

use sea_orm::entity::prelude::*;

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
        pub enum $name {
            $($(#[$vmeta])* #[sea_orm(string_value = $value)] $variant,)+
        }

        impl $name {
            /// The stored (and public) name of the value.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $value,)+ }
            }
        }
    };
}

text_enum!(
    /// Whether an account may be used.
    AccountStatus { Active = "ACTIVE", Deactivated = "DEACTIVATED" }
);
text_enum!(
    /// Why an account was deactivated.
    DeactivationReason {
        LeftSchool = "LEFT_SCHOOL",
        RemovedFromMis = "REMOVED_FROM_MIS",
        NoActiveChildren = "NO_ACTIVE_CHILDREN",
        SuspendedOrArchived = "SUSPENDED_OR_ARCHIVED",
        SchoolDisconnected = "SCHOOL_DISCONNECTED",
    }
);
text_enum!(
    /// A guardian's relationship to a student, normalised from the MIS text.
    RelationshipType {
        Mother = "MOTHER",
        Father = "FATHER",
        StepParent = "STEP_PARENT",
        Grandparent = "GRANDPARENT",
        FosterCarer = "FOSTER_CARER",
        Guardian = "GUARDIAN",
        Carer = "CARER",
        OtherRelative = "OTHER_RELATIVE",
        Other = "OTHER",
    }
);
text_enum!(
    /// Onroll's access to a school through Wonde.
    ConnectionStatus {
        Pending = "PENDING",
        Approved = "APPROVED",
        Declined = "DECLINED",
        Revoked = "REVOKED",
        Disconnected = "DISCONNECTED",
    }
);
text_enum!(
    /// What started a sync run.
    SyncKind {
        Full = "FULL",
        Incremental = "INCREMENTAL",
        Webhook = "WEBHOOK",
        Csv = "CSV",
        Sweep = "SWEEP",
    }
);
text_enum!(
    /// A sync run's lifecycle.
    SyncStatus {
        Queued = "QUEUED",
        Running = "RUNNING",
        Completed = "COMPLETED",
        Failed = "FAILED",
        Cancelled = "CANCELLED",
    }
);
text_enum!(
    /// What an API token may do.
    Role { TrustAdmin = "TRUST_ADMIN", SchoolAdmin = "SCHOOL_ADMIN", Integrator = "INTEGRATOR" }
);
text_enum!(
    /// The three kinds of account.
    PersonKind { Student = "STUDENT", Staff = "STAFF", Guardian = "GUARDIAN" }
);
text_enum!(
    /// What a data-quality finding is about (see `onroll::quality`).
    DataQualityKind {
        SharedEmailDifferentNames = "SHARED_EMAIL_DIFFERENT_NAMES",
        PlaceholderEmail = "PLACEHOLDER_EMAIL",
        GuardianEmailIsPupilEmail = "GUARDIAN_EMAIL_IS_PUPIL_EMAIL",
        PupilWithoutUpn = "PUPIL_WITHOUT_UPN",
        PupilUpnInvalid = "PUPIL_UPN_INVALID",
        PupilsShareUpn = "PUPILS_SHARE_UPN",
        DuplicateGuardianRecords = "DUPLICATE_GUARDIAN_RECORDS",
        AmbiguousReidentification = "AMBIGUOUS_REIDENTIFICATION",
        DuplicateInFetch = "DUPLICATE_IN_FETCH",
        UnreadableRecord = "UNREADABLE_RECORD",
    }
);
text_enum!(
    /// What an entry of the event log records.
    EventKind {
        Deactivated = "DEACTIVATED",
        Reactivated = "REACTIVATED",
        SyncProgress = "SYNC_PROGRESS",
        ConnectionChanged = "CONNECTION_CHANGED",
        /// A run held doubted changes for a decision (payload: counts).
        Held = "HELD",
        /// A guardian joined a parent group (payload: the group).
        GuardianJoinedGroup = "GUARDIAN_JOINED_GROUP",
        /// A guardian left a parent group (payload: the group).
        GuardianLeftGroup = "GUARDIAN_LEFT_GROUP",
        /// A person's records were erased (payload: the ground); integrators
        /// erase their copies.
        Erased = "ERASED",
        /// A webhook endpoint was disabled by Onroll (payload: the endpoint
        /// id and why: GONE or FAILING), for admins.
        WebhookEndpointDisabled = "WEBHOOK_ENDPOINT_DISABLED",
    }
);

impl EventKind {
    /// Kept in the log for polling, never broadcast on the event bus: a
    /// year's move can make thousands, and no subscription streams them.
    pub fn log_only(self) -> bool {
        Self::LOG_ONLY.contains(&self)
    }

    /// The log-only kinds ([`Self::log_only`]).
    pub const LOG_ONLY: [Self; 2] = [Self::GuardianJoinedGroup, Self::GuardianLeftGroup];
}
text_enum!(
    /// Where an outbound webhook delivery stands.
    OutboxStatus { Pending = "PENDING", Delivered = "DELIVERED", Failed = "FAILED" }
);
text_enum!(
    /// How the last refresh of the Wonde catalog ended.
    CatalogOutcome { Never = "NEVER", Completed = "COMPLETED", Skipped = "SKIPPED", Failed = "FAILED" }
);
text_enum!(
    /// What a held change would change: an account, a group, or a
    /// membership or guardian link (by its row in that table).
    HeldTarget {
        Student = "STUDENT",
        Staff = "STAFF",
        Guardian = "GUARDIAN",
        YearGroup = "YEAR_GROUP",
        FormGroup = "FORM_GROUP",
        Class = "CLASS",
        YearGroupMembership = "YEAR_GROUP_MEMBERSHIP",
        FormGroupMembership = "FORM_GROUP_MEMBERSHIP",
        FormTutor = "FORM_TUTOR",
        ClassMembership = "CLASS_MEMBERSHIP",
        ClassTeacher = "CLASS_TEACHER",
        GuardianLink = "GUARDIAN_LINK",
    }
);
text_enum!(
    /// The only evidence behind a held change: weak, so the guard judges it.
    HeldEvidence {
        /// Missing from a complete (FULL) fetch or a complete CSV import.
        AbsentFromFullFetch = "ABSENT_FROM_FULL_FETCH",
        /// On Wonde's deletions list.
        DeletedInMis = "DELETED_IN_MIS",
        /// A membership or link the group's (or student's) list no longer has.
        NotListed = "NOT_LISTED",
    }
);
text_enum!(
    /// Where a held change stands.
    HeldStatus {
        /// Waiting for a decision; nothing has changed.
        Pending = "PENDING",
        Approved = "APPROVED",
        Rejected = "REJECTED",
        /// The MIS settled it: the record came back, or left on explicit
        /// evidence, or the target is gone.
        Withdrawn = "WITHDRAWN",
    }
);
