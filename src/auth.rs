//! Authentication and tenant scoping.
//!
//! A request's bearer token becomes a [`Viewer`]; the viewer's scoped query
//! constructors ([`scope`]) are the only way resolvers start a query, so no
//! resolver can forget a tenant filter. A revoked or expired token is
//! refused from its next request, and its open sockets are closed
//! ([`revocation`]).

pub mod revocation;
pub mod scope;
pub mod token;

pub use revocation::OpenSockets;
pub use scope::Viewer;
pub use token::{Ended, authenticate, generate_token, hash_token, token_ended};
