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
//! 3. the token's budget is charged (`limits::rate`): `RATE_LIMITED`; an
//!    operation refused in 1 or 2, or one that does not parse, is charged
//!    too, as the cheapest one ([`charge_refused`]);
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
use async_graphql::registry::Registry;
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

/// Measures `document`'s operation `name` against `registry` into `meter`,
/// then charges the token's budget: the refusal when a ceiling or the
/// budget says no. Without `limits` (a schema executed directly) the
/// default ceilings apply and nothing is charged.
pub fn judge(
    limits: Option<&Limits>,
    request: Option<&RequestContext>,
    meter: &Meter,
    document: &ExecutableDocument,
    name: Option<&str>,
    variables: &Variables,
    registry: &Registry,
) -> Result<(), Refusal> {
    match measured(limits, meter, document, name, variables, registry) {
        Ok(measure) => charge(limits, request, meter, &measure),
        Err(refusal) => Err(charge_refused(limits, request, meter).unwrap_or(refusal)),
    }
}

/// Charges an operation refused for its size or cost one point, as the
/// cheapest operation: judging it (a parse and a bounded measure) is work
/// like a small query's, and a refusal that cost nothing could be sent
/// without end (docs/limits.md). More would punish a client's honest
/// mistakes (a page size too large) harder than its queries. Answers
/// `RATE_LIMITED` when the budget cannot pay, as for any operation; the
/// caller answers its own refusal otherwise.
pub fn charge_refused(
    limits: Option<&Limits>,
    request: Option<&RequestContext>,
    meter: &Meter,
) -> Option<Refusal> {
    let (limits, request) = (limits?, request?);
    let points = rate::points(0);
    let status = limits.rate.charge(RateKey::Token(request.viewer.token_id), points);
    meter.set_rate(status);
    status.refusal(points)
}

/// Measures the operation into `meter`: the refusal when it expands too
/// far or passes a ceiling. Charges nothing.
pub fn measured(
    limits: Option<&Limits>,
    meter: &Meter,
    document: &ExecutableDocument,
    name: Option<&str>,
    variables: &Variables,
    registry: &Registry,
) -> Result<Measure, Refusal> {
    let defaults = LimitsConfig::default();
    let config = limits.map_or(&defaults, |limits| &limits.config);
    let measure = cost::measure(document, name, variables, registry)
        .map_err(|err| Refusal::DocumentTooLarge(err.to_string()))?;
    meter.set_measure(measure);
    over_ceiling(&measure, config).map_or(Ok(measure), Err)
}

/// Charges a measured operation to its token's points budget.
pub fn charge(
    limits: Option<&Limits>,
    request: Option<&RequestContext>,
    meter: &Meter,
    measure: &Measure,
) -> Result<(), Refusal> {
    let (Some(limits), Some(request)) = (limits, request) else {
        return Ok(());
    };
    let points = rate::points(measure.cost);
    let status = limits.rate.charge(RateKey::Token(request.viewer.token_id), points);
    meter.set_rate(status);
    status.refusal(points).map_or(Ok(()), Err)
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

/// The operation a request runs and its metrics label. A request that
/// names no operation runs its document's only one: that operation's name
/// (if it has one) is the request's. The label is a name the document
/// defines (`telemetry::operation_label`), else `other` (a name the
/// document lacks) or `anonymous`, so a client's `operationName` alone
/// cannot make labels.
pub fn operation_of(document: &ExecutableDocument, requested: Option<&str>) -> (Option<String>, String) {
    let defined: Vec<&str> = match &document.operations {
        async_graphql::parser::types::DocumentOperations::Multiple(operations) => {
            operations.keys().map(|name| name.as_str()).collect()
        }
        async_graphql::parser::types::DocumentOperations::Single(_) => Vec::new(),
    };
    let name = match requested {
        Some(requested) => Some(requested.to_owned()),
        None if defined.len() == 1 => defined.first().map(|n| (*n).to_owned()),
        None => None,
    };
    let label = match name.as_deref() {
        Some(requested) if defined.contains(&requested) => crate::telemetry::operation_label(Some(requested)),
        Some(_) => crate::telemetry::OTHER.to_owned(),
        None => crate::telemetry::operation_label(None),
    };
    (name, label)
}

/// The label of an operation refused before its document was read: no
/// name can be vouched for.
pub fn unread_label(requested: Option<&str>) -> String {
    if requested.is_some() {
        crate::telemetry::OTHER.to_owned()
    } else {
        crate::telemetry::operation_label(None)
    }
}

/// Counts the answered operation under `label`; `actual` is its cost.
pub fn count(label: &str, response: &Response, started: std::time::Instant, actual: u64) {
    let outcome = response.errors.first().map_or_else(|| "ok".to_owned(), crate::error::code_of);
    crate::telemetry::graphql_answered(label, &outcome, started.elapsed(), actual);
}

/// Adds `extensions.cost` to `response`, in Shopify's shape: the cost
/// measured before the run, the cost of what was answered, and the
/// token's budget when one was charged.
pub fn report_cost(response: &mut Response, meter: &Meter, actual: u64) {
    let metered = meter.get();
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
}

impl Metering {
    /// The label to count this operation under.
    fn metric_label(&self) -> String {
        let parsed = self.metric_name.lock().map(|name| name.clone()).unwrap_or_default();
        if !parsed.is_empty() {
            return parsed;
        }
        unread_label(self.operation_name.lock().ok().and_then(|name| name.clone()).as_deref())
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for Metering {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = std::time::Instant::now();
        self.in_request.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut response = next.run(ctx).await;
        let actual = cost::actual(&response.data);
        count(&self.metric_label(), &response, started, actual);
        report_cost(&mut response, &self.meter, actual);
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
        let limits = ctx.data_opt::<Arc<Limits>>().map(|limits| &**limits);
        let request = ctx.data_opt::<RequestContext>();
        if let Err(err) = scan::scan(query) {
            let refusal = charge_refused(limits, request, &self.meter)
                .unwrap_or_else(|| Refusal::DocumentTooLarge(err.to_string()));
            return Err(refused(&refusal));
        }
        // Measured from a parse of our own, because the parse step proper
        // also checks the document's depth by expanding every fragment
        // spread without a bound (seconds for a 1 KB fragment bomb). The
        // document is at most 32 KiB: parsing it twice is cheap. One that
        // does not parse is left to the parse step for its usual error.
        if let Ok(document) = async_graphql::parser::parse_query(query) {
            let requested = self.operation_name.lock().ok().and_then(|name| name.clone());
            let (name, label) = operation_of(&document, requested.as_deref());
            if let Ok(mut metric_name) = self.metric_name.lock() {
                *metric_name = label;
            }
            judge(
                limits,
                request,
                &self.meter,
                &document,
                name.as_deref(),
                variables,
                &ctx.schema_env.registry,
            )
            .map_err(|refusal| refused(&refusal))?;
        } else {
            // Refused by the parse step proper, with its message: charged
            // as any refusal (a trial sent broken documents for nothing).
            if let Some(limited) = charge_refused(limits, request, &self.meter) {
                return Err(refused(&limited));
            }
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
            count(&self.metric_label(), &response, started, cost::actual(&response.data));
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
