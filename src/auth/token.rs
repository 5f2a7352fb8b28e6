//! API tokens: 256 random bits, shown once, stored as a SHA-256 hash.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use entity::api_token;
use entity::enums::Role;
use rand::RngCore;
use sea_orm::{DatabaseConnection, DbBackend, DbErr, EntityTrait, FromQueryResult, Statement};
use sha2::{Digest, Sha256};
use std::sync::Arc;

use super::Viewer;
use super::cache::{Cached, TokenCache};
use crate::error::{AppError, db_error_kind};

/// Tokens start with this prefix so that secret scanners can find leaked ones.
pub const TOKEN_PREFIX: &str = "onr_";

/// A new random token.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The stored form of a token. A fast hash suffices: the token's entropy,
/// not the hash's cost, is what resists guessing.
pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The token in an `Authorization` header value, if it is a Bearer one.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// Use is recorded to the minute: `last_used_at` is stamped when it is
/// older than this, so that authenticating is not a write per request.
const LAST_USED_EVERY_SECONDS: i64 = 60;

/// Why a stored token no longer works.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// `onroll token revoke` (or the row is gone).
    Revoked,
    /// Its `expires_at` has passed.
    Expired,
}

impl Ended {
    /// Whether a token with these columns has ended at `now`. A revocation
    /// wins over an expiry: it is the operator's deliberate act.
    pub fn of(
        revoked_at: Option<DateTime<Utc>>,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<Self> {
        if revoked_at.is_some() {
            Some(Self::Revoked)
        } else if expires_at.is_some_and(|at| at <= now) {
            Some(Self::Expired)
        } else {
            None
        }
    }

    /// The refusal a client gets (`UNAUTHENTICATED`, HTTP 401).
    pub fn error(self) -> AppError {
        match self {
            Self::Revoked => AppError::TokenRevoked,
            Self::Expired => AppError::TokenExpired,
        }
    }

    /// The reason of the 4403 close frame sent to the token's sockets
    /// (a close reason is at most 123 bytes).
    pub fn close_reason(self) -> &'static str {
        match self {
            Self::Revoked => "Forbidden: the token was revoked",
            Self::Expired => "Forbidden: the token has expired",
        }
    }
}

/// Resolves an `Authorization` header value to a viewer, or refuses:
/// `Unauthenticated` without a known token, `TokenRevoked` or
/// `TokenExpired` for one that has ended. A token authenticated in the last
/// few seconds is answered from `cache` with no statement (revocations
/// empty it at once, see [`super::cache`]); its `expires_at` is checked on
/// every use. Otherwise one statement ([`TOKEN_AND_SCHOOLS`]) answers the
/// token and the schools it sees. Either way, a write at most once a minute
/// records its use.
pub async fn authenticate(
    db: &DatabaseConnection,
    cache: &TokenCache,
    authorization: Option<&str>,
) -> Result<Viewer, AppError> {
    let token = authorization.and_then(bearer).ok_or(AppError::Unauthenticated)?;
    let hash = hash_token(token);
    let now = Utc::now();
    let cached = match cache.get(&hash) {
        Some(cached) => cached,
        None => {
            let epoch = cache.epoch();
            let Some(read) = read_token(db, &hash).await? else {
                return Err(AppError::Unauthenticated);
            };
            if let Some(ended) = Ended::of(read.revoked_at, read.cached.viewer.expires_at, now) {
                return Err(ended.error());
            }
            cache.put(hash.clone(), read.cached.clone(), epoch);
            read.cached
        }
    };
    if let Some(ended) = Ended::of(None, cached.viewer.expires_at, now) {
        return Err(ended.error());
    }
    if stamp_use(db, cached.viewer.token_id, cached.last_used_at, now).await {
        cache.used(&hash, now);
    }
    Ok(cached.viewer)
}

/// A token as [`TOKEN_AND_SCHOOLS`] answers it.
struct Read {
    cached: Cached,
    revoked_at: Option<DateTime<Utc>>,
}

