//! Student, Staff, Guardian and the link between students and guardians.

use async_graphql::{Context, ID, Object};
use entity::{guardian, guardian_link, staff, student};

use super::account::{AccountNames, AccountRow, AccountStanding, ContactAccount};
use super::{Class, Family, FormGroup, YearGroup, listed, required};
use crate::error::ResultExt;
use crate::graphql::RequestContext;
use crate::graphql::enums::RelationshipType;
use crate::graphql::ids::{NodeType, encode};
use crate::graphql::joined::{LinkedPerson, LinksWith};
use crate::graphql::loaders::{ById, Cached, FamilyMember};

pub struct Student(pub student::Model);

#[Object]
impl Student {
    pub async fn id(&self, _ctx: &Context<'_>) -> async_graphql::Result<ID> {
        Ok(encode(NodeType::Student, self.0.id))
    }

    #[graphql(flatten)]
    async fn names(&self) -> AccountNames<'_> {
        self.0.names()
    }

    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }

    #[graphql(flatten)]
    async fn standing(&self) -> AccountStanding {
        self.0.standing()
    }

    async fn mis_id(&self) -> Option<&str> {
        self.0.mis_id.as_deref()
    }

    async fn upn(&self) -> Option<&str> {
        self.0.upn.as_deref()
    }

    /// The current year group: a student is in one at a time (the lowest
    /// id, should the MIS ever say two).
    async fn year_group(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<YearGroup>> {
        let years = &RequestContext::of(ctx)?.loaders.years_of_student;
        Ok(listed(years, self.0.id, YearGroup).await?.into_iter().next())
    }

    async fn form_group(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<FormGroup>> {
        let forms = &RequestContext::of(ctx)?.loaders.forms_of_student;
        Ok(listed(forms, self.0.id, FormGroup).await?.into_iter().next())
    }

    /// Current classes.
    async fn classes(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Class>> {
        listed(&RequestContext::of(ctx)?.loaders.classes_of_student, self.0.id, Class).await
    }

    /// Every link, current ones first, then by contact priority.
    async fn guardians(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<GuardianLink>> {
        let loaders = &RequestContext::of(ctx)?.loaders;
        links_fed(&loaders.links_of_student, &loaders.guardians, self.0.id).await
    }

    /// The family this child belongs to, across the trust's schools (the
    /// child's records at other schools join by a valid UPN, unless its
    /// records cannot be one child: two on roll at one school, or records
    /// under different names, `PUPILS_SHARE_UPN`); null when
    /// no guardian is linked to any of them.
    async fn family(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Family>> {
        family_of(ctx, FamilyMember::Student(self.0.id)).await
    }
}

pub struct Staff(pub staff::Model);

#[Object]
impl Staff {
    pub async fn id(&self, _ctx: &Context<'_>) -> async_graphql::Result<ID> {
        Ok(encode(NodeType::Staff, self.0.id))
    }

    #[graphql(flatten)]
    async fn account(&self) -> ContactAccount<'_> {
        ContactAccount(&self.0)
    }

    async fn mis_id(&self) -> Option<&str> {
        self.0.mis_id.as_deref()
    }

    async fn title(&self) -> Option<&str> {
        self.0.title.as_deref()
    }

    /// Classes this person currently teaches.
    async fn classes(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Class>> {
        listed(&RequestContext::of(ctx)?.loaders.classes_of_teacher, self.0.id, Class).await
    }

    /// Form groups this person currently tutors.
    async fn form_groups(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<FormGroup>> {
        listed(&RequestContext::of(ctx)?.loaders.forms_of_tutor, self.0.id, FormGroup).await
    }
}

pub struct Guardian(pub guardian::Model);

#[Object]
impl Guardian {
    pub async fn id(&self, _ctx: &Context<'_>) -> async_graphql::Result<ID> {
        Ok(encode(NodeType::Guardian, self.0.id))
    }

    #[graphql(flatten)]
    async fn account(&self) -> ContactAccount<'_> {
        ContactAccount(&self.0)
    }

    async fn title(&self) -> Option<&str> {
        self.0.title.as_deref()
    }

    /// Every link to a child at this school, current ones first.
    async fn children(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<GuardianLink>> {
        let loaders = &RequestContext::of(ctx)?.loaders;
        links_fed(&loaders.links_of_guardian, &loaders.students, self.0.id).await
    }

    /// The family across the trust's schools; null when no child is linked.
    async fn family(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Family>> {
        family_of(ctx, FamilyMember::Guardian(self.0.id)).await
    }
}

/// The family of a student or guardian, as Student and Guardian answer it.
async fn family_of(ctx: &Context<'_>, member: FamilyMember) -> async_graphql::Result<Option<Family>> {
    let rc = RequestContext::of(ctx)?;
    Ok(rc.loaders.family_of.load_one(member).await.gql()?.map(Family))
}

/// The links of `key`, with the person read beside each fed into the
/// request's by-id cache, so that the link's `guardian` (or `student`)
/// field is answered from memory rather than by another statement.
async fn links_fed<P>(
    links: &Cached<LinksWith<P>>,
    people: &Cached<ById<P>>,
    key: i32,
) -> async_graphql::Result<Vec<GuardianLink>>
where
    P: LinkedPerson,
    P::Model: Clone + Send + Sync + 'static,
{
    let links = links.load_one(key).await.gql()?.unwrap_or_default();
    people.feed_many(links.iter().map(|(_, person)| (P::id_of(person), person.clone()))).await;
    Ok(links.into_iter().map(|(link, _)| GuardianLink(link)).collect())
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
