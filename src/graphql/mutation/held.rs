//! Deciding what the mass-deactivation guard held: `approveHeldChanges`
//! and `rejectHeldChanges`, for admins of the school.

use async_graphql::{Context, ID, Object};
use entity::held_change;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::admin_of_school;
use crate::auth::Viewer;
use crate::error::{AppError, ResultExt};
use crate::events::EventBus;
use crate::graphql::RequestContext;
use crate::graphql::context::service;
use crate::graphql::types::{HeldChangeDecision, decode_held};
use crate::school_day::Clock;
use crate::sync::held::{self, Decision, DecisionError};

/// The most held changes one decision takes.
pub const MAX_DECISION: usize = 5_000;

#[derive(Default)]
pub struct HeldMutation;

impl From<DecisionError> for AppError {
    fn from(err: DecisionError) -> Self {
        match err {
            DecisionError::SchoolNotFound(_) => {
                Self::NotFound("no school with that ID is visible to this token".to_owned())
            }
            DecisionError::UnknownChange(_) | DecisionError::NoneGiven => Self::BadInput(err.to_string()),
            DecisionError::RunInProgress(_) => Self::Conflict(err.to_string()),
            DecisionError::Database(err) => Self::Database(err),
        }
    }
}

/// Who decided, as held changes record it: never the token itself.
fn decided_by(viewer: &Viewer) -> String {
    format!("{} token {}", viewer.role.as_str().to_lowercase().replace('_', "-"), viewer.token_id)
}

fn ids(given: &[ID]) -> Result<Vec<i32>, AppError> {
    if given.len() > MAX_DECISION {
        return Err(AppError::bad_input(format!("at most {MAX_DECISION} held changes per decision")));
    }
    given.iter().map(|id| decode_held(id)).collect()
}

/// The request, the school and the held changes a decision names, once
/// the viewer is found to be one of the school's admins.
fn decision_of<'a>(
    ctx: &Context<'a>,
    school_id: &ID,
    given: &[ID],
) -> async_graphql::Result<(&'a RequestContext, i32, Vec<i32>)> {
    let (rc, school_id) = admin_of_school(ctx, school_id)?;
    Ok((rc, school_id, ids(given).gql()?))
}

/// A decision's answer: the changes it decided, as they are now.
async fn answer(
    rc: &RequestContext,
    decided: Result<Decision, DecisionError>,
) -> async_graphql::Result<HeldChangeDecision> {
    let decision = decided.gql()?;
    let rows = held_change::Entity::find()
        .filter(held_change::Column::Id.is_in(decision.decided.iter().copied()))
        .order_by_asc(held_change::Column::Id)
        .all(&rc.db)
        .await
        .gql()?;
    Ok(HeldChangeDecision::new(decision, rows))
}

#[Object]
impl HeldMutation {
    /// Applies held changes of the school that are still valid, with the
    /// ordinary cascade (memberships and links end; guardians left with no
    /// active child are deactivated) and one event per account, in one
    /// transaction. A change whose target left or ended meanwhile is
    /// withdrawn instead; one already decided is skipped. Admins of the
    /// school; records who decided. BAD_USER_INPUT for an ID that is not
    /// one of the school's held changes (nothing is decided then), or more
    /// than 5,000 IDs; CONFLICT while a run of the school is under way.
    async fn approve_held_changes(
        &self,
        ctx: &Context<'_>,
        school_id: ID,
        ids: Vec<ID>,
    ) -> async_graphql::Result<HeldChangeDecision> {
        let (rc, school_id, ids) = decision_of(ctx, &school_id, &ids)?;
        let events = service::<EventBus>(ctx, "event bus missing")?;
        let by = decided_by(&rc.viewer);
        answer(rc, held::approve(&rc.db, events, Clock::default(), school_id, &ids, &by).await).await
    }

    /// Discards held changes of the school: the accounts stay active, the
    /// groups and memberships stay; a later FULL run that still lacks them
    /// holds them again. Admins of the school; records who decided. Errors
    /// as `approveHeldChanges`.
    async fn reject_held_changes(
        &self,
        ctx: &Context<'_>,
        school_id: ID,
        ids: Vec<ID>,
    ) -> async_graphql::Result<HeldChangeDecision> {
        let (rc, school_id, ids) = decision_of(ctx, &school_id, &ids)?;
        answer(rc, held::reject(&rc.db, school_id, &ids, &decided_by(&rc.viewer)).await).await
    }
}
