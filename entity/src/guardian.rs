//! A guardian (a Wonde contact) at one school; `email_key` is the trimmed, case-folded email that joins families across schools.
crate::entity_macros::person_entity!("guardian" {
    pub title: Option<String>,
    pub email_key: Option<String>,
});
