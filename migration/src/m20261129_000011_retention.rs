//! Retention of leavers' data (issue 18): how long a trust keeps a
//! deactivated account's personal data (`trust.retention_days`, 365 by
//! default, 0 = never purge), when an account's personal data was erased
//! (`purged_at` on student, staff and guardian), and the one row that the
//! daily purge claims so that replicas never purge together.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000011_retention"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table("trust").add_column(integer("retention_days").default(365)).to_owned(),
            )
            .await?;
        for person in ["student", "staff", "guardian"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(person)
                        .add_column(timestamp_with_time_zone_null("purged_at"))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("retention_state")
                    .col(integer("id").primary_key())
                    // Set when a replica claims a purge; cleared when it ends.
                    .col(timestamp_with_time_zone_null("purging_since"))
                    .col(timestamp_with_time_zone_null("last_purge_at"))
                    // Accounts the last purge erased.
                    .col(integer("last_purged").default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared("INSERT INTO retention_state (id, last_purged) VALUES (1, 0)")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("retention_state").to_owned()).await?;
        for person in ["student", "staff", "guardian"] {
            manager.alter_table(Table::alter().table(person).drop_column("purged_at").to_owned()).await?;
        }
        manager.alter_table(Table::alter().table("trust").drop_column("retention_days").to_owned()).await
    }
}
