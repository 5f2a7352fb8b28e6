//! One audited act: a mutation or a data-changing CLI command, refusals
//! included. Append-only (the database refuses UPDATE and DELETE).
crate::entity_macros::plain_entity!("audit_log" {
    pub occurred_at: DateTimeUtc,
    /// The trust the act concerns, when known.
    pub trust_id: Option<i32>,
    /// `TOKEN` (an API token) or `CLI` (the operator's command line).
    pub actor_kind: String,
    pub actor_token_id: Option<i32>,
    /// The token's role (`TRUST_ADMIN`...), for a token.
    pub actor_role: Option<String>,
    /// The mutation's name (`triggerSync`) or the command (`token create`).
    pub action: String,
    pub school_id: Option<i32>,
    /// `OK`, or the refusal's code (`FORBIDDEN`, `NOT_FOUND`...).
    pub outcome: String,
    /// Ids and counts that identify the act; never secrets or personal data.
    pub detail: Option<String>,
});
