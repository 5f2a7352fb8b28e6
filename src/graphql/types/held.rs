//! What the mass-deactivation guard held, the decisions on it, the HELD
//! event, and a previewed run.

use crate::graphql::scalars::DateTime;
use async_graphql::{Context, ID, Object, SimpleObject};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entity::enums::{HeldTarget, PersonKind as DbPersonKind};
use entity::{event, held_change};

use super::events::EventHead;
use super::{Class, FormGroup, Guardian, Node, Person, Staff, Student, SyncCounts, SyncRun, YearGroup};
use crate::error::{AppError, ResultExt};
use crate::graphql::RequestContext;
use crate::graphql::enums::{
    DeactivationReason, HeldChangeStatus, HeldChangeTarget, HeldEvidence, PersonKind, PreviewChange, SyncKind,
};
use crate::graphql::ids::{NodeType, encode};
use crate::sync::ledger::{Counts, RunCounts};
use crate::sync::preview::{Preview, PreviewPerson};

const PREFIX: &str = "HeldChange:";

/// The opaque ID of a held change.
pub fn encode_held(id: i32) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{PREFIX}{id}")))
}

/// A held change's row id from its opaque ID; BAD_USER_INPUT otherwise.
pub fn decode_held(id: &str) -> Result<i32, AppError> {
    let bad = || AppError::bad_input(format!("{id:?} is not a held change ID"));
    let raw = URL_SAFE_NO_PAD.decode(id.as_bytes()).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    text.strip_prefix(PREFIX).and_then(|n| n.parse().ok()).ok_or_else(bad)
}

/// A change the mass-deactivation guard held: the account, group,
/// membership or guardian link that weak evidence would end, and what
/// became of it. While PENDING, nothing has changed: the account keeps its
/// access, the group and memberships stay.
pub struct HeldChange(pub held_change::Model);

#[Object]
impl HeldChange {
    /// Opaque, for `approveHeldChanges` and `rejectHeldChanges`. Held
    /// changes are not nodes.
    async fn id(&self) -> ID {
        encode_held(self.0.id)
    }

    /// What would end.
    async fn target(&self) -> HeldChangeTarget {
        self.0.target.into()
    }

    /// Why the run doubted it.
    async fn evidence(&self) -> HeldEvidence {
        self.0.evidence.into()
    }

    /// The reason an account would be deactivated with (REMOVED_FROM_MIS);
    /// null for groups, memberships and links, which end.
    async fn reason(&self) -> Option<DeactivationReason> {
        self.0.reason.map(Into::into)
    }

    async fn status(&self) -> HeldChangeStatus {
        self.0.status.into()
    }

    /// When the run held it (UTC).
    async fn held_at(&self) -> DateTime {
        DateTime(self.0.held_at)
    }

