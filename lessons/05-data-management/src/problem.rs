//! The API's one error type, rendered as RFC 9457 `application/problem+json`.
//!
//! What this module shows: validation failures carry a list of [`FieldError`]s, one per
//! broken rule, so a client can show every problem next to its field after one round trip.
//! The shape is the one lesson 03 uses and RFC 9457's own example shows: a JSON Pointer
//! (`#/name`) or a query parameter's name, and a `detail` for people.
//!
//! Tests: `cargo test -p lesson-05 --test http`.

use axum::Json;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use thiserror::Error;

/// The media type of a problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";

// ANCHOR: field_error
/// One broken rule of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// `#/name` for a body member, absent for a query parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// The query parameter's name, absent for a body member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    pub detail: String,
}
// ANCHOR_END: field_error

impl FieldError {
    /// An error in the body member `field`.
    pub fn body(field: &str, detail: impl Into<String>) -> Self {
        Self {
            pointer: Some(format!("#/{field}")),
            parameter: None,
            detail: detail.into(),
        }
    }

    /// An error in the query parameter `name`.
    pub fn parameter(name: &str, detail: impl Into<String>) -> Self {
        Self {
            pointer: None,
            parameter: Some(name.to_owned()),
            detail: detail.into(),
        }
    }

    /// The pointer or the parameter: where the problem is.
    pub fn at(&self) -> &str {
        self.pointer
            .as_deref()
            .or(self.parameter.as_deref())
            .unwrap_or_default()
    }
}

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
        let title = status.canonical_reason().unwrap_or("Error");
        let mut body = match &self {
            ApiError::Internal(source) => {
                tracing::error!(error = %source, "request failed");
                json!({ "title": title, "status": status.as_u16() })
            }
            _ => json!({ "title": title, "status": status.as_u16(), "detail": self.to_string() }),
        };
        if let ApiError::InvalidBody(errors) | ApiError::InvalidQuery(errors) = &self {
            body["errors"] = json!(errors);
        }
        body["type"] = json!("about:blank");
        let mut response = (status, Json(body)).into_response();
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}
