//! A multi-academy trust: the root every school belongs to.
crate::entity_macros::plain_entity!("trust" {
    pub name: String,
    /// IANA time zone of the trust's schools that have none of their own
    /// (CSV schools); none: Europe/London.
    pub timezone: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Days a deactivated account's personal data is kept (0: never purged).
    pub retention_days: i32,
});
