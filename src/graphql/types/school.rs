//! Trust and School.

use async_graphql::{Context, ID, Object};
use entity::{class, guardian, school, staff, student, sync_run, trust};
use sea_orm::{ColumnTrait, QueryFilter, Select};

use super::parent_groups::{GroupGuardianConnection, count_of, guardians_of};
use super::{
    Class, Family, FormGroup, Guardian, Staff, Student, SyncRun, WondeConnection, YearGroup, listed,
};
use crate::error::ResultExt;
use crate::graphql::RequestContext;
use crate::graphql::family_pages::{FamilyCriteria, families_page};
use crate::graphql::filters::{
    self, FamilyFilter, GuardianFilter, StaffFilter, StudentCriteria, StudentFilter, TrustGuardianFilter,
};
use crate::graphql::ids::{NodeType, encode};
use crate::graphql::pagination::{
    ClassConnection, Direction, FamilyConnection, GuardianConnection, PageRequest, SchoolConnection,
    StaffConnection, StudentConnection, SyncRunConnection, owned_connection, page_in_memory,
};
use crate::parent_groups::Reach;

pub struct Trust(pub trust::Model);

#[Object]
impl Trust {
    pub async fn id(&self, _ctx: &Context<'_>) -> async_graphql::Result<ID> {
        Ok(encode(NodeType::Trust, self.0.id))
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Days a deactivated account's personal data is kept after its
    /// deactivation before the daily purge erases it (365 unless set with
    /// `updateRetentionPolicy`); 0: never purged. docs/data-protection.md.
    async fn retention_days(&self) -> i32 {
        self.0.retention_days
    }

    /// The trust's schools that the viewer may see.
    async fn schools(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<SchoolConnection> {
        let trust = (school::Column::TrustId, self.0.id);
        owned_connection(ctx, (first, after), trust, Direction::OldestFirst, Ok, School).await
    }

    /// Families across the viewer's schools of this trust.
    async fn families(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<FamilyFilter>,
    ) -> async_graphql::Result<FamilyConnection> {
        let rc = RequestContext::of(ctx)?;
        let request = PageRequest::parse(first, after.as_deref()).gql()?;
        if !rc.viewer.sees_trust(self.0.id) {
            return Ok(page_in_memory(Vec::new(), request).into_connection(Family));
        }
        let filter = FamilyCriteria {
            multi_school_only: filter.as_ref().and_then(|f| f.multi_school_only).unwrap_or(false),
            words: filters::search_words(filter.as_ref().and_then(|f| f.search.as_deref())).gql()?,
            counted: ctx.look_ahead().field("totalCount").exists(),
        };
        Ok(families_page(rc, request, &filter).await.gql()?.into_connection(Family))
    }

    /// Parents across the viewer's schools of this trust (with
    /// `yearGroupName`: of that year at every school, "Year 7 parents"),
    /// each guardian once per school record, with its family id (a
    /// household across schools; docs/parent-groups.md says how to message
    /// each person once). Same order and edges as `YearGroup.guardians`.
    async fn guardians(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<TrustGuardianFilter>,
    ) -> async_graphql::Result<GroupGuardianConnection> {
        let rc = RequestContext::of(ctx)?;
        let guardians = filter.as_ref().map(TrustGuardianFilter::guardian_filter);
        guardians_of(rc, self.reach(rc, filter.as_ref()), first, after, guardians.as_ref()).await
    }

    /// How many guardians `guardians` lists with this filter.
    async fn guardian_count(
        &self,
        ctx: &Context<'_>,
        filter: Option<TrustGuardianFilter>,
    ) -> async_graphql::Result<i32> {
        let rc = RequestContext::of(ctx)?;
        let guardians = filter.as_ref().map(TrustGuardianFilter::guardian_filter);
        count_of(rc, self.reach(rc, filter.as_ref()), guardians.as_ref()).await
    }
}

impl Trust {
    /// A trust the viewer does not see (never its own) reaches no school.
    fn reach(&self, rc: &RequestContext, filter: Option<&TrustGuardianFilter>) -> Reach {
        let trust_id = if rc.viewer.sees_trust(self.0.id) { self.0.id } else { -1 };
        match filter.and_then(|f| f.year_group_name.clone()) {
            Some(name) => Reach::TrustYear { trust_id, name },
            None => Reach::Trust { trust_id },
        }
    }
}

/// `urn`, `laCode` and `establishmentNumber`: the DfE's codes for a
/// school, which School and WondeSchoolCandidate flatten into their fields.
pub struct SchoolCodes<'a> {
    urn: Option<&'a str>,
    la_code: Option<&'a str>,
    establishment_number: Option<&'a str>,
}

impl<'a> SchoolCodes<'a> {
    pub fn of(urn: &'a Option<String>, la_code: &'a Option<String>, number: &'a Option<String>) -> Self {
        Self { urn: urn.as_deref(), la_code: la_code.as_deref(), establishment_number: number.as_deref() }
    }
}

#[Object]
impl SchoolCodes<'_> {
    async fn urn(&self) -> Option<&str> {
        self.urn
    }

