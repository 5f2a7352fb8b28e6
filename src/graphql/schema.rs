//! Building the schema: a pure function of nothing but the type system, so
//! tests and `onroll schema` get exactly what the server serves.

use async_graphql::extensions::{Extension, ExtensionFactory};
use async_graphql::{Schema, SchemaBuilder, Upload};
use std::marker::PhantomData;
use std::sync::Arc;

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

/// Registers the extension `E`, made afresh for every request so that what
/// it keeps (the variables, the meter, the parsed document) is that
/// request's alone.
struct PerRequest<E>(PhantomData<fn() -> E>);

impl<E: Extension + Default> ExtensionFactory for PerRequest<E> {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(E::default())
    }
}

fn builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    plain_builder()
        // Every Mutation field leaves an audit row (issue 13).
        .extension(PerRequest::<super::audit::AuditTrail>(PhantomData))
        // Cost, size and rate limits, judged before validation (docs/limits.md).
        .extension(PerRequest::<super::metering::Metering>(PhantomData))
        // Answers in the order the query selected (async-graphql writes
        // concurrent fields as they complete).
        .extension(PerRequest::<super::selection_order::SelectionOrder>(PhantomData))
}

/// The schema's types and limits without its extensions.
fn plain_builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query::default(), Mutation::default(), Subscription)
        .limit_depth(MAX_DEPTH)
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

/// The same schema without extensions, for queries over HTTP, which
/// `query_path` meters and orders itself.
pub fn build_plain_schema() -> AppSchema {
    plain_builder().finish()
}

/// The plain schema with one extension, to read the registry through.
pub(super) fn build_probed_schema(probe: impl ExtensionFactory + 'static) -> AppSchema {
    plain_builder().extension(probe).finish()
}

/// The SDL that `onroll schema` prints and schema.graphql holds.
pub fn sdl() -> String {
    sdl_of(&build_schema())
}

/// The SDL of `schema` as published (`onroll schema`, `GET /schema.graphql`):
/// with `@specifiedBy`, which tells code generators where a scalar's
/// format is defined.
pub fn sdl_of(schema: &AppSchema) -> String {
    schema.sdl_with_options(async_graphql::SDLExportOptions::new().include_specified_by())
}
