//! How many times a run has been claimed: a run whose process died is
//! taken over by another, a bounded number of times.

crate::frame::add_column_migration!("sync_run", integer("attempts").default(0));
