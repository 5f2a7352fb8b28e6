//! The tokens a server authenticated in the last few seconds, so that most
//! requests need no token query.
//!
//! An entry is keyed by the token's SHA-256 hash (never the secret) and
//! holds what [`super::authenticate`] read: the viewer (role, trust, visible
//! schools, scopes, `expires_at`) and when the token's use was last
//! recorded. It lives at most [`TTL`]; `expires_at` is checked on every use
//! from the cached value, so an expiring token stops at its second.
//!
//! A revocation empties the entry at once:
//! - in this process, [`forget_token_everywhere`] removes it from every
//!   cache of the process that serves the same database before
//!   `revoke_token` answers;
//! - from another process on PostgreSQL, `revoke_token` sends a `NOTIFY`
//!   that every server's listener (`super::notice`) turns into a
//!   [`TokenCache::forget_token`], or into a [`TokenCache::clear`] when its
//!   connection dropped and notifications may have been lost;
//! - on SQLite (where the other process is `onroll token revoke`) the
//!   revocation watch (`super::revocation`) re-reads the cached tokens'
//!   state every 250 ms, in the same query as the sockets' tokens.
//!
//! A read that raced a revocation must not put back what the revocation
//! removed: every removal moves the cache's epoch on, and an entry read
//! under an older epoch is not stored ([`TokenCache::epoch`]).
//!
//! A trust-wide token's visible schools are cached with it: creating a
//! school in this process forgets its trust's entries
//! ([`forget_trust_everywhere`]); a school created by another process is
//! seen by such a token within [`TTL`] (queries scope trust-wide viewers by
//! a subquery, so only the checks on a named school wait for it).

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use super::Viewer;

/// How long an entry answers before the token is read again: the bound on
/// a change no notice reaches (a school another process created).
pub const TTL: Duration = Duration::from_secs(5);

/// The most tokens one server keeps. A full cache drops its stale entries,
/// then, if still full, everything: a burst of distinct tokens costs a
/// token query each, as without a cache.
pub const CAPACITY: usize = 10_000;

/// A cached authentication: the viewer, and when the token's use was last
/// recorded (so recording stays once a minute).
#[derive(Clone, Debug)]
pub struct Cached {
    pub viewer: Viewer,
    pub last_used_at: Option<DateTime<Utc>>,
}

struct Entry {
    cached: Cached,
    at: Instant,
}

struct Entries {
    by_hash: HashMap<String, Entry>,
    /// How long an entry answers ([`TTL`] unless set otherwise).
    ttl: Duration,
    /// Moves on at every removal (see [`TokenCache::epoch`]).
    epoch: u64,
}

impl Default for Entries {
    fn default() -> Self {
        Self { by_hash: HashMap::new(), ttl: TTL, epoch: 0 }
    }
}

type Shared = Arc<Mutex<Entries>>;

/// Every cache of this process with the database it serves, so an
/// in-process revocation reaches each server's (tests run several servers
/// in one process, over many databases whose token ids collide).
static CACHES: Mutex<Vec<(String, Weak<Mutex<Entries>>)>> = Mutex::new(Vec::new());

/// One server's cache. Cheap to clone: a handle.
#[derive(Clone)]
pub struct TokenCache {
    inner: Shared,
}

impl TokenCache {
    /// An empty cache for the database `database` names ([`database_of`]).
    pub fn for_database(database: String) -> Self {
        let inner = Shared::default();
        let mut caches = CACHES.lock().unwrap_or_else(PoisonError::into_inner);
        caches.retain(|(_, cache)| cache.strong_count() > 0);
        caches.push((database, Arc::downgrade(&inner)));
        Self { inner }
    }
}

/// Which database a connection reaches, as the caches of this process are
/// told apart: PostgreSQL's database and schema, or SQLite's file.
pub async fn database_of<C: ConnectionTrait>(db: &C) -> Result<String, DbErr> {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => "SELECT current_database() || '/' || current_schema()",
        _ => "SELECT file FROM pragma_database_list WHERE name = 'main'",
    };
    let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await?;
    Ok(row.map(|row| row.try_get_by_index::<String>(0)).transpose()?.unwrap_or_default())
}

fn lock(entries: &Mutex<Entries>) -> MutexGuard<'_, Entries> {
    // Each change is one map operation: a poisoned lock holds no half-change.
    entries.lock().unwrap_or_else(PoisonError::into_inner)
}

impl TokenCache {
    /// The token with this hash, if authenticated less than [`TTL`] ago.
    pub fn get(&self, hash: &str) -> Option<Cached> {
        let mut entries = lock(&self.inner);
        match entries.by_hash.get(hash) {
            Some(entry) if entry.at.elapsed() < entries.ttl => Some(entry.cached.clone()),
            Some(_) => {
                entries.by_hash.remove(hash);
                None
            }
            None => None,
        }
    }

