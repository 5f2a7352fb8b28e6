//! sea-orm entities: one module per table of the directory.
//!
//! Relations are expressed as explicit queries in the service layer, so the
//! entities stay plain rows; enums are stored as their SCREAMING_CASE names.

pub mod api_token;
pub mod api_token_school;
pub mod audit_log;
pub mod class;
pub mod class_student;
pub mod class_teacher;
pub mod data_quality_finding;
mod entity_macros;
pub mod enums;
pub mod event;
pub mod form_group;
pub mod form_student;
pub mod form_tutor;
pub mod guardian;
pub mod guardian_link;
pub mod held_change;
pub mod retention_state;
pub mod school;
pub mod staff;
pub mod student;
pub mod sync_run;
pub mod trust;
pub mod webhook_attempt;
pub mod webhook_delivery;
pub mod webhook_endpoint;
pub mod webhook_fanout_state;
pub mod webhook_outbox;
pub mod wonde_catalog_school;
pub mod wonde_catalog_state;
pub mod wonde_connection;
pub mod year_group;
pub mod year_student;
