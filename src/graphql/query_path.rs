//! Queries over HTTP, run on a schema without extensions.
//!
//! async-graphql 7 calls the `resolve` hook of the registered extensions
//! for every field of every object in an answer, whatever hooks they
//! implement: a `ResolveInfo` and a boxed future per field and list item.
//! On a page of 100 students with guardians and classes that was a fifth
//! of the server's throughput (issue 15's profile: 87 requests/s with the
//! three extensions, 108 without). A query needs none of the per-field
//! work: the audit trail records Mutation fields only, while metering and
//! selection order work on the whole document and the whole answer. So a
//! query sent over HTTP is metered, run on the plain schema and put in
//! selection order here, with the same functions the extensions use.
//!
//! Mutations, subscriptions over HTTP, and any document this path does not
//! take as a well-formed query within its ceilings (one that does not
//! parse, names an operation it lacks, or costs too much) go to the full
//! schema, whose extensions answer them with the usual errors; nothing
//! is charged or counted here for those.

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextRequest};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Name, Request, Response, SchemaEnv};
use std::sync::{Arc, OnceLock};

use super::RequestContext;
use super::cost::{self, scan};
use super::metering;
use super::schema::AppSchema;
use super::selection_order::reorder_response;
use crate::limits::Limits;
use crate::limits::rate::Meter;

/// The plain schema and its type registry, which cost and order read.
#[derive(Clone)]
pub struct QueryPath {
    schema: AppSchema,
    /// `None` only if async-graphql never showed its registry: then every
    /// request goes to the full schema.
    env: Option<SchemaEnv>,
}

/// What the path did with a request: answered it (metered, run and
/// ordered), or declined it for the full schema.
pub type Taken = Result<Response, Box<Declined>>;

/// A request the path declined, untouched, with its context.
pub struct Declined {
    pub request: Request,
    pub context: RequestContext,
}

fn declined(request: Request, context: RequestContext) -> Taken {
    Err(Box::new(Declined { request, context }))
}

impl QueryPath {
    pub async fn new() -> Self {
        let schema = super::schema::build_plain_schema();
        Self { env: env_of_schema().await, schema }
    }

    /// Answers `request` when it is a query within its ceilings, with
    /// `context` as its data; declines anything else.
    pub async fn run(&self, request: Request, context: RequestContext, limits: &Limits) -> Taken {
        let started = std::time::Instant::now();
        let (Some(env), Some(document)) = (&self.env, query_document(&request)) else {
            return declined(request, context);
        };
        let (name, label) = metering::operation_of(&document, request.operation_name.as_deref());
        let meter = Arc::new(Meter::default());
        let registry = &env.registry;
        let Ok(measure) = metering::measured(
            Some(limits),
            &meter,
            &document,
            name.as_deref(),
            &request.variables,
            registry,
        ) else {
            return declined(request, context);
        };
        let mut response = match metering::charge(Some(limits), Some(&context), &meter, &measure) {
            Err(refusal) => refusal.to_response(),
            Ok(()) => {
                let _turn = limits.turn(measure.cost).await;
                let request = request.data(meter.clone()).data(context);
                let mut response = self.schema.execute(request).await;
                reorder_response(&mut response, &document, name.as_deref(), registry);
                response
            }
        };
        let actual = cost::actual(&response.data);
        metering::count(&label, &response, started, actual);
        metering::report_cost(&mut response, &meter, actual);
        Ok(response)
    }
}

/// `request`'s document when it is small enough, parses, and the operation
/// it runs is a query.
fn query_document(request: &Request) -> Option<ExecutableDocument> {
    let (document, kind) = operation_run(request)?;
    (kind == OperationType::Query).then_some(document)
}