    /// Changes how long entries answer (tests that count statements keep
    /// them longer than a test lasts, so no entry ages out mid-count).
    pub fn set_ttl(&self, ttl: Duration) {
        lock(&self.inner).ttl = ttl;
    }

    /// The current epoch: take it before reading a token, and give it to
    /// [`Self::put`], which stores nothing if a removal came in between.
    pub fn epoch(&self) -> u64 {
        lock(&self.inner).epoch
    }

    /// Stores a token read under `epoch`, unless something was removed since.
    pub fn put(&self, hash: String, cached: Cached, epoch: u64) {
        let mut entries = lock(&self.inner);
        if entries.epoch != epoch {
            return;
        }
        if entries.by_hash.len() >= CAPACITY && !entries.by_hash.contains_key(&hash) {
            let ttl = entries.ttl;
            entries.by_hash.retain(|_, entry| entry.at.elapsed() < ttl);
            if entries.by_hash.len() >= CAPACITY {
                entries.by_hash.clear();
            }
        }
        entries.by_hash.insert(hash, Entry { cached, at: Instant::now() });
    }

    /// Notes that the token's use was recorded at `at`.
    pub fn used(&self, hash: &str, at: DateTime<Utc>) {
        if let Some(entry) = lock(&self.inner).by_hash.get_mut(hash) {
            entry.cached.last_used_at = Some(at);
        }
    }

    /// Removes token `token_id`'s entry.
    pub fn forget_token(&self, token_id: i32) {
        remove(&self.inner, |viewer| viewer.token_id == token_id);
    }

    /// Removes the entries of trust `trust_id`'s tokens.
    pub fn forget_trust(&self, trust_id: i32) {
        remove(&self.inner, |viewer| viewer.trust_id == trust_id);
    }

    /// Removes everything.
    pub fn clear(&self) {
        remove(&self.inner, |_| true);
    }

    /// The ids of the cached tokens.
    pub fn token_ids(&self) -> Vec<i32> {
        lock(&self.inner).by_hash.values().map(|entry| entry.cached.viewer.token_id).collect()
    }

    /// How many tokens are cached.
    pub fn len(&self) -> usize {
        lock(&self.inner).by_hash.len()
    }

    /// Whether no token is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn remove(entries: &Mutex<Entries>, matches: impl Fn(&Viewer) -> bool) {
    let mut entries = lock(entries);
    entries.epoch += 1;
    entries.by_hash.retain(|_, entry| !matches(&entry.cached.viewer));
}

/// The caches of this process that serve `db`'s database; every cache
/// when that cannot be told (a removal too many costs a token query).
async fn caches_of<C: ConnectionTrait>(db: &C) -> Vec<Shared> {
    let database = match database_of(db).await {
        Ok(database) => Some(database),
        Err(err) => {
            tracing::warn!(db.error = crate::error::db_error_kind(&err), "could not name the database");
            None
        }
    };
    CACHES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|(serves, _)| database.as_ref().is_none_or(|database| database == serves))
        .filter_map(|(_, cache)| cache.upgrade())
        .collect()
}

/// Removes token `token_id` from every cache of this process serving
/// `db`'s database (a revocation here).
pub async fn forget_token_everywhere<C: ConnectionTrait>(db: &C, token_id: i32) {
    for cache in caches_of(db).await {
        remove(&cache, |viewer| viewer.token_id == token_id);
    }
}

/// Removes trust `trust_id`'s tokens from every cache of this process
/// serving `db`'s database (a school created here), so trust-wide tokens
/// see the new school at once.
pub async fn forget_trust_everywhere<C: ConnectionTrait>(db: &C, trust_id: i32) {
    for cache in caches_of(db).await {
        remove(&cache, |viewer| viewer.trust_id == trust_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use entity::enums::Role;

    fn cached(token_id: i32, trust_id: i32) -> Cached {
        let viewer = Viewer {
            token_id,
            role: Role::Integrator,
            trust_id,
            whole_trust: true,
            school_ids: Arc::new(Vec::new()),
            expires_at: None,
            scopes: Arc::new(Vec::new()),
        };
        Cached { viewer, last_used_at: None }
    }

    #[test]
    fn removals_are_by_token_or_trust_and_stale_reads_stay_out() {
        let a = TokenCache::for_database(String::new());
        a.put("h1".into(), cached(1, 10), a.epoch());
        a.put("h2".into(), cached(2, 20), a.epoch());
        a.forget_token(1);
        assert!(a.get("h1").is_none());
        assert_eq!(a.get("h2").map(|c| c.viewer.token_id), Some(2));
        a.forget_trust(20);
        assert!(a.is_empty());

        // A read that began before a removal is not stored.
        let epoch = a.epoch();
        a.forget_token(3);
        a.put("h3".into(), cached(3, 10), epoch);
        assert!(a.get("h3").is_none());
    }
}
