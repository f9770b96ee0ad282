//! The API's one error type, rendered as RFC 9457 `application/problem+json`.
//!
//! What this module shows: validation failures carry a list of [`FieldError`]s, one per
//! broken rule, so a client can show every problem next to its field after one round trip.
//! The document and its field errors are shop-http's [`Problem`] and [`FieldError`], the ones
//! lesson 03 teaches and RFC 9457's own example shows: a JSON Pointer (`#/name`) or a query
//! parameter's name, and a `detail` for people. What is this lesson's own is here: what can go
//! wrong, and which status each failure gets.
//!
//! Tests: `cargo test -p lesson-05 --test http`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use shop_http::{FieldError, Problem};
use thiserror::Error;

/// Everything a request can fail with.
#[derive(Debug, Error)]
pub enum ApiError {
    #[error("{} invalid field(s)", .0.len())]
    InvalidBody(Vec<FieldError>),
    #[error("{} invalid query parameter(s)", .0.len())]
    InvalidQuery(Vec<FieldError>),
    /// A body serde could not read: not JSON, a wrong type, an unknown member.
    #[error("{detail}")]
    UnreadableBody { status: StatusCode, detail: String },
    /// A path segment the route cannot read (`/products/42` where a UUID belongs).
    #[error("{0}")]
    InvalidPath(String),
    #[error("no product with this id")]
    NotFound,
    #[error("SKU {0} is already in use")]
    DuplicateSku(String),
    /// A bug or a broken database; logged, never sent.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidBody(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::InvalidQuery(_) => StatusCode::BAD_REQUEST,
            ApiError::UnreadableBody { status, .. } => *status,
            ApiError::InvalidPath(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::DuplicateSku(_) => StatusCode::CONFLICT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        ApiError::Internal(Box::new(error))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = self.to_string();
        let problem = match self {
            ApiError::Internal(source) => {
                tracing::error!(error = %source, "request failed");
                // No detail: a 5xx tells the client that it failed, never how.
                Problem::for_status(status)
            }
            ApiError::InvalidBody(errors) | ApiError::InvalidQuery(errors) => {
                Problem::for_status(status)
                    .with_detail(detail)
                    .with_errors(errors)
            }
            _ => Problem::for_status(status).with_detail(detail),
        };
        problem.into_response()
    }
}
