//! A year group of a school.
crate::entity_macros::group_entity!("year_group" {});
