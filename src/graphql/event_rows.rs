//! The rows an event names (its school and its person), read once per event
//! per process and shared by every subscriber the event reaches.
//!
//! Without it each subscriber's own loaders read the same two rows: one
//! event to 10,000 subscribers selecting the person was 10,000 `SELECT`s
//! (issue 15). The subscription stream already keeps only events at schools
//! the subscriber sees (`subscription::Filter`), and a person's event is at
//! the person's school, so a row read for one subscriber is in every other
//! receiver's scope too; what differs per viewer (contact details) is
//! decided by the fields, from the same row.
//!
//! Only live deliveries on sockets use it (`subscription::Delivered`): the
//! rows are those of the moment the event went out. A replay from the log,
//! a subscriber catching up, and a query read the rows as they are now, so
//! a person erased since shows erased; shared rows are also forgotten
//! after [`FRESH_FOR`].

use entity::enums::PersonKind;
use entity::{event, guardian, school, staff, student};
use sea_orm::{DatabaseConnection, EntityTrait};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

use crate::error::AppError;

/// How long the rows of one event are shared: enough for a fan-out to
/// reach every subscriber of the process, short enough that a replay soon
/// after reads rows as they are.
pub const FRESH_FOR: Duration = Duration::from_secs(5);

/// Events remembered at once; the oldest is forgotten first.
const REMEMBERED: usize = 4_096;

/// An event's person row, whichever kind it is.
#[derive(Clone, Debug)]
pub enum PersonRow {
    Student(student::Model),
    Staff(staff::Model),
    Guardian(guardian::Model),
}

/// What one event names, as read when it was first resolved.
#[derive(Debug, Default)]
pub struct Rows {
    pub school: Option<school::Model>,
    pub person: Option<PersonRow>,
}

type Slot = Arc<OnceCell<Arc<Rows>>>;

/// The process's shared rows by event id. Cheap to clone: a handle.
#[derive(Clone, Default)]
pub struct EventRows {
    by_event: Arc<Mutex<BTreeMap<i64, (Instant, Slot)>>>,
}

impl EventRows {
    /// The rows `event` names: read by the first caller, shared with every
    /// other caller for [`FRESH_FOR`]. Two statements per event per process,
    /// whatever the number of subscribers.
    pub async fn of(&self, db: &DatabaseConnection, event: &event::Model) -> Result<Arc<Rows>, AppError> {
        let slot = self.slot(event.id);
        let rows = slot.get_or_try_init(|| read(db, event)).await?;
        Ok(rows.clone())
    }

    fn slot(&self, event_id: i64) -> Slot {
        let mut by_event = self.by_event.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if let Some((read_at, slot)) = by_event.get(&event_id)
            && now.duration_since(*read_at) < FRESH_FOR
        {
            return slot.clone();
        }
        let slot = Slot::default();
        by_event.insert(event_id, (now, slot.clone()));
        while by_event.len() > REMEMBERED {
            by_event.pop_first();
        }
        slot
    }
}

async fn read(db: &DatabaseConnection, event: &event::Model) -> Result<Arc<Rows>, AppError> {
    let school = school::Entity::find_by_id(event.school_id).one(db).await?;
    let person = match (event.person_kind, event.person_id) {
        (Some(PersonKind::Student), Some(id)) => {
            student::Entity::find_by_id(id).one(db).await?.map(PersonRow::Student)
        }
        (Some(PersonKind::Staff), Some(id)) => {
            staff::Entity::find_by_id(id).one(db).await?.map(PersonRow::Staff)
        }
        (Some(PersonKind::Guardian), Some(id)) => {
            guardian::Entity::find_by_id(id).one(db).await?.map(PersonRow::Guardian)
        }
        _ => None,
    };
    Ok(Arc::new(Rows { school, person }))
}
