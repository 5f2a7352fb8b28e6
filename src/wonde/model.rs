//! Wonde's records as they arrive on the wire (wonde-api.md §2.3), read
//! leniently. Only what the sync and the connection flow use is declared;
//! unknown fields are ignored. Turning these into Onroll's records is the
//! sync's job, so a Wonde change touches this module and one mapping.
//!
//! One module per kind of record: the school, people, classes and groups,
//! deletions and the access workflow; callers name them through this one.

mod access;
mod deletion;
mod groups;
mod people;
mod school;

pub use access::{AccessContact, AccessOutcome, AccessRequest, AccessResponse};
pub use deletion::WondeDeletion;
pub use groups::{GroupType, WondeClass, WondeClassPivot, WondeGroup, WondeSubject};
pub use people::{
    WondeContact, WondeContactDetails, WondeEducationDetails, WondeEmails, WondeEmployee,
    WondeEmploymentDetails, WondePhones, WondeRelationship, WondeStudent,
};
pub use school::{WondeAddress, WondeRegion, WondeSchool, WondeSchoolExtended};
