//! A sync run's warnings: what the run noticed and worked around without
//! failing (a record Wonde sent twice in one fetch, taken once). Stored as
//! a JSON array of sentences; NULL means none.

use crate::columns::{add_column, drop_column};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(add_column("sync_run", text_null("warnings"))).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(drop_column("sync_run", "warnings")).await
    }
}
