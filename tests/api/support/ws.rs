//! The `graphql-transport-ws` client the tests and benchmarks use; it lives
//! in the library (`onroll bench` needs it too).

pub use onroll::bench::ws::*;
