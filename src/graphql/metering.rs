//! The metering extension: every operation's cost is judged before it is
//! validated or run, charged to its token's points budget, and reported.
//!
//! In order, for each request:
//! 1. the document is scanned before it is parsed (`cost::scan`):
//!    `DOCUMENT_TOO_LARGE`;
//! 2. once parsed, the operation is measured against the schema with a
//!    bounded expansion of fragments (`cost::model`): `DOCUMENT_TOO_LARGE`
//!    when it expands too far, `MAX_COST_EXCEEDED` over the cost, alias or
//!    root-field ceilings; async-graphql's own depth check and validation
//!    (which walk fragments without a bound) only ever see what passed;
//! 3. the token's budget is charged (`limits::rate`): `RATE_LIMITED`;
//! 4. an expensive operation waits its turn (`Limits::turn`);
//! 5. the answer carries `extensions.cost`, in Shopify's shape.
//!
//! The limits come from the request's data (`Arc<Limits>`, put there by
//! `AppState::provide`); without them (a schema executed directly) the
//! default ceilings still apply, and nothing is charged.

use async_graphql::extensions::{
    Extension, ExtensionContext, NextExecute, NextParseQuery, NextPrepareRequest, NextRequest,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, Response, ServerError, ServerResult, Value, Variables};
use std::sync::{Arc, Mutex};

use super::RequestContext;
use super::cost::{self, Measure, scan};
use crate::limits::rate::{self, Meter, RateKey};
use crate::limits::{Limits, LimitsConfig, Refusal};

/// One request's metering, registered on the schema per request.
#[derive(Default)]
pub struct Metering {
    operation_name: Mutex<Option<String>>,
    /// The operation's metrics label (`telemetry::operation_label`): only a
    /// name the document defines, so a client's `operationName` alone
    /// cannot make labels; empty until the document is parsed.
    metric_name: Mutex<String>,
    /// Set while the HTTP `request` hook runs: `execute`, nested in it,
    /// then leaves the counting to it. Over WebSockets there is no
    /// `request` hook, and `execute` counts.
    in_request: std::sync::atomic::AtomicBool,
    /// This request's meter, also in its data for the `rateLimit` field.
    meter: Arc<Meter>,
}

impl Metering {
    fn judge(
        &self,
        ctx: &ExtensionContext<'_>,
        document: &ExecutableDocument,
        variables: &Variables,
    ) -> Result<(), Refusal> {
        let limits = ctx.data_opt::<Arc<Limits>>();
        let defaults = LimitsConfig::default();
        let config = limits.map_or(&defaults, |limits| &limits.config);
        let name = self.operation_name.lock().ok().and_then(|name| name.clone());
        let measure = cost::measure(document, name.as_deref(), variables, &ctx.schema_env.registry)
            .map_err(|err| Refusal::DocumentTooLarge(err.to_string()))?;
        let meter = &self.meter;
        meter.set_measure(measure);
        over_ceiling(&measure, config).map_or(Ok(()), Err)?;
        let (Some(limits), Some(request)) = (limits, ctx.data_opt::<RequestContext>()) else {
            return Ok(());
        };
        let points = rate::points(measure.cost);
        let status = limits.rate.charge(RateKey::Token(request.viewer.token_id), points);
        meter.set_rate(status);
        status.refusal(points).map_or(Ok(()), Err)
    }
}

/// The first ceiling `measure` passes, as the refusal to answer.
fn over_ceiling(measure: &Measure, config: &LimitsConfig) -> Option<Refusal> {
    let refuse = |message: String| Some(Refusal::MaxCost { message, cost: measure.cost });
    if measure.cost > config.max_cost {
        return refuse(format!(
            "this operation may cost {} and the most one may cost is {}: ask for smaller pages \
             (`first`) or fewer nested lists (docs/limits.md)",
            measure.cost, config.max_cost
        ));
    }
    if measure.aliases > config.max_aliases {
        return refuse(format!(
            "this operation uses {} aliases and at most {} are allowed",
            measure.aliases, config.max_aliases
        ));
    }
    if measure.root_fields > config.max_root_fields {
        return refuse(format!(
            "this operation selects {} root fields and at most {} are allowed",
            measure.root_fields, config.max_root_fields
        ));
    }
    None
}

