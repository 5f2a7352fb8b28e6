//! An API bearer token, stored as a SHA-256 hash (tokens carry 256 random bits, so no slow hash is needed).
use crate::enums::*;
crate::entity_macros::plain_entity!("api_token", timestamps {
    pub token_hash: String,
    pub role: Role,
    pub trust_id: i32,
    pub label: Option<String>,
    /// When it last authenticated, to the minute (stamped at most once a
    /// minute, so that use does not mean a write per request).
    pub last_used_at: Option<DateTimeUtc>,
    /// When the operator revoked it; a revoked token is refused.
    pub revoked_at: Option<DateTimeUtc>,
    /// When it stops working (`token create --expires-in`); NULL: never.
    pub expires_at: Option<DateTimeUtc>,
    /// What the token may see beyond its role's default, space-separated
    /// (`contact-details`); NULL: nothing more.
    pub scopes: Option<String>,
});
