//! The HTTP paths of operations.md other than POST /graphql.

use crate::on_both_engines;
use crate::support::{Engine, TestApp};

on_both_engines!(health_schema_and_graphiql);

async fn health_schema_and_graphiql(engine: Engine) -> anyhow::Result<()> {
    let app = TestApp::spawn(&engine).await?;
    let live = app.http.get(app.url("/healthz")).send().await?;
    assert_eq!(live.status().as_u16(), 200);
    let ready = app.http.get(app.url("/readyz")).send().await?;
    assert_eq!(ready.status().as_u16(), 200);
    assert_eq!(ready.text().await?, "ready");

    let sdl = app.http.get(app.url("/schema.graphql")).send().await?.text().await?;
    assert_eq!(sdl, onroll::graphql::sdl());

    let page = app.http.get(app.url("/graphql")).send().await?;
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await?;
    assert!(html.to_lowercase().contains("graphiql"));
    assert!(html.contains("/graphql/ws"), "GraphiQL is pointed at the subscription endpoint");
    Ok(())
}
