//! Outbound webhooks (issue 14): integrators' endpoints, the outbox of
//! deliveries (one row per endpoint and event), each attempt made, and the
//! fan-out cursor over the event log (one row, so replicas never fan out
//! the same events twice). Not to be confused with `webhook_delivery`,
//! which records Wonde's inbound webhooks.

use crate::columns::{References, Timestamps, index, insert_singleton_row, singleton, unique, with_id};
use sea_orm_migration::{prelude::*, schema::*};

crate::frame::migration!(up, down);

async fn up(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let webhook_endpoint = with_id("webhook_endpoint")
        .references("webhook_endpoint", "trust_id", "trust")
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
        .timestamps()
        .to_owned();
    manager.create_table(webhook_endpoint).await?;
    let webhook_outbox = with_id("webhook_outbox")
        .references("webhook_outbox", "endpoint_id", "webhook_endpoint")
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
        .to_owned();
    manager.create_table(webhook_outbox).await?;
    manager.create_index(unique("webhook_outbox", &["endpoint_id", "event_id"])).await?;
    manager.create_index(index("webhook_outbox", &["status", "next_attempt_at"])).await?;
    let webhook_attempt = with_id("webhook_attempt")
        .references("webhook_attempt", "outbox_id", "webhook_outbox")
        .col(timestamp_with_time_zone("attempted_at"))
        .col(integer_null("status_code"))
        .col(string_len_null("error", 300))
        .col(integer("duration_ms"))
        .to_owned();
    manager.create_table(webhook_attempt).await?;
    manager.create_index(index("webhook_attempt", &["outbox_id"])).await?;
    let webhook_fanout_state = singleton("webhook_fanout_state").col(big_integer("last_event_id")).to_owned();
    manager.create_table(webhook_fanout_state).await?;
    insert_singleton_row(manager, "webhook_fanout_state", "last_event_id", "0").await
}

async fn down(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    for table in ["webhook_fanout_state", "webhook_attempt", "webhook_outbox", "webhook_endpoint"] {
        manager.drop_table(Table::drop().table(table).to_owned()).await?;
    }
    Ok(())
}
