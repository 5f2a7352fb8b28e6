//! The cost of an operation, judged before it runs (docs/limits.md): the
//! document's size first ([`scan`], before parsing), then what the parsed
//! operation may cost against the schema ([`model`]). The metering
//! extension (`graphql::metering`) calls both and refuses what is over.

pub mod model;
pub mod scan;

use async_graphql::Value;

pub use model::{Measure, measure};

/// The cost of an answer as given: each field present counts 1, in every
/// object of every list (the requested cost counted the same fields at
/// their largest).
pub fn actual(data: &Value) -> u64 {
    match data {
        Value::Object(fields) => fields.values().map(|value| actual(value).saturating_add(1)).sum(),
        Value::List(items) => items.iter().map(actual).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actual_cost_counts_each_field_present() {
        let data = async_graphql::value!({
            "viewer": { "role": "INTEGRATOR" },
            "schools": { "nodes": [{ "name": "A" }, { "name": "B" }] },
        });
        // viewer 1 + role 1; schools 1 + nodes 1 + 2 names.
        assert_eq!(actual(&data), 6);
    }
}
