//! One error type for the whole API, rendered as RFC 9457 problem details.
//!
//! What this module shows: handlers and extractors return [`ApiError`], an enum that says what
//! went wrong in the API's own terms; `IntoResponse` maps each variant to a status code and a
//! [`Problem`] document (`application/problem+json`). The document, its field errors and the
//! middleware that completes every error response (`problem_details`: it adds the `instance`
//! path and the request id, and turns the bare error responses of other layers into problems)
//! come from shop-http (`capstone/crates/shop-http/src/problem.rs`), written once so that every
//! later lesson and the capstone render errors the same way. What is this API's own is here:
//! its problem types, its errors, and how axum's rejections map onto them. A client parses one
//! shape for every error the server can produce.
//!
//! Run the tests with `cargo test -p lesson-03 problem`.

use std::error::Error;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use shop_domain::{ProductId, Sku};
use shop_http::{FieldError, Problem};
use thiserror::Error;

use crate::store::StoreError;

/// Our own problem types. A `type` is an identifier a client can `match` on, a URI because
/// URIs are globally unique. The RFC prefers one that leads to documentation when dereferenced;
/// this API has no documentation site, so it uses `tag:` URIs (RFC 4151), which the RFC allows
/// for types that are not meant to be dereferenced.
pub mod types {
    pub const DUPLICATE_SKU: &str = "tag:backend-rs.github.io,2025:problems/duplicate-sku";
    pub const INVALID_FIELDS: &str = "tag:backend-rs.github.io,2025:problems/invalid-fields";
    pub const INVALID_QUERY: &str = "tag:backend-rs.github.io,2025:problems/invalid-query";
}

// ANCHOR: api_error
/// Everything a request to this API can fail with, in the API's own terms.
#[derive(Debug, Error)]
pub enum ApiError {
    #[error("no product with id {0}")]
    ProductNotFound(ProductId),
    #[error("no route for {0}")]
    NoRoute(String),
    #[error("SKU {sku} already belongs to product {existing}")]
    DuplicateSku { sku: Sku, existing: ProductId },
    #[error("{} invalid field(s)", .0.len())]
    InvalidFields(Vec<FieldError>),
    #[error("{} invalid query parameter(s)", .0.len())]
    InvalidQuery(Vec<FieldError>),
    /// Well-formed JSON of the wrong shape: a missing field, a string for a number.
    #[error("{0}")]
    WrongJsonShape(String),
    /// A body or query string that cannot be read at all.
    #[error("{0}")]
    BadRequest(String),
    #[error("the body must be JSON, sent with content-type: application/json")]
    UnsupportedMediaType,
    #[error("the body is larger than the server accepts")]
    PayloadTooLarge,
    /// A bug or a broken dependency. The cause is logged, never sent.
    #[error("internal error")]
    Internal(#[source] Box<dyn Error + Send + Sync>),
}
// ANCHOR_END: api_error

// ANCHOR: into_response
impl ApiError {
    /// The problem document for this error.
    pub fn to_problem(&self) -> Problem {
        use ApiError as E;
        match self {
            E::ProductNotFound(_) | E::NoRoute(_) => {
                Problem::for_status(StatusCode::NOT_FOUND).with_detail(self.to_string())
            }
            E::DuplicateSku { existing, .. } => Problem::new(
                types::DUPLICATE_SKU,
                "SKU already in use",
                StatusCode::CONFLICT,
            )
            .with_detail(self.to_string())
            .with_extension("existing", format!("/products/{existing}")),
            E::InvalidFields(errors) => Problem::new(
                types::INVALID_FIELDS,
                "Invalid fields",
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .with_detail(format!("{self}; see `errors`"))
            .with_errors(errors.clone()),
            E::InvalidQuery(errors) => Problem::new(
                types::INVALID_QUERY,
                "Invalid query parameters",
                StatusCode::BAD_REQUEST,
            )
            .with_detail(format!("{self}; see `errors`"))
            .with_errors(errors.clone()),
            E::WrongJsonShape(detail) => {
                Problem::for_status(StatusCode::UNPROCESSABLE_ENTITY).with_detail(detail)
            }
            E::BadRequest(detail) => {
                Problem::for_status(StatusCode::BAD_REQUEST).with_detail(detail)
            }
            E::UnsupportedMediaType => Problem::for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE)
                .with_detail(self.to_string()),
            E::PayloadTooLarge => {
                Problem::for_status(StatusCode::PAYLOAD_TOO_LARGE).with_detail(self.to_string())
            }
            // No detail: a 5xx tells the client that it failed, never how.
            E::Internal(_) => Problem::for_status(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            // Logged once, here, with the whole chain of causes; the request span the trace
            // layer opened adds the method, path and request id to the log line.
            tracing::error!(error = %error_chain(cause.as_ref()), "request failed");
        }
        self.to_problem().into_response()
    }
}
// ANCHOR_END: into_response

/// `outer: middle: root cause`, the way `anyhow` prints `{:#}`.
fn error_chain(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(id) => ApiError::ProductNotFound(id),
            StoreError::DuplicateSku { sku, existing } => ApiError::DuplicateSku { sku, existing },
        }
    }
}

