//! The event bus: how committed events reach subscribers in this process.
//!
//! - The log (`event` table) is the record; the bus only carries it. Events
//!   are appended through [`log::append`], which on PostgreSQL serialises
//!   appenders so that ids are committed in order, and notifies every
//!   replica at commit (LISTEN/NOTIFY).
//! - A server's bus is fed by a [`feed`]: after a local commit, a
//!   notification from another replica, or a periodic backstop read, it
//!   reads the log after the last id it delivered and broadcasts what is
//!   new, in id order, each event once. So every replica's subscribers see
//!   every replica's events, with no gap and no repeat.
//! - A bus without a feed (the command line, unit tests) broadcasts what it
//!   is given.
//! - A subscriber that falls behind (the broadcast lagged) resumes from the
//!   log by cursor (see `graphql/subscription.rs`).

pub mod feed;
pub mod log;

use entity::event;
use std::sync::{Arc, OnceLock};
use tokio::sync::{Notify, broadcast};

/// How many events a slow subscriber may fall behind before it must
/// resume from the log.
const CAPACITY: usize = 4_096;

#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Inner>,
}

struct Inner {
    sender: broadcast::Sender<Arc<event::Model>>,
    /// Wakes the feed that reads the log into this bus, once attached.
    feed: OnceLock<Arc<Notify>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self { inner: Arc::new(Inner { sender: broadcast::channel(CAPACITY).0, feed: OnceLock::new() }) }
    }
}

impl EventBus {
    /// Makes events committed in this process known. With a feed attached,
    /// the feed reads them (and anything committed before them) from the
    /// log and broadcasts them in order; without one, they are broadcast
    /// as given, oldest first.
    pub fn publish(&self, events: &[event::Model]) {
        match self.inner.feed.get() {
            Some(wake) => wake.notify_one(),
            None => self.broadcast(events.iter().cloned()),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<event::Model>> {
        self.inner.sender.subscribe()
    }

    /// How many receivers this bus has now: one per live subscription of
    /// this process. Lets a caller know that subscriptions it started are
    /// listening before it publishes (tests, benchmarks).
    pub fn receivers(&self) -> usize {
        self.inner.sender.receiver_count()
    }

    /// Sends to this process's subscribers, except log-only kinds (parent
    /// group changes, polled). No subscriber is not an error: the log keeps
    /// the event.
    fn broadcast(&self, events: impl Iterator<Item = event::Model>) {
        for event in events.filter(|e| !e.kind.log_only()) {
            let _ = self.inner.sender.send(Arc::new(event));
        }
    }

    /// Attaches the feed's wake-up; `false` if one is attached already.
    fn attach(&self, wake: Arc<Notify>) -> bool {
        self.inner.feed.set(wake).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use entity::enums::EventKind;

    fn row(id: i64, kind: EventKind) -> event::Model {
        event::Model {
            id,
            trust_id: 1,
            school_id: 1,
            kind,
            person_kind: None,
            person_id: None,
            reason: None,
            sync_run_id: None,
            payload: None,
            occurred_at: chrono::Utc::now(),
        }
    }

    /// Parent-group changes stay in the log: subscribers never see them.
    #[test]
    fn log_only_kinds_are_not_broadcast() {
        let bus = EventBus::default();
        let mut receiver = bus.subscribe();
        bus.publish(&[
            row(1, EventKind::GuardianJoinedGroup),
            row(2, EventKind::Deactivated),
            row(3, EventKind::GuardianLeftGroup),
        ]);
        let ids: Vec<i64> = std::iter::from_fn(|| receiver.try_recv().ok()).map(|e| e.id).collect();
        assert_eq!(ids, vec![2]);
    }
}
