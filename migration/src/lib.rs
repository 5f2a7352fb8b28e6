//! Database migrations, applied in order by `onroll serve` and `onroll migrate`.
//!
//! Migrations are written with sea-query builders so that the same code creates
//! the schema on SQLite (the embedded default) and PostgreSQL (production).

// async_trait's expansion of `MigrationTrait` wants `&SchemaManager` without
// its lifetime, which rust_2018_idioms would otherwise flag in every migration.
#![allow(elided_lifetimes_in_paths)]

pub use sea_orm_migration::prelude::*;

mod columns;
mod frame;
mod m20261123_000001_create_directory;
mod m20261123_000002_catalog_state;
mod m20261129_000001_run_warnings;
mod m20261129_000002_school_day;
mod m20261129_000003_data_quality;
mod m20261129_000004_held_changes;
mod m20261129_000005_token_expiry;
mod m20261129_000006_run_attempts;
mod m20261129_000007_audit_log;
mod m20261129_000008_token_scopes;
mod m20261129_000009_webhook_deliveries;
mod m20261129_000010_webhook_endpoints;
mod m20261129_000011_retention;
mod m20261129_000012_upn_key_index;
mod m20261202_000001_link_school_keys;

/// Every migration of Onroll's schema, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_directory::Migration),
            Box::new(m20261123_000002_catalog_state::Migration),
            Box::new(m20261129_000001_run_warnings::Migration),
            Box::new(m20261129_000002_school_day::Migration),
            Box::new(m20261129_000003_data_quality::Migration),
            Box::new(m20261129_000004_held_changes::Migration),
            Box::new(m20261129_000005_token_expiry::Migration),
            Box::new(m20261129_000006_run_attempts::Migration),
            Box::new(m20261129_000007_audit_log::Migration),
            Box::new(m20261129_000008_token_scopes::Migration),
            Box::new(m20261129_000009_webhook_deliveries::Migration),
            Box::new(m20261129_000010_webhook_endpoints::Migration),
            Box::new(m20261129_000011_retention::Migration),
            Box::new(m20261129_000012_upn_key_index::Migration),
            Box::new(m20261202_000001_link_school_keys::Migration),
        ]
    }
}