    async fn la_code(&self) -> Option<&str> {
        self.la_code
    }

    async fn establishment_number(&self) -> Option<&str> {
        self.establishment_number
    }
}

/// `phase` and `mis`: what kind of school, and which MIS it keeps its
/// records in, which School and WondeSchoolCandidate flatten into their
/// fields.
pub struct SchoolProfile<'a> {
    phase: Option<&'a str>,
    mis: Option<&'a str>,
}

impl<'a> SchoolProfile<'a> {
    pub fn of(phase: &'a Option<String>, mis: &'a Option<String>) -> Self {
        Self { phase: phase.as_deref(), mis: mis.as_deref() }
    }
}

#[Object]
impl SchoolProfile<'_> {
    async fn phase(&self) -> Option<&str> {
        self.phase
    }

    async fn mis(&self) -> Option<&str> {
        self.mis
    }
}

pub struct School(pub school::Model);

#[Object]
impl School {
    pub async fn id(&self, _ctx: &Context<'_>) -> async_graphql::Result<ID> {
        Ok(encode(NodeType::School, self.0.id))
    }

    async fn wonde_id(&self) -> Option<&str> {
        self.0.wonde_id.as_deref()
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    #[graphql(flatten)]
    async fn codes(&self) -> SchoolCodes<'_> {
        SchoolCodes::of(&self.0.urn, &self.0.la_code, &self.0.establishment_number)
    }

    #[graphql(flatten)]
    async fn profile(&self) -> SchoolProfile<'_> {
        SchoolProfile::of(&self.0.phase, &self.0.mis)
    }

    async fn postcode(&self) -> Option<&str> {
        self.0.postcode.as_deref()
    }

    async fn trust(&self, ctx: &Context<'_>) -> async_graphql::Result<Trust> {
        let rc = RequestContext::of(ctx)?;
        super::required(rc.loaders.trusts.load_one(self.0.trust_id).await, "school without trust").map(Trust)
    }

    /// The school's Wonde connection; null for a CSV-fed school.
    async fn connection(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<WondeConnection>> {
        let rc = RequestContext::of(ctx)?;
        Ok(rc.loaders.connections.load_one(self.0.id).await.gql()?.map(WondeConnection))
    }

    /// Students of every status unless filtered, oldest record first.
    async fn students(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<StudentFilter>,
    ) -> async_graphql::Result<StudentConnection> {
        let school = (student::Column::SchoolId, self.0.id);
        let criteria = StudentCriteria::parse(filter.as_ref());
        let narrow = |rows: Select<student::Entity>| Ok(criteria?.apply(rows));
        owned_connection(ctx, (first, after), school, Direction::OldestFirst, narrow, Student).await
    }

    async fn staff(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<StaffFilter>,
    ) -> async_graphql::Result<StaffConnection> {
        let school = (staff::Column::SchoolId, self.0.id);
        let contact = RequestContext::of(ctx)?.viewer.sees_contact_details();
        let narrow = |rows| filters::apply_staff(filter.as_ref(), rows, contact);
        owned_connection(ctx, (first, after), school, Direction::OldestFirst, narrow, Staff).await
    }

    async fn guardians(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<GuardianFilter>,
    ) -> async_graphql::Result<GuardianConnection> {
        let school = (guardian::Column::SchoolId, self.0.id);
        let contact = RequestContext::of(ctx)?.viewer.sees_contact_details();
        let narrow = |rows| filters::apply_guardian(filter.as_ref(), rows, contact);
        owned_connection(ctx, (first, after), school, Direction::OldestFirst, narrow, Guardian).await
    }

    /// Current classes.
    async fn classes(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<ClassConnection> {
        let school = (class::Column::SchoolId, self.0.id);
        let current = |rows: Select<class::Entity>| Ok(rows.filter(class::Column::Active.eq(true)));
        owned_connection(ctx, (first, after), school, Direction::OldestFirst, current, Class).await
    }

    /// Current year groups, by name.
    async fn year_groups(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<YearGroup>> {
        listed(&RequestContext::of(ctx)?.loaders.year_groups_of_school, self.0.id, YearGroup).await
    }

    /// Current form groups, by name.
    async fn form_groups(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<FormGroup>> {
        listed(&RequestContext::of(ctx)?.loaders.form_groups_of_school, self.0.id, FormGroup).await
    }

    /// Sync runs, newest first.
    async fn sync_runs(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<SyncRunConnection> {
        let school = (sync_run::Column::SchoolId, self.0.id);
        owned_connection(ctx, (first, after), school, Direction::NewestFirst, Ok, SyncRun).await
    }
}
