//! Errors of the request path.
//!
//! Every error that reaches a client carries `extensions.code`. Messages of
//! internal failures are generic: database text can hold personal data, so
//! it is classified for the log and never sent.

use async_graphql::{ErrorExtensions, Response, ServerError};
use sea_orm::DbErr;
use std::sync::Arc;

/// Every `extensions.code` the API can answer, as docs/errors.md lists
/// them with their HTTP statuses (tests/api/error_codes.rs holds the three
/// equal, and the code that makes them to this list).
pub const CODES: &[&str] = &[
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "BAD_USER_INPUT",
    "CONFLICT",
    "BAD_REQUEST",
    "UNSUPPORTED_MEDIA_TYPE",
    "PAYLOAD_TOO_LARGE",
    "GRAPHQL_VALIDATION_FAILED",
    "INTERNAL_SERVER_ERROR",
    "WONDE_UNAUTHORIZED",
    "WONDE_NOT_FOUND",
    "WONDE_ALREADY_APPROVED",
    "WONDE_NOT_CONFIGURED",
    "WONDE_REFUSED",
    "WONDE_UNAVAILABLE",
    // Limits (docs/limits.md).
    "DOCUMENT_TOO_LARGE",
    "MAX_COST_EXCEEDED",
    "RATE_LIMITED",
    "TIMEOUT",
    "TOO_MANY_SOCKETS",
    // Data protection (docs/data-protection.md).
    "PERSON_ON_ROLL",
    // Outbound webhooks (docs/webhooks.md).
    "WEBHOOK_URL_REFUSED",
];

/// A failure that a GraphQL client may be told about.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No token, or one we do not know (HTTP 401, `UNAUTHENTICATED`).
    #[error("authentication required: send a valid API token as `Authorization: Bearer <token>`")]
    Unauthenticated,
    /// The token was revoked (`onroll token revoke`): HTTP 401, `UNAUTHENTICATED`.
    #[error("this API token was revoked: ask the trust's operator for a new one")]
    TokenRevoked,
    /// The token's expiry (`token create --expires-in`) has passed: HTTP
    /// 401, `UNAUTHENTICATED`.
    #[error("this API token has expired: ask the trust's operator for a new one")]
    TokenExpired,
    /// The token is valid but its role or scope does not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// The thing asked for does not exist, or is outside the viewer's scope.
    #[error("{0}")]
    NotFound(String),
    /// The request's arguments are malformed (cursor, ID, page size...).
    #[error("{0}")]
    BadInput(String),
    /// The request is sound but the state forbids it now (a run of the
    /// school is under way); try again later (`CONFLICT`).
    #[error("{0}")]
    Conflict(String),
    /// Wonde refused or could not answer; `code` is `WONDE_UNAUTHORIZED`,
    /// `WONDE_NOT_FOUND`, `WONDE_ALREADY_APPROVED`, `WONDE_NOT_CONFIGURED`,
    /// `WONDE_REFUSED` (another refusal; the message carries Wonde's words)
    /// or `WONDE_UNAVAILABLE` (no answer, or Wonde failing).
    #[error("{message}")]
    Wonde { code: &'static str, message: String },
    /// An erasure asked for a person the MIS still has on roll (an ACTIVE
    /// record): the next sync would bring them back (`PERSON_ON_ROLL`).
    #[error("{0}")]
    PersonOnRoll(String),
    /// A webhook endpoint URL that may not be called: not https, or a host
    /// resolving to a loopback, private, link-local or metadata address
    /// (`WEBHOOK_URL_REFUSED`).
    #[error("{0}")]
    WebhookUrlRefused(String),
    /// The database failed; details go to the log, not the client.
    #[error("the directory's database could not answer; try again")]
    Database(#[from] DbErr),
    /// A shared database error from a DataLoader batch.
    #[error("the directory's database could not answer; try again")]
    SharedDatabase(#[from] Arc<DbErr>),
    /// An error shared by every row of a DataLoader batch.
    #[error("{0}")]
    Shared(Arc<AppError>),
    /// Anything else that is our fault.
    #[error("internal error")]
    Internal(&'static str),
}

impl AppError {
    /// The `extensions.code` clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated | Self::TokenRevoked | Self::TokenExpired => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::BadInput(_) => "BAD_USER_INPUT",
            Self::Conflict(_) => "CONFLICT",
            Self::PersonOnRoll(_) => "PERSON_ON_ROLL",
            Self::Wonde { code, .. } => code,
            Self::WebhookUrlRefused(_) => "WEBHOOK_URL_REFUSED",
            Self::Database(_) | Self::SharedDatabase(_) | Self::Internal(_) => "INTERNAL_SERVER_ERROR",
            Self::Shared(inner) => inner.code(),
        }
    }

    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::BadInput(message.into())
    }

    /// Logs what the client is not told: internal failures, as a coarse kind.
    pub fn log(&self) {
        match self {
            Self::Database(err) => tracing::error!(db.error = db_error_kind(err), "database error"),
            Self::SharedDatabase(err) => {
                tracing::error!(db.error = db_error_kind(err), "database error in a batch")
            }
            Self::Internal(what) => tracing::error!(what, "internal error"),
            Self::Shared(inner) => inner.log(),
            _ => {}
        }
    }
}

