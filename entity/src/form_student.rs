//! A student's membership of a form group. Ended memberships stay, inactive, for history.
crate::entity_macros::membership_entity!("form_student", form_group_id, student_id);
