//! The access workflow (wonde-api.md §5). A school's state moves:
//!
//! - by the app: `POST /schools/{id}/request-access` (none, pending, declined
//!   or revoked → pending) and `DELETE /schools/{id}/revoke-access`
//!   (approved or pending → revoked);
//! - by the school, in Wonde's portal: [`Decision`]s, which the simulator's
//!   approve / decline / revoke controls make and which send the webhook;
//! - directly, by a test (`set_access`, `send_webhook`), without checks.
//!
//! Every change dates the school "now", so an incremental catalog fetch
//! (`/schools/all?updated_after=`) sees it, and the first approval of a
//! catalog school generates its people (`catalog::give_catalog_roster`).

use chrono::Utc;

use crate::catalog::give_catalog_roster;
use crate::model::{AccessState, School};
use crate::ops::{SimError, with_school};
use crate::world::{SchoolState, World};

/// Moves a school to `to` without checking where it was; returns the state
/// it was in.
pub(crate) fn change(world: &mut World, school_id: &str, to: AccessState) -> Result<AccessState, SimError> {
    with_school(world, school_id, |world, state| Ok(apply(world, state, to)))
}

fn apply(world: &mut World, state: &mut SchoolState, to: AccessState) -> AccessState {
    let school = &mut state.mis.school;
    let before = school.access;
    if before != to {
        school.access = to;
        school.updated_at = Utc::now();
    }
    if to == AccessState::Approved {
        give_catalog_roster(world, state);
    }
    before
}

/// What a school does with the app's access in Wonde's portal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Pending → approved, with a newly issued per-school token.
    Approve,
    /// Pending → declined.
    Decline,
    /// Approved → revoked: the token stops working.
    Revoke,
}

impl Decision {
    fn transition(self) -> (AccessState, AccessState) {
        match self {
            Decision::Approve => (AccessState::Pending, AccessState::Approved),
            Decision::Decline => (AccessState::Pending, AccessState::Declined),
            Decision::Revoke => (AccessState::Approved, AccessState::Revoked),
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Decision::Approve => "approved",
            Decision::Decline => "declined",
            Decision::Revoke => "revoked",
        }
    }
}

/// Applies a school's decision if the school is in the state it applies to
/// (else [`SimError::Conflict`]); returns the school as it is after it.
pub(crate) fn decide(world: &mut World, school_id: &str, decision: Decision) -> Result<School, SimError> {
    with_school(world, school_id, |world, state| {
        let (from, to) = decision.transition();
        let now = state.mis.school.access;
        if now != from {
            return Err(SimError::Conflict(format!(
                "school {school_id} is {}: only a {} school can be {}",
                now.as_str(),
                from.as_str(),
                decision.verb()
            )));
        }
        if decision == Decision::Approve {
            // A new approval issues a new token; an earlier one stays dead.
            state.mis.school.token = world.fresh_token("sch_");
        }
        apply(world, state, to);
        Ok(state.mis.school.clone())
    })
}
