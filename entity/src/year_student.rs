//! A student's membership of a year group. Ended memberships stay, inactive, for history.
crate::entity_macros::membership_entity!("year_student", year_group_id, student_id);
