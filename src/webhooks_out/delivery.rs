//! Working the outbox: claiming due deliveries, sending them, recording
//! each attempt and what follows (delivered, retried, failed, endpoint
//! disabled).
//!
//! A claim sets a lease (`claimed_until`) on rows that are PENDING, due
//! and not leased, in one transaction: on PostgreSQL the rows are chosen
//! `FOR UPDATE SKIP LOCKED`, so replicas claiming at once take different
//! rows; SQLite's write transaction admits one claimant at a time. So each
//! delivery is attempted by one replica at a time; a replica that dies
//! mid-attempt leaves a lease that expires, and the row is tried again.

use chrono::{DateTime, Utc};
use entity::enums::OutboxStatus;
use entity::{event, webhook_attempt as attempt, webhook_endpoint as endpoint, webhook_outbox as outbox};
use futures::StreamExt;
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    ExprTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set, TransactionTrait,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

use super::WebhookSettings;
use super::address_guard::{GuardedResolver, check_shape};
use super::endpoints::{disable_by_onroll, signing_secrets};
use super::payload::{body, webhook_id};
use super::retry::{disable_after, next_delay, parse_retry_after};
use super::signing::header;
use crate::crypto::SecretKey;
use crate::events::EventBus;

/// Deliveries claimed per batch.
pub const BATCH: u64 = 64;

/// How much of a receiver's answer is read, for the error text.
pub const BODY_CAP: usize = 4 * 1024;

/// How much of it is kept.
const ERROR_CAP: usize = 200;

/// What sends deliveries: the database, the sealing key, the HTTP client.
#[derive(Clone)]
pub struct Deliverer {
    pub db: DatabaseConnection,
    pub key: SecretKey,
    pub events: EventBus,
    pub settings: WebhookSettings,
    client: reqwest::Client,
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("the webhook HTTP client could not be built: {0}")]
    Client(String),
}

/// How one attempt ended.
#[derive(Debug)]
enum Outcome {
    Delivered(u16),
    Gone,
    Failed { status: Option<u16>, error: String, retry_after: Option<Duration> },
}

