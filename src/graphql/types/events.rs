//! Deactivation events, the CSV import result, and Wonde catalog entries.

use async_graphql::{Context, Object, SimpleObject, Union};

use crate::graphql::scalars::DateTime;
use entity::enums::PersonKind as DbPersonKind;
use entity::{event, wonde_catalog_school};

use super::school::{SchoolCodes, SchoolProfile};
use super::{Guardian, School, Staff, Student, SyncRun, required};
use crate::error::{AppError, ResultExt};
use crate::graphql::RequestContext;
use crate::graphql::enums::{ConnectionStatus, DeactivationReason, PersonKind};
use crate::graphql::event_rows::{EventRows, PersonRow};
use crate::graphql::pagination::encode_cursor;

#[derive(Union)]
pub enum Person {
    Student(Student),
    Staff(Staff),
    Guardian(Guardian),
}

/// One deactivation or reactivation from the event log; with the process's
/// shared rows when it is a live delivery to a socket (`event_rows`), whose
/// subscribers all read its school and person as they were at delivery.
/// Replays and queries read the rows as they are now (an erasure since then
/// shows).
pub struct DeactivationEvent(pub event::Model, pub Option<EventRows>);

impl From<event::Model> for DeactivationEvent {
    fn from(event: event::Model) -> Self {
        Self(event, None)
    }
}

impl DeactivationEvent {
    fn person_ref(&self) -> Result<(DbPersonKind, i32), AppError> {
        match (self.0.person_kind, self.0.person_id) {
            (Some(kind), Some(id)) => Ok((kind, id)),
            _ => Err(AppError::Internal("deactivation event without a person")),
        }
    }
}

/// `cursor`, `occurredAt` and `school` of an event of the log, which
/// DeactivationEvent and HeldChangesEvent flatten into their first fields;
/// with the shared rows of a live delivery, if any.
pub struct EventHead<'a>(pub &'a event::Model, pub Option<&'a EventRows>);

#[Object]
impl EventHead<'_> {
    /// Resume after this event with `after`.
    async fn cursor(&self) -> String {
        encode_cursor(self.0.id)
    }

    async fn occurred_at(&self) -> DateTime {
        DateTime(self.0.occurred_at)
    }

    async fn school(&self, ctx: &Context<'_>) -> async_graphql::Result<School> {
        let rc = RequestContext::of(ctx)?;
        if let Some(shared) = self.1 {
            let rows = shared.of(&rc.db, self.0).await.gql()?;
            return rows.school.clone().map(School).ok_or(AppError::Internal("event without school")).gql();
        }
        required(rc.loaders.schools.load_one(self.0.school_id).await, "event without school").map(School)
    }
}

#[Object]
impl DeactivationEvent {
    #[graphql(flatten)]
    async fn head(&self) -> EventHead<'_> {
        EventHead(&self.0, self.1.as_ref())
    }

    async fn kind(&self) -> async_graphql::Result<PersonKind> {
        Ok(self.person_ref().gql()?.0.into())
    }

    async fn person(&self, ctx: &Context<'_>) -> async_graphql::Result<Person> {
        let rc = RequestContext::of(ctx)?;
        let (kind, id) = self.person_ref().gql()?;
        if let Some(shared) = &self.1 {
            let rows = shared.of(&rc.db, &self.0).await.gql()?;
            return match rows.person.clone() {
                Some(PersonRow::Student(row)) => Ok(Person::Student(Student(row))),
                Some(PersonRow::Staff(row)) => Ok(Person::Staff(Staff(row))),
                Some(PersonRow::Guardian(row)) => Ok(Person::Guardian(Guardian(row))),
                None => Err(AppError::Internal("event person")).gql(),
            };
        }
        let l = &rc.loaders;
        Ok(match kind {
            DbPersonKind::Student => {
                Person::Student(Student(required(l.students.load_one(id).await, "event person")?))
            }
            DbPersonKind::Staff => {
                Person::Staff(Staff(required(l.staff.load_one(id).await, "event person")?))
            }
            DbPersonKind::Guardian => {
                Person::Guardian(Guardian(required(l.guardians.load_one(id).await, "event person")?))
            }
        })
    }

    /// Why the account was deactivated; for a reactivation, why it had
    /// been. A DEACTIVATED event for an account already deactivated
    /// corrects the reason (REMOVED_FROM_MIS to LEFT_SCHOOL, once the MIS's
    /// leaver record is seen): the latest event's reason stands.
    async fn reason(&self) -> async_graphql::Result<DeactivationReason> {
        self.0.reason.map(Into::into).ok_or(AppError::Internal("deactivation event without a reason")).gql()
    }

    async fn reactivated(&self) -> bool {
        self.0.kind == entity::enums::EventKind::Reactivated
    }

    /// True when the person's records were erased (`erasePerson`): the
    /// school's data protection officer asks integrators to erase their
    /// copies too. The event keeps its cursor; `person` shows the erased
    /// record (status, dates and reason; names empty, emails null).
    async fn erased(&self) -> bool {
        self.0.kind == entity::enums::EventKind::Erased
    }

    async fn sync_run(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<SyncRun>> {
        SyncRun::of(ctx, self.0.sync_run_id).await
    }
}

