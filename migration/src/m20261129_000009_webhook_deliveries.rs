//! Wonde webhook deliveries acted on, by a digest of what was delivered,
//! so that a repeated (replayed) delivery is recognised and changes
//! nothing. Wonde's payloads carry no delivery id nor time, so the same
//! body may honestly come again later (a second revocation after a
//! re-approval): a delivery repeats when it equals the last one recorded
//! for its school.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000009_webhook_deliveries"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("webhook_delivery")
                    .col(pk_auto("id"))
                    // SHA-256 (hex) of the delivery: never the body itself,
                    // which may carry a school's token.
                    .col(string_len("digest", 64))
                    .col(string_len("payload_type", 64))
                    .col(string_len_null("wonde_school_id", 64))
                    // What the delivery did: APPLIED, IGNORED, REFUSED.
                    .col(string_len("outcome", 32))
                    .col(timestamp_with_time_zone("received_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_webhook_delivery_wonde_school_id_id")
                    .table("webhook_delivery")
                    .col("wonde_school_id")
                    .col("id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("webhook_delivery").to_owned()).await
    }
}
