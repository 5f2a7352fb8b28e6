//! A teacher's assignment to a class. Ended memberships stay, inactive, for history.
crate::entity_macros::membership_entity!("class_teacher", class_id, staff_id);
