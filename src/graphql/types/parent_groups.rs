//! Parent groups in the API: the guardians of a year group, form group or
//! class (and of a year across the trust), their counts, and the log of
//! who joined and left (see `crate::parent_groups`).

use async_graphql::{Context, ID, Object, SimpleObject, Union};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use entity::enums::EventKind;
use entity::{event, guardian, guardian_link, student};
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::{Class, FormGroup, Guardian, GuardianLink, School, Student, SyncRun, YearGroup, required};
use crate::error::{AppError, ResultExt};
use crate::graphql::RequestContext;
use crate::graphql::enums::RelationshipType;
use crate::graphql::filters::GuardianFilter;
use crate::graphql::ids::{NodeType, decode_as, encode};
use crate::graphql::loaders::FamilyMember;
use crate::graphql::pagination::{PageInfo, PageRequest, decode_cursor, encode_cursor};
use crate::parent_groups::membership::GroupChange;
use crate::parent_groups::{self, Criteria, GroupRef, Reach, SortKey};

/// Validated paging for a guardian list: `first` is 0..100 (default 20),
/// `after` a cursor of this kind of list.
fn parse_page(first: Option<i32>, after: Option<&str>) -> Result<(u64, Option<SortKey>), AppError> {
    let first = PageRequest::parse(first, None)?.first;
    let after = after
        .map(SortKey::decode)
        .transpose()
        .map_err(|_| AppError::bad_input("`after` is not a cursor this list gave out"))?;
    Ok((first, after))
}

/// A page of a parent group: three statements (the page, the links behind
/// it, the children they reach), and a fourth for `totalCount` only when
/// it is asked for. Read here rather than through a loader: a loader's
/// batch may start while sibling connections still wait on their pages,
/// and split.
pub(super) async fn guardians_of(
    rc: &RequestContext,
    reach: Reach,
    first: Option<i32>,
    after: Option<String>,
    filter: Option<&GuardianFilter>,
) -> async_graphql::Result<GroupGuardianConnection> {
    let (first, after) = parse_page(first, after.as_deref()).gql()?;
    let criteria = GuardianFilter::criteria(filter).gql()?;
    let page =
        parent_groups::page(&rc.db, &rc.viewer, &reach, &criteria, first, after.as_ref()).await.gql()?;
    let ids: Vec<i32> = page.guardians.iter().map(|g| g.id).collect();
    let mut links: HashMap<i32, Vec<guardian_link::Model>> = HashMap::new();
    for link in parent_groups::links(&rc.db, &rc.viewer, &reach, &criteria, &ids).await.gql()? {
        links.entry(link.guardian_id).or_default().push(link);
    }
    let student_ids: BTreeSet<i32> = links.values().flatten().map(|l| l.student_id).collect();
    let students: HashMap<i32, student::Model> = if student_ids.is_empty() {
        HashMap::new()
    } else {
        let rows =
            rc.viewer.students().filter(student::Column::Id.is_in(student_ids)).all(&rc.db).await.gql()?;
        rows.into_iter().map(|s| (s.id, s)).collect()
    };
    let edges = page
        .guardians
        .into_iter()
        .map(|guardian| {
            let links = links.remove(&guardian.id).unwrap_or_default();
            let mut children: Vec<student::Model> =
                links.iter().filter_map(|l| students.get(&l.student_id)).cloned().collect();
            children.dedup_by_key(|c| c.id);
            GroupGuardianEdge { guardian, links, children }
        })
        .collect();
    Ok(GroupGuardianConnection {
        edges,
        has_next: page.has_next,
        has_previous: after.is_some(),
        reach,
        criteria,
    })
}

/// `guardianCount`: one statement.
pub(super) async fn count_of(
    rc: &RequestContext,
    reach: Reach,
    filter: Option<&GuardianFilter>,
) -> async_graphql::Result<i32> {
    let criteria = GuardianFilter::criteria(filter).gql()?;
    let count = parent_groups::count(&rc.db, &rc.viewer, &reach, &criteria).await.gql()?;
    Ok(i32::try_from(count).unwrap_or(i32::MAX))
}

/// Guardians of a group (or a year across the trust), by surname, forename
/// then record: a guardian with several children in the group is one edge.
pub struct GroupGuardianConnection {
    edges: Vec<GroupGuardianEdge>,
    has_next: bool,
    has_previous: bool,
    reach: Reach,
    criteria: Criteria,
}

#[Object]
impl GroupGuardianConnection {
    async fn edges(&self) -> &[GroupGuardianEdge] {
        &self.edges
    }

    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.has_next,
            has_previous_page: self.has_previous,
            start_cursor: self.edges.first().map(|e| SortKey::of(&e.guardian).encode()),
            end_cursor: self.edges.last().map(|e| SortKey::of(&e.guardian).encode()),
        }
    }

    /// Guardians on every page with this filter (one more statement).
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        let rc = RequestContext::of(ctx)?;
        let count = parent_groups::count(&rc.db, &rc.viewer, &self.reach, &self.criteria).await.gql()?;
        Ok(i32::try_from(count).unwrap_or(i32::MAX))
    }
}

