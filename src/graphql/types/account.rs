//! The fields Student, Staff and Guardian share, resolved once for all
//! three. Each type flattens them into its own fields at the place its
//! schema lists them: [`AccountNames`] after `id`, then its email, then
//! [`AccountStanding`]. Staff and guardians, whose email the
//! `contact-details` scope guards, flatten all three as [`ContactAccount`].
//! The flattened types never appear in the schema themselves.

use async_graphql::{Context, Object};
use entity::enums::AccountStatus as DbAccountStatus;
use entity::enums::DeactivationReason as DbDeactivationReason;
use entity::{guardian, staff, student};

use super::{School, required};
use crate::graphql::RequestContext;
use crate::graphql::enums::{AccountStatus, DeactivationReason};
use crate::graphql::scalars::DateTime;

/// An account row: the columns the shared fields read.
pub trait AccountRow: Sync {
    /// Source id, forename and surname.
    fn names(&self) -> AccountNames<'_>;
    /// Status, when and why access was lost, when the data was erased,
    /// and the school.
    fn standing(&self) -> AccountStanding;
    /// The email as stored (before any scope is applied).
    fn email(&self) -> Option<&str>;
}

macro_rules! account_row {
    ($($module:ident),+) => {$(
        impl AccountRow for $module::Model {
            fn names(&self) -> AccountNames<'_> {
                AccountNames { wonde_id: &self.wonde_id, forename: &self.forename, surname: &self.surname }
            }
            fn standing(&self) -> AccountStanding {
                AccountStanding {
                    status: self.status,
                    deactivated_at: self.deactivated_at,
                    purged_at: self.purged_at,
                    deactivation_reason: self.deactivation_reason,
                    school_id: self.school_id,
                }
            }
            fn email(&self) -> Option<&str> {
                self.email.as_deref()
            }
        }
    )+};
}

account_row!(student, staff, guardian);

/// `wondeId`, `forename` and `surname` of an account.
pub struct AccountNames<'a> {
    wonde_id: &'a str,
    forename: &'a str,
    surname: &'a str,
}

#[Object]
impl AccountNames<'_> {
    async fn wonde_id(&self) -> &str {
        self.wonde_id
    }

    async fn forename(&self) -> &str {
        self.forename
    }

    async fn surname(&self) -> &str {
        self.surname
    }
}

/// `status` to `school` of an account.
pub struct AccountStanding {
    status: DbAccountStatus,
    deactivated_at: Option<chrono::DateTime<chrono::Utc>>,
    purged_at: Option<chrono::DateTime<chrono::Utc>>,
    deactivation_reason: Option<DbDeactivationReason>,
    school_id: i32,
}

#[Object]
impl AccountStanding {
    async fn status(&self) -> AccountStatus {
        self.status.into()
    }

    async fn deactivated_at(&self) -> Option<DateTime> {
        self.deactivated_at.map(DateTime)
    }

    /// When the retention purge or an erasure erased this account's
    /// personal data (names empty, emails and MIS identifiers null from
    /// then on); null while it is held. docs/data-protection.md.
    async fn purged_at(&self) -> Option<DateTime> {
        self.purged_at.map(DateTime)
    }

    async fn deactivation_reason(&self) -> Option<DeactivationReason> {
        self.deactivation_reason.map(Into::into)
    }

    async fn school(&self, ctx: &Context<'_>) -> async_graphql::Result<School> {
        let rc = RequestContext::of(ctx)?;
        required(rc.loaders.schools.load_one(self.school_id).await, "account without school").map(School)
    }
}

/// The shared fields of an account whose email is contact detail (staff,
/// guardians): names, the scoped email, standing.
pub struct ContactAccount<'a>(pub &'a dyn AccountRow);

#[Object]
impl ContactAccount<'_> {
    #[graphql(flatten)]
    async fn names(&self) -> AccountNames<'_> {
        self.0.names()
    }

    /// Null for integrators whose token lacks the `contact-details` scope.
    async fn email(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<&str>> {
        let rc = RequestContext::of(ctx)?;
        Ok(self.0.email().filter(|_| rc.viewer.sees_contact_details()))
    }

    #[graphql(flatten)]
    async fn standing(&self) -> AccountStanding {
        self.0.standing()
    }
}
