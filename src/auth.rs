//! Authentication and tenant scoping.
//!
//! A request's bearer token becomes a [`Viewer`]; the viewer's scoped query
//! constructors ([`scope`]) are the only way resolvers start a query, so no
//! resolver can forget a tenant filter.

pub mod scope;
pub mod token;

pub use scope::Viewer;
pub use token::{authenticate, generate_token, hash_token};
