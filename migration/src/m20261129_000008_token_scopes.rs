//! API token scopes: `api_token.scopes`, a space-separated list of what a
//! token may see beyond its role's default (`contact-details`); NULL or
//! empty for none.

use crate::columns::{add_column, drop_column};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(add_column("api_token", string_len_null("scopes", 200))).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(drop_column("api_token", "scopes")).await
    }
}
