//! Student, Staff, Guardian and the link between students and guardians.

use crate::graphql::scalars::DateTime;
use async_graphql::{Context, ID, Object};
use entity::{guardian, guardian_link, staff, student};

use super::{Class, Family, FormGroup, School, YearGroup, required};
use crate::error::ResultExt;
use crate::graphql::RequestContext;
use crate::graphql::enums::{AccountStatus, DeactivationReason, RelationshipType};
use crate::graphql::ids::{NodeType, encode};
use crate::graphql::loaders::FamilyMember;

pub struct Student(pub student::Model);

#[Object]
impl Student {
    pub async fn id(&self, _ctx: &Context<'_>) -> async_graphql::Result<ID> {
        Ok(encode(NodeType::Student, self.0.id))
    }

    async fn wonde_id(&self) -> &str {
        &self.0.wonde_id
    }

    async fn forename(&self) -> &str {
        &self.0.forename
    }

    async fn surname(&self) -> &str {
        &self.0.surname
    }

    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }

    async fn status(&self) -> AccountStatus {
        self.0.status.into()
    }

    async fn deactivated_at(&self) -> Option<DateTime> {
        self.0.deactivated_at.map(DateTime)
    }

    /// When the retention purge or an erasure erased this account's
    /// personal data (names empty, emails and MIS identifiers null from
    /// then on); null while it is held. docs/data-protection.md.
    async fn purged_at(&self) -> Option<DateTime> {
        self.0.purged_at.map(DateTime)
    }

    async fn deactivation_reason(&self) -> Option<DeactivationReason> {
        self.0.deactivation_reason.map(Into::into)
    }

    async fn school(&self, ctx: &Context<'_>) -> async_graphql::Result<School> {
        let rc = RequestContext::of(ctx)?;
        required(rc.loaders.schools.load_one(self.0.school_id).await, "account without school").map(School)
    }

    async fn mis_id(&self) -> Option<&str> {
        self.0.mis_id.as_deref()
    }

    async fn upn(&self) -> Option<&str> {
        self.0.upn.as_deref()
    }

    async fn year_group(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<YearGroup>> {
        let rc = RequestContext::of(ctx)?;
        let ids = rc.loaders.years_of_student.load_one(self.0.id).await.gql()?;
        let Some(&id) = ids.as_deref().and_then(<[i32]>::first) else { return Ok(None) };
        Ok(rc.loaders.year_groups.load_one(id).await.gql()?.map(YearGroup))
    }

    async fn form_group(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<FormGroup>> {
        let rc = RequestContext::of(ctx)?;
        let ids = rc.loaders.forms_of_student.load_one(self.0.id).await.gql()?;
        let Some(&id) = ids.as_deref().and_then(<[i32]>::first) else { return Ok(None) };
        Ok(rc.loaders.form_groups.load_one(id).await.gql()?.map(FormGroup))
    }

    /// Current classes.
    async fn classes(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Class>> {
        let rc = RequestContext::of(ctx)?;
        let ids = rc.loaders.classes_of_student.load_one(self.0.id).await.gql()?.unwrap_or_default();
        let mut classes = rc.loaders.classes.load_many(ids).await.gql()?.into_values().collect::<Vec<_>>();
        classes.sort_by_key(|c| c.id);
        Ok(classes.into_iter().map(Class).collect())
    }

    /// Every link, current ones first, then by contact priority.
    async fn guardians(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<GuardianLink>> {
        let rc = RequestContext::of(ctx)?;
        let links = rc.loaders.links_of_student.load_one(self.0.id).await.gql()?;
        Ok(links.unwrap_or_default().into_iter().map(GuardianLink).collect())
    }

    /// The family this child belongs to; null when no guardian is linked.
    async fn family(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Family>> {
        let rc = RequestContext::of(ctx)?;
        Ok(rc.loaders.family_of.load_one(FamilyMember::Student(self.0.id)).await.gql()?.map(Family))
    }
}

pub struct Staff(pub staff::Model);

#[Object]
impl Staff {
    pub async fn id(&self, _ctx: &Context<'_>) -> async_graphql::Result<ID> {
        Ok(encode(NodeType::Staff, self.0.id))
    }

    async fn wonde_id(&self) -> &str {
        &self.0.wonde_id
    }

    async fn forename(&self) -> &str {
        &self.0.forename
    }

    async fn surname(&self) -> &str {
        &self.0.surname
    }

    /// Null for integrators whose token lacks the `contact-details` scope.
    async fn email(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<&str>> {
        let rc = RequestContext::of(ctx)?;
        Ok(self.0.email.as_deref().filter(|_| rc.viewer.sees_contact_details()))
    }

    async fn status(&self) -> AccountStatus {
        self.0.status.into()
    }

    async fn deactivated_at(&self) -> Option<DateTime> {
        self.0.deactivated_at.map(DateTime)
    }

    /// When the retention purge or an erasure erased this account's
    /// personal data (names empty, emails and MIS identifiers null from
    /// then on); null while it is held. docs/data-protection.md.
    async fn purged_at(&self) -> Option<DateTime> {
        self.0.purged_at.map(DateTime)
    }

    async fn deactivation_reason(&self) -> Option<DeactivationReason> {
        self.0.deactivation_reason.map(Into::into)
    }

    async fn school(&self, ctx: &Context<'_>) -> async_graphql::Result<School> {
        let rc = RequestContext::of(ctx)?;
        required(rc.loaders.schools.load_one(self.0.school_id).await, "account without school").map(School)
    }

    async fn mis_id(&self) -> Option<&str> {
        self.0.mis_id.as_deref()
    }

    async fn title(&self) -> Option<&str> {
        self.0.title.as_deref()
    }

    /// Classes this person currently teaches.
    async fn classes(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Class>> {
        let rc = RequestContext::of(ctx)?;
        let ids = rc.loaders.classes_of_teacher.load_one(self.0.id).await.gql()?.unwrap_or_default();
        let mut classes = rc.loaders.classes.load_many(ids).await.gql()?.into_values().collect::<Vec<_>>();
        classes.sort_by_key(|c| c.id);
        Ok(classes.into_iter().map(Class).collect())
    }

    /// Form groups this person currently tutors.
    async fn form_groups(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<FormGroup>> {
        let rc = RequestContext::of(ctx)?;
        let ids = rc.loaders.forms_of_tutor.load_one(self.0.id).await.gql()?.unwrap_or_default();
        let mut forms = rc.loaders.form_groups.load_many(ids).await.gql()?.into_values().collect::<Vec<_>>();
        forms.sort_by_key(|f| f.id);
        Ok(forms.into_iter().map(FormGroup).collect())
    }
}

pub struct Guardian(pub guardian::Model);

#[Object]
impl Guardian {
    pub async fn id(&self, _ctx: &Context<'_>) -> async_graphql::Result<ID> {
        Ok(encode(NodeType::Guardian, self.0.id))
    }

    async fn wonde_id(&self) -> &str {
        &self.0.wonde_id
    }

    async fn forename(&self) -> &str {
        &self.0.forename
    }

    async fn surname(&self) -> &str {
        &self.0.surname
    }

    /// Null for integrators whose token lacks the `contact-details` scope.
    async fn email(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<&str>> {
        let rc = RequestContext::of(ctx)?;
        Ok(self.0.email.as_deref().filter(|_| rc.viewer.sees_contact_details()))
    }

    async fn status(&self) -> AccountStatus {
        self.0.status.into()
    }

    async fn deactivated_at(&self) -> Option<DateTime> {
        self.0.deactivated_at.map(DateTime)
    }

    /// When the retention purge or an erasure erased this account's
    /// personal data (names empty, emails and MIS identifiers null from
    /// then on); null while it is held. docs/data-protection.md.
    async fn purged_at(&self) -> Option<DateTime> {
        self.0.purged_at.map(DateTime)
    }

    async fn deactivation_reason(&self) -> Option<DeactivationReason> {
        self.0.deactivation_reason.map(Into::into)
    }

    async fn school(&self, ctx: &Context<'_>) -> async_graphql::Result<School> {
        let rc = RequestContext::of(ctx)?;
        required(rc.loaders.schools.load_one(self.0.school_id).await, "account without school").map(School)
    }

    async fn title(&self) -> Option<&str> {
        self.0.title.as_deref()
    }

    /// Every link to a child at this school, current ones first.
    async fn children(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<GuardianLink>> {
        let rc = RequestContext::of(ctx)?;
        let links = rc.loaders.links_of_guardian.load_one(self.0.id).await.gql()?;
        Ok(links.unwrap_or_default().into_iter().map(GuardianLink).collect())
    }

    /// The family across the trust's schools; null when no child is linked.
    async fn family(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Family>> {
        let rc = RequestContext::of(ctx)?;
        Ok(rc.loaders.family_of.load_one(FamilyMember::Guardian(self.0.id)).await.gql()?.map(Family))
    }
}

pub struct GuardianLink(pub guardian_link::Model);

#[Object]
impl GuardianLink {
    async fn student(&self, ctx: &Context<'_>) -> async_graphql::Result<Student> {
        let rc = RequestContext::of(ctx)?;
        required(rc.loaders.students.load_one(self.0.student_id).await, "link without student").map(Student)
    }

    async fn guardian(&self, ctx: &Context<'_>) -> async_graphql::Result<Guardian> {
        let rc = RequestContext::of(ctx)?;
        required(rc.loaders.guardians.load_one(self.0.guardian_id).await, "link without guardian")
            .map(Guardian)
    }

    /// The relationship's type, from an explicit table of whole MIS labels
    /// ("Step-father" is STEP_PARENT; "Godmother" and "Mum's partner" are
    /// OTHER, "Step-sister" OTHER_RELATIVE, "Parent" OTHER). A label the
    /// table does not name is OTHER; `relationshipLabel` keeps the MIS's words.
    async fn relationship(&self) -> RelationshipType {
        self.0.relationship.into()
    }

    /// The relationship as the MIS wrote it.
    async fn relationship_label(&self) -> Option<&str> {
        self.0.relationship_label.as_deref()
    }

    async fn parental_responsibility(&self) -> Option<bool> {
        self.0.parental_responsibility
    }

    async fn lives_with_student(&self) -> Option<bool> {
        self.0.lives_with_student
    }

    /// Contact priority: 1 is called first.
    async fn priority(&self) -> Option<i32> {
        self.0.priority
    }

    async fn active(&self) -> bool {
        self.0.active
    }
}
