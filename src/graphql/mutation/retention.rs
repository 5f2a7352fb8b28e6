//! Data protection (issue 18): `updateRetentionPolicy`, `subjectAccessExport`
//! and `erasePerson`, for trust admins. Each is a Mutation field so that the
//! audit extension records it (an export reads, but who read whose data
//! is exactly what a DPO must be able to show).

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::Utc;
use entity::enums::PersonKind as DbPersonKind;

use super::{require_trust_admin, trust_admin_of};
use crate::error::{AppError, ResultExt};
use crate::events::EventBus;
use crate::graphql::RequestContext;
use crate::graphql::context::service;
use crate::graphql::ids::{NodeType, decode};
use crate::graphql::types::{DeactivationEvent, Trust};
use crate::retention::erasure::{self, ErasureError, ErasureGround};
use crate::retention::subject::{self, SubjectError};
use crate::retention::{self as policy, RetentionError};

#[derive(Default)]
pub struct RetentionMutation;

/// Why a person's records are erased: the grounds of UK GDPR Article
/// 17(1). The ERASED events carry it; no free text is kept.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::retention::erasure::ErasureGround")]
pub enum ErasureReason {
    /// The person asked for erasure.
    SubjectRequest,
    /// The data is no longer needed for the purpose it was collected for.
    NoLongerNeeded,
    /// The person withdrew their consent.
    ConsentWithdrawn,
    /// The person objected to the processing.
    Objection,
    /// The processing was unlawful.
    UnlawfulProcessing,
    /// A legal obligation requires the erasure.
    LegalObligation,
}

/// A subject access export: everything held about one person.
#[derive(SimpleObject)]
pub struct SubjectAccessExport {
    /// Records of the person across the trust (one per school record).
    pub records: i32,
    /// The whole export as one JSON document (UTF-8 text): `records`, each
    /// with `account`, `links`, `memberships`, `events`, `syncRuns` and
    /// `heldChanges`, every part with an `explanation`; `matching` says
    /// how records were found to be the same person, and `match` what this
    /// person's key did (`outcome`: `FOLLOWED`, `NO_KEY`, or
    /// `HELD_BY_MORE_THAN_ONE_PERSON`: only the record asked about).
    pub document: String,
}

/// What an erasure did.
#[derive(SimpleObject)]
pub struct Erasure {
    /// Records erased now (a record purged before is counted in `events`
    /// but not here).
    pub erased: i32,
    /// Guardian links deleted.
    pub links_deleted: i32,
    /// Class, form and year-group rows deleted.
    pub memberships_deleted: i32,
    /// The ERASED events, one per record, as `deactivations` streams them.
    pub events: Vec<DeactivationEvent>,
}

fn person(id: &ID) -> Result<(DbPersonKind, i32), AppError> {
    match decode(id)? {
        (NodeType::Student, id) => Ok((DbPersonKind::Student, id)),
        (NodeType::Staff, id) => Ok((DbPersonKind::Staff, id)),
        (NodeType::Guardian, id) => Ok((DbPersonKind::Guardian, id)),
        _ => Err(AppError::bad_input("personId must be the ID of a Student, Staff or Guardian")),
    }
}

/// The request and the person `person_id` names, once the viewer is found
/// to be a trust admin of the viewer's own trust: a person's records are
/// looked for across that trust's schools.
fn person_of_trust<'a>(
    ctx: &Context<'a>,
    person_id: &ID,
    action: &str,
) -> async_graphql::Result<(&'a RequestContext, DbPersonKind, i32)> {
    let rc = RequestContext::of(ctx)?;
    require_trust_admin(&rc.viewer, rc.viewer.trust_id, action).gql()?;
    let (kind, id) = person(person_id).gql()?;
    Ok((rc, kind, id))
}

fn count(n: impl TryInto<i32>) -> i32 {
    n.try_into().unwrap_or(i32::MAX)
}

impl From<SubjectError> for AppError {
    fn from(err: SubjectError) -> Self {
        match err {
            SubjectError::NotFound => Self::NotFound(err.to_string()),
            SubjectError::Database(err) => Self::Database(err),
        }
    }
}

impl From<ErasureError> for AppError {
    fn from(err: ErasureError) -> Self {
        match err {
            ErasureError::NotFound => Self::NotFound(err.to_string()),
            ErasureError::OnRoll(_) => Self::PersonOnRoll(err.to_string()),
            ErasureError::RunInProgress => Self::Conflict(err.to_string()),
            ErasureError::Database(err) => Self::Database(err),
        }
    }
}

