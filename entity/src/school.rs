//! A school of a trust, with the identifiers Wonde and the DfE give it.
crate::entity_macros::plain_entity!("school", timestamps {
    pub trust_id: i32,
    pub wonde_id: Option<String>,
    pub name: String,
    pub urn: Option<String>,
    pub la_code: Option<String>,
    pub establishment_number: Option<String>,
    pub phase: Option<String>,
    pub mis: Option<String>,
    pub postcode: Option<String>,
    /// IANA time zone (Wonde's `timezone`); none: the trust's, else Europe/London.
    pub timezone: Option<String>,
    /// The school's local date (YYYY-MM-DD) of its last completed run: the
    /// daily sweep of passed leaving dates is due when that date has gone.
    pub swept_on: Option<String>,
});
