//! The public GraphQL API (schema-contract.graphql).
//!
//! Resolvers are thin: they ask the request's [`context::RequestContext`] for
//! a scoped query or a DataLoader, so the tenant scope and batching are
//! decided in one place each.

pub mod audit;
pub mod batching;
pub mod context;
pub mod enums;
pub mod filters;
pub mod ids;
pub mod inputs;
pub mod loaders;
pub mod mutation;
pub mod pagination;
pub mod query;
pub mod scalars;
pub mod schema;
pub mod subscription;
pub mod types;

pub use context::RequestContext;
pub use schema::{AppSchema, build_schema, sdl};
