//! The tenant scope: every query a resolver makes starts here.
//!
//! A viewer sees the schools its token grants (all of its trust's schools
//! when it grants none), and only rows of those schools. Nobody sees another
//! trust. Rows outside the scope are indistinguishable from missing rows.

use entity::enums::Role;
use entity::*;
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
}

impl Viewer {
    pub fn sees_school(&self, school_id: i32) -> bool {
        self.school_ids.binary_search(&school_id).is_ok()
    }

    pub fn sees_trust(&self, trust_id: i32) -> bool {
        self.trust_id == trust_id
    }

    fn ids(&self) -> impl Iterator<Item = i32> + '_ {
        self.school_ids.iter().copied()
    }

    pub fn trusts(&self) -> Select<trust::Entity> {
        trust::Entity::find().filter(trust::Column::Id.eq(self.trust_id))
    }

    pub fn schools(&self) -> Select<school::Entity> {
        school::Entity::find().filter(school::Column::Id.is_in(self.ids()))
    }

    pub fn connections(&self) -> Select<wonde_connection::Entity> {
        wonde_connection::Entity::find().filter(wonde_connection::Column::SchoolId.is_in(self.ids()))
    }

    pub fn students(&self) -> Select<student::Entity> {
        student::Entity::find().filter(student::Column::SchoolId.is_in(self.ids()))
    }

    pub fn staff(&self) -> Select<staff::Entity> {
        staff::Entity::find().filter(staff::Column::SchoolId.is_in(self.ids()))
    }

    pub fn guardians(&self) -> Select<guardian::Entity> {
        guardian::Entity::find().filter(guardian::Column::SchoolId.is_in(self.ids()))
    }

    pub fn guardian_links(&self) -> Select<guardian_link::Entity> {
        guardian_link::Entity::find().filter(guardian_link::Column::SchoolId.is_in(self.ids()))
    }

    pub fn classes(&self) -> Select<class::Entity> {
        class::Entity::find().filter(class::Column::SchoolId.is_in(self.ids()))
    }

    pub fn year_groups(&self) -> Select<year_group::Entity> {
        year_group::Entity::find().filter(year_group::Column::SchoolId.is_in(self.ids()))
    }

    pub fn form_groups(&self) -> Select<form_group::Entity> {
        form_group::Entity::find().filter(form_group::Column::SchoolId.is_in(self.ids()))
    }

    pub fn class_students(&self) -> Select<class_student::Entity> {
        class_student::Entity::find().filter(class_student::Column::SchoolId.is_in(self.ids()))
    }

    pub fn class_teachers(&self) -> Select<class_teacher::Entity> {
        class_teacher::Entity::find().filter(class_teacher::Column::SchoolId.is_in(self.ids()))
    }

    pub fn year_students(&self) -> Select<year_student::Entity> {
        year_student::Entity::find().filter(year_student::Column::SchoolId.is_in(self.ids()))
    }

    pub fn form_students(&self) -> Select<form_student::Entity> {
        form_student::Entity::find().filter(form_student::Column::SchoolId.is_in(self.ids()))
    }

    pub fn form_tutors(&self) -> Select<form_tutor::Entity> {
        form_tutor::Entity::find().filter(form_tutor::Column::SchoolId.is_in(self.ids()))
    }

    pub fn sync_runs(&self) -> Select<sync_run::Entity> {
        sync_run::Entity::find().filter(sync_run::Column::SchoolId.is_in(self.ids()))
    }

    pub fn events(&self) -> Select<event::Entity> {
        event::Entity::find().filter(event::Column::SchoolId.is_in(self.ids()))
    }
}
