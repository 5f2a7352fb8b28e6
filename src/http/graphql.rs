//! POST /graphql and GET /schema.graphql (GraphiQL is `super::graphiql`).

use async_graphql_axum::{GraphQLRequest, rejection::GraphQLRejection};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::net::SocketAddr;

use super::{AppState, limits};
use crate::auth::authenticate;
use crate::error::{AppError, normalise};
use crate::graphql::RequestContext;
use crate::graphql::batching::Batching;
use crate::graphql::loaders::Spawner;
use crate::graphql::query_path::Declined;

pub async fn execute(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: Result<GraphQLRequest, GraphQLRejection>,
) -> Response {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let viewer = match authenticate(&state.db, &state.tokens, authorization).await {
        Ok(viewer) => viewer,
        Err(err @ (AppError::Unauthenticated | AppError::TokenRevoked | AppError::TokenExpired)) => {
            if let Some(limited) = limits::anonymous(&state.limits, peer.ip()) {
                return limited;
            }
            return refusal(StatusCode::UNAUTHORIZED, &err);
        }
        Err(err) => {
            err.log();
            return refusal(StatusCode::SERVICE_UNAVAILABLE, &err);
        }
    };
    let mut request = match request {
        Ok(request) => request.into_inner(),
        Err(rejection) => {
            let message = format!("the request is not a GraphQL request: {}", rejection.0);
            return error_body(StatusCode::BAD_REQUEST, &message, "BAD_REQUEST");
        }
    };
    let batching = Batching::default();
    let context = RequestContext::new(state.db.clone(), viewer, Spawner::Gated(batching.clone()));
    let limits = &state.limits;
    state.provide(&mut request.data);
    // Queries take the plain schema (`graphql::query_path`); the rest the
    // full one, with its audit trail and per-request extensions.
    let run = async {
        match state.queries.run(request, context, limits).await {
            Ok(response) => response,
            Err(declined) => {
                let Declined { request, context } = *declined;
                state.schema.execute(request.data(context)).await
            }
        }
    };
    let executed = limits::run(limits, batching.track(run)).await;
    match executed {
        Ok(response) => limits::respond(normalise(response)),
        Err(refusal) => limits::respond(refusal.to_response()),
    }
}

fn refusal(status: StatusCode, err: &AppError) -> Response {
    let mut response = error_body(status, &err.to_string(), err.code());
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// A GraphQL-shaped error body, so clients parse refusals like any answer.
fn error_body(status: StatusCode, message: &str, code: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, axum::Json(body)).into_response()
}

pub async fn sdl(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], crate::graphql::schema::sdl_of(&state.schema))
}
