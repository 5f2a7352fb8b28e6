//! Answers list fields in the order the query selects them (GraphQL spec,
//! "CollectFields": first appearance wins), whatever resolves first: plain
//! columns, batched relations (DataLoader), fragments, inline fragments on
//! a union, aliases and root fields of different resolvers.

use onroll::graphql::ids::NodeType;
use serde_json::json;

use crate::on_both_engines;
use crate::support::fixture::gid;
use crate::support::{Engine, TestApp};

on_both_engines!(fields_come_back_in_selection_order);

/// The keys of every JSON object in `text`, in the order they are written,
/// object by object (depth-first, by where each object opens). Enough JSON
/// for GraphQL answers: strings with escapes, numbers, literals.
fn key_orders(text: &str) -> Vec<Vec<String>> {
    let bytes = text.as_bytes();
    let mut stack: Vec<(usize, bool)> = Vec::new(); // (index in orders, is object)
    let mut orders: Vec<Vec<String>> = Vec::new();
    let mut i = 0;
    let mut expecting_key = false;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => {
                orders.push(Vec::new());
                stack.push((orders.len() - 1, true));
                expecting_key = true;
            }
            b'[' => {
                stack.push((usize::MAX, false));
                expecting_key = false;
            }
            b'}' | b']' => {
                stack.pop();
                expecting_key = false;
            }
            b',' => expecting_key = matches!(stack.last(), Some((_, true))),
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if expecting_key && let Some((index, true)) = stack.last() {
                    orders[*index].push(text[start..i].to_owned());
                }
                expecting_key = false;
            }
            _ => {}
        }
        i += 1;
    }
    orders
}

/// A query whose fields, aliases and fragments are in no sorted order, on
/// a school (`$school`); `query_path.rs` sends it too.
pub(crate) const ORDERED: &str = r#"query($school: ID!) {
        viewer { role }
        zeta: __typename
        node(id: $school) {
            ... on School { wondeId students(first: 3) { edges { node { surname school { name id } forename id } } totalCount } }
            id
            ...Named
            __typename
        }
        trusts { schools(first: 2) { totalCount edges { node { name id } cursor } pageInfo { hasNextPage } } name id }
        alpha: __typename
    }
    fragment Named on School { name id urn }"#;

async fn fields_come_back_in_selection_order(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let school = gid(NodeType::School, s.school_a.id);
    let query = ORDERED;
    let answer = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth(&s.trust_admin)
        .json(&json!({ "query": query, "variables": { "school": school } }))
        .send()
        .await?
        .text()
        .await?;
    anyhow::ensure!(!answer.contains("\"errors\""), "{answer}");
    let orders = key_orders(&answer);
    // The answer: `data`, then `extensions` (the cost report).
    assert_eq!(orders.first().and_then(|o| o.first()).map(String::as_str), Some("data"), "{answer}");
    let expected: &[&[&str]] = &[
        &["viewer", "zeta", "node", "trusts", "alpha"],
        &["role"],
        // The node: the inline fragment's fields, then `id` (already
        // collected there, so it keeps its first place), the fragment's
        // new fields, `__typename`.
        &["wondeId", "students", "id", "name", "urn", "__typename"],
        &["edges", "totalCount"],
        &["node"],
        &["surname", "school", "forename", "id"],
        &["name", "id"],
    ];
    for (at, want) in expected.iter().enumerate() {
        let got = orders.get(at + 1).cloned().unwrap_or_default();
        assert_eq!(got, want.iter().map(|k| k.to_string()).collect::<Vec<_>>(), "object {at} of {answer}");
    }
    // Every student edge, and the trust, keep the same order.
    let students: Vec<&Vec<String>> =
        orders.iter().filter(|o| o.first().is_some_and(|k| k == "surname")).collect();
    assert!(students.len() >= 2, "{answer}");
    assert!(students.iter().all(|o| *o == students[0]), "{answer}");
    let trust = orders.iter().find(|o| o.first().is_some_and(|k| k == "schools"));
    assert_eq!(
        trust.map(Vec::as_slice),
        Some(&["schools".to_owned(), "name".to_owned(), "id".to_owned()][..])
    );
    let connection = orders.iter().find(|o| o.first().is_some_and(|k| k == "totalCount"));
    let want: Vec<String> = ["totalCount", "edges", "pageInfo"].iter().map(|k| k.to_string()).collect();
    assert_eq!(connection, Some(&want), "{answer}");
    Ok(())
}
