//! The Subscription root: deactivations (with replay from the log) and sync
//! progress, each limited to the schools the token may see.
//!
//! A subscriber first subscribes to the bus, then replays the log after its
//! cursor (without one, after the newest event, read before it subscribes),
//! then forwards live events newer than the last it sent: an event
//! committed during the replay is in both, and is sent once. A subscriber
//! that falls behind the bus (lagged) replays from the log again, until it
//! has caught up. Ids are committed in order (`events::log`), so "after
//! the last id sent" never skips an event.

use async_graphql::{Context, ID, Subscription};
use entity::enums::EventKind;
use entity::event;
use futures::Stream;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

use super::RequestContext;
use super::context::service;
use super::event_rows::EventRows;
use super::ids::{NodeType, decode_as};
use super::pagination::decode_cursor;
use super::types::{DeactivationEvent, HeldChangesEvent, SyncProgressEvent, SyncRun};
use crate::auth::Viewer;
use crate::error::{AppError, ResultExt};
use crate::events::EventBus;

/// How many log rows one replay query reads.
const REPLAY_PAGE: u64 = 500;

#[derive(Default)]
pub struct Subscription;

/// Which events a subscriber wants.
#[derive(Clone)]
struct Filter {
    viewer: Viewer,
    school: Option<i32>,
    run: Option<i32>,
    kinds: &'static [EventKind],
}

impl Filter {
    fn wants(&self, event: &event::Model) -> bool {
        self.kinds.contains(&event.kind)
            // A trust-wide viewer also sees schools the trust gained since.
            && ((self.viewer.whole_trust && event.trust_id == self.viewer.trust_id)
                || self.viewer.sees_school(event.school_id))
            && self.school.is_none_or(|s| s == event.school_id)
            && self.run.is_none_or(|r| Some(r) == event.sync_run_id)
    }
}

async fn replay(db: &DatabaseConnection, filter: &Filter, after: i64) -> Result<Vec<event::Model>, AppError> {
    let mut select = filter
        .viewer
        .events()
        .filter(event::Column::Kind.is_in(filter.kinds.iter().copied()))
        .filter(event::Column::Id.gt(after));
    if let Some(school) = filter.school {
        select = select.filter(event::Column::SchoolId.eq(school));
    }
    if let Some(run) = filter.run {
        select = select.filter(event::Column::SyncRunId.eq(run));
    }
    Ok(select.order_by_asc(event::Column::Id).limit(REPLAY_PAGE).all(db).await?)
}

/// An event as a subscriber gets it: from the bus as it was committed
/// (`live`), or read back from the log (a replay, or catching up).
struct Delivered {
    event: event::Model,
    live: bool,
}

/// The log after the subscriber's cursor (`after`, or the newest event when
/// it subscribed), then live events, each once, in order. Without a cursor
/// the newest is read before the subscriber joins the bus and the log is
/// read after it from there once joined, as with a cursor: an event
/// committed while the subscription starts is sent, from the log or live.
/// (Reading it after joining, as before, took such an event for one from
/// before the start and never sent it: seen in CI.) Whenever the
/// subscriber falls behind the bus it reads the log again, page after page,
/// from the last event it was sent until it has caught up, then goes back
/// to the bus: a burst larger than the bus is never cut short, and nothing
/// before the subscriber's own start is ever sent.
async fn events(
    db: DatabaseConnection,
    bus: EventBus,
    filter: Filter,
    after: Option<i64>,
) -> Result<impl Stream<Item = Result<Delivered, AppError>> + use<>, AppError> {
    let start = match after {
        Some(cursor) => cursor,
        // Without a cursor, a subscriber starts after the newest event now.
        None => crate::events::log::newest_published(&db).await?,
    };
    // Subscribe before reading the log after `start`, so nothing falls
    // between the two.
    let mut live = bus.subscribe();
    Ok(async_stream::try_stream! {
        // The newest event sent, or where this subscriber started.
        let mut last = start;
        let mut behind = true;
        loop {
            // Catch up from the log, page after page, when behind.
            while behind {
                let page = replay(&db, &filter, last).await?;
                behind = (page.len() as u64) == REPLAY_PAGE;
                for event in page {
                    last = event.id;
                    yield Delivered { event, live: false };
                }
            }
            match live.recv().await {
                Ok(event) => {
                    if event.id > last && filter.wants(&event) {
                        last = event.id;
                        yield Delivered { event: Arc::unwrap_or_clone(event), live: true };
                    }
                }
                // The bus dropped events for us: the log has them.
                Err(RecvError::Lagged(_)) => behind = true,
                Err(RecvError::Closed) => break,
            }
        }
    })
}