impl From<RetentionError> for AppError {
    fn from(err: RetentionError) -> Self {
        match err {
            RetentionError::BadDays(_) => Self::BadInput(err.to_string()),
            RetentionError::TrustNotFound => Self::NotFound(err.to_string()),
            RetentionError::Database(err) => Self::Database(err),
        }
    }
}

#[Object]
impl RetentionMutation {
    /// Sets how many days a deactivated account's personal data is kept
    /// after its deactivation (trust admins of the trust): 0 to
    /// 3,650; 0 turns purging off. The daily purge then erases names,
    /// emails, UPN, UPI and MIS ids and deletes links and memberships of
    /// accounts past it. BAD_USER_INPUT outside 0..3650.
    async fn update_retention_policy(
        &self,
        ctx: &Context<'_>,
        trust_id: ID,
        days: i32,
    ) -> async_graphql::Result<Trust> {
        let (rc, trust_id) = trust_admin_of(ctx, &trust_id, "set the retention policy")?;
        policy::set_policy(&rc.db, trust_id, days).await.map(Trust).gql()
    }

    /// Everything Onroll holds about one person across the trust's schools
    /// the token sees, as one JSON document (a subject access request,
    /// UK GDPR Article 15): every school record of the person (guardians
    /// and staff matched by email, students by a valid UPN, as the family
    /// rule matches; a key held by more than one person, an email whose
    /// holders' names disagree or a UPN records of one school hold that
    /// cannot be one child, matches only the record asked about, and the
    /// document's `match` says so), links, memberships, events and the
    /// runs that changed them.
    /// Trust admins; recorded in the audit log. NOT_FOUND for a person
    /// the token does not see; BAD_USER_INPUT for an ID of another type.
    async fn subject_access_export(
        &self,
        ctx: &Context<'_>,
        person_id: ID,
    ) -> async_graphql::Result<SubjectAccessExport> {
        let (rc, kind, id) = person_of_trust(ctx, &person_id, "export a person's data")?;
        let viewer = &rc.viewer;
        let matched =
            subject::records_of(&rc.db, viewer.trust_id, kind, id, |s| viewer.sees_school(s)).await.gql()?;
        if let Some(first) = matched.accounts.first() {
            crate::graphql::audit::note_school(ctx, first.school_id);
        }
        let document = subject::export(&rc.db, &matched).await.gql()?;
        let document = serde_json::to_string_pretty(&document)
            .map_err(|_| AppError::Internal("subject access export not serialisable"))
            .gql()?;
        Ok(SubjectAccessExport { records: count(matched.accounts.len()), document })
    }

    /// Erases one person's records across the trust's schools the token
    /// sees at once (matched as `subjectAccessExport` matches them: a key
    /// held by more than one person erases only the record asked about),
    /// as the retention purge would (names, emails, UPN,
    /// UPI, MIS ids erased; links and memberships deleted; id, status,
    /// dates and reason kept), and appends one ERASED event per record for
    /// integrators (`deactivations`, `deactivationEvents`: `erased: true`).
    /// Trust admins. PERSON_ON_ROLL while any record is ACTIVE (the MIS
    /// has the person on roll: the next sync would bring them back);
    /// CONFLICT while a run of one of their schools is under way;
    /// NOT_FOUND for a person the token does not see.
    async fn erase_person(
        &self,
        ctx: &Context<'_>,
        person_id: ID,
        reason: ErasureReason,
    ) -> async_graphql::Result<Erasure> {
        let (rc, kind, id) = person_of_trust(ctx, &person_id, "erase a person")?;
        let bus = service::<EventBus>(ctx, "event bus missing")?;
        let viewer = &rc.viewer;
        let ground: ErasureGround = reason.into();
        let erased = erasure::erase(
            &rc.db,
            bus,
            viewer.trust_id,
            kind,
            id,
            ground,
            |s| viewer.sees_school(s),
            Utc::now(),
        )
        .await
        .gql()?;
        if let Some(first) = erased.accounts.first() {
            crate::graphql::audit::note_school(ctx, first.school_id);
        }
        Ok(Erasure {
            erased: count(erased.purged.accounts()),
            links_deleted: count(erased.purged.links),
            memberships_deleted: count(erased.purged.memberships),
            events: erased.events.into_iter().map(DeactivationEvent::from).collect(),
        })
    }
}
