//! The Wonde catalog's refresh state: one row, so that every replica knows
//! whether a full refresh has happened (an incremental one needs it) and
//! only one replica refreshes at a time.

use crate::columns::{insert_singleton_row, singleton};
use sea_orm_migration::{prelude::*, schema::*};

crate::frame::migration!(up, down);

async fn up(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let wonde_catalog_state = singleton("wonde_catalog_state")
        .col(timestamp_with_time_zone_null("last_full_at"))
        .col(timestamp_with_time_zone_null("last_incremental_at"))
        // Set when a replica claims a refresh; cleared when it ends.
        .col(timestamp_with_time_zone_null("refreshing_since"))
        .col(timestamp_with_time_zone_null("last_attempt_at"))
        .col(string_len("last_outcome", 16))
        .col(string_null("last_message"))
        .to_owned();
    manager.create_table(wonde_catalog_state).await?;
    insert_singleton_row(manager, "wonde_catalog_state", "last_outcome", "'NEVER'").await
}

async fn down(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager.drop_table(Table::drop().table("wonde_catalog_state").to_owned()).await
}
