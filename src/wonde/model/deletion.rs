//! An entry of the deletions feed.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::wonde::lenient;

wonde_record! {
    /// An entry of the deletions feed.
    #[derive(Clone, Debug, Deserialize)]
    pub struct WondeDeletion {
        /// `student`, `employee`, `contact`, `class`, `group`...
        #[serde(default, rename = "type", deserialize_with = "lenient::string")]
        pub record_type: Option<String>,
        /// The deleted record's Wonde id.
        #[serde(deserialize_with = "lenient::id")]
        pub id: String,
        pub mis_id: Option<String>,
        pub deleted_at: Option<DateTime<Utc>>,
        /// Set when the record came back with the same MIS id: not a deletion
        /// any more.
        pub restored_at: Option<DateTime<Utc>>,
    }
}
