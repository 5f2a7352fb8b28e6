//! Relay connections with opaque keyset cursors.
//!
//! A cursor is the row's primary key, encoded; pages are `key > cursor`
//! (or `<` for newest-first lists), so a page costs the same wherever it
//! starts and rows inserted meanwhile never shift a page.

use async_graphql::{Context, SimpleObject};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    Select,
};

use super::types::*;
use crate::error::{AppError, ResultExt};

/// Rows per page when `first` is not given.
pub const DEFAULT_PAGE_SIZE: i32 = 20;
/// The most rows one page may ask for.
pub const MAX_PAGE_SIZE: i32 = 100;

/// A validated `first`/`after` pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PageRequest {
    pub first: u64,
    pub after: Option<i64>,
}

impl PageRequest {
    pub fn parse(first: Option<i32>, after: Option<&str>) -> Result<Self, AppError> {
        let first = first.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(0..=MAX_PAGE_SIZE).contains(&first) {
            return Err(AppError::bad_input(format!(
                "`first` must be between 0 and {MAX_PAGE_SIZE}, got {first}"
            )));
        }
        let after = after.map(decode_cursor).transpose()?;
        Ok(Self { first: first.unsigned_abs().into(), after })
    }
}

pub fn encode_cursor(key: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("k:{key}"))
}

pub fn decode_cursor(cursor: &str) -> Result<i64, AppError> {
    let bad = || AppError::bad_input("`after` is not a cursor this API gave out");
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    text.strip_prefix("k:").and_then(|n| n.parse().ok()).ok_or_else(bad)
}

#[derive(SimpleObject, Clone, Debug, Default)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

/// A connection type: built from a page's edges, info and total.
pub trait Paged {
    type Node;
    fn assemble(edges: Vec<(String, Self::Node)>, page_info: PageInfo, total: i32) -> Self;
}

macro_rules! connection {
    ($connection:ident, $edge:ident, $node:ty) => {
        #[derive(SimpleObject)]
        pub struct $edge {
            pub cursor: String,
            pub node: $node,
        }

        #[derive(SimpleObject)]
        pub struct $connection {
            pub edges: Vec<$edge>,
            pub page_info: PageInfo,
            pub total_count: i32,
        }

        impl Paged for $connection {
            type Node = $node;
            fn assemble(edges: Vec<(String, $node)>, page_info: PageInfo, total: i32) -> Self {
                let edges = edges.into_iter().map(|(cursor, node)| $edge { cursor, node }).collect();
                Self { edges, page_info, total_count: total }
            }
        }
    };
}

connection!(SchoolConnection, SchoolEdge, School);
connection!(StudentConnection, StudentEdge, Student);
connection!(StaffConnection, StaffEdge, Staff);
connection!(GuardianConnection, GuardianEdge, Guardian);
connection!(ClassConnection, ClassEdge, Class);
connection!(FamilyConnection, FamilyEdge, Family);
connection!(SyncRunConnection, SyncRunEdge, SyncRun);
connection!(DataQualityFindingConnection, DataQualityFindingEdge, DataQualityFinding);
connection!(HeldChangeConnection, HeldChangeEdge, HeldChange);
connection!(WebhookDeliveryConnection, WebhookDeliveryEdge, WebhookDelivery);

#[derive(SimpleObject)]
pub struct DeactivationEventEdge {
    pub cursor: String,
    pub node: DeactivationEvent,
}

/// The event log has no total: it only grows, and counting it would cost
/// a scan for a number nobody pages by.
#[derive(SimpleObject)]
pub struct DeactivationEventConnection {
    pub edges: Vec<DeactivationEventEdge>,
    pub page_info: PageInfo,
}

/// One page of keyed items, before they become GraphQL objects.
pub struct Page<T> {
    pub items: Vec<(i64, T)>,
    pub has_next: bool,
    pub has_previous: bool,
    pub total: u64,
}

impl<T> Page<T> {
    pub fn into_connection<C: Paged>(self, wrap: impl Fn(T) -> C::Node) -> C {
        let total = i32::try_from(self.total).unwrap_or(i32::MAX);
        let (edges, page_info) = self.edges(wrap);
        C::assemble(edges, page_info, total)
    }

    pub fn into_event_connection(self, wrap: impl Fn(T) -> DeactivationEvent) -> DeactivationEventConnection {
        let (edges, page_info) = self.edges(wrap);
        let edges = edges.into_iter().map(|(cursor, node)| DeactivationEventEdge { cursor, node }).collect();
        DeactivationEventConnection { edges, page_info }
    }

    fn edges<U>(self, wrap: impl Fn(T) -> U) -> (Vec<(String, U)>, PageInfo) {
        let edges: Vec<(String, U)> =
            self.items.into_iter().map(|(key, item)| (encode_cursor(key), wrap(item))).collect();
        let page_info = PageInfo {
            has_next_page: self.has_next,
            has_previous_page: self.has_previous,
            start_cursor: edges.first().map(|(cursor, _)| cursor.clone()),
            end_cursor: edges.last().map(|(cursor, _)| cursor.clone()),
        };
        (edges, page_info)
    }
}

/// Which way a list runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    OldestFirst,
    NewestFirst,
}

/// Whether the field being resolved selects its connection's `totalCount`
/// (through fragments and aliases too). Counting costs a second statement
/// that scans every matching row, so a list whose total nobody asked for
/// is not counted; its `totalCount` would then be unread.
pub fn wants_total(ctx: &Context<'_>) -> bool {
    ctx.look_ahead().field("totalCount").exists()
}

