//! A form (registration) group of a school.
crate::entity_macros::group_entity!("form_group" {});
