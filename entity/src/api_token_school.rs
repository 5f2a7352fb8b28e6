//! The schools a school-admin or school-scoped integrator token may see.
crate::entity_macros::plain_entity!("api_token_school" {
    pub token_id: i32,
    pub school_id: i32,
});
