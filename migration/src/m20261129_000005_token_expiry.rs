//! API tokens that expire: `api_token.expires_at`, NULL for a token that
//! never does. A token past it is refused like a revoked one.

crate::frame::add_column_migration!("api_token", timestamp_with_time_zone_null("expires_at"));
