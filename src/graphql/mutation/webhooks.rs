//! Managing outbound webhook endpoints (issue 14). Trust admins manage
//! their trust's endpoints; school admins only endpoints limited to
//! schools they administer (`schoolIds` within their schools);
//! integrators nothing (FORBIDDEN). An endpoint outside the viewer's reach
//! looks missing (NOT_FOUND).

use async_graphql::{Context, ID, InputObject, Object};
use entity::enums::{EventKind, Role};
use entity::{webhook_endpoint, webhook_outbox};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::sync::Arc;

use crate::auth::Viewer;
use crate::crypto::SecretKey;
use crate::error::{AppError, ResultExt};
use crate::graphql::RequestContext;
use crate::graphql::context::service;
use crate::graphql::ids::{NodeType, decode_as};
use crate::graphql::pagination::decode_cursor;
use crate::graphql::types::{WebhookDelivery, WebhookEndpoint, WebhookEndpointWithSecret, WebhookEventType};
use crate::webhooks_out::WebhookSettings;
use crate::webhooks_out::endpoints::{self, EndpointFields};

#[derive(InputObject, Clone, Debug)]
pub struct CreateWebhookEndpointInput {
    /// `https://` (plain `http://` only where the operator set
    /// ONROLL_WEBHOOKS_ALLOW_PRIVATE); at most 2,048 characters. Hosts
    /// resolving to loopback, private, link-local or metadata addresses are
    /// refused (WEBHOOK_URL_REFUSED).
    pub url: String,
    /// At least one.
    pub event_types: Vec<WebhookEventType>,
    /// School IDs whose events are delivered; omit for every school of
    /// the trust (trust admins only). School admins must name schools.
    pub school_ids: Option<Vec<ID>>,
    /// For people: what receives these (at most 500 characters).
    pub description: Option<String>,
}

/// What to change; an absent field stays as it is.
#[derive(InputObject, Clone, Debug)]
pub struct UpdateWebhookEndpointInput {
    pub url: Option<String>,
    pub event_types: Option<Vec<WebhookEventType>>,
    /// Replaces the schools; an empty list is refused.
    pub school_ids: Option<Vec<ID>>,
    /// With `true`, the endpoint gets events of every school of the trust
    /// (trust admins only).
    pub all_schools: Option<bool>,
    pub description: Option<String>,
    /// Enables the endpoint again (its failure clock starts afresh).
    pub enabled: Option<bool>,
}

#[derive(Default)]
pub struct WebhookMutation;

/// Integrators are refused outright.
fn require_manager(viewer: &Viewer) -> Result<(), AppError> {
    if viewer.role == Role::Integrator {
        return Err(AppError::Forbidden("integrators cannot manage webhook endpoints; admins do".to_owned()));
    }
    Ok(())
}

/// Whether the viewer may manage an endpoint with these schools (`None`:
/// the whole trust).
fn reaches(viewer: &Viewer, schools: Option<&[i32]>) -> bool {
    match schools {
        None => viewer.role == Role::TrustAdmin && viewer.whole_trust,
        Some(ids) => ids.iter().all(|id| viewer.sees_school(*id)),
    }
}

/// School IDs as numbers, each visible to the viewer (NOT_FOUND otherwise).
fn school_numbers(viewer: &Viewer, ids: Option<Vec<ID>>) -> Result<Option<Vec<i32>>, AppError> {
    let Some(ids) = ids else { return Ok(None) };
    let mut numbers = Vec::with_capacity(ids.len());
    for id in &ids {
        let number = decode_as(id, NodeType::School)?;
        if !viewer.sees_school(number) {
            return Err(AppError::NotFound("no school with that ID is visible to this token".to_owned()));
        }
        numbers.push(number);
    }
    Ok(Some(numbers))
}

