//! Relations read with what they point at, in one statement a level: a
//! member's groups with their memberships, a student's guardian links
//! with the guardians (and a guardian's with the children). Read apart,
//! each was two statements a level (the ids, then the rows); joined, it is
//! one, which is what a query planned from its selection issues too
//! (issue 15: PostGraphile answers a student list with guardians and
//! classes in one statement; Onroll answers it in one per level).
//!
//! Both sides of every join are scoped to the viewer's schools, so a row
//! is read here only when the by-id loader would have answered it; the
//! resolvers feed the rows read beside a link into the request's by-id
//! caches, and the link's `guardian` or `student` field is then answered
//! from memory.

use async_graphql::dataloader::Loader;
use entity::{guardian, guardian_link, student};
use sea_orm::sea_query::NullOrdering;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, JoinType, Order, QueryFilter, QueryOrder,
    QuerySelect, RelationDef,
};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use super::loaders::{Membership, Scoped};
use crate::auth::Viewer;

type LoadResult<V> = Result<HashMap<i32, V>, Arc<DbErr>>;

/// A member's current groups (key: the member's id), in group id order:
/// `G` rows joined to the membership table `M` in one statement.
pub struct GroupsOfMember<M, G> {
    pub(super) db: DatabaseConnection,
    pub(super) viewer: Viewer,
    pub(super) marker: PhantomData<fn() -> (M, G)>,
}

impl<M, G> Loader<i32> for GroupsOfMember<M, G>
where
    M: Membership,
    M::Model: Send + Sync,
    G: Scoped,
    G::Model: Clone + Send + Sync + 'static,
{
    type Value = Vec<G::Model>;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[i32]) -> LoadResult<Vec<G::Model>> {
        let membership: RelationDef =
            M::belongs_to(G::default()).from(M::group_column()).to(G::id_column()).into();
        let rows = G::scoped(&self.viewer)
            .join_rev(JoinType::InnerJoin, membership)
            .filter(self.viewer.visible(M::school_column()))
            .filter(M::member_column().is_in(keys.iter().copied()))
            .filter(M::active_column().eq(true))
            .order_by_asc(G::id_column())
            .select_also(M::default())
            .all(&self.db)
            .await?;
        let mut out: HashMap<i32, Vec<G::Model>> = HashMap::new();
        for (group, membership) in rows {
            if let Some(membership) = membership {
                out.entry(M::pair(&membership).1).or_default().push(group);
            }
        }
        Ok(out)
    }
}

/// The person at the other end of a guardian link.
pub trait LinkedPerson: Scoped {
    /// The person's school: the scope of the person's own rows.
    fn school_column() -> Self::Column;
    /// The link's column that names this person.
    fn link_column() -> guardian_link::Column;
    /// The link's column that names the key: the other person.
    fn key_column() -> guardian_link::Column;
    fn key_of(link: &guardian_link::Model) -> i32;
}

/// `person: link column by key column (key field)`: a guardian is named
/// by a link's guardian id and keyed by its student id, and the other way
/// round.
macro_rules! linked_person {
    ($($person:ident: $link:ident by $key_column:ident ($key_field:ident)),+ $(,)?) => {$(
        impl LinkedPerson for $person::Entity {
            fn school_column() -> $person::Column {
                $person::Column::SchoolId
            }
            fn link_column() -> guardian_link::Column {
                guardian_link::Column::$link
            }
            fn key_column() -> guardian_link::Column {
                guardian_link::Column::$key_column
            }
            fn key_of(link: &guardian_link::Model) -> i32 {
                link.$key_field
            }
        }
    )+};
}

linked_person!(
    guardian: GuardianId by StudentId (student_id),
    student: StudentId by GuardianId (guardian_id),
);

/// Guardian links with the person at their other end: keyed by student
/// with `P` the guardian, or by guardian with `P` the student. Active
/// links first, then by contact priority (no priority last), then by id.
/// A link whose person the viewer cannot see is left out.
pub struct LinksWith<P> {
    pub(super) db: DatabaseConnection,
    pub(super) viewer: Viewer,
    pub(super) marker: PhantomData<fn() -> P>,
}

impl<P> Loader<i32> for LinksWith<P>
where
    P: LinkedPerson,
    P::Model: Clone + Send + Sync + 'static,
{
    type Value = Vec<(guardian_link::Model, P::Model)>;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[i32]) -> LoadResult<Vec<(guardian_link::Model, P::Model)>> {
        let person: RelationDef =
            guardian_link::Entity::belongs_to(P::default()).from(P::link_column()).to(P::id_column()).into();
        let rows = self
            .viewer
            .guardian_links()
            .join(JoinType::InnerJoin, person)
            .filter(self.viewer.visible(P::school_column()))
            .filter(P::key_column().is_in(keys.iter().copied()))
            .order_by_desc(guardian_link::Column::Active)
            // Same order on both engines: SQLite puts NULLs first by default.
            .order_by_with_nulls(guardian_link::Column::Priority, Order::Asc, NullOrdering::Last)
            .order_by_asc(guardian_link::Column::Id)
            .select_also(P::default())
            .all(&self.db)
            .await?;
        let mut out: HashMap<i32, Vec<(guardian_link::Model, P::Model)>> = HashMap::new();
        for (link, person) in rows {
            if let Some(person) = person {
                out.entry(P::key_of(&link)).or_default().push((link, person));
            }
        }
        Ok(out)
    }
}