// ANCHOR: rejections
/// axum's `Json` extractor fails in four ways; each gets the status RFC 9110 gives it and a
/// detail a client developer can act on.
impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(error) => ApiError::WrongJsonShape(error.body_text()),
            JsonRejection::JsonSyntaxError(error) => ApiError::BadRequest(error.body_text()),
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
            // The body-limit layer cut the body off while axum was reading it.
            JsonRejection::BytesRejection(error)
                if error.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                ApiError::PayloadTooLarge
            }
            // The enum is `#[non_exhaustive]`: a future axum may add ways to fail.
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}
// ANCHOR_END: rejections

#[cfg(test)]
mod tests {
    use std::io;

    use axum::body::to_bytes;
    use axum::http::HeaderMap;
    use axum::http::header::CONTENT_TYPE;
    use serde_json::Value;
    use shop_http::PROBLEM_JSON;

    use super::*;

    async fn render(error: ApiError) -> (StatusCode, HeaderMap, Value) {
        let response = error.into_response();
        let status = response.status();
        let headers = response.headers().clone();
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, headers, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn an_error_renders_as_problem_json() {
        let (status, headers, body) = render(ApiError::InvalidFields(vec![FieldError::body(
            "sku",
            "too short",
        )]))
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(headers[CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(body["type"], types::INVALID_FIELDS);
        assert_eq!(body["status"], 422);
        assert_eq!(body["errors"][0]["pointer"], "#/sku");
    }

    #[tokio::test]
    async fn a_plain_status_problem_uses_about_blank_and_the_standard_phrase() {
        let (_, _, body) = render(ApiError::NoRoute("GET /nope".into())).await;
        assert_eq!(body["type"], "about:blank");
        assert_eq!(body["title"], "Not Found");
        assert_eq!(body["detail"], "no route for GET /nope");
    }

    #[tokio::test]
    async fn an_internal_error_does_not_leak_its_cause() {
        let cause = io::Error::other("connection to 10.0.0.7:5432 refused");
        let (status, _, body) = render(ApiError::Internal(Box::new(cause))).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.to_string().contains("10.0.0.7"), "{body}");
        assert_eq!(body.get("detail"), None);
    }

    #[test]
    fn the_cause_chain_reads_outside_in() {
        let error = ApiError::Internal(Box::new(io::Error::other("disk full")));
        assert_eq!(error_chain(&error), "internal error: disk full");
    }

    #[test]
    fn a_problem_round_trips_with_its_extensions() {
        let problem = ApiError::DuplicateSku {
            sku: Sku::parse("MUG-1").unwrap(),
            existing: ProductId::generate(),
        }
        .to_problem();
        let json = serde_json::to_string(&problem).unwrap();
        assert_eq!(serde_json::from_str::<Problem>(&json).unwrap(), problem);
        assert!(problem.extensions.contains_key("existing"));
    }
}
