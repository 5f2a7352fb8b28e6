//! API tokens that expire: `api_token.expires_at`, NULL for a token that
//! never does. A token past it is refused like a revoked one.

use crate::columns::{add_column, drop_column};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(add_column("api_token", timestamp_with_time_zone_null("expires_at"))).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(drop_column("api_token", "expires_at")).await
    }
}
