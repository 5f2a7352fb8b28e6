//! Input types of the mutations (connect, request access, options). The
//! mutations that take them arrive with the control plane; the types are
//! part of the published contract already.

use async_graphql::{ID, InputObject};

/// Which data types sync; an absent field keeps its current value.
#[derive(InputObject, Clone, Debug, Default)]
pub struct SyncOptionsInput {
    pub students: Option<bool>,
    pub staff: Option<bool>,
    pub guardians: Option<bool>,
    pub classes: Option<bool>,
    pub year_groups: Option<bool>,
    pub form_groups: Option<bool>,
}

/// Who asks Wonde for access, for the school to contact.
#[derive(InputObject, Clone, Debug)]
pub struct WondeContactInput {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: Option<String>,
    pub notes: Option<String>,
}

#[derive(InputObject, Clone, Debug)]
pub struct RequestWondeAccessInput {
    pub trust_id: ID,
    pub wonde_school_id: String,
    pub contact: WondeContactInput,
    /// When Wonde already approved us but no token is held: revoke and ask again.
    pub revoke_and_rerequest: Option<bool>,
}

/// A school fed by CSV rather than Wonde.
#[derive(InputObject, Clone, Debug)]
pub struct CreateSchoolInput {
    pub trust_id: ID,
    pub name: String,
    pub urn: Option<String>,
    pub postcode: Option<String>,
}

#[derive(InputObject, Clone, Debug)]
pub struct ConnectWondeInput {
    pub trust_id: ID,
    pub wonde_school_id: String,
    /// Never stored in clear, never returned.
    pub api_token: String,
    pub options: Option<SyncOptionsInput>,
}
