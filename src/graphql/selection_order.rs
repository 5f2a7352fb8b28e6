//! Answers in selection order. The GraphQL spec orders an object's fields
//! as the query selects them (CollectFields: first appearance wins, with
//! fragments expanded where they stand). async-graphql 7 resolves sibling
//! fields concurrently and writes each as it completes, so a field behind a
//! DataLoader came back after its plain neighbours, and the order varied
//! with the load. This extension puts each answer's objects back into the
//! order of the query that asked, over HTTP and on sockets alike.
//!
//! Fragments with a type condition apply to an object when its
//! `__typename` (if selected) is that type or one of its possible types;
//! without `__typename`, every fragment's fields are taken in order, which
//! only matters when two fragments on different types order the same
//! fields differently.

use async_graphql::extensions::{
    Extension, ExtensionContext, NextExecute, NextParseQuery, NextPrepareRequest, NextSubscribe,
};
use async_graphql::parser::types::{ExecutableDocument, FragmentDefinition, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{Name, Positioned, Request, Response, ServerResult, Value, Variables};
use futures::StreamExt;
use futures::stream::BoxStream;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Puts every answer's fields in the order the query selected them;
/// registered on the schema per request, it keeps that request's parsed
/// document from parsing to the answer.
#[derive(Default)]
pub struct SelectionOrder {
    document: Arc<Mutex<Option<ExecutableDocument>>>,
    /// The operation the request names: a socket's `subscribe` hook is not
    /// told it, and a document may hold several operations.
    operation_name: Arc<Mutex<Option<String>>>,
}

#[async_graphql::async_trait::async_trait]
impl Extension for SelectionOrder {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        if let Ok(mut name) = self.operation_name.lock() {
            name.clone_from(&request.operation_name);
        }
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        if let Ok(mut slot) = self.document.lock() {
            *slot = Some(document.clone());
        }
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        if let Ok(slot) = self.document.lock()
            && let Some(document) = slot.as_ref()
        {
            reorder_response(&mut response, document, operation_name, &ctx.schema_env.registry);
        }
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let document = self.document.clone();
        // Read as each answer comes: the hook wraps the stream before the
        // request is prepared.
        let name = self.operation_name.clone();
        let env = ctx.schema_env.clone();
        next.run(ctx, stream)
            .map(move |mut response| {
                if let Ok(slot) = document.lock()
                    && let Some(document) = slot.as_ref()
                {
                    let name = name.lock().ok().and_then(|name| name.clone());
                    reorder_response(&mut response, document, name.as_deref(), &env.registry);
                }
                response
            })
            .boxed()
    }
}

pub fn reorder_response(
    response: &mut Response,
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    registry: &Registry,
) {
    let operation = document
        .operations
        .iter()
        .find(|(name, _)| operation_name.is_none() || name.map(Name::as_str) == operation_name)
        .map(|(_, operation)| operation);
    if let Some(operation) = operation {
        let order = Order { fragments: &document.fragments, registry };
        order.reorder(&mut response.data, &[&operation.node.selection_set.node]);
    }
}

struct Order<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    registry: &'a Registry,
}

impl<'a> Order<'a> {
    /// Orders `value` (and what it holds) by `sets`: the selection sets of
    /// every field that answered into it.
    fn reorder(&self, value: &mut Value, sets: &[&'a SelectionSet]) {
        match value {
            Value::List(items) => items.iter_mut().for_each(|item| self.reorder(item, sets)),
            Value::Object(map) => {
                let typename = match map.get("__typename") {
                    Some(Value::String(name)) => Some(name.clone()),
                    _ => None,
                };
                let mut keys: Vec<(Name, Vec<&'a SelectionSet>)> = Vec::new();
                for set in sets {
                    self.collect(set, typename.as_deref(), &mut keys);
                }
                let mut unordered = std::mem::take(map);
                for (key, subsets) in keys {
                    if let Some(mut field) = unordered.shift_remove(&key) {
                        self.reorder(&mut field, &subsets);
                        map.insert(key, field);
                    }
                }
                // Anything the walk did not name keeps its place after.
                map.extend(unordered);
            }
            _ => {}
        }
    }

    /// The response keys `set` selects for an object of `typename`, in
    /// order, each with the selection sets that answer under it.
    fn collect(
        &self,
        set: &'a SelectionSet,
        typename: Option<&str>,
        keys: &mut Vec<(Name, Vec<&'a SelectionSet>)>,
    ) {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let key = field.node.response_key().node.clone();
                    let subset = &field.node.selection_set.node;
                    match keys.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, subsets)) => subsets.push(subset),
                        None => keys.push((key, vec![subset])),
                    }
                }
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) = self.fragments.get(&spread.node.fragment_name.node)
                        && self.applies(&fragment.node.type_condition.node.on.node, typename)
                    {
                        self.collect(&fragment.node.selection_set.node, typename, keys);
                    }
                }
                Selection::InlineFragment(inline) => {
                    let applies = inline
                        .node
                        .type_condition
                        .as_ref()
                        .is_none_or(|c| self.applies(&c.node.on.node, typename));
                    if applies {
                        self.collect(&inline.node.selection_set.node, typename, keys);
                    }
                }
            }
        }
    }

    fn applies(&self, condition: &str, typename: Option<&str>) -> bool {
        let Some(typename) = typename else { return true };
        condition == typename
            || self.registry.types.get(condition).is_some_and(|ty| ty.is_possible_type(typename))
    }
}
