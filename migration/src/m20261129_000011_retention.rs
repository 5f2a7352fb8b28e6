//! Retention of leavers' data (issue 18): how long a trust keeps a
//! deactivated account's personal data (`trust.retention_days`, 365 by
//! default, 0 = never purge), when an account's personal data was erased
//! (`purged_at` on student, staff and guardian), and the one row that the
//! daily purge claims so that replicas never purge together.

use crate::columns::{add_column, drop_column, insert_singleton_row, singleton};
use sea_orm_migration::{prelude::*, schema::*};

crate::frame::migration!(up, down);

async fn up(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager.alter_table(add_column("trust", integer("retention_days").default(365))).await?;
    for person in ["student", "staff", "guardian"] {
        manager.alter_table(add_column(person, timestamp_with_time_zone_null("purged_at"))).await?;
    }
    let retention_state = singleton("retention_state")
        // Set when a replica claims a purge; cleared when it ends.
        .col(timestamp_with_time_zone_null("purging_since"))
        .col(timestamp_with_time_zone_null("last_purge_at"))
        // Accounts the last purge erased.
        .col(integer("last_purged").default(0))
        .to_owned();
    manager.create_table(retention_state).await?;
    insert_singleton_row(manager, "retention_state", "last_purged", "0").await
}

async fn down(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager.drop_table(Table::drop().table("retention_state").to_owned()).await?;
    for person in ["student", "staff", "guardian"] {
        manager.alter_table(drop_column(person, "purged_at")).await?;
    }
    manager.alter_table(drop_column("trust", "retention_days")).await
}
