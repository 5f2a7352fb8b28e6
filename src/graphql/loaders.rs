//! DataLoaders: every relation of the schema is fetched through one of these,
//! so a request's statement count depends on its shape, not on how many rows
//! it returns. Each loader applies the viewer's scope.

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use entity::*;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use super::batching::Batching;
use super::joined::{GroupsOfMember, LinksWith};
use super::roster_pages::RosterPages;
use crate::auth::Viewer;
use crate::error::AppError;
use crate::families::{FamilyMembers, FamilySource};

type LoadResult<V> = Result<HashMap<i32, V>, Arc<DbErr>>;

/// Rows with an integer id and a scoped constructor.
pub trait Scoped: EntityTrait {
    fn scoped(viewer: &Viewer) -> Select<Self>;
    fn id_column() -> Self::Column;
    fn id_of(model: &Self::Model) -> i32;
}

macro_rules! scoped {
    ($($module:ident => $scope:ident),+ $(,)?) => {$(
        impl Scoped for $module::Entity {
            fn scoped(viewer: &Viewer) -> Select<Self> {
                viewer.$scope()
            }
            fn id_column() -> Self::Column {
                $module::Column::Id
            }
            fn id_of(model: &Self::Model) -> i32 {
                model.id
            }
        }
    )+};
}

scoped!(
    trust => trusts,
    school => schools,
    student => students,
    staff => staff,
    guardian => guardians,
    class => classes,
    year_group => year_groups,
    form_group => form_groups,
    sync_run => sync_runs,
);

/// Loads rows by id.
pub struct ById<E> {
    db: DatabaseConnection,
    viewer: Viewer,
    entity: PhantomData<fn() -> E>,
}

impl<E> Loader<i32> for ById<E>
where
    E: Scoped,
    E::Model: Clone + Send + Sync + 'static,
{
    type Value = E::Model;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[i32]) -> LoadResult<E::Model> {
        let rows =
            E::scoped(&self.viewer).filter(E::id_column().is_in(keys.iter().copied())).all(&self.db).await?;
        Ok(rows.into_iter().map(|m| (E::id_of(&m), m)).collect())
    }
}

/// A membership table: which group column, which member column.
pub trait Membership: EntityTrait {
    fn scoped(viewer: &Viewer) -> Select<Self>;
    fn group_column() -> Self::Column;
    fn member_column() -> Self::Column;
    fn active_column() -> Self::Column;
    fn school_column() -> Self::Column;
    fn pair(model: &Self::Model) -> (i32, i32);
}

macro_rules! membership {
    ($($module:ident => $scope:ident ($group:ident, $member:ident)),+ $(,)?) => {$(
        impl Membership for $module::Entity {
            fn scoped(viewer: &Viewer) -> Select<Self> {
                viewer.$scope()
            }
            fn group_column() -> Self::Column {
                $module::Column::$group
            }
            fn member_column() -> Self::Column {
                $module::Column::$member
            }
            fn active_column() -> Self::Column {
                $module::Column::Active
            }
            fn school_column() -> Self::Column {
                $module::Column::SchoolId
            }
            fn pair(model: &Self::Model) -> (i32, i32) {
                (model.group_id(), model.member_id())
            }
        }
    )+};
}

trait Pair {
    fn group_id(&self) -> i32;
    fn member_id(&self) -> i32;
}

macro_rules! pair {
    ($($module:ident ($group:ident, $member:ident)),+ $(,)?) => {$(
        impl Pair for $module::Model {
            fn group_id(&self) -> i32 { self.$group }
            fn member_id(&self) -> i32 { self.$member }
        }
    )+};
}

pair!(
    class_student(class_id, student_id),
    class_teacher(class_id, staff_id),
    year_student(year_group_id, student_id),
    form_student(form_group_id, student_id),
    form_tutor(form_group_id, staff_id),
);

membership!(
    class_student => class_students (ClassId, StudentId),
    class_teacher => class_teachers (ClassId, StaffId),
    year_student => year_students (YearGroupId, StudentId),
    form_student => form_students (FormGroupId, StudentId),
    form_tutor => form_tutors (FormGroupId, StaffId),
);

/// A group's current members (key: the group's id), as member ids in id
/// order: the staff of a class or form group. A member's groups are read
/// with the groups themselves (`joined::GroupsOfMember`).
pub struct Current<M> {
    db: DatabaseConnection,
    viewer: Viewer,
    marker: PhantomData<fn() -> M>,
}

impl<M> Loader<i32> for Current<M>
where
    M: Membership,
    M::Model: Send + Sync,
{
    type Value = Vec<i32>;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[i32]) -> LoadResult<Vec<i32>> {
        let rows = M::scoped(&self.viewer)
            .filter(M::group_column().is_in(keys.iter().copied()))
            .filter(M::active_column().eq(true))
            .all(&self.db)
            .await?;
        let mut out: HashMap<i32, Vec<i32>> = HashMap::new();
        for row in &rows {
            let (group, member) = M::pair(row);
            out.entry(group).or_default().push(member);
        }
        for values in out.values_mut() {
            values.sort_unstable();
        }
        Ok(out)
    }
}

