//! The in-process event bus: events are published after the transaction
//! that appended them commits, so a subscriber never sees an event that
//! could still roll back. A subscriber that falls behind (the channel
//! lagged) resumes from the log by cursor; the log, not the bus, is the
//! record. Several replicas will fan out through PostgreSQL LISTEN/NOTIFY
//! into this same bus.

use entity::event;
use std::sync::Arc;
use tokio::sync::broadcast;

/// How many events a slow subscriber may fall behind before it must
/// resume from the log.
const CAPACITY: usize = 4_096;

#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Arc<event::Model>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self { sender: broadcast::channel(CAPACITY).0 }
    }
}

impl EventBus {
    /// Publishes committed events, oldest first.
    pub fn publish(&self, events: &[event::Model]) {
        for event in events {
            // No subscriber is not an error: the log keeps the event.
            let _ = self.sender.send(Arc::new(event.clone()));
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<event::Model>> {
        self.sender.subscribe()
    }
}
