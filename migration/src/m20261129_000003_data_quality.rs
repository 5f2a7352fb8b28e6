//! Data-quality findings: what a school office should fix in its MIS, one
//! row per finding, recomputed by every run of the school.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000003_data_quality"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("data_quality_finding")
                    .col(pk_auto("id"))
                    .col(integer("school_id"))
                    .col(string_len("kind", 40))
                    // The run that first found it; null when found outside a run.
                    .col(integer_null("sync_run_id"))
                    .col(timestamp_with_time_zone("detected_at"))
                    // JSON: the accounts involved by kind, and source ids of
                    // records that were never stored.
                    .col(text("records"))
                    .col(text("detail"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_data_quality_finding_school_id")
                            .from("data_quality_finding", "school_id")
                            .to("school", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_data_quality_finding_school_id_id")
                    .table("data_quality_finding")
                    .col("school_id")
                    .col("id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("data_quality_finding").to_owned()).await
    }
}
