//! A student on (or once on) a school's roll, keyed by (school, Wonde id).
crate::entity_macros::person_entity!("student" {
    pub upn: Option<String>,
    pub leaving_date: Option<String>,
});
