//! Outbound webhooks (issue 14): integrators' endpoints, the outbox of
//! deliveries (one row per endpoint and event), each attempt made, and the
//! fan-out cursor over the event log (one row, so replicas never fan out
//! the same events twice). Not to be confused with `webhook_delivery`,
//! which records Wonde's inbound webhooks.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000010_webhook_endpoints"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("webhook_endpoint")
                    .col(pk_auto("id"))
                    .col(integer("trust_id"))
                    .col(string_len("url", 2048))
                    .col(string_len_null("description", 500))
                    // Event types wanted, comma-separated (DEACTIVATED,...).
                    .col(string_len("event_types", 500))
                    // School ids, comma-separated; NULL: every school of the trust.
                    .col(text_null("school_ids"))
                    // `whsec_...` sealed with ONROLL_SECRET_KEY.
                    .col(text("secret_sealed"))
                    // The secret before the last rotation, signing beside the
                    // new one until `previous_secret_expires_at`.
                    .col(text_null("previous_secret_sealed"))
                    .col(timestamp_with_time_zone_null("previous_secret_expires_at"))
                    .col(boolean("enabled"))
                    // Why it was disabled: ADMIN, GONE (410), FAILING (5 days).
                    .col(string_len_null("disabled_reason", 32))
                    // When its deliveries started failing without a success since.
                    .col(timestamp_with_time_zone_null("failing_since"))
                    // Events up to this id were in the log before the endpoint
                    // existed: they are delivered only by a replay.
                    .col(big_integer("after_event_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_endpoint_trust_id")
                            .from("webhook_endpoint", "trust_id")
                            .to("trust", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("webhook_outbox")
                    .col(pk_auto("id"))
                    .col(integer("endpoint_id"))
                    .col(big_integer("event_id"))
                    // PENDING, DELIVERED or FAILED.
                    .col(string_len("status", 32))
                    .col(integer("attempts"))
                    .col(timestamp_with_time_zone("next_attempt_at"))
                    // A replica's lease on the row while it delivers.
                    .col(timestamp_with_time_zone_null("claimed_until"))
                    .col(integer_null("last_status_code"))
                    .col(string_len_null("last_error", 300))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("last_attempt_at"))
                    .col(timestamp_with_time_zone_null("delivered_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_outbox_endpoint_id")
                            .from("webhook_outbox", "endpoint_id")
                            .to("webhook_endpoint", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_webhook_outbox_endpoint_id_event_id")
                    .table("webhook_outbox")
                    .col("endpoint_id")
                    .col("event_id")
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_webhook_outbox_status_next_attempt_at")
                    .table("webhook_outbox")
                    .col("status")
                    .col("next_attempt_at")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("webhook_attempt")
                    .col(pk_auto("id"))
                    .col(integer("outbox_id"))
                    .col(timestamp_with_time_zone("attempted_at"))
                    .col(integer_null("status_code"))
                    .col(string_len_null("error", 300))
                    .col(integer("duration_ms"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_attempt_outbox_id")
                            .from("webhook_attempt", "outbox_id")
                            .to("webhook_outbox", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_webhook_attempt_outbox_id")
                    .table("webhook_attempt")
                    .col("outbox_id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("webhook_fanout_state")
                    .col(integer("id").primary_key())
                    .col(big_integer("last_event_id"))
                    .to_owned(),
            )
            .await?;
        let seed = Query::insert()
            .into_table("webhook_fanout_state")
            .columns(["id", "last_event_id"])
            .values_panic([1.into(), 0i64.into()])
            .to_owned();
        manager.exec_stmt(seed).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["webhook_fanout_state", "webhook_attempt", "webhook_outbox", "webhook_endpoint"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