impl Deliverer {
    pub fn new(
        db: DatabaseConnection,
        key: SecretKey,
        events: EventBus,
        settings: WebhookSettings,
    ) -> Result<Self, DeliveryError> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            // A proxy would resolve the host itself, past the guard.
            .no_proxy()
            .user_agent("Onroll-Webhooks/1.0");
        if !settings.allow_private {
            builder = builder.dns_resolver(Arc::new(GuardedResolver));
        }
        let client = builder.build().map_err(|err| DeliveryError::Client(err.to_string()))?;
        Ok(Self { db, key, events, settings, client })
    }

    /// How long a claim lasts: long enough for a whole batch to be sent
    /// `concurrency` at a time, each taking the whole time-out, so a row
    /// still waiting its turn is never claimed by another replica.
    fn lease(&self) -> chrono::Duration {
        let rounds = u32::try_from(BATCH).unwrap_or(u32::MAX) / self.settings.concurrency.max(1) as u32 + 2;
        chrono::Duration::from_std(self.settings.timeout * rounds + Duration::from_secs(30))
            .unwrap_or(chrono::Duration::minutes(10))
    }

    /// Claims up to `limit` due deliveries for this process.
    pub async fn claim(&self, limit: u64) -> Result<Vec<outbox::Model>, DbErr> {
        let now = Utc::now();
        let txn = crate::db::begin_write(&self.db).await?;
        let enabled = endpoint::Entity::find()
            .select_only()
            .column(endpoint::Column::Id)
            .filter(endpoint::Column::Enabled.eq(true))
            .into_query();
        let mut due = outbox::Entity::find()
            .select_only()
            .column(outbox::Column::Id)
            .filter(outbox::Column::Status.eq(OutboxStatus::Pending))
            .filter(outbox::Column::NextAttemptAt.lte(now))
            .filter(outbox::Column::ClaimedUntil.is_null().or(outbox::Column::ClaimedUntil.lt(now)))
            .filter(outbox::Column::EndpointId.in_subquery(enabled))
            .order_by_asc(outbox::Column::NextAttemptAt)
            .limit(limit);
        if txn.get_database_backend() == DbBackend::Postgres {
            due = due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let ids: Vec<i32> = due.into_tuple().all(&txn).await?;
        if ids.is_empty() {
            txn.commit().await?;
            return Ok(Vec::new());
        }
        outbox::Entity::update_many()
            .col_expr(outbox::Column::ClaimedUntil, Expr::value(now + self.lease()))
            .filter(outbox::Column::Id.is_in(ids.clone()))
            .exec(&txn)
            .await?;
        let rows = outbox::Entity::find().filter(outbox::Column::Id.is_in(ids)).all(&txn).await?;
        txn.commit().await?;
        Ok(rows)
    }

    /// Claims and sends one batch of due deliveries ([`BATCH`]),
    /// `concurrency` at a time; answers how many were claimed.
    pub async fn deliver_due(&self) -> Result<usize, DbErr> {
        let rows = self.claim(BATCH).await?;
        let claimed = rows.len();
        if claimed == 0 {
            return Ok(0);
        }
        let endpoint_ids = rows.iter().map(|r| r.endpoint_id).collect();
        let event_ids = rows.iter().map(|r| r.event_id).collect();
        let endpoints =
            by_id::<endpoint::Entity, _>(&self.db, endpoint::Column::Id, endpoint_ids, |e| e.id).await?;
        let events = by_id::<event::Entity, _>(&self.db, event::Column::Id, event_ids, |e| e.id).await?;
        let work = rows.into_iter().map(|row| {
            let endpoint = endpoints.get(&row.endpoint_id).cloned();
            let event = events.get(&row.event_id).cloned();
            let (row_id, attempt_no) = (row.id, row.attempts + 1);
            async move {
                let started = Instant::now();
                let outcome = match (&endpoint, &event) {
                    (Some(endpoint), Some(event)) => self.attempt(endpoint, event).await,
                    _ => Outcome::Failed {
                        status: None,
                        error: "the endpoint or event no longer exists".to_owned(),
                        retry_after: None,
                    },
                };
                let took = started.elapsed();
                let occurred_at = event.as_ref().map(|e| e.occurred_at);
                match &outcome {
                    Outcome::Delivered(_) => {
                        crate::telemetry::webhook_attempt("delivered", took, occurred_at)
                    }
                    Outcome::Gone => crate::telemetry::webhook_attempt("gone", took, None),
                    Outcome::Failed { .. } => crate::telemetry::webhook_attempt("failed", took, None),
                }
                (row, endpoint, outcome, elapsed_ms(started))
            }
            .instrument(tracing::debug_span!(
                "webhook.delivery",
                outbox.id = row_id,
                attempt = attempt_no
            ))
        });
        let concurrency = self.settings.concurrency.max(1);
        // What has come back is recorded together, one transaction per
        // handful: a commit per delivery would cap the rate at the disk's.
        let mut done = futures::stream::iter(work).buffer_unordered(concurrency).ready_chunks(concurrency);
        while let Some(chunk) = done.next().await {
            if let Err(err) = self.record_all(chunk).await {
                tracing::warn!(
                    db.error = crate::error::db_error_kind(&err),
                    "webhook attempts were not recorded; their leases will lapse and they will be sent again"
                );
            }
        }
        Ok(claimed)
    }

    /// Records attempts in one transaction, then publishes the events of
    /// endpoints it disabled.
    async fn record_all(
        &self,
        chunk: Vec<(outbox::Model, Option<endpoint::Model>, Outcome, i32)>,
    ) -> Result<(), DbErr> {
        let txn = crate::db::begin_write(&self.db).await?;
        let mut events = Vec::new();
        for (row, endpoint, outcome, duration_ms) in chunk {
            events.extend(self.record(&txn, row, endpoint, outcome, duration_ms).await?);
        }
        txn.commit().await?;
        self.events.publish(&events);
        Ok(())
    }

    /// Sends one event to one endpoint, signed.
    async fn attempt(&self, endpoint: &endpoint::Model, event: &event::Model) -> Outcome {
        let failed =
            |error: &str| Outcome::Failed { status: None, error: error.to_owned(), retry_after: None };
        // IP literals never reach the resolver: check them here, each time.
        let url = match check_shape(&endpoint.url, self.settings.allow_private) {
            Ok(url) => url,
            Err(refusal) => return failed(&refusal.to_string()),
        };
        let now = Utc::now();
        let Ok(secrets) = signing_secrets(&self.key, endpoint, now) else {
            return failed("the endpoint's secret could not be unsealed");
        };
        let id = webhook_id(event.id);
        let body = body(event);
        let timestamp = now.timestamp();
        let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let Ok(signature) = header(&refs, &id, timestamp, &body) else {
            return failed("the endpoint's secret is malformed");
        };
        let sent = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            // The error's text names the URL, which may carry a token of
            // the integrator's: say only what kind of failure it was.
            Err(err) if err.is_timeout() => {
                return failed(&format!("no answer within {} s", self.settings.timeout.as_secs_f64()));
            }
            Err(err) if err.is_connect() => return failed("could not connect (or the address is refused)"),
            Err(_) => return failed("the request failed"),
        };
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Outcome::Delivered(status);
        }
        if status == 410 {
            return Outcome::Gone;
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let mut text = Vec::new();
        while text.len() < BODY_CAP {
            match response.chunk().await {
                Ok(Some(chunk)) => text.extend_from_slice(&chunk[..chunk.len().min(BODY_CAP - text.len())]),
                _ => break,
            }
        }
        let said: String =
            String::from_utf8_lossy(&text).chars().filter(|c| !c.is_control()).take(ERROR_CAP).collect();
        let error = if said.trim().is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {}", said.trim())
        };
        Outcome::Failed { status: Some(status), error, retry_after }
    }

    /// Records an attempt and what follows from it.
    async fn record<C: ConnectionTrait + TransactionTrait>(
        &self,
        db: &C,
        row: outbox::Model,
        endpoint: Option<endpoint::Model>,
        outcome: Outcome,
        duration_ms: i32,
    ) -> Result<Vec<event::Model>, DbErr> {
        let mut logged = Vec::new();
        let now = Utc::now();
        let (status_code, error) = match &outcome {
            Outcome::Delivered(code) => (Some(i32::from(*code)), None),
            Outcome::Gone => (Some(410), Some("HTTP 410: the endpoint is gone; it was disabled".to_owned())),
            Outcome::Failed { status, error, .. } => (status.map(i32::from), Some(error.clone())),
        };
        attempt::ActiveModel {
            outbox_id: Set(row.id),
            attempted_at: Set(now),
            status_code: Set(status_code),
            error: Set(error.clone()),
            duration_ms: Set(duration_ms),
            ..Default::default()
        }
        .insert(db)
        .await?;
        let attempts = row.attempts + 1;
        let mut next: outbox::ActiveModel = row.into();
        next.attempts = Set(attempts);
        next.claimed_until = Set(None);
        next.last_status_code = Set(status_code);
        next.last_error = Set(error);
        next.last_attempt_at = Set(Some(now));
        match outcome {
            Outcome::Delivered(_) => {
                next.status = Set(OutboxStatus::Delivered);
                next.delivered_at = Set(Some(now));
                next.update(db).await?;
                if let Some(endpoint) = endpoint.filter(|e| e.failing_since.is_some()) {
                    endpoint::Entity::update_many()
                        .col_expr(endpoint::Column::FailingSince, Expr::value(Option::<DateTime<Utc>>::None))
                        .filter(endpoint::Column::Id.eq(endpoint.id))
                        .exec(db)
                        .await?;
                }
            }
            Outcome::Gone => {
                next.status = Set(OutboxStatus::Failed);
                next.update(db).await?;
                if let Some(endpoint) = endpoint.filter(|e| e.enabled) {
                    logged = disable_by_onroll(db, endpoint, "GONE").await?;
                }
            }
            Outcome::Failed { retry_after, .. } => {
                let failures = u32::try_from(attempts).unwrap_or(u32::MAX);
                match next_delay(failures, self.settings.retry_unit, retry_after) {
                    Some(delay) => {
                        next.status = Set(OutboxStatus::Pending);
                        next.next_attempt_at =
                            Set(now
                                + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(10)));
                    }
                    None => next.status = Set(OutboxStatus::Failed),
                }
                next.update(db).await?;
                if let Some(endpoint) = endpoint {
                    logged = self.note_failure(db, endpoint, now).await?;
                }
            }
        }
        Ok(logged)
    }

    /// Starts the endpoint's failure clock, or disables it when failures
    /// have gone on for 5 days (in retry units).
    async fn note_failure<C: ConnectionTrait + TransactionTrait>(
        &self,
        db: &C,
        endpoint: endpoint::Model,
        now: DateTime<Utc>,
    ) -> Result<Vec<event::Model>, DbErr> {
        let Some(since) = endpoint.failing_since else {
            endpoint::Entity::update_many()
                .col_expr(endpoint::Column::FailingSince, Expr::value(now))
                .filter(endpoint::Column::Id.eq(endpoint.id))
                .filter(endpoint::Column::FailingSince.is_null())
                .exec(db)
                .await?;
            return Ok(Vec::new());
        };
        let limit = chrono::Duration::from_std(disable_after(self.settings.retry_unit))
            .unwrap_or(chrono::Duration::days(5));
        if endpoint.enabled && now - since >= limit {
            return disable_by_onroll(db, endpoint, "FAILING").await;
        }
        Ok(Vec::new())
    }

    /// When the next PENDING delivery falls due, if any.
    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>, DbErr> {
        Ok(outbox::Entity::find()
            .select_only()
            .column_as(outbox::Column::NextAttemptAt.min(), "due")
            .filter(outbox::Column::Status.eq(OutboxStatus::Pending))
            .into_tuple::<Option<DateTime<Utc>>>()
            .one(&self.db)
            .await?
            .flatten())
    }
}

/// The rows of `E` whose `id_column` is one of `ids`, by `id_of`.
async fn by_id<E, K>(
    db: &DatabaseConnection,
    id_column: E::Column,
    ids: Vec<K>,
    id_of: fn(&E::Model) -> K,
) -> Result<HashMap<K, E::Model>, DbErr>
where
    E: EntityTrait,
    K: Into<sea_orm::Value> + Eq + std::hash::Hash,
{
    Ok(E::find().filter(id_column.is_in(ids)).all(db).await?.into_iter().map(|m| (id_of(&m), m)).collect())
}

/// How long an attempt took, in whole milliseconds.
fn elapsed_ms(started: Instant) -> i32 {
    i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX)
}
