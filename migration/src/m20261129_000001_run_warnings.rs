//! A sync run's warnings: what the run noticed and worked around without
//! failing (a record Wonde sent twice in one fetch, taken once). Stored as
//! a JSON array of sentences; NULL means none.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000001_run_warnings"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table("sync_run").add_column(text_null("warnings")).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table("sync_run").drop_column("warnings").to_owned()).await
    }
}