    /// The run that held it.
    async fn sync_run(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<SyncRun>> {
        SyncRun::of(ctx, self.0.sync_run_id).await
    }

    /// When it was decided (or withdrawn); null while PENDING.
    async fn decided_at(&self) -> Option<DateTime> {
        self.0.decided_at.map(DateTime)
    }

    /// Who decided: the deciding token's role and id (`trust-admin token
    /// 3`), or `cli` for `onroll held`; null while PENDING or when
    /// withdrawn by a run.
    async fn decided_by(&self) -> Option<&str> {
        self.0.decided_by.as_deref()
    }

    /// The person concerned: the held account, the member of a held
    /// membership, or the guardian of a held link. Null for a group.
    async fn person(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Person>> {
        let rc = RequestContext::of(ctx)?;
        let l = &rc.loaders;
        let row = &self.0;
        let (kind, id) = match (row.target, row.member_id) {
            (HeldTarget::Student, _) => (DbPersonKind::Student, row.target_id),
            (HeldTarget::Staff, _) => (DbPersonKind::Staff, row.target_id),
            (HeldTarget::Guardian, _) => (DbPersonKind::Guardian, row.target_id),
            (HeldTarget::GuardianLink, Some(member)) => (DbPersonKind::Guardian, member),
            (HeldTarget::FormTutor | HeldTarget::ClassTeacher, Some(member)) => (DbPersonKind::Staff, member),
            (
                HeldTarget::YearGroupMembership
                | HeldTarget::FormGroupMembership
                | HeldTarget::ClassMembership,
                Some(member),
            ) => (DbPersonKind::Student, member),
            _ => return Ok(None),
        };
        Ok(match kind {
            DbPersonKind::Student => {
                l.students.load_one(id).await.gql()?.map(|m| Person::Student(Student(m)))
            }
            DbPersonKind::Staff => l.staff.load_one(id).await.gql()?.map(|m| Person::Staff(Staff(m))),
            DbPersonKind::Guardian => {
                l.guardians.load_one(id).await.gql()?.map(|m| Person::Guardian(Guardian(m)))
            }
        })
    }

    /// The group concerned: the held group, or the group of a held
    /// membership (a Class, YearGroup or FormGroup); for a held guardian
    /// link, the student. Null for an account.
    async fn group(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Node>> {
        let rc = RequestContext::of(ctx)?;
        let l = &rc.loaders;
        let row = &self.0;
        let group = row.group_id;
        Ok(match (row.target, group) {
            (HeldTarget::Class, _) => {
                l.classes.load_one(row.target_id).await.gql()?.map(|m| Node::Class(Class(m)))
            }
            (HeldTarget::YearGroup, _) => {
                l.year_groups.load_one(row.target_id).await.gql()?.map(|m| Node::YearGroup(YearGroup(m)))
            }
            (HeldTarget::FormGroup, _) => {
                l.form_groups.load_one(row.target_id).await.gql()?.map(|m| Node::FormGroup(FormGroup(m)))
            }
            (HeldTarget::ClassMembership | HeldTarget::ClassTeacher, Some(id)) => {
                l.classes.load_one(id).await.gql()?.map(|m| Node::Class(Class(m)))
            }
            (HeldTarget::YearGroupMembership, Some(id)) => {
                l.year_groups.load_one(id).await.gql()?.map(|m| Node::YearGroup(YearGroup(m)))
            }
            (HeldTarget::FormGroupMembership | HeldTarget::FormTutor, Some(id)) => {
                l.form_groups.load_one(id).await.gql()?.map(|m| Node::FormGroup(FormGroup(m)))
            }
            (HeldTarget::GuardianLink, Some(id)) => {
                l.students.load_one(id).await.gql()?.map(|m| Node::Student(Student(m)))
            }
            _ => None,
        })
    }

    /// The global ID of the account or group itself (`node(id:)` finds
    /// it); null for a membership or link.
    async fn target_id(&self) -> Option<ID> {
        let kind = match self.0.target {
            HeldTarget::Student => NodeType::Student,
            HeldTarget::Staff => NodeType::Staff,
            HeldTarget::Guardian => NodeType::Guardian,
            HeldTarget::Class => NodeType::Class,
            HeldTarget::YearGroup => NodeType::YearGroup,
            HeldTarget::FormGroup => NodeType::FormGroup,
            _ => return None,
        };
        Some(encode(kind, self.0.target_id))
    }
}

/// What a decision on held changes did.
#[derive(SimpleObject)]
pub struct HeldChangeDecision {
    /// The changes decided now, as they now stand (APPROVED or REJECTED).
    pub decided: Vec<HeldChange>,
    /// IDs that were no longer PENDING (decided before, or withdrawn),
    /// left as they were.
    pub skipped: Vec<ID>,
    /// IDs whose target had changed meanwhile (it left or ended on other
    /// evidence, or is gone): withdrawn, nothing applied.
    pub withdrawn: Vec<ID>,
    /// Accounts approval deactivated, the cascade included (guardians left
    /// with no active child); 0 for a rejection.
    pub deactivated: i32,
    /// Groups approval ended; 0 for a rejection.
    pub groups_ended: i32,
}

impl HeldChangeDecision {
    pub fn new(decision: crate::sync::held::Decision, decided: Vec<held_change::Model>) -> Self {
        let c = decision.counts;
        Self {
            decided: decided.into_iter().map(HeldChange).collect(),
            skipped: decision.skipped.into_iter().map(encode_held).collect(),
            withdrawn: decision.withdrawn.into_iter().map(encode_held).collect(),
            deactivated: c.students.deactivated + c.staff.deactivated + c.guardians.deactivated,
            groups_ended: c.groups.deactivated,
        }
    }
}

/// A run held changes for a decision at a school (the log's HELD event).
pub struct HeldChangesEvent(pub event::Model);

impl HeldChangesEvent {
    fn count(&self, kind: &str) -> i32 {
        let payload: serde_json::Value =
            serde_json::from_str(self.0.payload.as_deref().unwrap_or("{}")).unwrap_or_default();
        payload[kind].as_i64().and_then(|n| i32::try_from(n).ok()).unwrap_or(0)
    }
}

#[Object]
impl HeldChangesEvent {
    #[graphql(flatten)]
    async fn head(&self) -> EventHead<'_> {
        EventHead(&self.0, None)
    }

    /// The run that held them.
    async fn sync_run(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<SyncRun>> {
        SyncRun::of(ctx, self.0.sync_run_id).await
    }

    /// Student accounts held.
    async fn students(&self) -> i32 {
        self.count("students")
    }

    /// Staff accounts held.
    async fn staff(&self) -> i32 {
        self.count("staff")
    }

    /// Guardian accounts and guardian links held.
    async fn guardians(&self) -> i32 {
        self.count("guardians")
    }

    /// Groups and memberships held.
    async fn groups(&self) -> i32 {
        self.count("groups")
    }
}

/// What a run would change, found by fetching and reconciling inside a
/// transaction that was rolled back: nothing was written, no event sent.
pub struct SyncPreview(pub Preview);

/// One person a previewed run would change.
pub struct PreviewedPerson(pub PreviewPerson);

#[Object]
impl PreviewedPerson {
    async fn kind(&self) -> PersonKind {
        self.0.kind.into()
    }

    async fn change(&self) -> PreviewChange {
        self.0.change.into()
    }

    /// The account's global ID; null for one the run would create.
    async fn id(&self) -> Option<ID> {
        let kind = match self.0.kind {
            DbPersonKind::Student => NodeType::Student,
            DbPersonKind::Staff => NodeType::Staff,
            DbPersonKind::Guardian => NodeType::Guardian,
        };
        self.0.id.map(|id| encode(kind, id))
    }

    /// The MIS's (Wonde's) id of the record.
    async fn wonde_id(&self) -> &str {
        &self.0.source_id
    }

    async fn forename(&self) -> &str {
        &self.0.forename
    }

    async fn surname(&self) -> &str {
        &self.0.surname
    }

    /// For a deactivation (or one held), the reason it would get; for a
    /// reactivation, why the account had been deactivated; null otherwise.
    async fn reason(&self) -> Option<DeactivationReason> {
        self.0.reason.map(Into::into)
    }
}

fn counts(c: Counts) -> SyncCounts {
    SyncCounts {
        created: c.created,
        updated: c.updated,
        deactivated: c.deactivated,
        reactivated: c.reactivated,
        reidentified: c.reidentified,
        held: c.held,
    }
}

impl SyncPreview {
    fn people(&self, kind: DbPersonKind) -> Vec<PreviewedPerson> {
        self.0.people.iter().filter(|p| p.kind == kind).cloned().map(PreviewedPerson).collect()
    }
}

#[Object]
impl SyncPreview {
    /// FULL or INCREMENTAL: what the run would be (a school never synced
    /// gets FULL).
    async fn kind(&self) -> SyncKind {
        self.0.kind.into()
    }

    async fn students(&self) -> SyncCounts {
        counts(self.0.counts.students)
    }

    async fn staff(&self) -> SyncCounts {
        counts(self.0.counts.staff)
    }

    async fn guardians(&self) -> SyncCounts {
        counts(self.0.counts.guardians)
    }

    async fn groups(&self) -> SyncCounts {
        counts(self.0.counts.groups)
    }

    /// Changes the guard would hold, all kinds together.
    async fn held(&self) -> i32 {
        let RunCounts { students, staff, guardians, groups } = self.0.counts;
        students.held + staff.held + guardians.held + groups.held
    }

    /// Students the run would change: at most 100 per change (CREATED,
    /// UPDATED, DEACTIVATED, REACTIVATED, HELD), by account id.
    async fn student_changes(&self) -> Vec<PreviewedPerson> {
        self.people(DbPersonKind::Student)
    }

    /// Staff the run would change, as `studentChanges`.
    async fn staff_changes(&self) -> Vec<PreviewedPerson> {
        self.people(DbPersonKind::Staff)
    }

    /// Guardians the run would change, as `studentChanges`.
    async fn guardian_changes(&self) -> Vec<PreviewedPerson> {
        self.people(DbPersonKind::Guardian)
    }

    /// What the run would work around, as `SyncRun.warnings`.
    async fn warnings(&self) -> &[String] {
        &self.0.warnings
    }
}
