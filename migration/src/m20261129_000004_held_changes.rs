//! Held changes: what the mass-deactivation guard doubted, waiting for an
//! administrator's decision, and the per-kind held counts of each run.

use crate::columns::{References, add_column, drop_column, index, with_id};
use sea_orm_migration::{prelude::*, schema::*};

crate::frame::migration!(up, down);

const RUN_COUNTS: [&str; 4] = ["students_held", "staff_held", "guardians_held", "groups_held"];

async fn up(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let held_change = with_id("held_change")
        .col(integer("trust_id"))
        .references("held_change", "school_id", "school")
        // STUDENT, STAFF, GUARDIAN, a group kind, or a
        // membership or link table: what `target_id` names.
        .col(string_len("target", 32))
        .col(integer("target_id"))
        // For a membership, its group and member; for a guardian
        // link, its student and guardian.
        .col(integer_null("group_id"))
        .col(integer_null("member_id"))
        // ABSENT_FROM_FULL_FETCH, DELETED_IN_MIS or NOT_LISTED.
        .col(string_len("evidence", 32))
        // The deactivation reason an account would get.
        .col(string_len_null("reason", 32))
        .col(string_len("status", 32))
        .col(integer_null("sync_run_id"))
        .col(timestamp_with_time_zone("held_at"))
        .col(timestamp_with_time_zone_null("decided_at"))
        // Who decided: the token's description, or `cli`.
        .col(string_len_null("decided_by", 200))
        .to_owned();
    manager.create_table(held_change).await?;
    manager.create_index(index("held_change", &["school_id", "status", "id"])).await?;
    for column in RUN_COUNTS {
        manager.alter_table(add_column("sync_run", integer(column).default(0))).await?;
    }
    Ok(())
}

async fn down(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    for column in RUN_COUNTS {
        manager.alter_table(drop_column("sync_run", column)).await?;
    }
    manager.drop_table(Table::drop().table("held_change").to_owned()).await
}
