//! A sync run's warnings: what the run noticed and worked around without
//! failing (a record Wonde sent twice in one fetch, taken once). Stored as
//! a JSON array of sentences; NULL means none.

crate::frame::add_column_migration!("sync_run", text_null("warnings"));
