//! What a parsed operation may cost, read from the schema's own types.
//!
//! The rule (docs/limits.md), after GitHub's node limit and Shopify's
//! calculated cost: every field selected costs 1 (`__typename` and every
//! alias included), plus what it selects times how many times it may be
//! repeated. A connection's `edges` and `nodes` repeat by its `first` (or
//! the default page size); a list without paging by [`LIST_ESTIMATE`].
//! Nested connections multiply: on a trust, `schools(first: 10) { edges {
//! node { name students(first: 100) { edges { node { id } } } } } }` costs
//! 1 + (1 + 10 × (1 + 1 + (1 + (1 + 100 × 2)))) = 2,042.
//!
//! Fragment spreads are expanded as the walk meets them, with a ceiling on
//! the fields visited ([`MAX_EXPANDED_FIELDS`]) and on nesting, so a small
//! document whose fragments spread each other twice over many levels is
//! refused after a few thousand steps instead of being expanded
//! exponentially.

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, OperationDefinition, OperationType, Selection,
    SelectionSet,
};
use async_graphql::registry::{MetaType, MetaTypeName, Registry};
use async_graphql::{Value, Variables};

use crate::graphql::pagination::DEFAULT_PAGE_SIZE;

/// How many items an unpaged list (a class's teachers, a student's
/// guardians, introspection's lists) is assumed to hold.
pub const LIST_ESTIMATE: u64 = 10;
/// The most fields (after expanding fragments) one operation may visit.
pub const MAX_EXPANDED_FIELDS: usize = 10_000;
/// The deepest nesting of fields and fragment spreads the walk follows.
pub const MAX_EXPANDED_DEPTH: usize = 64;

/// What an operation asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Measure {
    /// The cost of the answer at its largest (see the module's rule).
    pub cost: u64,
    /// Fields selected under an alias, counted where fragments spread them.
    pub aliases: usize,
    /// Fields selected at the operation's root.
    pub root_fields: usize,
}

/// The operation expands beyond [`MAX_EXPANDED_FIELDS`] fields or
/// [`MAX_EXPANDED_DEPTH`] levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the operation expands (fragments spread in place) to more than {MAX_EXPANDED_FIELDS} fields \
     or {MAX_EXPANDED_DEPTH} levels"
)]
pub struct Overexpanded;

/// Measures the operation the request names (or the document's only one).
/// An operation that is not found measures zero: validation refuses it.
pub fn measure(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
    registry: &Registry,
) -> Result<Measure, Overexpanded> {
    let Some(operation) = operation(document, operation_name) else {
        return Ok(Measure::default());
    };
    let root = match operation.ty {
        OperationType::Query => Some(registry.query_type.as_str()),
        OperationType::Mutation => registry.mutation_type.as_deref(),
        OperationType::Subscription => registry.subscription_type.as_deref(),
    };
    let mut walk = Walk { document, registry, variables, visited: 0, aliases: 0, root_fields: 0 };
    let at = At { on: root, page: None, level: 0, nesting: 0 };
    let cost = walk.selections(&operation.selection_set.node, at)?;
    Ok(Measure { cost, aliases: walk.aliases, root_fields: walk.root_fields })
}

fn operation<'d>(document: &'d ExecutableDocument, name: Option<&str>) -> Option<&'d OperationDefinition> {
    match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => Some(&op.node),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next().map(|op| &op.node),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

struct Walk<'a> {
    document: &'a ExecutableDocument,
    registry: &'a Registry,
    variables: &'a Variables,
    visited: usize,
    aliases: usize,
    root_fields: usize,
}

/// Where the walk is: `level` is the answer's depth (0 at the root),
/// `nesting` the walk's own (fields and fragment spreads), which bounds its
/// recursion.
#[derive(Clone, Copy)]
struct At<'t> {
    on: Option<&'t str>,
    /// The `first` of the connection whose own fields these are.
    page: Option<u64>,
    level: usize,
    nesting: usize,
}