/// A school's Wonde connection (key: school id).
pub struct ConnectionOfSchool {
    db: DatabaseConnection,
    viewer: Viewer,
}

impl Loader<i32> for ConnectionOfSchool {
    type Value = wonde_connection::Model;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[i32]) -> LoadResult<wonde_connection::Model> {
        let rows = self
            .viewer
            .connections()
            .filter(wonde_connection::Column::SchoolId.is_in(keys.iter().copied()))
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(|c| (c.school_id, c)).collect())
    }
}

/// A school's most recent sync run (key: school id).
pub struct LatestRunOfSchool {
    db: DatabaseConnection,
    viewer: Viewer,
}

impl Loader<i32> for LatestRunOfSchool {
    type Value = sync_run::Model;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[i32]) -> LoadResult<sync_run::Model> {
        let latest: Vec<Option<i32>> = self
            .viewer
            .sync_runs()
            .select_only()
            .column_as(sync_run::Column::Id.max(), "latest")
            .filter(sync_run::Column::SchoolId.is_in(keys.iter().copied()))
            .group_by(sync_run::Column::SchoolId)
            .into_tuple()
            .all(&self.db)
            .await?;
        let rows = sync_run::Entity::find()
            .filter(sync_run::Column::Id.is_in(latest.into_iter().flatten()))
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(|r| (r.school_id, r)).collect())
    }
}

/// A school's current year or form groups (key: school id), by name.
pub struct GroupsOfSchool<E> {
    db: DatabaseConnection,
    viewer: Viewer,
    entity: PhantomData<fn() -> E>,
}

macro_rules! groups_of_school {
    ($($module:ident => $scope:ident),+ $(,)?) => {$(
        impl Loader<i32> for GroupsOfSchool<$module::Entity> {
            type Value = Vec<$module::Model>;
            type Error = Arc<DbErr>;

            async fn load(&self, keys: &[i32]) -> LoadResult<Vec<$module::Model>> {
                let rows = self
                    .viewer
                    .$scope()
                    .filter($module::Column::SchoolId.is_in(keys.iter().copied()))
                    .filter($module::Column::Active.eq(true))
                    .order_by_asc($module::Column::Name)
                    .order_by_asc($module::Column::Id)
                    .all(&self.db)
                    .await?;
                let mut out: HashMap<i32, Vec<$module::Model>> = HashMap::new();
                for row in rows {
                    out.entry(row.school_id).or_default().push(row);
                }
                Ok(out)
            }
        }
    )+};
}

groups_of_school!(year_group => year_groups, form_group => form_groups);

/// A loader whose answers are kept for the rest of the request.
pub type Cached<T> = DataLoader<T, HashMapCache>;

/// Whose family: a student's or a guardian's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FamilyMember {
    Student(i32),
    Guardian(i32),
}

/// The family of a student or guardian, from the request's family index.
pub struct FamilyOf {
    source: Arc<FamilySource>,
}

impl Loader<FamilyMember> for FamilyOf {
    type Value = Arc<FamilyMembers>;
    type Error = Arc<AppError>;

    async fn load(
        &self,
        keys: &[FamilyMember],
    ) -> Result<HashMap<FamilyMember, Arc<FamilyMembers>>, Arc<AppError>> {
        let index = self.source.index().await.map_err(Arc::new)?;
        Ok(keys
            .iter()
            .filter_map(|key| {
                let family = match *key {
                    FamilyMember::Student(id) => index.of_student(id),
                    FamilyMember::Guardian(id) => index.of_guardian(id),
                };
                family.map(|f| (*key, f))
            })
            .collect())
    }
}

/// Every loader of one request.
pub struct Loaders {
    pub trusts: Cached<ById<trust::Entity>>,
    pub schools: Cached<ById<school::Entity>>,
    pub students: Cached<ById<student::Entity>>,
    pub staff: Cached<ById<staff::Entity>>,
    pub guardians: Cached<ById<guardian::Entity>>,
    pub classes: Cached<ById<class::Entity>>,
    pub year_groups: Cached<ById<year_group::Entity>>,
    pub form_groups: Cached<ById<form_group::Entity>>,
    pub sync_runs: Cached<ById<sync_run::Entity>>,
    pub connections: Cached<ConnectionOfSchool>,
    pub latest_runs: Cached<LatestRunOfSchool>,
    /// A student's guardian links with the guardians (`joined`).
    pub links_of_student: Cached<LinksWith<guardian::Entity>>,
    /// A guardian's links with the children (`joined`).
    pub links_of_guardian: Cached<LinksWith<student::Entity>>,
    pub classes_of_student: Cached<GroupsOfMember<class_student::Entity, class::Entity>>,
    pub class_teachers: Cached<Current<class_teacher::Entity>>,
    pub classes_of_teacher: Cached<GroupsOfMember<class_teacher::Entity, class::Entity>>,
    pub years_of_student: Cached<GroupsOfMember<year_student::Entity, year_group::Entity>>,
    pub forms_of_student: Cached<GroupsOfMember<form_student::Entity, form_group::Entity>>,
    pub form_tutors: Cached<Current<form_tutor::Entity>>,
    pub forms_of_tutor: Cached<GroupsOfMember<form_tutor::Entity, form_group::Entity>>,
    pub year_groups_of_school: Cached<GroupsOfSchool<year_group::Entity>>,
    pub form_groups_of_school: Cached<GroupsOfSchool<form_group::Entity>>,
    pub family_of: Cached<FamilyOf>,
    /// Roster pages, paged in SQL (`roster_pages`).
    pub class_pages: Cached<RosterPages<class_student::Entity>>,
    pub year_pages: Cached<RosterPages<year_student::Entity>>,
    pub form_pages: Cached<RosterPages<form_student::Entity>>,
}

