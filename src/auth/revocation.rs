//! Closing what a revoked or expired token holds open.
//!
//! For HTTP, the watch also keeps the token cache (`super::cache`) true on
//! SQLite: it reads the cached tokens with the sockets' ones. A socket
//! outlives its authentication, so each process keeps a registry of its open
//! sockets by token ([`OpenSockets`]) and runs a watch
//! ([`watch_until_stopped`]) that every [`WATCH_EVERY`] reads, in one query,
//! the tokens those sockets hold, and ends the sockets of any token that was
//! revoked, has expired, or is gone. Every replica runs its own watch over
//! the shared database, so a revocation from any process (`onroll token
//! revoke`) closes the token's sockets everywhere within a tick: nothing but
//! the database carries it. A socket also ends itself when its token's
//! `expires_at` comes (a timer in `http::subscriptions`), and re-checks its
//! token before each operation, so nothing slips through between two looks.
//!
//! Why look at the tokens of open sockets rather than at "revoked since the
//! last look": a cursor on `revoked_at` depends on the revoking process's
//! clock agreeing with ours, and on the revoking transaction committing
//! before our next look; a revocation stamped just before a look but
//! committed just after it would be missed for good. Reading the current
//! state of the tokens that matter misses nothing, is a primary-key lookup,
//! and costs no query at all while no socket is open.

use chrono::Utc;
use entity::api_token;
use sea_orm::{ColumnTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter, QuerySelect};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

use super::cache::TokenCache;
use super::token::Ended;
use crate::error::db_error_kind;

/// How often the watch looks at the tokens of open sockets. The issue's
/// bound is a second from revocation to close; a quarter of one leaves room
/// for the query and the close itself.
pub const WATCH_EVERY: Duration = Duration::from_millis(250);

/// A nullable timestamp column: `revoked_at`, `expires_at`.
type Moment = Option<chrono::DateTime<Utc>>;

/// Token ids per query: far below SQLite's limit on bound parameters, and
/// more distinct tokens with sockets open in one process than is likely.
const IDS_PER_QUERY: usize = 1_000;

/// The open sockets of this process, by token. Cheap to clone: a handle.
#[derive(Clone, Default)]
pub struct OpenSockets {
    inner: Arc<Mutex<Registry>>,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    /// token id → socket id → the socket's end signal.
    by_token: HashMap<i32, HashMap<u64, watch::Sender<Option<Ended>>>>,
}

/// One open socket's entry in the registry. Dropping it (when the socket
/// closes) removes the entry.
pub struct OpenSocket {
    sockets: OpenSockets,
    token_id: i32,
    id: u64,
    ended: watch::Receiver<Option<Ended>>,
}