/// One guardian of a group, with the links that put it there.
pub struct GroupGuardianEdge {
    guardian: guardian::Model,
    links: Vec<guardian_link::Model>,
    children: Vec<student::Model>,
}

#[Object]
impl GroupGuardianEdge {
    async fn cursor(&self) -> String {
        SortKey::of(&self.guardian).encode()
    }

    async fn node(&self) -> Guardian {
        Guardian(self.guardian.clone())
    }

    /// The guardian's children in the group (active, currently members)
    /// through links that meet the filter, by record.
    async fn children(&self) -> Vec<Student> {
        self.children.iter().cloned().map(Student).collect()
    }

    /// The relationship types of those links, each once.
    async fn relationships(&self) -> Vec<RelationshipType> {
        let mut types: Vec<entity::enums::RelationshipType> = Vec::new();
        for link in &self.links {
            if !types.contains(&link.relationship) {
                types.push(link.relationship);
            }
        }
        types.into_iter().map(Into::into).collect()
    }

    /// Those links, with parental responsibility and living arrangements
    /// per child.
    async fn links(&self) -> Vec<GuardianLink> {
        self.links.iter().cloned().map(GuardianLink).collect()
    }

    /// The guardian's family across the trust (`Family.id`): a household
    /// across schools, not a person (two parents share it; a person known
    /// at two schools is one email within it). Null without a family.
    async fn family_id(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<ID>> {
        let rc = RequestContext::of(ctx)?;
        let family = rc.loaders.family_of.load_one(FamilyMember::Guardian(self.guardian.id)).await.gql()?;
        Ok(family.map(|f| encode(NodeType::Family, f.key)))
    }
}

/// A group a guardian joined or left.
#[derive(Union)]
pub enum ParentGroup {
    YearGroup(YearGroup),
    FormGroup(FormGroup),
    Class(Class),
}

/// Whether a guardian joined or left a group.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupMembershipChangeKind {
    Joined,
    Left,
}

/// One guardian joining or leaving a parent group: one of the guardians
/// a group-change row of the event log names.
pub struct GroupMembershipChange {
    row: Arc<event::Model>,
    group: GroupRef,
    guardian: i32,
    /// The guardian's place in the row's list.
    index: usize,
}

/// A place in a school's group-change log: after the guardian at `index`
/// of row `id`, or after the whole row (`index: None`), which is what
/// cursors given out while a row named one guardian (`k:` + row id) mean.
/// Written `m:` + id + `.` + index (`g:` is the guardian lists').
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LogPlace {
    id: i64,
    index: Option<usize>,
}

impl LogPlace {
    fn encode(self) -> String {
        match self.index {
            Some(index) => URL_SAFE_NO_PAD.encode(format!("m:{}.{index}", self.id)),
            None => encode_cursor(self.id),
        }
    }

    fn decode(cursor: &str) -> Result<Self, AppError> {
        let bad = || AppError::bad_input("`after` is not a cursor this list gave out");
        let text = URL_SAFE_NO_PAD.decode(cursor.trim()).ok().and_then(|bytes| String::from_utf8(bytes).ok());
        if let Some(place) = text.as_deref().and_then(|t| t.strip_prefix("m:")) {
            let (id, index) = place.split_once('.').ok_or_else(bad)?;
            return Ok(Self {
                id: id.parse().map_err(|_| bad())?,
                index: Some(index.parse().map_err(|_| bad())?),
            });
        }
        Ok(Self { id: decode_cursor(cursor).map_err(|_| bad())?, index: None })
    }

    /// Whether the guardian at `index` of row `id` comes after this place.
    fn precedes(self, id: i64, index: usize) -> bool {
        id > self.id || (id == self.id && self.index.is_some_and(|mine| index > mine))
    }
}

#[Object]
impl GroupMembershipChange {
    /// Resume after this change with `after`.
    async fn cursor(&self) -> String {
        LogPlace { id: self.row.id, index: Some(self.index) }.encode()
    }

    async fn occurred_at(&self) -> DateTime<Utc> {
        self.row.occurred_at
    }

    async fn kind(&self) -> GroupMembershipChangeKind {
        if self.row.kind == EventKind::GuardianJoinedGroup {
            GroupMembershipChangeKind::Joined
        } else {
            GroupMembershipChangeKind::Left
        }
    }

    async fn school(&self, ctx: &Context<'_>) -> async_graphql::Result<School> {
        let rc = RequestContext::of(ctx)?;
        required(rc.loaders.schools.load_one(self.row.school_id).await, "event without school").map(School)
    }

    async fn guardian(&self, ctx: &Context<'_>) -> async_graphql::Result<Guardian> {
        let rc = RequestContext::of(ctx)?;
        required(rc.loaders.guardians.load_one(self.guardian).await, "group change guardian").map(Guardian)
    }

