//! Authentication and tenant scoping.
//!
//! A request's bearer token becomes a [`Viewer`]; the viewer's scoped query
//! constructors ([`scope`]) are the only way resolvers start a query, so no
//! resolver can forget a tenant filter. Tokens authenticated in the last
//! few seconds are answered from a per-server [`cache`]. A revoked or
//! expired token is refused from its next request (a revocation empties the
//! caches: [`notice`] on PostgreSQL, [`revocation`]'s watch on SQLite), and
//! its open sockets are closed ([`revocation`]).

pub mod cache;
pub mod notice;
pub mod revocation;
pub mod scope;
pub mod token;

pub use cache::TokenCache;
pub use revocation::OpenSockets;
pub use scope::Viewer;
pub use token::{Ended, authenticate, generate_token, hash_token, token_ended};
