//! Integrators' endpoints: registering (URL checked, a fresh secret shown
//! once and stored sealed), changing, disabling, rotating the secret (the
//! old one signs beside the new for [`ROTATION_OVERLAP`]) and removing;
//! which events an endpoint wants; queueing deliveries again (redeliver,
//! replay by cursor). Who may do which is the API's business
//! (`graphql/mutation/webhooks.rs`).

use chrono::{DateTime, Utc};
use entity::enums::{EventKind, OutboxStatus};
use entity::{event, school, webhook_endpoint as endpoint, webhook_outbox as outbox};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Set, TransactionSession, TransactionTrait,
};

use super::address_guard::{UrlRefusal, check_url};
use super::payload::DELIVERABLE;
use super::signing::new_secret;
use crate::crypto::{CryptoError, SecretKey};

/// How long the secret before a rotation keeps signing (24 h).
pub const ROTATION_OVERLAP: chrono::Duration = chrono::Duration::hours(24);

/// The longest URL and description accepted.
const MAX_URL: usize = 2_048;
const MAX_DESCRIPTION: usize = 500;

/// How many events one replay statement queues.
const REPLAY_PAGE: u64 = 500;

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error(transparent)]
    Url(#[from] UrlRefusal),
    #[error("{0}")]
    BadInput(String),
    #[error("database: {0}")]
    Database(#[from] DbErr),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl From<EndpointError> for crate::error::AppError {
    fn from(err: EndpointError) -> Self {
        match err {
            EndpointError::Url(refusal) => {
                Self::WebhookUrlRefused(format!("the endpoint URL was refused: {refusal}"))
            }
            EndpointError::BadInput(message) => Self::BadInput(message),
            EndpointError::Database(err) => Self::Database(err),
            EndpointError::Crypto(_) => Self::Internal("a webhook secret could not be sealed or opened"),
        }
    }
}

/// What an endpoint is registered with, or changed to (`None`: unchanged).
#[derive(Clone, Debug, Default)]
pub struct EndpointFields {
    pub url: Option<String>,
    pub event_types: Option<Vec<EventKind>>,
    /// `Some(None)`: every school of the trust.
    pub school_ids: Option<Option<Vec<i32>>>,
    pub description: Option<Option<String>>,
}

/// A new endpoint and its secret, which is shown this once.
pub struct Created {
    pub endpoint: endpoint::Model,
    pub secret: String,
}

/// The event kinds an endpoint wants.
pub fn event_types(row: &endpoint::Model) -> Vec<EventKind> {
    let names: Vec<&str> = row.event_types.split(',').collect();
    DELIVERABLE.iter().copied().filter(|kind| names.contains(&kind.as_str())).collect()
}

/// The schools an endpoint is limited to; `None`: the whole trust.
pub fn school_ids(row: &endpoint::Model) -> Option<Vec<i32>> {
    row.school_ids.as_ref().map(|ids| ids.split(',').filter_map(|id| id.trim().parse().ok()).collect())
}

/// Whether an endpoint wants an event (its trust, kinds and schools),
/// regardless of when it was created.
pub fn wants(row: &endpoint::Model, event: &event::Model) -> bool {
    row.trust_id == event.trust_id
        && event_types(row).contains(&event.kind)
        && school_ids(row).is_none_or(|ids| ids.contains(&event.school_id))
}

fn join<T: ToString>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

async fn checked_url(url: &str, allow_private: bool) -> Result<String, EndpointError> {
    if url.len() > MAX_URL {
        return Err(EndpointError::BadInput(format!("the URL is longer than {MAX_URL} characters")));
    }
    Ok(check_url(url, allow_private).await?.to_string())
}

fn checked_kinds(kinds: &[EventKind]) -> Result<String, EndpointError> {
    if kinds.is_empty() {
        return Err(EndpointError::BadInput("eventTypes must name at least one event type".to_owned()));
    }
    if let Some(kind) = kinds.iter().find(|kind| !DELIVERABLE.contains(kind)) {
        return Err(EndpointError::BadInput(format!("{} events are not delivered", kind.as_str())));
    }
    let mut names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    Ok(names.join(","))
}

fn checked_description(text: Option<String>) -> Result<Option<String>, EndpointError> {
    let text = text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    if text.as_ref().is_some_and(|t| t.chars().count() > MAX_DESCRIPTION) {
        return Err(EndpointError::BadInput(format!(
            "description is longer than {MAX_DESCRIPTION} characters"
        )));
    }
    Ok(text)
}

fn checked_schools(ids: Option<Vec<i32>>) -> Result<Option<String>, EndpointError> {
    match ids {
        None => Ok(None),
        Some(ids) if ids.is_empty() => {
            Err(EndpointError::BadInput("schoolIds, when given, must name at least one school".to_owned()))
        }
        Some(mut ids) => {
            ids.sort_unstable();
            ids.dedup();
            Ok(Some(join(&ids)))
        }
    }
}

/// Registers an endpoint; events committed from now on reach it. Every
/// field is checked before anything is written.
pub async fn create<C: ConnectionTrait>(
    db: &C,
    key: &SecretKey,
    trust_id: i32,
    fields: EndpointFields,
    allow_private: bool,
) -> Result<Created, EndpointError> {
    // The checks without DNS first: a bad field is said before a lookup.
    let kinds = checked_kinds(&fields.event_types.unwrap_or_default())?;
    let schools = checked_schools(fields.school_ids.flatten())?;
    let description = checked_description(fields.description.flatten())?;
    let url = checked_url(fields.url.as_deref().unwrap_or_default(), allow_private).await?;
    let secret = new_secret();
    let now = Utc::now();
    let row = endpoint::ActiveModel {
        trust_id: Set(trust_id),
        url: Set(url),
        description: Set(description),
        event_types: Set(kinds),
        school_ids: Set(schools),
        secret_sealed: Set(key.encrypt(&secret)),
        previous_secret_sealed: Set(None),
        previous_secret_expires_at: Set(None),
        enabled: Set(true),
        disabled_reason: Set(None),
        failing_since: Set(None),
        after_event_id: Set(crate::events::log::newest_published(db).await?),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(Created { endpoint: row, secret })
}

/// Changes what is given; the rest stays.
pub async fn update<C: ConnectionTrait>(
    db: &C,
    row: endpoint::Model,
    fields: EndpointFields,
    allow_private: bool,
) -> Result<endpoint::Model, EndpointError> {
    let mut active: endpoint::ActiveModel = row.into();
    if let Some(url) = fields.url {
        active.url = Set(checked_url(&url, allow_private).await?);
    }
    if let Some(kinds) = fields.event_types {
        active.event_types = Set(checked_kinds(&kinds)?);
    }
    if let Some(schools) = fields.school_ids {
        active.school_ids = Set(checked_schools(schools)?);
    }
    if let Some(description) = fields.description {
        active.description = Set(checked_description(description)?);
    }
    active.updated_at = Set(Utc::now());
    Ok(active.update(db).await?)
}

/// Enables or disables an endpoint. Enabling clears the failure clock, so
/// a re-enabled endpoint gets its 5 days again.
pub async fn set_enabled<C: ConnectionTrait>(
    db: &C,
    row: endpoint::Model,
    enabled: bool,
    reason: Option<&str>,
) -> Result<endpoint::Model, DbErr> {
    let mut active: endpoint::ActiveModel = row.into();
    active.enabled = Set(enabled);
    active.disabled_reason = Set(if enabled { None } else { reason.map(str::to_owned) });
    active.failing_since = Set(None);
    active.updated_at = Set(Utc::now());
    active.update(db).await
}

/// Removes an endpoint with its deliveries and their attempts.
pub async fn delete<C: ConnectionTrait + TransactionTrait>(db: &C, id: i32) -> Result<(), DbErr> {
    let txn = crate::db::begin_write(db).await?;
    let outbox_ids = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::Id)
        .filter(outbox::Column::EndpointId.eq(id));
    entity::webhook_attempt::Entity::delete_many()
        .filter(entity::webhook_attempt::Column::OutboxId.in_subquery(outbox_ids.into_query()))
        .exec(&txn)
        .await?;
    outbox::Entity::delete_many().filter(outbox::Column::EndpointId.eq(id)).exec(&txn).await?;
    endpoint::Entity::delete_by_id(id).exec(&txn).await?;
    txn.commit().await
}

/// A new secret; the old one keeps signing beside it for a day.
pub async fn rotate<C: ConnectionTrait>(
    db: &C,
    key: &SecretKey,
    row: endpoint::Model,
) -> Result<Created, DbErr> {
    let secret = new_secret();
    let now = Utc::now();
    let mut active: endpoint::ActiveModel = row.clone().into();
    active.previous_secret_sealed = Set(Some(row.secret_sealed));
    active.previous_secret_expires_at = Set(Some(now + ROTATION_OVERLAP));
    active.secret_sealed = Set(key.encrypt(&secret));
    active.updated_at = Set(now);
    Ok(Created { endpoint: active.update(db).await?, secret })
}

/// The secrets that sign now: the current one, then the previous one
/// while its day lasts.
pub fn signing_secrets(
    key: &SecretKey,
    row: &endpoint::Model,
    now: DateTime<Utc>,
) -> Result<Vec<String>, CryptoError> {
    let mut secrets = vec![key.decrypt(&row.secret_sealed)?];
    if let (Some(sealed), Some(until)) = (&row.previous_secret_sealed, row.previous_secret_expires_at)
        && now < until
    {
        secrets.push(key.decrypt(sealed)?);
    }
    Ok(secrets)
}

/// Queues one delivery again, at once, with its attempts kept.
pub async fn redeliver<C: ConnectionTrait>(db: &C, delivery_id: i32) -> Result<Option<outbox::Model>, DbErr> {
    outbox::Entity::update_many()
        .col_expr(outbox::Column::Status, Expr::value(OutboxStatus::Pending.as_str()))
        .col_expr(outbox::Column::NextAttemptAt, Expr::value(Utc::now()))
        .col_expr(outbox::Column::ClaimedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(outbox::Column::Id.eq(delivery_id))
        .exec(db)
        .await?;
    outbox::Entity::find_by_id(delivery_id).one(db).await
}

/// Queues again every event after `after` (an event id) that the endpoint
/// wants, whether or not it was delivered before; answers how many.
pub async fn replay<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    row: &endpoint::Model,
    after: i64,
) -> Result<u64, DbErr> {
    let now = Utc::now();
    let txn = crate::db::begin_write(db).await?;
    outbox::Entity::update_many()
        .col_expr(outbox::Column::Status, Expr::value(OutboxStatus::Pending.as_str()))
        .col_expr(outbox::Column::NextAttemptAt, Expr::value(now))
        .col_expr(outbox::Column::ClaimedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(outbox::Column::EndpointId.eq(row.id))
        .filter(outbox::Column::EventId.gt(after))
        .exec(&txn)
        .await?;
    let mut last = after;
    let mut queued = 0;
    loop {
        let mut page = event::Entity::find()
            .filter(event::Column::Id.gt(last))
            .filter(event::Column::TrustId.eq(row.trust_id))
            .filter(event::Column::Kind.is_in(event_types(row)))
            .order_by_asc(event::Column::Id)
            .limit(REPLAY_PAGE);
        if let Some(ids) = school_ids(row) {
            page = page.filter(event::Column::SchoolId.is_in(ids));
        }
        let page = page.all(&txn).await?;
        let Some(newest) = page.last() else { break };
        last = newest.id;
        queued += page.len() as u64;
        queue(&txn, page.iter().map(|e| (row.id, e.id)), now).await?;
    }
    txn.commit().await?;
    Ok(queued)
}

/// Inserts PENDING deliveries due `now`; a pair already queued is left as
/// it is (the unique index on endpoint and event).
pub async fn queue<C: ConnectionTrait>(
    db: &C,
    pairs: impl Iterator<Item = (i32, i64)>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let rows: Vec<outbox::ActiveModel> = pairs
        .map(|(endpoint_id, event_id)| outbox::ActiveModel {
            endpoint_id: Set(endpoint_id),
            event_id: Set(event_id),
            status: Set(OutboxStatus::Pending),
            attempts: Set(0),
            next_attempt_at: Set(now),
            claimed_until: Set(None),
            last_status_code: Set(None),
            last_error: Set(None),
            created_at: Set(now),
            last_attempt_at: Set(None),
            delivered_at: Set(None),
            ..Default::default()
        })
        .collect();
    for chunk in rows.chunks(500) {
        outbox::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([outbox::Column::EndpointId, outbox::Column::EventId])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Disables an endpoint Onroll gave up on (`GONE`: it answered 410;
/// `FAILING`: 5 days of failures) and logs a WEBHOOK_ENDPOINT_DISABLED
/// event for admins, at one of its schools (events belong to a school;
/// a trust without schools has nowhere to log it).
pub async fn disable_by_onroll<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    row: endpoint::Model,
    reason: &str,
) -> Result<Vec<event::Model>, DbErr> {
    let school_id = match school_ids(&row).and_then(|ids| ids.first().copied()) {
        Some(id) => Some(id),
        None => school::Entity::find()
            .filter(school::Column::TrustId.eq(row.trust_id))
            .order_by_asc(school::Column::Id)
            .one(db)
            .await?
            .map(|s| s.id),
    };
    let txn = crate::db::begin_write(db).await?;
    let disabled = set_enabled(&txn, row, false, Some(reason)).await?;
    let events = match school_id {
        Some(school_id) => {
            let payload = serde_json::json!({
                "webhookEndpoint": { "id": crate::graphql::ids::encode(crate::graphql::ids::NodeType::WebhookEndpoint, disabled.id).0 },
                "reason": reason,
            });
            let row = event::ActiveModel {
                trust_id: Set(disabled.trust_id),
                school_id: Set(school_id),
                kind: Set(EventKind::WebhookEndpointDisabled),
                person_kind: Set(None),
                person_id: Set(None),
                reason: Set(None),
                sync_run_id: Set(None),
                payload: Set(Some(payload.to_string())),
                occurred_at: Set(Utc::now()),
                ..Default::default()
            };
            crate::events::log::append(&txn, vec![row]).await?
        }
        None => Vec::new(),
    };
    txn.commit().await?;
    tracing::warn!(webhook.endpoint_id = disabled.id, reason, "disabled a webhook endpoint");
    Ok(events)
}