/// One reason an import was refused.
#[derive(SimpleObject, Clone, Debug)]
pub struct CsvRowError {
    /// `students`, `staff` or `guardians`.
    pub file: String,
    /// The row as a spreadsheet numbers it: the header is 1, blank lines
    /// count, a quoted cell spanning lines is one row; CRLF, LF and CR line
    /// ends alike. 0 is the file as a whole.
    pub line: i32,
    /// The column to blame, by its header name; null for the whole line.
    pub column: Option<String>,
    /// A sentence for the school office; it may quote the one cell at fault.
    pub message: String,
}

#[derive(SimpleObject)]
pub struct CsvImportResult {
    /// The run that applied the files; null when validation refused them.
    pub run: Option<SyncRun>,
    pub errors: Vec<CsvRowError>,
}

/// The catalog's refresh state, as `wondeCatalog` shows it.
pub struct WondeCatalogStatus {
    pub state: entity::wonde_catalog_state::Model,
    pub schools: u64,
}

#[Object]
impl WondeCatalogStatus {
    /// Schools in the local mirror.
    async fn schools(&self) -> i32 {
        i32::try_from(self.schools).unwrap_or(i32::MAX)
    }
    /// NEVER until the first refresh; then COMPLETED, SKIPPED (an
    /// incremental refresh before any full one) or FAILED.
    async fn last_outcome(&self) -> &str {
        self.state.last_outcome.as_str()
    }
    /// Why the last refresh was skipped or failed.
    async fn last_message(&self) -> Option<&str> {
        self.state.last_message.as_deref()
    }
    async fn last_attempt_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.state.last_attempt_at
    }
    async fn last_full_refresh_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.state.last_full_at
    }
    async fn last_incremental_refresh_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.state.last_incremental_at
    }
}

/// A school of Wonde's directory.
pub struct WondeSchoolCandidate(pub wonde_catalog_school::Model);

#[Object]
impl WondeSchoolCandidate {
    async fn wonde_id(&self) -> &str {
        &self.0.wonde_id
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    #[graphql(flatten)]
    async fn codes(&self) -> SchoolCodes<'_> {
        SchoolCodes::of(&self.0.urn, &self.0.la_code, &self.0.establishment_number)
    }

    async fn postcode(&self) -> Option<&str> {
        self.0.postcode.as_deref()
    }

    #[graphql(flatten)]
    async fn profile(&self) -> SchoolProfile<'_> {
        SchoolProfile::of(&self.0.phase, &self.0.mis)
    }

    async fn address(&self) -> Option<&str> {
        self.0.address.as_deref()
    }

    /// Our access to this school as Wonde last told us; null when never requested.
    async fn access_status(&self) -> Option<ConnectionStatus> {
        self.0.access_status.map(Into::into)
    }
}
