//! Data-quality findings: what a school office should fix in its MIS, one
//! row per finding, recomputed by every run of the school.

use crate::columns::{References, index, with_id};
use sea_orm_migration::{prelude::*, schema::*};

crate::frame::migration!(up, down);

async fn up(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let data_quality_finding = with_id("data_quality_finding")
        .references("data_quality_finding", "school_id", "school")
        .col(string_len("kind", 40))
        // The run that first found it; null when found outside a run.
        .col(integer_null("sync_run_id"))
        .col(timestamp_with_time_zone("detected_at"))
        // JSON: the accounts involved by kind, and source ids of
        // records that were never stored.
        .col(text("records"))
        .col(text("detail"))
        .to_owned();
    manager.create_table(data_quality_finding).await?;
    manager.create_index(index("data_quality_finding", &["school_id", "id"])).await
}

async fn down(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager.drop_table(Table::drop().table("data_quality_finding").to_owned()).await
}
