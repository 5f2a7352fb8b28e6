//! API token scopes: `api_token.scopes`, a space-separated list of what a
//! token may see beyond its role's default (`contact-details`); NULL or
//! empty for none.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000008_token_scopes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table("api_token").add_column(string_len_null("scopes", 200)).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table("api_token").drop_column("scopes").to_owned()).await
    }
}
