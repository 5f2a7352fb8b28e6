//! Wonde's records as they arrive on the wire (wonde-api.md §2.3), read
//! leniently. Only what the sync and the connection flow use is declared;
//! unknown fields are ignored. Turning these into Onroll's records is the
//! sync's job, so a Wonde change touches this module and one mapping.
//!
//! One module per kind of record: the school, people, classes and groups,
//! deletions and the access workflow; callers name them through this one.

/// Declares a record as it arrives from Wonde. A field with no attribute of
/// its own but its doc comment is optional and read by the lenient reader
/// its type calls for ([`lenient::Lenient`](crate::wonde::lenient::Lenient));
/// a type without one does not compile. A field with its own `#[serde(...)]`
/// (the required `id`, relations, objects, renames) is kept as written.
/// Fields keep their order, which serde follows for a record sent as a list.
///
/// Fields several records carry alike are named once: `..identity` (a
/// person's `id`, `upi` and `mis_id`), `..names` (`forename`, `surname`,
/// `middle_names`) and `..dated` (`restored_at`, `created_at`, `updated_at`).
macro_rules! wonde_record {
    ($(#[$meta:meta])* pub struct $name:ident { $($fields:tt)* }) => {
        wonde_record!(@field [$(#[$meta])* pub struct $name] [] $($fields)*);
    };
    (@field [$($head:tt)*] [$($done:tt)*]) => {
        $($head)* { $($done)* }
    };
    (@field $head:tt $done:tt ..identity, $($rest:tt)*) => {
        wonde_record!(@field $head $done
            #[serde(deserialize_with = "crate::wonde::lenient::id")]
            pub id: String,
            /// Stable across re-enrolment (a new `id`): the identity to match on.
            pub upi: Option<String>,
            pub mis_id: Option<String>,
            $($rest)*);
    };
    (@field $head:tt $done:tt ..names, $($rest:tt)*) => {
        wonde_record!(@field $head $done
            pub forename: Option<String>,
            pub surname: Option<String>,
            pub middle_names: Option<String>,
            $($rest)*);
    };
    (@field $head:tt $done:tt ..dated, $($rest:tt)*) => {
        wonde_record!(@field $head $done
            pub restored_at: Option<chrono::DateTime<chrono::Utc>>,
            pub created_at: Option<chrono::DateTime<chrono::Utc>>,
            pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
            $($rest)*);
    };
    (@field $head:tt [$($done:tt)*]
        $(#[doc = $doc:literal])* pub $field:ident: $ty:ty, $($rest:tt)*) => {
        wonde_record!(@field $head [$($done)*
            $(#[doc = $doc])*
            #[serde(default, deserialize_with = "crate::wonde::lenient::read")]
            pub $field: $ty,
        ] $($rest)*);
    };
    (@field $head:tt [$($done:tt)*]
        $(#[$attr:meta])* pub $field:ident: $ty:ty, $($rest:tt)*) => {
        wonde_record!(@field $head [$($done)* $(#[$attr])* pub $field: $ty,] $($rest)*);
    };
}

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
