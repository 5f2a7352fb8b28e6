//! A student's place in a class. Ended memberships stay, inactive, for history.
crate::entity_macros::membership_entity!("class_student", class_id, student_id);
