//! API tokens: 256 random bits, shown once, stored as a SHA-256 hash.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entity::{api_token, api_token_school, school};
use rand::RngCore;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use sha2::{Digest, Sha256};
use std::sync::Arc;

use super::Viewer;
use crate::error::AppError;

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

/// Resolves an `Authorization` header value to a viewer, or refuses.
pub async fn authenticate(db: &DatabaseConnection, authorization: Option<&str>) -> Result<Viewer, AppError> {
    let token = authorization.and_then(bearer).ok_or(AppError::Unauthenticated)?;
    let row = api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(hash_token(token)))
        .filter(api_token::Column::RevokedAt.is_null())
        .one(db)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let granted: Vec<i32> = api_token_school::Entity::find()
        .select_only()
        .column(api_token_school::Column::SchoolId)
        .filter(api_token_school::Column::TokenId.eq(row.id))
        .into_tuple()
        .all(db)
        .await?;
    // Visible schools are worked out per request, so a school added to the
    // trust later is seen by trust-wide tokens without re-issuing them.
    let mut visible = school::Entity::find()
        .select_only()
        .column(school::Column::Id)
        .filter(school::Column::TrustId.eq(row.trust_id))
        .order_by_asc(school::Column::Id);
    if !granted.is_empty() {
        visible = visible.filter(school::Column::Id.is_in(granted.iter().copied()));
    }
    let school_ids: Vec<i32> = visible.into_tuple().all(db).await?;
    Ok(Viewer {
        token_id: row.id,
        role: row.role,
        trust_id: row.trust_id,
        whole_trust: granted.is_empty(),
        school_ids: Arc::new(school_ids),
    })
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
