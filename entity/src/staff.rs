//! A member of a school's staff (a Wonde employee).
crate::entity_macros::person_entity!("staff" {
    pub title: Option<String>,
    /// Last day of employment (YYYY-MM-DD), once the MIS gives one: the day
    /// after it, the account is deactivated without waiting for a change.
    pub employment_end: Option<String>,
});