impl OpenSockets {
    fn lock(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock cannot leave the maps half-updated
        // (each change is one insert or remove), so a poisoned lock is usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a socket authenticated with `token_id`; it stays registered
    /// while the returned entry lives.
    pub fn register(&self, token_id: i32) -> OpenSocket {
        let (sender, ended) = watch::channel(None);
        let mut registry = self.lock();
        registry.next_id += 1;
        let id = registry.next_id;
        registry.by_token.entry(token_id).or_default().insert(id, sender);
        OpenSocket { sockets: self.clone(), token_id, id, ended }
    }

    /// Ends every open socket of `token_id` in this process (each closes
    /// with 4403 and `why`'s reason); returns how many were told. Ending a
    /// socket twice is harmless.
    pub fn end(&self, token_id: i32, why: Ended) -> usize {
        let registry = self.lock();
        let Some(sockets) = registry.by_token.get(&token_id) else { return 0 };
        for sender in sockets.values() {
            sender.send_replace(Some(why));
        }
        sockets.len()
    }

    /// The tokens with at least one open socket here.
    pub fn tokens(&self) -> Vec<i32> {
        self.lock().by_token.keys().copied().collect()
    }

    /// How many sockets are open here.
    pub fn len(&self) -> usize {
        self.lock().by_token.values().map(HashMap::len).sum()
    }

    /// Whether no socket is open here.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl OpenSocket {
    /// The token this socket authenticated with.
    pub fn token_id(&self) -> i32 {
        self.token_id
    }

    /// Resolves when the socket's token has ended (revoked or expired), as
    /// the watch or an operation's check found.
    pub async fn ended(&mut self) -> Ended {
        match self.ended.wait_for(Option::is_some).await {
            Ok(ended) => ended.unwrap_or(Ended::Revoked),
            // The sender lives in the registry until this entry drops, so
            // this does not happen; never ending would be the wrong answer.
            Err(_) => Ended::Revoked,
        }
    }
}

impl Drop for OpenSocket {
    fn drop(&mut self) {
        let mut registry = self.sockets.lock();
        if let Some(sockets) = registry.by_token.get_mut(&self.token_id) {
            sockets.remove(&self.id);
            if sockets.is_empty() {
                registry.by_token.remove(&self.token_id);
            }
        }
    }
}

/// One look: reads the tokens of this process's open sockets (and, on
/// SQLite, of its token cache) and ends the sockets of those revoked,
/// expired or gone, and their cache entries. Returns how many sockets were
/// told to close. One query per [`IDS_PER_QUERY`] distinct tokens (in
/// practice one), none when no socket is open and nothing is cached.
///
/// On SQLite the only other process that revokes is `onroll token revoke`,
/// which cannot reach this server's cache: so a token revoked there is
/// refused here within [`WATCH_EVERY`] and the query's time. On PostgreSQL
/// the revocation's notice empties the cache (`super::notice`).
pub async fn look(
    db: &DatabaseConnection,
    sockets: &OpenSockets,
    cache: &TokenCache,
) -> Result<usize, DbErr> {
    let mut tokens = sockets.tokens();
    let cached = if db.get_database_backend() == DbBackend::Sqlite { cache.token_ids() } else { Vec::new() };
    tokens.extend(cached.iter().copied());
    tokens.sort_unstable();
    tokens.dedup();
    let mut ended = 0;
    for chunk in tokens.chunks(IDS_PER_QUERY) {
        let rows: Vec<(i32, Moment, Moment)> = api_token::Entity::find()
            .select_only()
            .column(api_token::Column::Id)
            .column(api_token::Column::RevokedAt)
            .column(api_token::Column::ExpiresAt)
            .filter(api_token::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        let now = Utc::now();
        let found: HashSet<i32> = rows.iter().map(|row| row.0).collect();
        let gone = chunk.iter().filter(|id| !found.contains(id)).map(|id| (*id, Ended::Revoked));
        let ended_here: Vec<(i32, Ended)> = rows
            .into_iter()
            .filter_map(|(id, revoked_at, expires_at)| {
                Ended::of(revoked_at, expires_at, now).map(|why| (id, why))
            })
            .chain(gone)
            .collect();
        for (token_id, why) in ended_here {
            ended += sockets.end(token_id, why);
            cache.forget_token(token_id);
        }
    }
    Ok(ended)
}

/// Looks every `every` until `stop` turns true. A failed look is logged and
/// retried at the next tick: the sockets stay open meanwhile, but each
/// operation on them still checks its token.
pub async fn watch_until_stopped(
    db: DatabaseConnection,
    sockets: OpenSockets,
    cache: TokenCache,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
                continue;
            }
        }
        match look(&db, &sockets, &cache).await {
            Ok(0) => {}
            Ok(ended) => tracing::info!(sockets = ended, "closing sockets of revoked or expired tokens"),
            Err(err) => tracing::warn!(db.error = db_error_kind(&err), "could not look for revoked tokens"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sockets_are_ended_by_token_and_leave_when_dropped() {
        let sockets = OpenSockets::default();
        let mut a1 = sockets.register(1);
        let mut a2 = sockets.register(1);
        let b = sockets.register(2);
        assert_eq!(sockets.len(), 3);
        assert_eq!(sockets.end(1, Ended::Expired), 2);
        assert_eq!(a1.ended().await, Ended::Expired);
        assert_eq!(a2.ended().await, Ended::Expired);
        drop((a1, a2));
        assert_eq!(sockets.tokens(), vec![2]);
        assert_eq!(sockets.end(1, Ended::Revoked), 0, "nothing left of token 1");
        drop(b);
        assert!(sockets.is_empty());
    }
}
