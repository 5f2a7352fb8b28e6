//! The Wonde API client: the school, its people, groups and deletions, and
//! the access workflow, read leniently and paged as a stream.
//!
//! It never touches the database, the event bus or GraphQL; `sync` turns its
//! records (the `Wonde*` types, wire format only) into Onroll's. Tokens are
//! [`SecretToken`]s and no error, log line or Debug output carries one.
//!
//! ```no_run
//! # async fn demo() -> Result<(), onroll::wonde::WondeError> {
//! use onroll::wonde::*;
//! let client = WondeClient::new(WondeConfig::default())?;
//! let access = SchoolAccess::new("A1930499544", SecretToken::new("token"));
//! let mut students = client.students(&access, &ListQuery::default());
//! while let Some(page) = students.next_page().await? {
//!     for student in page.records {
//!         let _ = (student.upn().map(str::to_owned), student.upi);
//!     }
//! }
//! # Ok(()) }
//! ```

mod client;
mod error;
pub mod lenient;
pub mod model;
mod paging;
mod secret;

pub use client::WondeClient;
pub use client::envelope::Unreadable;
pub use client::options::{
    AccessList, CLASS_INCLUDES, CONTACT_INCLUDES, DEFAULT_DOMAIN, EMPLOYEE_INCLUDES, GROUP_INCLUDES,
    LEAVER_INCLUDES, ListQuery, STUDENT_INCLUDES, SchoolAccess, SchoolSearch, WondeConfig,
    format_updated_after,
};
pub use client::retry::RetryPolicy;
pub use error::WondeError;
pub use lenient::{Relation, RelationList};
pub use model::{
    AccessContact, AccessRequest, AccessResponse, GroupType, WondeClass, WondeClassPivot, WondeContact,
    WondeContactDetails, WondeDeletion, WondeEducationDetails, WondeEmployee, WondeEmploymentDetails,
    WondeGroup, WondeRelationship, WondeSchool, WondeStudent, WondeSubject,
};
pub use paging::{Page, Pager};
pub use secret::SecretToken;