impl<'a> Walk<'a> {
    /// The cost of a selection set.
    fn selections(&mut self, set: &'a SelectionSet, at: At<'a>) -> Result<u64, Overexpanded> {
        if at.nesting > MAX_EXPANDED_DEPTH {
            return Err(Overexpanded);
        }
        let mut cost = 0u64;
        for selection in &set.items {
            self.visited += 1;
            if self.visited > MAX_EXPANDED_FIELDS {
                return Err(Overexpanded);
            }
            // A spread is no level of the answer (root fields stay root
            // fields), but it is one of the walk.
            let spread = |on| At { on, nesting: at.nesting + 1, ..at };
            let part = match &selection.node {
                Selection::Field(field) => {
                    if at.level == 0 {
                        self.root_fields += 1;
                    }
                    if field.node.alias.is_some() {
                        self.aliases += 1;
                    }
                    self.field(&field.node, at)?
                }
                Selection::FragmentSpread(name) => {
                    match self.document.fragments.get(&name.node.fragment_name.node) {
                        Some(fragment) => {
                            let on = Some(fragment.node.type_condition.node.on.node.as_str());
                            self.selections(&fragment.node.selection_set.node, spread(on))?
                        }
                        None => 0,
                    }
                }
                Selection::InlineFragment(inline) => {
                    let on = inline.node.type_condition.as_ref().map(|c| c.node.on.node.as_str()).or(at.on);
                    self.selections(&inline.node.selection_set.node, spread(on))?
                }
            };
            cost = cost.saturating_add(part);
        }
        Ok(cost)
    }

    fn field(&mut self, field: &'a Field, at: At<'a>) -> Result<u64, Overexpanded> {
        let name = field.name.node.as_str();
        if name == "__typename" {
            return Ok(1);
        }
        let below = |on, page| At { on, page, level: at.level + 1, nesting: at.nesting + 1 };
        let registry = self.registry;
        let meta = at.on.and_then(|on| registry.types.get(on)).and_then(|ty| ty.field_by_name(name));
        let Some(meta) = meta else {
            // Unknown here: validation refuses it; cost what it selects once.
            let inner = self.selections(&field.selection_set.node, below(None, None))?;
            return Ok(inner.saturating_add(1));
        };
        let type_name = MetaTypeName::concrete_typename(&meta.ty);
        let is_list = MetaTypeName::create(&meta.ty).is_list();
        // A list with a `first` defaults to a page, like a connection.
        let own_first = self.first(field).or_else(|| meta.args.contains_key("first").then(default_page));
        let (times, inner_page) = if is_connection(registry.types.get(type_name)) {
            // The connection's edges and nodes repeat; the connection once.
            (1, Some(own_first.unwrap_or(default_page())))
        } else if is_list {
            (at.page.or(own_first).unwrap_or(LIST_ESTIMATE), None)
        } else {
            (1, None)
        };
        let inner = self.selections(&field.selection_set.node, below(Some(type_name), inner_page))?;
        Ok(times.saturating_mul(inner).saturating_add(1))
    }

    /// The field's `first`, written or from a variable; a value the
    /// resolver would refuse counts as none (it answers BAD_USER_INPUT).
    fn first(&self, field: &Field) -> Option<u64> {
        let written = field.get_argument("first")?.node.clone();
        let value = written.into_const_with(|name| self.variables.get(&name).cloned().ok_or(())).ok()?;
        match value {
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
    }
}

fn default_page() -> u64 {
    u64::try_from(DEFAULT_PAGE_SIZE).unwrap_or(20)
}

/// A Relay connection: an object whose `edges` or `nodes` list repeats by
/// its field's `first`.
fn is_connection(ty: Option<&MetaType>) -> bool {
    ty.is_some_and(|ty| ty.name().ends_with("Connection") && ty.field_by_name("edges").is_some())
}