    /// The group (it may since have ended: see its own fields).
    async fn group(&self, ctx: &Context<'_>) -> async_graphql::Result<ParentGroup> {
        let rc = RequestContext::of(ctx)?;
        let l = &rc.loaders;
        Ok(match self.group {
            GroupRef::Year(id) => {
                ParentGroup::YearGroup(YearGroup(required(l.year_groups.load_one(id).await, "group")?))
            }
            GroupRef::Form(id) => {
                ParentGroup::FormGroup(FormGroup(required(l.form_groups.load_one(id).await, "group")?))
            }
            GroupRef::Class(id) => {
                ParentGroup::Class(Class(required(l.classes.load_one(id).await, "group")?))
            }
        })
    }

    /// The run that made the change; null for an approval or a disconnection.
    async fn sync_run(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<SyncRun>> {
        SyncRun::of(ctx, self.row.sync_run_id).await
    }
}

#[derive(SimpleObject)]
pub struct GroupMembershipChangeEdge {
    pub cursor: String,
    pub node: GroupMembershipChange,
}

/// Changes oldest first. Like the deactivation log it has no total.
#[derive(SimpleObject)]
pub struct GroupMembershipChangeConnection {
    pub edges: Vec<GroupMembershipChangeEdge>,
    pub page_info: PageInfo,
}

/// `groupMembershipChanges`: the log's joins and leaves (or only those of
/// `kind`) at a school the viewer sees, after a cursor; a school out of
/// scope has none. One statement: a row names at least one guardian, so
/// `first` + 2 rows hold a page and the change after it (the first row may
/// be the cursor's, spent).
pub async fn membership_changes(
    rc: &RequestContext,
    school_id: &ID,
    after: Option<&str>,
    first: Option<i32>,
    kind: Option<GroupMembershipChangeKind>,
) -> async_graphql::Result<GroupMembershipChangeConnection> {
    let first = PageRequest::parse(first, None).gql()?.first;
    let after = after.map(LogPlace::decode).transpose().gql()?;
    let school = decode_as(school_id, NodeType::School).gql()?;
    let kinds = match kind {
        None => vec![EventKind::GuardianJoinedGroup, EventKind::GuardianLeftGroup],
        Some(GroupMembershipChangeKind::Joined) => vec![EventKind::GuardianJoinedGroup],
        Some(GroupMembershipChangeKind::Left) => vec![EventKind::GuardianLeftGroup],
    };
    let mut select = rc
        .viewer
        .events()
        .filter(event::Column::SchoolId.eq(school))
        .filter(event::Column::Kind.is_in(kinds));
    if let Some(place) = after {
        select = select.filter(event::Column::Id.gte(place.id));
    }
    let rows = select
        .order_by_asc(event::Column::Id)
        .limit(first.saturating_add(2))
        .all(&rc.db)
        .await
        .map_err(AppError::from)
        .gql()?;
    let wanted = usize::try_from(first).unwrap_or(usize::MAX);
    let mut changes = Vec::new();
    let mut has_next_page = false;
    'rows: for row in rows {
        // Skipping it would spend a place of the LIMIT and could end the
        // list early (`hasNextPage: false` with changes after it).
        let change = GroupChange::of(&row)
            .ok_or(AppError::Internal("a parent-group entry of the log is unreadable"))
            .gql()?;
        let row = Arc::new(row);
        for (index, guardian) in change.guardians.into_iter().enumerate() {
            if after.is_some_and(|place| !place.precedes(row.id, index)) {
                continue;
            }
            if changes.len() == wanted {
                // One more than the page: there is a next page.
                has_next_page = true;
                break 'rows;
            }
            changes.push(GroupMembershipChange { row: row.clone(), group: change.group, guardian, index });
        }
    }
    let edges: Vec<GroupMembershipChangeEdge> = changes
        .into_iter()
        .map(|node| GroupMembershipChangeEdge {
            cursor: LogPlace { id: node.row.id, index: Some(node.index) }.encode(),
            node,
        })
        .collect();
    let page_info = PageInfo {
        has_next_page,
        has_previous_page: after.is_some(),
        start_cursor: edges.first().map(|e| e.cursor.clone()),
        end_cursor: edges.last().map(|e| e.cursor.clone()),
    };
    Ok(GroupMembershipChangeConnection { edges, page_info })
}

#[cfg(test)]
mod tests {
    use super::LogPlace;

    #[test]
    fn a_place_is_after_what_it_names() {
        let mid = LogPlace { id: 7, index: Some(2) };
        assert!(!mid.precedes(7, 2) && mid.precedes(7, 3) && mid.precedes(8, 0) && !mid.precedes(6, 9));
        let whole = LogPlace { id: 7, index: None };
        assert!(!whole.precedes(7, 499) && whole.precedes(8, 0));
        for place in [mid, whole] {
            assert_eq!(LogPlace::decode(&place.encode()).ok(), Some(place));
        }
        assert!(LogPlace::decode("nonsense").is_err());
        let malformed = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, "m:7");
        assert!(LogPlace::decode(&malformed).is_err());
    }
}