/// Reads the token with hash `hash` and the schools it sees (`None`: no
/// such token).
async fn read_token(db: &DatabaseConnection, hash: &str) -> Result<Option<Read>, DbErr> {
    let backend = db.get_database_backend();
    let placeholder = if backend == DbBackend::Postgres { "$1" } else { "?" };
    let statement = Statement::from_sql_and_values(
        backend,
        TOKEN_AND_SCHOOLS.replace("{hash}", placeholder),
        [hash.into()],
    );
    let rows = TokenSchoolRow::find_by_statement(statement).all(db).await?;
    let Some(row) = rows.first() else { return Ok(None) };
    let viewer = Viewer {
        token_id: row.id,
        role: row.role,
        trust_id: row.trust_id,
        whole_trust: row.whole_trust,
        school_ids: Arc::new(rows.iter().filter_map(|r| r.school_id).collect()),
        expires_at: row.expires_at,
        scopes: Arc::new(parse_scopes(row.scopes.as_deref())),
    };
    Ok(Some(Read { cached: Cached { viewer, last_used_at: row.last_used_at }, revoked_at: row.revoked_at }))
}

/// The token with the given hash, once per school it sees (in id order),
/// or once with a null school when it sees none. A token with no granted
/// schools sees its whole trust; otherwise the granted ones of its trust.
/// Visible schools are worked out per request, so a school added to the
/// trust later is seen by trust-wide tokens without re-issuing them.
const TOKEN_AND_SCHOOLS: &str = "SELECT t.id, t.role, t.trust_id, t.revoked_at, t.expires_at, \
     t.last_used_at, t.scopes, \
     NOT EXISTS (SELECT 1 FROM api_token_school g WHERE g.token_id = t.id) AS whole_trust, \
     s.id AS school_id \
     FROM api_token t \
     LEFT JOIN school s ON s.trust_id = t.trust_id AND ( \
       NOT EXISTS (SELECT 1 FROM api_token_school g WHERE g.token_id = t.id) \
       OR EXISTS (SELECT 1 FROM api_token_school g WHERE g.token_id = t.id AND g.school_id = s.id)) \
     WHERE t.token_hash = {hash} \
     ORDER BY s.id";

/// A row of [`TOKEN_AND_SCHOOLS`].
#[derive(FromQueryResult)]
struct TokenSchoolRow {
    id: i32,
    role: Role,
    trust_id: i32,
    revoked_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    scopes: Option<String>,
    whole_trust: bool,
    school_id: Option<i32>,
}

/// A stored scope list (space-separated) as its scopes.
pub fn parse_scopes(stored: Option<&str>) -> Vec<String> {
    stored.unwrap_or_default().split_whitespace().map(str::to_owned).collect()
}

/// Whether the token `token_id` has ended since it was authenticated
/// (`None`: it still works). A token whose row is gone counts as revoked.
/// Sockets ask this before each operation, so nothing slips through between
/// two looks of the revocation watch (`super::revocation`).
pub async fn token_ended(db: &DatabaseConnection, token_id: i32) -> Result<Option<Ended>, DbErr> {
    let Some(row) = api_token::Entity::find_by_id(token_id).one(db).await? else {
        return Ok(Some(Ended::Revoked));
    };
    let now = Utc::now();
    let ended = Ended::of(row.revoked_at, row.expires_at, now);
    if ended.is_none() {
        stamp_use(db, row.id, row.last_used_at, now).await;
    }
    Ok(ended)
}

/// Records that the token was used, unless that was already recorded in the
/// last minute. The condition is repeated in the update, so replicas racing
/// to stamp the same token write once. A failure is logged, not returned:
/// the token is valid whether or not its use could be recorded. Answers
/// whether it tried (so a cached token is not stamped again for a minute).
async fn stamp_use(
    db: &DatabaseConnection,
    token_id: i32,
    last_used_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    let every = chrono::Duration::seconds(LAST_USED_EVERY_SECONDS);
    if last_used_at.is_some_and(|at| now - at < every) {
        return false;
    }
    let token = (api_token::Column::Id, token_id);
    let stamped = crate::db::stamp_unless_recent(db, token, api_token::Column::LastUsedAt, now, every).await;
    if let Err(err) = stamped {
        tracing::warn!(db.error = db_error_kind(&err), token.id = token_id, "could not record a token's use");
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("abc"), None);
    }

    #[test]
    fn tokens_are_random_and_hashes_stable() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_eq!(hash_token(&a).len(), 64);
        assert!(!hash_token(&a).contains(&a));
    }
}