/// A coarse class of database error: safe to log, unlike its text.
pub fn db_error_kind(err: &DbErr) -> &'static str {
    match err {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => "connection",
        DbErr::Exec(_) => "exec",
        DbErr::Query(_) => "query",
        DbErr::RecordNotFound(_) => "record_not_found",
        DbErr::Migration(_) => "migration",
        _ => "other",
    }
}

impl From<Arc<AppError>> for AppError {
    fn from(shared: Arc<AppError>) -> Self {
        Self::Shared(shared)
    }
}

impl ErrorExtensions for AppError {
    fn extend(&self) -> async_graphql::Error {
        self.log();
        let code = self.code();
        async_graphql::Error::new(self.to_string()).extend_with(|_, ext| ext.set("code", code))
    }
}

/// Turns any result whose error converts into [`AppError`] into a GraphQL
/// result with its code. Resolvers use `.gql()?` instead of a bare `?`, which
/// would send an error's raw text to the client.
pub trait ResultExt<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T, E: Into<AppError>> ResultExt<T> for Result<T, E> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|err| err.into().extend())
    }
}

/// Gives every error of a response an `extensions.code`.
///
/// Field errors that arrive without one did not pass through [`AppError`]:
/// their text is replaced, so no unexpected error text leaks. Errors without
/// a path come from parsing or validation and keep their (safe) message.
pub fn normalise(mut response: Response) -> Response {
    for error in &mut response.errors {
        if has_code(error) {
            continue;
        }
        let code = uncoded(error);
        if code == "INTERNAL_SERVER_ERROR" {
            tracing::error!("a resolver returned an error without a code");
            error.message = "internal error".to_owned();
        }
        set_code(error, code);
    }
    response
}

/// The code [`normalise`] gives an error that arrived without one.
fn uncoded(error: &ServerError) -> &'static str {
    if error.path.is_empty() {
        "GRAPHQL_VALIDATION_FAILED"
    } else if is_input_coercion(&error.message) {
        // A value the client sent that the executor could not read as its
        // type (a date that is not RFC 3339, a string as an upload): the
        // client's input, said in async-graphql's words.
        "BAD_USER_INPUT"
    } else {
        "INTERNAL_SERVER_ERROR"
    }
}

/// async-graphql's words for an argument it could not coerce at run time.
fn is_input_coercion(message: &str) -> bool {
    message.starts_with("Failed to parse") || message.starts_with("Invalid value for argument")
}

/// The error's code for metrics, as the client will see it: its own code,
/// or the one [`normalise`] will give it; a code outside [`CODES`] is
/// `error`, so the label stays bounded.
pub fn code_of(error: &ServerError) -> String {
    let code = match error.extensions.as_ref().and_then(|ext| ext.get("code")) {
        Some(async_graphql::Value::String(code)) => code.as_str(),
        Some(_) => "error",
        None => uncoded(error),
    };
    if CODES.contains(&code) { code.to_owned() } else { "error".to_owned() }
}

fn has_code(error: &ServerError) -> bool {
    error.extensions.as_ref().is_some_and(|ext| ext.get("code").is_some())
}

fn set_code(error: &mut ServerError, code: &'static str) {
    error.extensions.get_or_insert_with(Default::default).set("code", code);
}
