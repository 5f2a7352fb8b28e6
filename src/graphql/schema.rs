//! Building the schema: a pure function of nothing but the type system, so
//! tests and `onroll schema` get exactly what the server serves.

use async_graphql::{Schema, SchemaBuilder, Upload};

use super::filters::{FamilyFilter, GuardianFilter, StaffFilter, StudentFilter};
use super::inputs::{ConnectWondeInput, CreateSchoolInput, RequestWondeAccessInput, SyncOptionsInput};
use super::mutation::Mutation;
use super::query::Query;
use super::subscription::Subscription;
use super::types::{CsvImportResult, SyncProgressEvent};

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// Deep enough for the contract's longest sensible path (school, students,
/// guardians, guardian, family, children, classes...), shallow enough to
/// stop accidental or hostile recursion.
const MAX_DEPTH: usize = 16;
/// A coarse cost ceiling until per-field costs arrive with query cost limits.
const MAX_COMPLEXITY: usize = 20_000;

fn builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query, Mutation::default(), Subscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        // Every Mutation field leaves an audit row (issue 13).
        .extension(super::audit::AuditTrail)
        // Types that mutations and subscriptions return arrive before those
        // roots do; registering them keeps the published SDL whole.
        .register_output_type::<SyncProgressEvent>()
        .register_output_type::<CsvImportResult>()
        .register_input_type::<Upload>()
        .register_input_type::<StudentFilter>()
        .register_input_type::<StaffFilter>()
        .register_input_type::<GuardianFilter>()
        .register_input_type::<FamilyFilter>()
        .register_input_type::<SyncOptionsInput>()
        .register_input_type::<RequestWondeAccessInput>()
        .register_input_type::<CreateSchoolInput>()
        .register_input_type::<ConnectWondeInput>()
}

pub fn build_schema() -> AppSchema {
    builder().finish()
}

/// The SDL that `onroll schema` prints and schema.graphql holds.
pub fn sdl() -> String {
    // `@specifiedBy` tells code generators where a scalar's format is defined.
    build_schema().sdl_with_options(async_graphql::SDLExportOptions::new().include_specified_by())
}
