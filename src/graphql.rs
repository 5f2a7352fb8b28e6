//! The public GraphQL API (schema-contract.graphql).
//!
//! Resolvers are thin: they ask the request's [`context::RequestContext`] for
//! a scoped query or a DataLoader, so the tenant scope and batching are
//! decided in one place each.

pub mod audit;
pub mod batching;
pub mod context;
pub mod cost;
pub mod enums;
pub mod event_rows;
pub mod family_pages;
pub mod filters;
pub mod ids;
pub mod inputs;
mod joined;
pub mod loaders;
pub mod metering;
pub mod mutation;
pub mod pagination;
pub mod query;
pub mod query_path;
mod query_webhooks;
mod roster_pages;
pub mod scalars;
pub mod schema;
pub mod selection_order;
pub mod subscription;
pub mod types;

pub use context::RequestContext;
pub use schema::{AppSchema, build_schema, sdl};
