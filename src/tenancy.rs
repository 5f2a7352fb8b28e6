//! Trusts and API tokens, as the operator creates them from the CLI.

use chrono::Utc;
use entity::enums::Role;
use entity::{api_token, api_token_school, school, trust};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set};

use crate::auth::{generate_token, hash_token};

#[derive(Debug, thiserror::Error)]
pub enum TenancyError {
    #[error("a trust needs a non-empty name")]
    EmptyName,
    #[error("no trust with id {0}")]
    UnknownTrust(i32),
    #[error("no school with id {0}")]
    UnknownSchool(i32),
    #[error("school {school} does not belong to trust {trust}")]
    SchoolOutsideTrust { school: i32, trust: i32 },
    #[error("the schools given belong to different trusts")]
    MixedTrusts,
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
}

/// Creates a token and returns its plaintext, which is never stored.
pub async fn create_token(
    db: &DatabaseConnection,
    spec: &TokenSpec,
) -> Result<(String, api_token::Model), TenancyError> {
    let trust_id = resolve_trust(db, spec).await?;
    let token = generate_token();
    let now = Utc::now();
    let txn = crate::db::begin_write(db).await?;
    let row = api_token::ActiveModel {
        token_hash: Set(hash_token(&token)),
        role: Set(spec.role),
        trust_id: Set(trust_id),
        label: Set(spec.label.clone()),
        last_used_at: Set(None),
        revoked_at: Set(None),
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
