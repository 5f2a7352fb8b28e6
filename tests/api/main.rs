//! Integration tests of the read API over real HTTP, on SQLite and, when
//! `ONROLL_TEST_DATABASE_URL` names a server, PostgreSQL.
//!
//! One binary (tests/api) so that the crate links once.

#![allow(clippy::unwrap_used)]

mod support;

mod access_flow;
mod access_matrix;
mod audit;
mod auth;
mod bad_input;
mod believed_webhooks;
mod bench_cli;
mod bind_limits;
mod cli;
mod cli_output;
mod contact_scope;
mod csv_formats;
mod csv_guardian_links;
mod csv_import;
pub mod csv_upload;
mod data_quality;
mod edges;
mod email_whitespace;
mod error_codes;
mod event_log;
mod families;
mod family_reads;
mod filters;
mod fuzz_http;
pub mod held;
mod held_review;
mod held_review_sim;
mod hostile_documents;
mod http;
mod layering;
mod leaver_latency;
mod limits;
mod link_keys;
mod lock_order;
mod logs;
mod metrics;
mod mutations;
mod nodes;
mod pagination;
mod parent_groups;
mod planner_statistics;
mod props;
mod query_path;
mod query_shapes;
mod readme;
mod real_world;
pub mod reconcile;
mod relationships;
mod removed_guardian_links;
mod replicas;
mod retention;
mod roster_pages;
mod runs;
mod runs_at_once;
mod schema_drift;
mod scoping;
mod selection_order;
mod socket_sizes;
mod startup_errors;
mod statement_count;
mod subscription_fanout;
mod subscriptions;
pub mod sync_model;
mod sync_statements;
pub mod sync_wonde;
mod token_cache;
mod tokens;
mod traces;
mod upsert_races;
pub mod webhooks;
mod webhooks_leaver;
mod webhooks_out;
mod webhooks_safety;
mod wonde_answers;
mod written_text;
