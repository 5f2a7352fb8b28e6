//! A tutor's assignment to a form group. Ended memberships stay, inactive, for history.
crate::entity_macros::membership_entity!("form_tutor", form_group_id, staff_id);