/// `request`'s document and the kind of the operation it runs, as
/// async-graphql picks it: the one named, else the document's only one.
/// `None` for a document past the scan's ceilings (never parsed: a socket
/// message may be 1 MiB, `cost::scan`), one that does not parse, or one
/// that does not say which operation runs; the schema answers those with
/// their errors.
pub(crate) fn operation_run(request: &Request) -> Option<(ExecutableDocument, OperationType)> {
    scan::scan(&request.query).ok()?;
    let document = async_graphql::parser::parse_query(&request.query).ok()?;
    let mut operations = document.operations.iter();
    let operation = match request.operation_name.as_deref() {
        Some(wanted) => operations.find(|(name, _)| name.map(Name::as_str) == Some(wanted)),
        None if document.operations.iter().count() == 1 => operations.next(),
        None => None,
    };
    let kind = operation?.1.node.ty;
    Some((document, kind))
}

/// The registry of the schema `schema::builder` makes. async-graphql 7
/// keeps a built schema's registry to itself but shows it to extensions,
/// so one request on a schema with a probe extension reads it.
async fn env_of_schema() -> Option<SchemaEnv> {
    let slot = Arc::new(OnceLock::new());
    let schema = super::schema::build_probed_schema(Probe(slot.clone()));
    let _ = schema.execute("{ __typename }").await;
    let env = slot.get().cloned();
    if env.is_none() {
        tracing::warn!("the schema's registry could not be read: every request takes the full schema");
    }
    env
}

/// Keeps the schema environment of the first request it sees.
struct Probe(Arc<OnceLock<SchemaEnv>>);

impl ExtensionFactory for Probe {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Probe(self.0.clone()))
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for Probe {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let _ = self.0.set(ctx.schema_env.clone());
        next.run(ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Viewer;
    use crate::graphql::loaders::Spawner;
    use crate::limits::LimitsConfig;
    use async_graphql::Value;

    fn context(db: sea_orm::DatabaseConnection) -> RequestContext {
        let viewer = Viewer {
            token_id: 1,
            role: entity::enums::Role::TrustAdmin,
            trust_id: 1,
            whole_trust: true,
            school_ids: Arc::default(),
            expires_at: None,
            scopes: Arc::default(),
        };
        RequestContext::new(db, viewer, Spawner::Runtime)
    }

    async fn run(query: &str, operation: Option<&str>) -> anyhow::Result<Taken> {
        let db = sea_orm::Database::connect("sqlite::memory:").await?;
        let limits = Limits::new(LimitsConfig { max_cost: 50, ..LimitsConfig::default() });
        let mut request = Request::new(query);
        request.operation_name = operation.map(str::to_owned);
        Ok(QueryPath::new().await.run(request, context(db), &limits).await)
    }

    #[tokio::test]
    async fn a_query_is_answered_metered_and_in_order() -> anyhow::Result<()> {
        let Ok(response) = run("query Q { b: __typename a: __typename }", None).await? else {
            anyhow::bail!("a plain query was declined");
        };
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let Value::Object(data) = &response.data else { anyhow::bail!("no data: {:?}", response.data) };
        assert_eq!(data.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["b", "a"]);
        let Some(Value::Object(cost)) = response.extensions.get("cost") else {
            anyhow::bail!("no cost reported: {:?}", response.extensions);
        };
        assert!(cost.contains_key("requestedQueryCost") && cost.contains_key("actualQueryCost"));
        Ok(())
    }

    /// What the full schema answers with its own errors, or runs with its
    /// audit trail, is handed back untouched.
    #[tokio::test]
    async fn everything_else_goes_to_the_full_schema() -> anyhow::Result<()> {
        let declined = [
            ("mutation { revokeApiToken(id: \"x\") { id } }", None),
            ("subscription { deactivations { __typename } }", None),
            ("{ __typename", None),
            ("query A { __typename }", Some("B")),
            ("query A { __typename } query B { __typename }", None),
            // Over the ceiling of 50 set above: refused by the full schema.
            (
                "{ trusts { schools(first: 100) { edges { node { students(first: 100) { edges { node { id } } } } } } } }",
                None,
            ),
        ];
        for (query, operation) in declined {
            match run(query, operation).await? {
                Err(declined) => assert_eq!(declined.request.query, query),
                Ok(response) => {
                    anyhow::bail!("{query} was answered here: {:?}", response.errors)
                }
            }
        }
        Ok(())
    }
}
