//! API token scopes: `api_token.scopes`, a space-separated list of what a
//! token may see beyond its role's default (`contact-details`); NULL or
//! empty for none.

crate::frame::add_column_migration!("api_token", string_len_null("scopes", 200));
