//! Wonde webhook deliveries acted on, by a digest of what was delivered,
//! so that a repeated (replayed) delivery is recognised and changes
//! nothing. Wonde's payloads carry no delivery id nor time, so the same
//! body may honestly come again later (a second revocation after a
//! re-approval): a delivery repeats when it equals the last one recorded
//! for its school.

use crate::columns::{index, with_id};
use sea_orm_migration::{prelude::*, schema::*};

crate::frame::migration!(up, down);

async fn up(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let webhook_delivery = with_id("webhook_delivery")
        // SHA-256 (hex) of the delivery: never the body itself,
        // which may carry a school's token.
        .col(string_len("digest", 64))
        .col(string_len("payload_type", 64))
        .col(string_len_null("wonde_school_id", 64))
        // What the delivery did: APPLIED, IGNORED, REFUSED.
        .col(string_len("outcome", 32))
        .col(timestamp_with_time_zone("received_at"))
        .to_owned();
    manager.create_table(webhook_delivery).await?;
    manager.create_index(index("webhook_delivery", &["wonde_school_id", "id"])).await
}

async fn down(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager.drop_table(Table::drop().table("webhook_delivery").to_owned()).await
}