impl Loaders {
    /// Turns caching off: a subscription lives long, and a person's status
    /// must be read as it is when each event goes out, not when the first did.
    pub fn without_cache(self) -> Self {
        macro_rules! off {
            ($($field:ident),+ $(,)?) => { $(self.$field.enable_all_cache(false);)+ };
        }
        off!(
            trusts,
            schools,
            students,
            staff,
            guardians,
            classes,
            year_groups,
            form_groups,
            sync_runs,
            connections,
            latest_runs,
            links_of_student,
            links_of_guardian,
            classes_of_student,
            class_teachers,
            classes_of_teacher,
            years_of_student,
            forms_of_student,
            form_tutors,
            forms_of_tutor,
            year_groups_of_school,
            form_groups_of_school,
            family_of,
            class_pages,
            year_pages,
            form_pages,
        );
        self
    }
}

/// Well under SQLite's and PostgreSQL's bound-parameter limits, and far
/// above a page (100) times its fan-out, so one level is one batch.
const MAX_BATCH: usize = 5_000;

/// Where a loader runs its batches.
#[derive(Clone)]
pub enum Spawner {
    /// As runtime tasks gated by the request, so that a batch holds a
    /// whole level (see [`Batching`]): HTTP requests.
    Gated(Batching),
    /// As ordinary tokio tasks, batching by time only: subscriptions, whose
    /// events are not one request with idle moments to wait for.
    Runtime,
}

impl Spawner {
    /// How long a batch waits for more keys after its first. A gated batch
    /// starts only once the request has nothing left to ask, so waiting
    /// longer would only add latency (async-graphql's default 1 ms, paid
    /// once per level of the query); batches by time keep that default.
    fn batch_delay(&self) -> std::time::Duration {
        match self {
            Self::Gated(_) => std::time::Duration::ZERO,
            Self::Runtime => std::time::Duration::from_millis(1),
        }
    }

    fn spawn(&self, task: futures::future::BoxFuture<'static, ()>) {
        match self {
            Self::Gated(batching) => batching.spawn(task),
            Self::Runtime => drop(tokio::spawn(task)),
        }
    }
}

impl Loaders {
    pub fn new(
        db: &DatabaseConnection,
        viewer: &Viewer,
        spawner: Spawner,
        families: Arc<FamilySource>,
    ) -> Self {
        macro_rules! loader {
            ($kind:ident { $($field:ident),* }) => {
                DataLoader::with_cache(
                    $kind { db: db.clone(), viewer: viewer.clone() $(, $field: PhantomData)* },
                    {
                        let spawner = spawner.clone();
                        move |task| spawner.spawn(task)
                    },
                    HashMapCache::default(),
                )
                .max_batch_size(MAX_BATCH)
                .delay(spawner.batch_delay())
            };
        }
        Self {
            trusts: loader!(ById { entity }),
            schools: loader!(ById { entity }),
            students: loader!(ById { entity }),
            staff: loader!(ById { entity }),
            guardians: loader!(ById { entity }),
            classes: loader!(ById { entity }),
            year_groups: loader!(ById { entity }),
            form_groups: loader!(ById { entity }),
            sync_runs: loader!(ById { entity }),
            connections: loader!(ConnectionOfSchool {}),
            latest_runs: loader!(LatestRunOfSchool {}),
            links_of_student: loader!(LinksWith { marker }),
            links_of_guardian: loader!(LinksWith { marker }),
            classes_of_student: loader!(GroupsOfMember { marker }),
            class_teachers: loader!(Current { marker }),
            classes_of_teacher: loader!(GroupsOfMember { marker }),
            years_of_student: loader!(GroupsOfMember { marker }),
            forms_of_student: loader!(GroupsOfMember { marker }),
            form_tutors: loader!(Current { marker }),
            forms_of_tutor: loader!(GroupsOfMember { marker }),
            year_groups_of_school: loader!(GroupsOfSchool { entity }),
            form_groups_of_school: loader!(GroupsOfSchool { entity }),
            class_pages: loader!(RosterPages { marker }),
            year_pages: loader!(RosterPages { marker }),
            form_pages: loader!(RosterPages { marker }),
            family_of: {
                let delay = spawner.batch_delay();
                DataLoader::with_cache(
                    FamilyOf { source: families },
                    move |task| spawner.spawn(task),
                    HashMapCache::default(),
                )
                .delay(delay)
            },
        }
    }
}