impl Metering {
    /// A request that names no operation runs its document's only one:
    /// that operation's name (if it has one) is the request's. The metrics
    /// label is a name the document defines, else `other` (a name the
    /// document lacks) or `anonymous`.
    fn name_from(&self, document: &ExecutableDocument) {
        let Ok(mut name) = self.operation_name.lock() else { return };
        let defined: Vec<&str> = match &document.operations {
            async_graphql::parser::types::DocumentOperations::Multiple(operations) => {
                operations.keys().map(|name| name.as_str()).collect()
            }
            async_graphql::parser::types::DocumentOperations::Single(_) => Vec::new(),
        };
        if name.is_none() && defined.len() == 1 {
            *name = defined.first().map(|n| (*n).to_owned());
        }
        let label = match name.as_deref() {
            Some(requested) if defined.contains(&requested) => {
                crate::telemetry::operation_label(Some(requested))
            }
            Some(_) => crate::telemetry::OTHER.to_owned(),
            None => crate::telemetry::operation_label(None),
        };
        if let Ok(mut metric_name) = self.metric_name.lock() {
            *metric_name = label;
        }
    }

    /// The label to count this operation under.
    fn metric_label(&self) -> String {
        let parsed = self.metric_name.lock().map(|name| name.clone()).unwrap_or_default();
        if !parsed.is_empty() {
            return parsed;
        }
        // Refused before its document was read: no name can be vouched for.
        let requested = self.operation_name.lock().ok().and_then(|name| name.clone());
        if requested.is_some() {
            crate::telemetry::OTHER.to_owned()
        } else {
            crate::telemetry::operation_label(None)
        }
    }

    /// Counts the answered operation; `actual` is its cost, measured once
    /// by the caller (the HTTP hook also reports it).
    fn count(&self, response: &Response, started: std::time::Instant, actual: u64) {
        let outcome = response.errors.first().map_or_else(|| "ok".to_owned(), crate::error::code_of);
        crate::telemetry::graphql_answered(&self.metric_label(), &outcome, started.elapsed(), actual);
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for Metering {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = std::time::Instant::now();
        self.in_request.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut response = next.run(ctx).await;
        let actual = cost::actual(&response.data);
        self.count(&response, started, actual);
        let metered = self.meter.get();
        let mut report = async_graphql::indexmap::IndexMap::new();
        let requested = metered.measure.map_or(0, |m| m.cost);
        report.insert(async_graphql::Name::new("requestedQueryCost"), Value::from(requested));
        report.insert(async_graphql::Name::new("actualQueryCost"), Value::from(actual));
        if let Some(status) = metered.rate {
            let restore = f64::from(status.limit) / 60.0;
            report.insert(
                async_graphql::Name::new("throttleStatus"),
                async_graphql::value!({
                    "maximumAvailable": status.limit,
                    "currentlyAvailable": status.remaining,
                    "restoreRate": restore,
                }),
            );
            report.insert(async_graphql::Name::new("pointsCharged"), Value::from(status.charged));
        }
        response.extensions.insert("cost".to_owned(), Value::Object(report));
        response
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        if let Ok(mut name) = self.operation_name.lock() {
            name.clone_from(&request.operation_name);
        }
        let request = request.data(self.meter.clone());
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        scan::scan(query).map_err(|err| refused(&Refusal::DocumentTooLarge(err.to_string())))?;
        // Measured from a parse of our own, because the parse step proper
        // also checks the document's depth by expanding every fragment
        // spread without a bound (seconds for a 1 KB fragment bomb). The
        // document is at most 32 KiB: parsing it twice is cheap. One that
        // does not parse is left to the parse step for its usual error.
        if let Ok(document) = async_graphql::parser::parse_query(query) {
            self.name_from(&document);
            self.judge(ctx, &document, variables).map_err(|refusal| refused(&refusal))?;
        }
        next.run(ctx, query, variables).await
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let cost = self.meter.get().measure.map_or(0, |m| m.cost);
        let started = std::time::Instant::now();
        let _turn = match ctx.data_opt::<Arc<Limits>>() {
            Some(limits) => limits.turn(cost).await,
            None => None,
        };
        let response = next.run(ctx, operation_name).await;
        if !self.in_request.load(std::sync::atomic::Ordering::Relaxed) {
            self.count(&response, started, cost::actual(&response.data));
        }
        response
    }
}

fn refused(refusal: &Refusal) -> ServerError {
    refusal.to_server_error()
}

/// The `rateLimit` field's answer for the request `ctx` belongs to.
pub fn rate_limit(ctx: &async_graphql::Context<'_>) -> super::types::RateLimit {
    let metered = ctx.data_opt::<Arc<Meter>>().map(|meter| meter.get()).unwrap_or_default();
    let limit = ctx
        .data_opt::<Arc<Limits>>()
        .map_or(LimitsConfig::default().rate_points_per_minute, |limits| limits.rate.limit());
    super::types::RateLimit::from_meter(metered, limit)
}