/// A directory list's page as its connection: by its integer key, in
/// `direction`. One statement for the rows, and one for the count only when
/// `totalCount` is selected ([`wants_total`]), whatever the page's size;
/// errors carry their `extensions.code`.
pub async fn connection_by_key<E, Conn>(
    ctx: &Context<'_>,
    select: Select<E>,
    key: E::Column,
    key_of: impl Fn(&E::Model) -> i64,
    (request, direction): (PageRequest, Direction),
    wrap: impl Fn(E::Model) -> Conn::Node,
) -> async_graphql::Result<Conn>
where
    E: EntityTrait,
    E::Model: Sync,
    Conn: Paged,
{
    let rc = crate::graphql::RequestContext::of(ctx)?;
    let page = page_by_key(&rc.db, select, key, key_of, request, direction, wants_total(ctx))
        .await
        .map_err(|err| async_graphql::ErrorExtensions::extend(&crate::error::AppError::from(err)))?;
    Ok(page.into_connection(wrap))
}

/// A list of the viewer's rows of `E` whose `owner` column is `owner_id`
/// (a trust's schools; a school's students, staff, guardians, classes and
/// sync runs)
/// as its connection, by id in `direction` (see [`connection_by_key`]):
/// `first` and `after` are checked before `narrow` (which may check a
/// filter) narrows the rows further.
pub async fn owned_connection<E, C, Conn>(
    ctx: &Context<'_>,
    (first, after): (Option<i32>, Option<String>),
    (owner, owner_id): (C, i32),
    direction: Direction,
    narrow: impl FnOnce(Select<E>) -> Result<Select<E>, AppError>,
    wrap: impl Fn(E::Model) -> Conn::Node,
) -> async_graphql::Result<Conn>
where
    E: super::loaders::Scoped,
    E::Model: Sync,
    C: ColumnTrait<EntityName = E>,
    Conn: Paged,
{
    let rc = super::RequestContext::of(ctx)?;
    let request = PageRequest::parse(first, after.as_deref()).gql()?;
    let select = narrow(E::scoped(&rc.viewer).filter(owner.eq(owner_id))).gql()?;
    connection_by_key(ctx, select, E::id_column(), |m| E::id_of(m).into(), (request, direction), wrap).await
}

/// Pages a query by its integer key column: one statement for the rows and,
/// when `with_total`, one for the count.
pub async fn page_by_key<E, C>(
    db: &C,
    select: Select<E>,
    key: E::Column,
    key_of: impl Fn(&E::Model) -> i64,
    request: PageRequest,
    direction: Direction,
    with_total: bool,
) -> Result<Page<E::Model>, DbErr>
where
    E: EntityTrait,
    E::Model: Sync,
    C: ConnectionTrait,
{
    let total = if with_total { select.clone().count(db).await? } else { 0 };
    let mut rows = select;
    if let Some(after) = request.after {
        rows = match direction {
            Direction::OldestFirst => rows.filter(key.gt(after)),
            Direction::NewestFirst => rows.filter(key.lt(after)),
        };
    }
    rows = match direction {
        Direction::OldestFirst => rows.order_by_asc(key),
        Direction::NewestFirst => rows.order_by_desc(key),
    };
    let mut models = rows.limit(request.first + 1).all(db).await?;
    let has_next = models.len() as u64 > request.first;
    models.truncate(usize::try_from(request.first).unwrap_or(usize::MAX));
    Ok(Page {
        items: models.into_iter().map(|m| (key_of(&m), m)).collect(),
        has_next,
        has_previous: request.after.is_some(),
        total,
    })
}

/// Pages items already in memory, sorted by key ascending.
pub fn page_in_memory<T>(items: Vec<(i64, T)>, request: PageRequest) -> Page<T> {
    let total = items.len() as u64;
    let first = usize::try_from(request.first).unwrap_or(usize::MAX);
    let mut rest: Vec<(i64, T)> =
        items.into_iter().filter(|(key, _)| request.after.is_none_or(|after| *key > after)).collect();
    let has_next = rest.len() > first;
    rest.truncate(first);
    Page { items: rest, has_next, has_previous: request.after.is_some(), total }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_requests_are_validated() -> Result<(), AppError> {
        assert_eq!(PageRequest::parse(None, None)?.first, 20);
        assert!(PageRequest::parse(Some(101), None).is_err());
        assert!(PageRequest::parse(Some(-1), None).is_err());
        assert!(PageRequest::parse(Some(5), Some("garbage")).is_err());
        let cursor = encode_cursor(77);
        assert_eq!(PageRequest::parse(Some(5), Some(&cursor))?.after, Some(77));
        Ok(())
    }

    #[test]
    fn in_memory_pages_walk_every_item_once() -> Result<(), AppError> {
        let items: Vec<(i64, i64)> = (1..=25).map(|k| (k, k)).collect();
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let request = PageRequest::parse(Some(10), after.as_deref())?;
            let page = page_in_memory(items.clone(), request);
            seen.extend(page.items.iter().map(|(k, _)| *k));
            match (page.has_next, page.items.last()) {
                (true, Some((key, _))) => after = Some(encode_cursor(*key)),
                _ => break,
            }
        }
        assert_eq!(seen, (1..=25).collect::<Vec<_>>());
        Ok(())
    }
}
