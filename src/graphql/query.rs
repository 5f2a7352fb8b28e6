//! The Query root.

use async_graphql::{Context, ID, Object};
use entity::enums::EventKind;
use entity::{data_quality_finding, event, held_change, wonde_catalog_school};
use sea_orm::{ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};

use super::RequestContext;
use super::context::service;
use super::enums::{HeldChangeStatus, SyncKind};
use super::filters::{search_words, words_condition};
use super::ids::{NodeType, decode, decode_as};
use super::loaders::{ById, Cached, Scoped};
use super::mutation::admin_of_school;
use super::pagination::{
    DataQualityFindingConnection, DeactivationEventConnection, Direction, HeldChangeConnection, PageRequest,
    connection_by_key, page_by_key,
};
use super::types::*;
use crate::error::{AppError, ResultExt};

/// The row a global ID of `kind` names, wrapped; null when it does not
/// exist or the viewer does not see it.
async fn row_by_id<E, T>(
    loader: &Cached<ById<E>>,
    id: &ID,
    kind: NodeType,
    wrap: impl Fn(E::Model) -> T,
) -> async_graphql::Result<Option<T>>
where
    E: Scoped,
    E::Model: Clone + Send + Sync + 'static,
{
    let key = decode_as(id, kind).gql()?;
    Ok(loader.load_one(key).await.gql()?.map(wrap))
}

/// The most catalog entries one search returns.
const MAX_CATALOG_RESULTS: i32 = 50;

/// The Query root, merged from the directory's fields and the webhook
/// fields (`query_webhooks.rs`).
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(CoreQuery, super::query_webhooks::WebhookQuery);

#[derive(Default)]
pub struct CoreQuery;

