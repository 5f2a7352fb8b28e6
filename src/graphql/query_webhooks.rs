//! The webhook queries of the Query root: endpoints and their deliveries,
//! for the admins who manage them (`mutation/webhooks.rs` says who).

use async_graphql::{Context, ID, Object};
use entity::{event, webhook_attempt, webhook_outbox};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use std::collections::HashMap;

use super::RequestContext;
use super::mutation::webhooks::{managed_endpoint, managed_endpoints};
use super::pagination::{Direction, PageRequest, WebhookDeliveryConnection, page_by_key};
use super::types::{WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint};
use crate::error::ResultExt;

#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// The webhook endpoints this token may manage (trust admins: the
    /// trust's; school admins: those limited to their schools), oldest
    /// first. FORBIDDEN for integrators. Secrets are never shown here.
    async fn webhook_endpoints(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<WebhookEndpoint>> {
        let rc = RequestContext::of(ctx)?;
        let mut rows = managed_endpoints(rc).await.gql()?;
        rows.sort_by_key(|r| r.id);
        Ok(rows.into_iter().map(WebhookEndpoint).collect())
    }

    /// An endpoint's deliveries, oldest first, optionally of one status,
    /// each with its attempts (times, status codes, errors). `first` is
    /// 0..100 (default 20). NOT_FOUND for an endpoint the token may not
    /// manage; FORBIDDEN for integrators.
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        endpoint_id: ID,
        status: Option<WebhookDeliveryStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<WebhookDeliveryConnection> {
        let rc = RequestContext::of(ctx)?;
        let endpoint = managed_endpoint(rc, &endpoint_id).await.gql()?;
        let request = PageRequest::parse(first, after.as_deref()).gql()?;
        let mut select =
            webhook_outbox::Entity::find().filter(webhook_outbox::Column::EndpointId.eq(endpoint.id));
        if let Some(status) = status {
            select =
                select.filter(webhook_outbox::Column::Status.eq(entity::enums::OutboxStatus::from(status)));
        }
        let page = page_by_key(
            &rc.db,
            select,
            webhook_outbox::Column::Id,
            |m| i64::from(m.id),
            request,
            Direction::OldestFirst,
            true,
        )
        .await
        .gql()?;
        // The page's attempts and event kinds in two statements, whatever its size.
        let ids: Vec<i32> = page.items.iter().map(|(_, row)| row.id).collect();
        let event_ids: Vec<i64> = page.items.iter().map(|(_, row)| row.event_id).collect();
        let mut attempts: HashMap<i32, Vec<webhook_attempt::Model>> = HashMap::new();
        for attempt in webhook_attempt::Entity::find()
            .filter(webhook_attempt::Column::OutboxId.is_in(ids))
            .order_by_asc(webhook_attempt::Column::Id)
            .all(&rc.db)
            .await
            .gql()?
        {
            attempts.entry(attempt.outbox_id).or_default().push(attempt);
        }
        let kinds: HashMap<i64, entity::enums::EventKind> = event::Entity::find()
            .filter(event::Column::Id.is_in(event_ids))
            .all(&rc.db)
            .await
            .gql()?
            .into_iter()
            .map(|e| (e.id, e.kind))
            .collect();
        Ok(page.into_connection(|row| WebhookDelivery {
            kind: kinds.get(&row.event_id).copied(),
            attempts: attempts.get(&row.id).cloned().unwrap_or_default(),
            row,
        }))
    }
}
