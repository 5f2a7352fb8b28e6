//! Trusts and API tokens, as the operator creates, lists and revokes them
//! from the CLI.

use chrono::{DateTime, Utc};
use entity::enums::Role;
use entity::{api_token, api_token_school, school, trust};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, Set,
};

use crate::auth::{generate_token, hash_token};

#[derive(Debug, thiserror::Error)]
pub enum TenancyError {
    #[error("a trust needs a non-empty name")]
    EmptyName,
    #[error("no trust with id {0}")]
    UnknownTrust(i32),
    #[error("an expiry must be within 100 years (36500d)")]
    ExpiryTooFar,
    #[error("no school with id {0}")]
    UnknownSchool(i32),
    #[error("school {school} does not belong to trust {trust}")]
    SchoolOutsideTrust { school: i32, trust: i32 },
    #[error("the schools given belong to different trusts")]
    MixedTrusts,
    #[error("no token with id {0}")]
    UnknownToken(i32),
    #[error(
        "an expiry must be in the future: give a positive duration, or none for a token that does not expire"
    )]
    BadExpiry,
    #[error("`{0}` is not a scope: the scopes are {scopes}", scopes = crate::auth::scope::SCOPES.join(", "))]
    UnknownScope(String),
    #[error("{0}")]
    Usage(&'static str),
    #[error("database error: {0}")]
    Database(#[from] DbErr),
}

pub async fn create_trust(db: &DatabaseConnection, name: &str) -> Result<trust::Model, TenancyError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(TenancyError::EmptyName);
    }
    let now = Utc::now();
    Ok(trust::ActiveModel {
        name: Set(name.to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// What a new token may do: a role, a trust, and optionally named schools.
#[derive(Clone, Debug)]
pub struct TokenSpec {
    pub role: Role,
    pub trust_id: Option<i32>,
    pub school_ids: Vec<i32>,
    pub label: Option<String>,
    /// How long the token works from its creation (`None`: until revoked).
    pub expires_in: Option<chrono::Duration>,
    /// What the token may see beyond its role's default (`contact-details`;
    /// see [`crate::auth::scope::SCOPES`]).
    pub scopes: Vec<String>,
}

/// Creates a token and returns its plaintext, which is never stored, and
/// its row (`expires_at` set from `spec.expires_in`). `BadExpiry` for a
/// lifetime that is not positive; the `Unknown*`, `SchoolOutsideTrust`,
/// `MixedTrusts` and `Usage` errors for a spec that names no valid scope.
pub async fn create_token(
    db: &DatabaseConnection,
    spec: &TokenSpec,
) -> Result<(String, api_token::Model), TenancyError> {
    if spec.expires_in.is_some_and(|d| d <= chrono::Duration::zero()) {
        return Err(TenancyError::BadExpiry);
    }
    // Checked: a huge duration would overflow the date arithmetic.
    let now = Utc::now();
    let expires_at = match spec.expires_in {
        Some(d) if d > chrono::Duration::days(36_500) => return Err(TenancyError::ExpiryTooFar),
        Some(d) => Some(now.checked_add_signed(d).ok_or(TenancyError::ExpiryTooFar)?),
        None => None,
    };
    let mut scopes: Vec<&str> = Vec::new();
    for scope in &spec.scopes {
        let scope = scope.trim();
        if !crate::auth::scope::SCOPES.contains(&scope) {
            return Err(TenancyError::UnknownScope(scope.to_owned()));
        }
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    let trust_id = resolve_trust(db, spec).await?;
    let token = generate_token();
    let txn = crate::db::begin_write(db).await?;
    let row = api_token::ActiveModel {
        token_hash: Set(hash_token(&token)),
        role: Set(spec.role),
        trust_id: Set(trust_id),
        label: Set(spec.label.clone()),
        last_used_at: Set(None),
        revoked_at: Set(None),
        expires_at: Set(expires_at),
        scopes: Set((!scopes.is_empty()).then(|| scopes.join(" "))),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    for school_id in &spec.school_ids {
        api_token_school::ActiveModel {
            token_id: Set(row.id),
            school_id: Set(*school_id),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
    }
    txn.commit().await?;
    Ok((token, row))
}

async fn resolve_trust(db: &DatabaseConnection, spec: &TokenSpec) -> Result<i32, TenancyError> {
    match (spec.role, spec.trust_id, spec.school_ids.is_empty()) {
        (Role::TrustAdmin, Some(_), false) => {
            return Err(TenancyError::Usage(
                "a trust-admin token covers the whole trust: give --trust, not --school",
            ));
        }
        (Role::TrustAdmin | Role::Integrator, None, _) => {
            return Err(TenancyError::Usage("this role needs --trust"));
        }
        (Role::SchoolAdmin, _, true) => {
            return Err(TenancyError::Usage("a school-admin token needs at least one --school"));
        }
        _ => {}
    }
    if let Some(trust_id) = spec.trust_id {
        trust::Entity::find_by_id(trust_id).one(db).await?.ok_or(TenancyError::UnknownTrust(trust_id))?;
    }
    let mut trust_of_schools = None;
    for school_id in &spec.school_ids {
        let school = school::Entity::find()
            .filter(school::Column::Id.eq(*school_id))
            .one(db)
            .await?
            .ok_or(TenancyError::UnknownSchool(*school_id))?;
        if let Some(trust) = spec.trust_id.filter(|t| *t != school.trust_id) {
            return Err(TenancyError::SchoolOutsideTrust { school: school.id, trust });
        }
        if trust_of_schools.is_some_and(|t| t != school.trust_id) {
            return Err(TenancyError::MixedTrusts);
        }
        trust_of_schools = Some(school.trust_id);
    }
    spec.trust_id.or(trust_of_schools).ok_or(TenancyError::Usage("this role needs --trust"))
}

/// A token as `token list` shows it: everything but its secret (neither the
/// token nor its hash).
#[derive(Clone, Debug)]
pub struct TokenSummary {
    pub id: i32,
    pub role: Role,
    pub trust_id: i32,
    /// The schools it is limited to; empty for the whole trust.
    pub school_ids: Vec<i32>,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    /// To the minute (see `auth::token`); `None`: never used.
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Its scopes (`contact-details`); empty for none.
    pub scopes: Vec<String>,
}

/// Every token, or a trust's, oldest first. `UnknownTrust` when the trust
/// named does not exist.
pub async fn list_tokens(
    db: &DatabaseConnection,
    trust_id: Option<i32>,
) -> Result<Vec<TokenSummary>, TenancyError> {
    let mut select = api_token::Entity::find().order_by_asc(api_token::Column::Id);
    if let Some(trust_id) = trust_id {
        trust::Entity::find_by_id(trust_id).one(db).await?.ok_or(TenancyError::UnknownTrust(trust_id))?;
        select = select.filter(api_token::Column::TrustId.eq(trust_id));
    }
    let tokens = select.all(db).await?;
    let mut grants = api_token_school::Entity::find().order_by_asc(api_token_school::Column::SchoolId);
    if trust_id.is_some() {
        grants = grants.filter(api_token_school::Column::TokenId.is_in(tokens.iter().map(|t| t.id)));
    }
    let grants = grants.all(db).await?;
    Ok(tokens
        .into_iter()
        .map(|token| TokenSummary {
            id: token.id,
            role: token.role,
            trust_id: token.trust_id,
            school_ids: grants.iter().filter(|g| g.token_id == token.id).map(|g| g.school_id).collect(),
            label: token.label,
            created_at: token.created_at,
            last_used_at: token.last_used_at,
            expires_at: token.expires_at,
            revoked_at: token.revoked_at,
            scopes: crate::auth::token::parse_scopes(token.scopes.as_deref()),
        })
        .collect())
}

/// What `revoke_token` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// Revoked now, at this time.
    Revoked(DateTime<Utc>),
    /// It already was, at this time; nothing changed.
    AlreadyRevoked(DateTime<Utc>),
}

/// Revokes token `id`: it is refused from its next HTTP request, and every
/// replica's revocation watch closes its sockets within a tick. The token
/// leaves every token cache of this process before this answers, and on
/// PostgreSQL a notice at commit empties every other server's
/// (`auth::cache`). Revoking a revoked token changes nothing (scripts may
/// repeat it). `UnknownToken` when there is no such token.
pub async fn revoke_token(db: &DatabaseConnection, id: i32) -> Result<Revocation, TenancyError> {
    let now = Utc::now();
    let txn = crate::db::begin_write(db).await?;
    // Conditional, so that two revocations racing keep the first time.
    let updated = api_token::Entity::update_many()
        .col_expr(api_token::Column::RevokedAt, sea_orm::sea_query::Expr::value(now))
        .col_expr(api_token::Column::UpdatedAt, sea_orm::sea_query::Expr::value(now))
        .filter(api_token::Column::Id.eq(id))
        .filter(api_token::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if updated.rows_affected > 0 {
        crate::auth::notice::announce(&txn, id).await?;
    }
    txn.commit().await?;
    crate::auth::cache::forget_token_everywhere(db, id).await;
    if updated.rows_affected > 0 {
        return Ok(Revocation::Revoked(now));
    }
    let token = api_token::Entity::find_by_id(id).one(db).await?.ok_or(TenancyError::UnknownToken(id))?;
    Ok(Revocation::AlreadyRevoked(token.revoked_at.unwrap_or(now)))
}