#[Object]
impl CoreQuery {
    /// Any object by its global ID; null when it does not exist or is not
    /// visible to this token.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Node>> {
        let rc = RequestContext::of(ctx)?;
        let (kind, key) = decode(&id).gql()?;
        let l = &rc.loaders;
        let node = match kind {
            NodeType::Trust => l.trusts.load_one(key).await.gql()?.map(|m| Node::Trust(Trust(m))),
            NodeType::School => l.schools.load_one(key).await.gql()?.map(|m| Node::School(School(m))),
            NodeType::Student => l.students.load_one(key).await.gql()?.map(|m| Node::Student(Student(m))),
            NodeType::Staff => l.staff.load_one(key).await.gql()?.map(|m| Node::Staff(Staff(m))),
            NodeType::Guardian => l.guardians.load_one(key).await.gql()?.map(|m| Node::Guardian(Guardian(m))),
            NodeType::Class => l.classes.load_one(key).await.gql()?.map(|m| Node::Class(Class(m))),
            NodeType::YearGroup => {
                l.year_groups.load_one(key).await.gql()?.map(|m| Node::YearGroup(YearGroup(m)))
            }
            NodeType::FormGroup => {
                l.form_groups.load_one(key).await.gql()?.map(|m| Node::FormGroup(FormGroup(m)))
            }
            NodeType::SyncRun => l.sync_runs.load_one(key).await.gql()?.map(|m| Node::SyncRun(SyncRun(m))),
            NodeType::Family => {
                rc.families_of(&[key], &[]).await.gql()?.get(key).map(|f| Node::Family(Family(f)))
            }
            NodeType::WebhookEndpoint | NodeType::WebhookDelivery => None,
        };
        Ok(node)
    }

    /// Who this token is and what it may see.
    async fn viewer(&self) -> ViewerInfo {
        ViewerInfo
    }

    /// The trust's audit log, newest first: every mutation and every CLI
    /// command that changed data, refusals included (who, what, which
    /// school, when, outcome). Trust admins only (FORBIDDEN otherwise).
    /// `first` is 0..100 (default 20).
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        filter: Option<super::audit::AuditLogFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<super::audit::AuditEntryConnection> {
        super::audit::audit_log(ctx, filter, first, after).await
    }

    /// This token's points budget after this operation (docs/limits.md).
    async fn rate_limit(&self, ctx: &Context<'_>) -> RateLimit {
        crate::graphql::metering::rate_limit(ctx)
    }

    /// The viewer's trust.
    async fn trusts(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Trust>> {
        let rc = RequestContext::of(ctx)?;
        let trusts = rc.viewer.trusts().all(&rc.db).await.gql()?;
        Ok(trusts.into_iter().map(Trust).collect())
    }

    async fn school(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<School>> {
        row_by_id(&RequestContext::of(ctx)?.loaders.schools, &id, NodeType::School, School).await
    }

    async fn student(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Student>> {
        row_by_id(&RequestContext::of(ctx)?.loaders.students, &id, NodeType::Student, Student).await
    }

    async fn sync_run(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<SyncRun>> {
        row_by_id(&RequestContext::of(ctx)?.loaders.sync_runs, &id, NodeType::SyncRun, SyncRun).await
    }

    /// Deactivation and reactivation events after a cursor, oldest first:
    /// the polling twin of the subscription. Erasures (`erased: true`)
    /// come here too.
    async fn deactivation_events(
        &self,
        ctx: &Context<'_>,
        school_id: Option<ID>,
        after: Option<String>,
        first: Option<i32>,
    ) -> async_graphql::Result<DeactivationEventConnection> {
        let rc = RequestContext::of(ctx)?;
        let request = PageRequest::parse(first, after.as_deref()).gql()?;
        let mut select = rc.viewer.events().filter(event::Column::Kind.is_in([
            EventKind::Deactivated,
            EventKind::Reactivated,
            EventKind::Erased,
        ]));
        if let Some(id) = school_id {
            select = select.filter(event::Column::SchoolId.eq(decode_as(&id, NodeType::School).gql()?));
        }
        let page =
            page_by_key(&rc.db, select, event::Column::Id, |m| m.id, request, Direction::OldestFirst, false)
                .await
                .gql()?;
        Ok(page.into_event_connection(DeactivationEvent::from))
    }

    /// Guardians who joined or left a parent group (year group, form group
    /// or class) of the school, oldest first, after `after`: each change
    /// was logged in the commit that made it (a run, an approval, a
    /// disconnection). Poll with the last cursor to keep a list in step.
    /// Not streamed by `deactivations`. A school outside the token's scope
    /// has no changes. `first` is 0..100 (default 20). `kind` keeps only
    /// joins or only leaves (both when absent): a school's first run logs
    /// a join for every parent in every group, which a reader after the
    /// leaves need not page through. A cursor is a place in the log, so
    /// one taken with one `kind` resumes with another.
    async fn group_membership_changes(
        &self,
        ctx: &Context<'_>,
        school_id: ID,
        after: Option<String>,
        first: Option<i32>,
        kind: Option<GroupMembershipChangeKind>,
    ) -> async_graphql::Result<GroupMembershipChangeConnection> {
        membership_changes(RequestContext::of(ctx)?, &school_id, after.as_deref(), first, kind).await
    }

    /// What the school's office should fix in its MIS, oldest finding
    /// first, each with the records involved; recomputed by every run of
    /// the school, every approval of its held changes and a disconnection
    /// that deactivates its accounts. Admins only: a trust admin of the school's trust or a
    /// school admin of the school. FORBIDDEN for integrators; NOT_FOUND for
    /// a school outside the token's scope. `first` is 0..100 (default 20).
    async fn data_quality(
        &self,
        ctx: &Context<'_>,
        school_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<DataQualityFindingConnection> {
        let (rc, school_id) = admin_of_school(ctx, &school_id)?;
        let request = PageRequest::parse(first, after.as_deref()).gql()?;
        let select =
            rc.viewer.data_quality_findings().filter(data_quality_finding::Column::SchoolId.eq(school_id));
        let (id, by_id) = (data_quality_finding::Column::Id, (request, Direction::OldestFirst));
        connection_by_key(ctx, select, id, |m| m.id.into(), by_id, DataQualityFinding::new).await
    }

    /// What the mass-deactivation guard held at the school, oldest first,
    /// each with its evidence and the account, group or membership it
    /// would end; `status` picks PENDING (the default) or another status,
    /// and null lists every status.
    /// Admins only, as `dataQuality`. `first` is 0..100 (default 20).
    async fn held_changes(
        &self,
        ctx: &Context<'_>,
        school_id: ID,
        #[graphql(default_with = "Some(HeldChangeStatus::Pending)")] status: Option<HeldChangeStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<HeldChangeConnection> {
        let (_, school_id) = admin_of_school(ctx, &school_id)?;
        let request = PageRequest::parse(first, after.as_deref()).gql()?;
        let mut select = held_change::Entity::find().filter(held_change::Column::SchoolId.eq(school_id));
        if let Some(status) = status {
            select = select.filter(held_change::Column::Status.eq(entity::enums::HeldStatus::from(status)));
        }
        let by_id = (request, Direction::OldestFirst);
        connection_by_key(ctx, select, held_change::Column::Id, |m| m.id.into(), by_id, HeldChange).await
    }

    /// What a run of `kind` (default INCREMENTAL) would change at the
    /// school now: it fetches from Wonde and reconciles inside a
    /// transaction that is rolled back, so nothing is written, no event is
    /// sent and the watermark stays. The guard judges as in a real run
    /// (never forced). Admins only. BAD_USER_INPUT when the school is not
    /// connected to Wonde (APPROVED) or `kind` is not FULL or INCREMENTAL;
    /// WONDE_UNAVAILABLE when Wonde could not be read.
    async fn preview_sync(
        &self,
        ctx: &Context<'_>,
        school_id: ID,
        kind: Option<SyncKind>,
    ) -> async_graphql::Result<SyncPreview> {
        let (rc, school_id) = admin_of_school(ctx, &school_id)?;
        let kind: entity::enums::SyncKind = kind.unwrap_or(SyncKind::Incremental).into();
        if !matches!(kind, entity::enums::SyncKind::Full | entity::enums::SyncKind::Incremental) {
            return Err(AppError::bad_input("a preview is of a FULL or INCREMENTAL run")).gql();
        }
        let engine = crate::sync::SyncEngine {
            db: rc.db.clone(),
            key: service::<crate::crypto::SecretKey>(ctx, "secret key missing")?.clone(),
            events: service::<crate::events::EventBus>(ctx, "event bus missing")?.clone(),
            client: service::<crate::wonde::WondeClient>(ctx, "Wonde client missing")?.clone(),
            guard_share: ctx
                .data::<crate::sync::ledger::GuardShare>()
                .map_or(crate::sync::ledger::DEFAULT_GUARD_SHARE, |g| g.0),
            worker: "preview".to_owned(),
            clock: Default::default(),
        };
        let preview = engine.preview(school_id, kind).await.map_err(AppError::from).gql()?;
        Ok(SyncPreview(preview))
    }

    /// Where the local mirror of Wonde's school directory stands: whether a
    /// full refresh has happened, and how the last refresh ended.
    async fn wonde_catalog(&self, ctx: &Context<'_>) -> async_graphql::Result<WondeCatalogStatus> {
        let rc = RequestContext::of(ctx)?;
        let state = crate::catalog::state(&rc.db).await.gql()?;
        let schools = wonde_catalog_school::Entity::find().count(&rc.db).await.gql()?;
        Ok(WondeCatalogStatus { state, schools })
    }

    /// Wonde's school directory, mirrored locally: by name (words in any
    /// order), postcode prefix or URN; at least 2 characters.
    async fn wonde_schools(
        &self,
        ctx: &Context<'_>,
        search: String,
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<WondeSchoolCandidate>> {
        let rc = RequestContext::of(ctx)?;
        let search = search.trim();
        if search.chars().count() < 2 {
            return Err(AppError::bad_input("`search` needs at least 2 characters")).gql();
        }
        let limit = first.unwrap_or(20);
        if !(0..=MAX_CATALOG_RESULTS).contains(&limit) {
            return Err(AppError::bad_input(format!(
                "`first` must be between 0 and {MAX_CATALOG_RESULTS}, got {limit}"
            )))
            .gql();
        }
        let words = search_words(Some(search)).gql()?;
        let postcode: String =
            search.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_uppercase();
        let matches = Condition::any()
            .add(words_condition(&words, &[wonde_catalog_school::Column::NameKey]))
            .add(super::filters::prefix_condition(wonde_catalog_school::Column::PostcodeKey, &postcode))
            .add(wonde_catalog_school::Column::Urn.eq(search));
        let rows = wonde_catalog_school::Entity::find()
            .filter(matches)
            .order_by_asc(wonde_catalog_school::Column::Name)
            .order_by_asc(wonde_catalog_school::Column::Id)
            .limit(Some(u64::from(limit.unsigned_abs())))
            .all(&rc.db)
            .await
            .gql()?;
        Ok(rows.into_iter().map(WondeSchoolCandidate).collect())
    }
}
