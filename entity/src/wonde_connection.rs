//! A school's access to Wonde: status, what syncs, schedule, watermark and the encrypted token.
use crate::enums::*;
crate::entity_macros::plain_entity!("wonde_connection", timestamps {
    pub school_id: i32,
    pub status: ConnectionStatus,
    pub wonde_school_id: String,
    pub region_domain: Option<String>,
    pub token_ciphertext: Option<String>,
    pub sync_students: bool,
    pub sync_staff: bool,
    pub sync_guardians: bool,
    pub sync_classes: bool,
    pub sync_year_groups: bool,
    pub sync_form_groups: bool,
    pub full_every_secs: Option<i64>,
    pub incremental_every_secs: Option<i64>,
    pub watermark: Option<DateTimeUtc>,
    pub last_full_sync_at: Option<DateTimeUtc>,
    pub last_incremental_sync_at: Option<DateTimeUtc>,
    pub status_reason: Option<String>,
    pub requested_by_token_id: Option<i32>,
});