/// The endpoint with this ID, if the viewer may manage it.
pub(crate) async fn managed_endpoint(
    rc: &RequestContext,
    id: &ID,
) -> Result<webhook_endpoint::Model, AppError> {
    require_manager(&rc.viewer)?;
    let number = decode_as(id, NodeType::WebhookEndpoint)?;
    let missing =
        || AppError::NotFound("no webhook endpoint with that ID is visible to this token".to_owned());
    let row = webhook_endpoint::Entity::find_by_id(number)
        .filter(webhook_endpoint::Column::TrustId.eq(rc.viewer.trust_id))
        .one(&rc.db)
        .await?
        .ok_or_else(missing)?;
    if !reaches(&rc.viewer, endpoints::school_ids(&row).as_deref()) {
        return Err(missing());
    }
    Ok(row)
}

/// The request and the endpoint with this ID, if the viewer may manage
/// it ([`managed_endpoint`]).
async fn managed<'a>(
    ctx: &Context<'a>,
    id: &ID,
) -> async_graphql::Result<(&'a RequestContext, webhook_endpoint::Model)> {
    let rc = RequestContext::of(ctx)?;
    Ok((rc, managed_endpoint(rc, id).await.gql()?))
}

/// Every endpoint the viewer may manage.
pub(crate) async fn managed_endpoints(rc: &RequestContext) -> Result<Vec<webhook_endpoint::Model>, AppError> {
    require_manager(&rc.viewer)?;
    let rows = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::TrustId.eq(rc.viewer.trust_id))
        .all(&rc.db)
        .await?;
    Ok(rows.into_iter().filter(|row| reaches(&rc.viewer, endpoints::school_ids(row).as_deref())).collect())
}

fn allow_private(ctx: &Context<'_>) -> async_graphql::Result<bool> {
    Ok(service::<Arc<WebhookSettings>>(ctx, "webhook settings missing")?.allow_private)
}

fn key<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a SecretKey> {
    service(ctx, "secret key missing")
}

fn kinds(types: Vec<WebhookEventType>) -> Vec<EventKind> {
    types.into_iter().map(Into::into).collect()
}

