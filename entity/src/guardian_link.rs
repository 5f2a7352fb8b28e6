//! The link between a student and a guardian, with the relationship as the MIS gives it.
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "guardian_link")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub school_id: i32,
    pub student_id: i32,
    pub guardian_id: i32,
    pub relationship: RelationshipType,
    pub relationship_label: Option<String>,
    pub parental_responsibility: Option<bool>,
    pub lives_with_student: Option<bool>,
    pub priority: Option<i32>,
    pub active: bool,
    pub ended_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
