//! A teaching class of a school.
crate::entity_macros::group_entity!("class" {
    pub subject: Option<String>,
});