#[Object]
impl WebhookMutation {
    /// Registers an endpoint: every event of the chosen types (and
    /// schools) committed from now on is POSTed to it, signed (Standard
    /// Webhooks 1.0, docs/webhooks.md). The answer carries the secret, the
    /// only time it is shown. Errors: FORBIDDEN (integrators; school admins
    /// without schoolIds), NOT_FOUND (a school not visible),
    /// WEBHOOK_URL_REFUSED, BAD_USER_INPUT (no event type, too long).
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookEndpointInput,
    ) -> async_graphql::Result<WebhookEndpointWithSecret> {
        let rc = RequestContext::of(ctx)?;
        require_manager(&rc.viewer).gql()?;
        let schools = school_numbers(&rc.viewer, input.school_ids).gql()?;
        if !reaches(&rc.viewer, schools.as_deref()) {
            return Err(AppError::Forbidden(
                "only trust admins register endpoints for the whole trust: name schoolIds".to_owned(),
            ))
            .gql();
        }
        let fields = EndpointFields {
            url: Some(input.url),
            event_types: Some(kinds(input.event_types)),
            school_ids: Some(schools),
            description: Some(input.description),
        };
        let allow_private = allow_private(ctx)?;
        let created =
            endpoints::create(&rc.db, key(ctx)?, rc.viewer.trust_id, fields, allow_private).await.gql()?;
        Ok(WebhookEndpointWithSecret { endpoint: WebhookEndpoint(created.endpoint), secret: created.secret })
    }

    /// Changes an endpoint's URL, event types, schools, description, or
    /// enables it again. Errors as `createWebhookEndpoint`, and NOT_FOUND
    /// for an endpoint the viewer may not manage.
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateWebhookEndpointInput,
    ) -> async_graphql::Result<WebhookEndpoint> {
        let (rc, row) = managed(ctx, &id).await?;
        let schools = match (input.all_schools, input.school_ids) {
            (Some(true), _) => Some(None),
            (_, Some(ids)) => Some(school_numbers(&rc.viewer, Some(ids)).gql()?),
            _ => None,
        };
        if let Some(schools) = &schools
            && !reaches(&rc.viewer, schools.as_deref())
        {
            return Err(AppError::Forbidden(
                "only trust admins send a whole trust's events to an endpoint".to_owned(),
            ))
            .gql();
        }
        let fields = EndpointFields {
            url: input.url,
            event_types: input.event_types.map(kinds),
            school_ids: schools,
            description: input.description.map(Some),
        };
        let allow_private = allow_private(ctx)?;
        let mut row = endpoints::update(&rc.db, row, fields, allow_private).await.gql()?;
        if let Some(enabled) = input.enabled {
            row = endpoints::set_enabled(&rc.db, row, enabled, Some("ADMIN")).await.gql()?;
        }
        Ok(WebhookEndpoint(row))
    }

    /// Stops deliveries to an endpoint; what is queued waits until it is
    /// enabled again (`updateWebhookEndpoint(input: {enabled: true})`).
    async fn disable_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<WebhookEndpoint> {
        let (rc, row) = managed(ctx, &id).await?;
        let row = endpoints::set_enabled(&rc.db, row, false, Some("ADMIN")).await.gql()?;
        Ok(WebhookEndpoint(row))
    }

    /// Removes an endpoint with its deliveries and their attempts; answers
    /// its ID.
    async fn delete_webhook_endpoint(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        let (rc, row) = managed(ctx, &id).await?;
        endpoints::delete(&rc.db, row.id).await.gql()?;
        Ok(id)
    }

    /// A new secret, shown in this answer only. The previous one keeps
    /// signing beside it for 24 hours (two signatures in
    /// `webhook-signature`), so receivers can switch without losing a
    /// delivery.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<WebhookEndpointWithSecret> {
        let (rc, row) = managed(ctx, &id).await?;
        let rotated = endpoints::rotate(&rc.db, key(ctx)?, row).await.gql()?;
        Ok(WebhookEndpointWithSecret { endpoint: WebhookEndpoint(rotated.endpoint), secret: rotated.secret })
    }

    /// Queues one delivery again, due now, whatever its status (attempts
    /// are kept). NOT_FOUND for a delivery of an endpoint the viewer may
    /// not manage.
    async fn redeliver_webhook(
        &self,
        ctx: &Context<'_>,
        delivery_id: ID,
    ) -> async_graphql::Result<WebhookDelivery> {
        let rc = RequestContext::of(ctx)?;
        require_manager(&rc.viewer).gql()?;
        let number = decode_as(&delivery_id, NodeType::WebhookDelivery).gql()?;
        let missing =
            || AppError::NotFound("no webhook delivery with that ID is visible to this token".to_owned());
        let row =
            webhook_outbox::Entity::find_by_id(number).one(&rc.db).await.gql()?.ok_or_else(missing).gql()?;
        let endpoint_id = crate::graphql::ids::encode(NodeType::WebhookEndpoint, row.endpoint_id);
        managed_endpoint(rc, &endpoint_id).await.map_err(|_| missing()).gql()?;
        let row = endpoints::redeliver(&rc.db, row.id).await.gql()?.ok_or_else(missing).gql()?;
        let kind = entity::event::Entity::find_by_id(row.event_id).one(&rc.db).await.gql()?.map(|e| e.kind);
        let attempts = entity::webhook_attempt::Entity::find()
            .filter(entity::webhook_attempt::Column::OutboxId.eq(row.id))
            .all(&rc.db)
            .await
            .gql()?;
        Ok(WebhookDelivery { row, kind, attempts })
    }

    /// Queues again every event after `after` (a cursor of the event log,
    /// as `deactivationEvents` and deliveries' `eventCursor` give; null:
    /// the whole log) that the endpoint wants, delivered before or not;
    /// answers how many deliveries were queued.
    async fn replay_webhooks(
        &self,
        ctx: &Context<'_>,
        endpoint_id: ID,
        after: Option<String>,
    ) -> async_graphql::Result<i32> {
        let (rc, row) = managed(ctx, &endpoint_id).await?;
        let after = after.as_deref().map(decode_cursor).transpose().gql()?.unwrap_or(0);
        let queued = endpoints::replay(&rc.db, &row, after).await.gql()?;
        Ok(i32::try_from(queued).unwrap_or(i32::MAX))
    }
}
