//! schema.graphql at the root is exactly what `onroll schema` prints.

#[test]
fn schema_graphql_is_the_exported_sdl() -> anyhow::Result<()> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let committed = std::fs::read_to_string(path)?;
    let exported = onroll::graphql::sdl();
    if committed != exported && std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(path, &exported)?;
        return Ok(());
    }
    assert!(
        committed == exported,
        "schema.graphql has drifted from the server's schema: run `cargo run -- schema > schema.graphql` \
         (or UPDATE_SCHEMA=1 cargo test schema_drift)"
    );
    Ok(())
}

/// Every type, field, argument, enum value, input field and union member of
/// the API contract (docs/api-contract.graphql) stands in schema.graphql.
/// Types are held loosely here (by name); `../shared/tools/contract-check`
/// checks their nullability too.
#[test]
fn schema_keeps_the_api_contract() -> anyhow::Result<()> {
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
    use std::collections::BTreeSet;

    fn names(sdl: &str) -> anyhow::Result<BTreeSet<String>> {
        let document = async_graphql::parser::parse_schema(sdl)?;
        let mut names = BTreeSet::new();
        for definition in document.definitions {
            let TypeSystemDefinition::Type(ty) = definition else { continue };
            let ty = ty.node;
            let name = ty.name.node.to_string();
            names.insert(name.clone());
            match ty.kind {
                TypeKind::Object(object) => {
                    for field in object.fields {
                        let field = field.node;
                        names.insert(format!("{name}.{}", field.name.node));
                        for arg in field.arguments {
                            names.insert(format!("{name}.{}({}:)", field.name.node, arg.node.name.node));
                        }
                    }
                }
                TypeKind::Interface(interface) => {
                    for field in interface.fields {
                        names.insert(format!("{name}.{}", field.node.name.node));
                    }
                }
                TypeKind::InputObject(input) => {
                    for field in input.fields {
                        names.insert(format!("{name}.{}", field.node.name.node));
                    }
                }
                TypeKind::Enum(values) => {
                    for value in values.values {
                        names.insert(format!("{name}::{}", value.node.value.node));
                    }
                }
                TypeKind::Union(union) => {
                    for member in union.members {
                        names.insert(format!("{name}|{}", member.node));
                    }
                }
                TypeKind::Scalar => {}
            }
        }
        Ok(names)
    }
    let contract = names(include_str!("../../docs/api-contract.graphql"))?;
    let schema = names(&onroll::graphql::sdl())?;
    let missing: Vec<&String> = contract.difference(&schema).collect();
    assert!(contract.len() > 100, "the contract parsed to only {} names", contract.len());
    assert!(missing.is_empty(), "schema.graphql lacks what the contract has: {missing:?}");
    Ok(())
}
