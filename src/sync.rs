//! Keeping a school's directory in step with its MIS.
//!
//! A source (Wonde, or CSV files) produces a [`source::Batch`]; [`reconcile`]
//! applies it in one transaction with the leaver rules and the guard.

pub mod analyze;
mod apply;
pub mod batch_write;
pub mod csv_import;
pub mod csv_source;
mod ends;
pub mod engine;
mod groups;
mod guardian_links;
pub mod held;
pub mod holds;
mod identity;
pub mod ledger;
mod memberships;
pub mod monitor;
pub mod preview;
pub mod progress;
pub mod reconcile;
mod rekeyed;
mod relationship;
pub mod runs;
pub mod schedule;
pub mod source;
pub mod wonde_source;
pub mod worker;

pub use engine::SyncEngine;

pub use relationship::relationship_type;
