//! Onroll: a GraphQL directory of a multi-academy trust's schools, mirrored
//! from each school's MIS through Wonde.
//!
//! Read in this order: [`cli`] (what the binary does), [`server`] (how the
//! HTTP app is put together), [`auth`] (who is asking and what they may see),
//! [`graphql`] (the public API), then [`families`] (the trust-wide family
//! rule). ARCHITECTURE.md maps the data's path from Wonde to a subscriber.

/// Asking Wonde for access to a school (the request, then PENDING).
pub mod access_requests;
/// The append-only audit log: who changed what, where, when, how it ended.
pub mod audit;
/// Who is asking: API tokens, roles and the tenant scope every query obeys.
pub mod auth;
/// `onroll bench`: this machine measured, one markdown table of figures
/// against baselines from the same run.
pub mod bench;
/// Wonde's school directory, mirrored locally for search.
pub mod catalog;
/// Command-line entry points (`serve`, `migrate`, `schema`, `trust`, `token`).
pub mod cli;
mod cli_args;
mod cli_audit;
mod cli_held;
mod cli_out;
mod cli_retention;
mod cli_tokens;
/// Configuration from the environment and flags.
pub mod config;
/// A school's Wonde connection: status changes and its sealed token.
pub mod connections;
/// Encryption of stored Wonde tokens with `ONROLL_SECRET_KEY`.
pub mod crypto;
/// Connecting to SQLite or PostgreSQL and applying migrations.
pub mod db;
/// `onroll demo`: the server with an in-process simulator, for newcomers.
pub mod demo;
/// The demo's webhook receiver: signed deliveries verified and listed.
pub mod demo_receiver;
/// The one error type of the request path and its GraphQL codes.
pub mod error;
/// Committed events, fanned out to in-process subscribers.
pub mod events;
/// Families: guardians matched across schools by email, children by UPN.
pub mod families;
/// The GraphQL schema: types, resolvers, loaders, IDs and pagination.
pub mod graphql;
/// HTTP routes: GraphQL, GraphiQL, health, the SDL.
pub mod http;
/// Limits on cost, time, rate and sockets, and the state that enforces them.
pub mod limits;
/// Parent groups: the guardians of a year group, form or class, and
/// their joins and leaves.
pub mod parent_groups;
/// Data-quality findings: what a school office should fix, refreshed by
/// every run.
pub mod quality;
/// Retention of leavers' data, subject access and erasure (issue 18).
pub mod retention;
/// The school's own "today": time zones and the clock dates are judged by.
pub mod school_day;

/// The log's format (text or JSON) and levels.
pub mod logging;
pub mod schools;
/// Search words as SQL conditions.
pub mod search;
/// Building and running the server until it is told to stop.
pub mod server;
/// Reconciling a school's directory with what its MIS reports.
pub mod sync;
/// Prometheus metrics: the process's recorder and what is counted.
pub mod telemetry;
/// Trusts and tokens as the operator creates them.
pub mod tenancy;
/// England's Unique Pupil Number: which values identify a child.
pub mod upn;
/// Signed outbound webhooks to integrators' endpoints (Standard Webhooks).
pub mod webhooks_out;
/// The Wonde HTTP client: paging, lenient parsing, retries, typed errors.
pub mod wonde;
/// Wonde's webhook notices, acted on only when believable.
pub mod wonde_notices;
