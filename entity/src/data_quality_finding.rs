//! A data-quality finding at one school: what its office should fix, with
//! the records involved (`records`, JSON) and a sentence (`detail`).
use crate::enums::*;
crate::entity_macros::plain_entity!("data_quality_finding" {
    pub school_id: i32,
    pub kind: DataQualityKind,
    pub sync_run_id: Option<i32>,
    pub detected_at: DateTimeUtc,
    pub records: String,
    pub detail: String,
});