fn school_filter(rc: &RequestContext, school_id: Option<&ID>) -> Result<Option<i32>, AppError> {
    let Some(id) = school_id else { return Ok(None) };
    let school = decode_as(id, NodeType::School)?;
    if !rc.viewer.sees_school(school) {
        return Err(AppError::NotFound("no school with that ID is visible to this token".to_owned()));
    }
    Ok(Some(school))
}

/// The log's events of `kinds` at the schools the viewer sees (or at
/// `school_id`), after `after` when given, then live: [`events`] for a
/// subscription field.
async fn school_events(
    ctx: &Context<'_>,
    school_id: Option<&ID>,
    after: Option<&str>,
    kinds: &'static [EventKind],
) -> async_graphql::Result<impl Stream<Item = Result<Delivered, AppError>> + use<>> {
    let rc = RequestContext::of(ctx)?;
    let bus = service::<EventBus>(ctx, "event bus missing")?.clone();
    let filter =
        Filter { viewer: rc.viewer.clone(), school: school_filter(rc, school_id).gql()?, run: None, kinds };
    let after = after.map(decode_cursor).transpose().gql()?;
    events(rc.db.clone(), bus, filter, after).await.gql()
}

#[Subscription]
impl Subscription {
    /// Deactivations and reactivations as they are committed; with `after`,
    /// the ones after that cursor first. Erasures (`erased: true`) come
    /// here too.
    async fn deactivations(
        &self,
        ctx: &Context<'_>,
        school_id: Option<ID>,
        after: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<DeactivationEvent>>> {
        let kinds = &[EventKind::Deactivated, EventKind::Reactivated, EventKind::Erased];
        let stream = school_events(ctx, school_id.as_ref(), after.as_deref(), kinds).await?;
        // Live deliveries share their rows with the process's other
        // subscribers; replays read them afresh (`event_rows`).
        let shared = ctx.data_opt::<EventRows>().cloned();
        Ok(futures::StreamExt::map(stream, move |delivered| {
            delivered
                .map(|Delivered { event, live }| DeactivationEvent(event, shared.clone().filter(|_| live)))
                .gql()
        }))
    }

    /// One event each time a run holds changes for a decision at a school
    /// the token sees (the mass-deactivation guard tripped): the counts per
    /// kind, and the run. Admins then decide in `heldChanges`; integrators
    /// learn that deactivations may follow. With `after`, the ones after
    /// that cursor first.
    async fn held_changes(
        &self,
        ctx: &Context<'_>,
        school_id: Option<ID>,
        after: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<HeldChangesEvent>>> {
        let stream = school_events(ctx, school_id.as_ref(), after.as_deref(), &[EventKind::Held]).await?;
        Ok(futures::StreamExt::map(stream, |delivered| delivered.map(|d| HeldChangesEvent(d.event)).gql()))
    }

    /// Progress of sync runs: of one run, of one school's runs, or of all the
    /// viewer may see. While a run fetches, at most one event every 200 ms,
    /// counting every page read since the last. Ends of runs carry their
    /// final status as the phase.
    async fn sync_progress(
        &self,
        ctx: &Context<'_>,
        school_id: Option<ID>,
        run_id: Option<ID>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<SyncProgressEvent>>> {
        let rc = RequestContext::of(ctx)?;
        let bus = service::<EventBus>(ctx, "event bus missing")?.clone();
        let run = run_id.as_ref().map(|id| decode_as(id, NodeType::SyncRun)).transpose().gql()?;
        if let Some(run) = run {
            // A run out of scope would only ever stream nothing: say so.
            let visible = rc
                .viewer
                .sync_runs()
                .filter(entity::sync_run::Column::Id.eq(run))
                .count(&rc.db)
                .await
                .gql()?;
            if visible == 0 {
                return Err(AppError::NotFound(
                    "no sync run with that ID is visible to this token".to_owned(),
                ))
                .gql();
            }
        }
        let filter = Filter {
            viewer: rc.viewer.clone(),
            school: school_filter(rc, school_id.as_ref()).gql()?,
            run,
            kinds: &[EventKind::SyncProgress],
        };
        let db = rc.db.clone();
        let stream = events(db.clone(), bus, filter, None).await.gql()?;
        Ok(futures::StreamExt::then(stream, move |event| {
            let db = db.clone();
            async move { progress_event(&db, event?.event).await.gql() }
        }))
    }
}

async fn progress_event(db: &DatabaseConnection, event: event::Model) -> Result<SyncProgressEvent, AppError> {
    let payload: serde_json::Value = serde_json::from_str(event.payload.as_deref().unwrap_or("{}"))
        .map_err(|_| AppError::Internal("progress event with a malformed payload"))?;
    let run_id = event.sync_run_id.ok_or(AppError::Internal("progress event without a run"))?;
    // Fresh, not cached: the run's status is what this event reports on.
    let run = entity::sync_run::Entity::find_by_id(run_id)
        .one(db)
        .await?
        .ok_or(AppError::Internal("progress event of a missing run"))?;
    Ok(SyncProgressEvent {
        cursor: super::pagination::encode_cursor(event.id),
        run: SyncRun(run),
        phase: payload["phase"].as_str().unwrap_or_default().to_owned(),
        processed: payload["processed"].as_i64().and_then(|p| i32::try_from(p).ok()).unwrap_or(0),
        total: payload["total"].as_i64().and_then(|t| i32::try_from(t).ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use sea_orm::{ActiveModelTrait, Set};
    use std::time::Duration;

    /// An event committed after a subscriber's start was read but passed
    /// by the bus before the subscriber joined it is not on the bus for
    /// this subscriber: only reading the log from the start sends it. A
    /// bus with no feed passes nothing on, so that is the case here of
    /// every event logged after [`events`] returned.
    #[tokio::test]
    async fn an_event_the_bus_passed_before_the_join_comes_from_the_log() -> anyhow::Result<()> {
        let path = std::env::temp_dir().join(format!(
            "onroll-subscription-{}-{}.db",
            std::process::id(),
            chrono::Utc::now().timestamp_micros()
        ));
        let db = crate::db::connect(&format!("sqlite://{}?mode=rwc", path.display()), None).await?;
        crate::db::migrate(&db).await?;
        let now = chrono::Utc::now();
        let trust = entity::trust::ActiveModel {
            name: Set("Trust".to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&db)
        .await?;
        let school = entity::school::ActiveModel {
            trust_id: Set(trust.id),
            name: Set("School".to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&db)
        .await?;
        let viewer = Viewer {
            token_id: 1,
            role: entity::enums::Role::TrustAdmin,
            trust_id: trust.id,
            whole_trust: true,
            school_ids: Arc::new(vec![school.id]),
            expires_at: None,
            scopes: Arc::new(Vec::new()),
        };
        let filter = Filter { viewer, school: None, run: None, kinds: &[EventKind::Deactivated] };
        let row = |kind| event::ActiveModel {
            trust_id: Set(trust.id),
            school_id: Set(school.id),
            kind: Set(kind),
            occurred_at: Set(now),
            ..Default::default()
        };
        // Before the start: never sent.
        crate::events::log::append(&db, vec![row(EventKind::Deactivated)]).await?;
        let stream = events(db.clone(), EventBus::default(), filter, None).await?;
        let logged = crate::events::log::append(&db, vec![row(EventKind::Deactivated)]).await?;
        let mut stream = std::pin::pin!(stream);
        let sent = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .map_err(|_| anyhow::anyhow!("the event logged after the start never came"))?
            .ok_or_else(|| anyhow::anyhow!("the stream ended"))??;
        assert_eq!(Some(sent.event.id), logged.first().map(|e| e.id));
        assert!(!sent.live, "read from the log");
        drop(db);
        let _ = std::fs::remove_file(&path);
        Ok(())
    }
}
