//! The audit log (issue 13): every mutation and every CLI command that
//! changes data leaves one row saying who (an API token's id and role, or
//! `cli`), what (the mutation's or command's name), which school, when, and
//! how it ended: `OK`, or the refusal's code (`FORBIDDEN`, `NOT_FOUND`...).
//!
//! The table is append-only: migrations put a trigger on it that refuses
//! UPDATE and DELETE, on SQLite and PostgreSQL alike. Rows never hold a
//! secret (tokens, webhook secrets) nor personal data (names, emails, CSV
//! contents): `detail` carries ids and counts only.

use chrono::{DateTime, Utc};
use entity::{audit_log, school};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Select,
};

use crate::auth::Viewer;

/// The outcome of an act that went through.
pub const OK: &str = "OK";

/// Who acted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// An API token, by id and role (never the token itself).
    Token { id: i32, role: entity::enums::Role },
    /// The operator, through `onroll` on the command line.
    Cli,
    /// The server itself, on its own schedule (`serve`'s retention purge).
    Server,
}

impl Actor {
    pub fn of(viewer: &Viewer) -> Self {
        Self::Token { id: viewer.token_id, role: viewer.role }
    }
}

/// One act to record.
#[derive(Clone, Debug)]
pub struct Entry {
    pub actor: Actor,
    /// The mutation's name (`triggerSync`) or the command (`token create`).
    pub action: String,
    /// The trust concerned; found from `school_id` when not given.
    pub trust_id: Option<i32>,
    pub school_id: Option<i32>,
    /// [`OK`] or an error code.
    pub outcome: String,
    /// Ids and counts only: never a secret or personal data.
    pub detail: Option<String>,
}

impl Entry {
    pub fn new(actor: Actor, action: impl Into<String>, outcome: impl Into<String>) -> Self {
        Self {
            actor,
            action: action.into(),
            trust_id: None,
            school_id: None,
            outcome: outcome.into(),
            detail: None,
        }
    }
}

/// The longest `detail` kept; longer text is cut (the column holds 500).
const MAX_DETAIL: usize = 480;

/// Appends `entry`. A school that does not exist is recorded as no school
/// (the act may have been refused for exactly that reason).
pub async fn record<C: ConnectionTrait>(db: &C, entry: Entry) -> Result<audit_log::Model, DbErr> {
    let school = match entry.school_id {
        Some(id) => school::Entity::find_by_id(id).one(db).await?,
        None => None,
    };
    let trust_id = entry.trust_id.or(school.as_ref().map(|s| s.trust_id));
    let (kind, token_id, role) = match entry.actor {
        Actor::Token { id, role } => ("TOKEN", Some(id), Some(role.as_str().to_owned())),
        Actor::Cli => ("CLI", None, None),
        Actor::Server => ("SERVER", None, None),
    };
    let detail = entry.detail.map(|d| d.chars().take(MAX_DETAIL).collect::<String>());
    audit_log::ActiveModel {
        occurred_at: Set(Utc::now()),
        trust_id: Set(trust_id),
        actor_kind: Set(kind.to_owned()),
        actor_token_id: Set(token_id),
        actor_role: Set(role),
        action: Set(entry.action.chars().take(64).collect()),
        school_id: Set(school.map(|s| s.id)),
        outcome: Set(entry.outcome.chars().take(64).collect()),
        detail: Set(detail),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Records `entry`, logging (not returning) a failure: the act itself has
/// already happened or been refused, and its caller's answer stands.
pub async fn record_or_log<C: ConnectionTrait>(db: &C, entry: Entry) {
    let action = entry.action.clone();
    if let Err(err) = record(db, entry).await {
        tracing::error!(
            audit.action = action,
            db.error = crate::error::db_error_kind(&err),
            "an act could not be recorded in the audit log"
        );
    }
}

/// Which rows to list; every condition given must hold.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub trust_id: Option<i32>,
    pub actor_token_id: Option<i32>,
    /// Only acts of this actor kind (`TOKEN`, `CLI`, `SERVER`).
    pub actor_kind: Option<&'static str>,
    pub action: Option<String>,
    pub school_id: Option<i32>,
    pub outcome: Option<String>,
    /// At or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Before this time.
    pub until: Option<DateTime<Utc>>,
}

impl Filter {
    /// The rows the filter selects, in no order.
    pub fn select(&self) -> Select<audit_log::Entity> {
        let mut select = audit_log::Entity::find();
        if let Some(trust) = self.trust_id {
            select = select.filter(audit_log::Column::TrustId.eq(trust));
        }
        if let Some(token) = self.actor_token_id {
            select = select.filter(audit_log::Column::ActorTokenId.eq(token));
        }
        if let Some(kind) = self.actor_kind {
            select = select.filter(audit_log::Column::ActorKind.eq(kind));
        }
        if let Some(action) = &self.action {
            select = select.filter(audit_log::Column::Action.eq(action.as_str()));
        }
        if let Some(school) = self.school_id {
            select = select.filter(audit_log::Column::SchoolId.eq(school));
        }
        if let Some(outcome) = &self.outcome {
            select = select.filter(audit_log::Column::Outcome.eq(outcome.as_str()));
        }
        if let Some(since) = self.since {
            select = select.filter(audit_log::Column::OccurredAt.gte(since));
        }
        if let Some(until) = self.until {
            select = select.filter(audit_log::Column::OccurredAt.lt(until));
        }
        select
    }
}
