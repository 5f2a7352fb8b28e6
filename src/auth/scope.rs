//! The tenant scope: every query a resolver makes starts here.
//!
//! A viewer sees the schools its token grants (all of its trust's schools
//! when it grants none), and only rows of those schools. Nobody sees another
//! trust. Rows outside the scope are indistinguishable from missing rows.

use entity::enums::Role;
use entity::*;
use sea_orm::sea_query::{Query, SimpleExpr};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Select};
use std::sync::Arc;

/// Who is asking, and what they may see.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub token_id: i32,
    pub role: Role,
    pub trust_id: i32,
    /// True when the token is not limited to named schools.
    pub whole_trust: bool,
    /// The schools this viewer may see, in id order.
    pub school_ids: Arc<Vec<i32>>,
    /// When the token stops working (`None`: never). A socket closes itself
    /// then; HTTP requests read the token afresh each time.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The token's scopes (`token create --scope`), e.g. [`CONTACT_DETAILS`].
    pub scopes: Arc<Vec<String>>,
}

/// The scope that lets an integrator see guardians' and staff's emails and
/// phone numbers (issue 13): personal contact details are for integrators
/// that need them, not for every directory reader.
pub const CONTACT_DETAILS: &str = "contact-details";

/// Every scope a token may be given.
pub const SCOPES: [&str; 1] = [CONTACT_DETAILS];

impl Viewer {
    /// Whether guardians' and staff's emails and phone numbers are shown:
    /// to admins always (product.md: they manage these people), to
    /// integrators only with the `contact-details` scope. Without it those
    /// fields are null and searches do not match them.
    pub fn sees_contact_details(&self) -> bool {
        self.role != Role::Integrator || self.scopes.iter().any(|s| s == CONTACT_DETAILS)
    }

    pub fn sees_school(&self, school_id: i32) -> bool {
        self.school_ids.binary_search(&school_id).is_ok()
    }

    pub fn sees_trust(&self, trust_id: i32) -> bool {
        self.trust_id == trust_id
    }

    /// `column IN (the viewer's schools)`. A trust-wide viewer's schools
    /// are read from the database in the same statement, so a school added
    /// to the trust during the request (by `connectWonde`) is visible at once.
    pub fn visible<C: ColumnTrait>(&self, column: C) -> SimpleExpr {
        if self.whole_trust {
            let schools = Query::select()
                .column(school::Column::Id)
                .from(school::Entity)
                .and_where(school::Column::TrustId.eq(self.trust_id))
                .to_owned();
            column.in_subquery(schools)
        } else {
            column.is_in(self.school_ids.iter().copied())
        }
    }

    pub fn trusts(&self) -> Select<trust::Entity> {
        trust::Entity::find().filter(trust::Column::Id.eq(self.trust_id))
    }

    pub fn schools(&self) -> Select<school::Entity> {
        school::Entity::find().filter(self.visible(school::Column::Id))
    }

    pub fn connections(&self) -> Select<wonde_connection::Entity> {
        wonde_connection::Entity::find().filter(self.visible(wonde_connection::Column::SchoolId))
    }

    pub fn students(&self) -> Select<student::Entity> {
        student::Entity::find().filter(self.visible(student::Column::SchoolId))
    }

    pub fn staff(&self) -> Select<staff::Entity> {
        staff::Entity::find().filter(self.visible(staff::Column::SchoolId))
    }

    pub fn guardians(&self) -> Select<guardian::Entity> {
        guardian::Entity::find().filter(self.visible(guardian::Column::SchoolId))
    }

    pub fn guardian_links(&self) -> Select<guardian_link::Entity> {
        guardian_link::Entity::find().filter(self.visible(guardian_link::Column::SchoolId))
    }

    pub fn classes(&self) -> Select<class::Entity> {
        class::Entity::find().filter(self.visible(class::Column::SchoolId))
    }

    pub fn year_groups(&self) -> Select<year_group::Entity> {
        year_group::Entity::find().filter(self.visible(year_group::Column::SchoolId))
    }

    pub fn form_groups(&self) -> Select<form_group::Entity> {
        form_group::Entity::find().filter(self.visible(form_group::Column::SchoolId))
    }

    pub fn class_students(&self) -> Select<class_student::Entity> {
        class_student::Entity::find().filter(self.visible(class_student::Column::SchoolId))
    }

    pub fn class_teachers(&self) -> Select<class_teacher::Entity> {
        class_teacher::Entity::find().filter(self.visible(class_teacher::Column::SchoolId))
    }

    pub fn year_students(&self) -> Select<year_student::Entity> {
        year_student::Entity::find().filter(self.visible(year_student::Column::SchoolId))
    }

    pub fn form_students(&self) -> Select<form_student::Entity> {
        form_student::Entity::find().filter(self.visible(form_student::Column::SchoolId))
    }

    pub fn form_tutors(&self) -> Select<form_tutor::Entity> {
        form_tutor::Entity::find().filter(self.visible(form_tutor::Column::SchoolId))
    }

    pub fn sync_runs(&self) -> Select<sync_run::Entity> {
        sync_run::Entity::find().filter(self.visible(sync_run::Column::SchoolId))
    }

    /// Data-quality findings; resolvers also require an admin role, since
    /// findings are for school offices, not integrators.
    pub fn data_quality_findings(&self) -> Select<data_quality_finding::Entity> {
        data_quality_finding::Entity::find().filter(self.visible(data_quality_finding::Column::SchoolId))
    }

    pub fn events(&self) -> Select<event::Entity> {
        event::Entity::find().filter(self.visible(event::Column::SchoolId))
    }
}
