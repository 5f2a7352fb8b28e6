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
