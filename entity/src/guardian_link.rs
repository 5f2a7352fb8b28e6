//! The link between a student and a guardian, with the relationship as the MIS gives it.
use crate::enums::*;
crate::entity_macros::plain_entity!("guardian_link", timestamps {
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
});
