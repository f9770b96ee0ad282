//! One error type for the whole API, rendered as RFC 9457 problem details.
//!
//! What this module shows: handlers and extractors return [`ApiError`], an enum that says what
//! went wrong in the API's own terms; `IntoResponse` maps each variant to a status code and a
//! [`Problem`] document (`application/problem+json`). The error cannot know which request it
//! belongs to, so one middleware, [`problem_details`], adds what only the request knows (the
//! `instance` path and the request id) and turns the bare error responses of other layers
//! (timeout, body limit, an unknown method) into the same format. A client parses one shape for
//! every error the server can produce.
//!
//! Run the tests with `cargo test -p lesson-03 problem`.

use std::error::Error;

use axum::Json;
use axum::extract::Request;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use shop_domain::{ProductId, Sku};
use thiserror::Error;

use crate::product::FieldError;
use crate::store::StoreError;

/// The media type of a problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The `type` of a problem that means no more than its status code (RFC 9457 §4.2.1).
pub const ABOUT_BLANK: &str = "about:blank";

/// Our own problem types. A `type` is an identifier a client can `match` on, a URI because
/// URIs are globally unique. The RFC prefers one that leads to documentation when dereferenced;
/// this API has no documentation site, so it uses `tag:` URIs (RFC 4151), which the RFC allows
/// for types that are not meant to be dereferenced.
pub mod types {
    pub const DUPLICATE_SKU: &str = "tag:backend-rs.github.io,2025:problems/duplicate-sku";
    pub const INVALID_FIELDS: &str = "tag:backend-rs.github.io,2025:problems/invalid-fields";
    pub const INVALID_QUERY: &str = "tag:backend-rs.github.io,2025:problems/invalid-query";
}

// ANCHOR: problem
/// A problem details document (RFC 9457 §3).
///
/// `type` identifies the kind of problem, `title` is its fixed human-readable summary, `status`
/// repeats the status code (a proxy may change the code; the body keeps the original), `detail`
/// explains this occurrence, and `instance` names it. Any other member is an *extension*: here
/// `errors` (the invalid fields), `existing` (the product a duplicate SKU belongs to) and
/// `request_id` (the id to quote when reporting the problem).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(rename = "type", default = "about_blank")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}
// ANCHOR_END: problem

fn about_blank() -> String {
    ABOUT_BLANK.to_owned()
}

impl Problem {
    /// A problem that means exactly its status code: type `about:blank`, and the status's
    /// standard phrase as title, as the RFC asks.
    pub fn for_status(status: StatusCode) -> Self {
        Self {
            type_uri: about_blank(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: None,
            instance: None,
            extensions: Map::new(),
        }
    }

    fn typed(type_uri: &str, title: &str, status: StatusCode) -> Self {
        Self {
            type_uri: type_uri.to_owned(),
            title: title.to_owned(),
            ..Self::for_status(status)
        }
    }

    fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    fn extension(mut self, name: &str, value: impl Serialize) -> Self {
        // Serializing our own plain structs to a `Value` cannot fail; `Null` if it ever did.
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.extensions.insert(name.to_owned(), value);
        self
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The `errors` extension, if the problem has one.
    pub fn field_errors(&self) -> Vec<FieldError> {
        self.extensions
            .get("errors")
            .and_then(|errors| serde_json::from_value(errors.clone()).ok())
            .unwrap_or_default()
    }
}

impl IntoResponse for Problem {
    /// The document as a complete response. A copy rides along in the response's extensions,
    /// where [`problem_details`] finds it to add the request's details.
    fn into_response(self) -> Response {
        let mut response = (self.status_code(), Json(&self)).into_response();
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response.extensions_mut().insert(self);
        response
    }
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
                Problem::for_status(StatusCode::NOT_FOUND).detail(self.to_string())
            }
            E::DuplicateSku { existing, .. } => Problem::typed(
                types::DUPLICATE_SKU,
                "SKU already in use",
                StatusCode::CONFLICT,
            )
            .detail(self.to_string())
            .extension("existing", format!("/products/{existing}")),
            E::InvalidFields(errors) => Problem::typed(
                types::INVALID_FIELDS,
                "Invalid fields",
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .detail(format!("{self}; see `errors`"))
            .extension("errors", errors),
            E::InvalidQuery(errors) => Problem::typed(
                types::INVALID_QUERY,
                "Invalid query parameters",
                StatusCode::BAD_REQUEST,
            )
            .detail(format!("{self}; see `errors`"))
            .extension("errors", errors),
            E::WrongJsonShape(detail) => {
                Problem::for_status(StatusCode::UNPROCESSABLE_ENTITY).detail(detail)
            }
            E::BadRequest(detail) => Problem::for_status(StatusCode::BAD_REQUEST).detail(detail),
            E::UnsupportedMediaType => {
                Problem::for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE).detail(self.to_string())
            }
            E::PayloadTooLarge => {
                Problem::for_status(StatusCode::PAYLOAD_TOO_LARGE).detail(self.to_string())
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

// ANCHOR: middleware
/// Middleware: completes every error response as a problem document.
///
/// A response carrying a [`Problem`] (every [`ApiError`]) gets `instance` and `request_id`
/// and is rendered again. An error response from elsewhere (the timeout's empty 503, the body
/// limit's plain-text 413, the router's empty 405) becomes the problem for its status code,
/// keeping its headers (`allow` on a 405).
pub async fn problem_details(request: Request, next: Next) -> Response {
    let instance = request.uri().path().to_owned();
    let request_id = request
        .headers()
        .get(crate::server::X_REQUEST_ID)
        .and_then(|id| id.to_str().ok())
        .map(str::to_owned);

    let response = next.run(request).await;

    let (mut parts, body) = response.into_parts();
    let mut problem = match parts.extensions.remove::<Problem>() {
        Some(problem) => problem,
        None if is_error(parts.status) && !is_problem(&parts.headers) => {
            let problem = Problem::for_status(parts.status);
            match detail_for_status(parts.status) {
                Some(detail) => problem.detail(detail),
                None => problem,
            }
        }
        None => return Response::from_parts(parts, body),
    };
    problem.instance = Some(instance);
    if let Some(id) = request_id {
        problem.extensions.insert("request_id".into(), id.into());
    }
    let mut rendered = problem.into_response();
    // Keep the original headers except those describing the old body.
    parts.headers.remove(CONTENT_LENGTH);
    parts.headers.remove(CONTENT_TYPE);
    rendered.headers_mut().extend(parts.headers);
    rendered
}
// ANCHOR_END: middleware

/// What the bare error responses of the layers below mean, in this server.
fn detail_for_status(status: StatusCode) -> Option<&'static str> {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => Some("the body is larger than the server accepts"),
        StatusCode::METHOD_NOT_ALLOWED => {
            Some("this resource does not support the method; `allow` lists those it does")
        }
        StatusCode::SERVICE_UNAVAILABLE => {
            Some("the server did not finish the request in time; try again later")
        }
        _ => None,
    }
}

fn is_error(status: StatusCode) -> bool {
    status.is_client_error() || status.is_server_error()
}

fn is_problem(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(PROBLEM_JSON.as_bytes()))
}

#[cfg(test)]
mod tests {
    use std::io;

    use axum::body::to_bytes;

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
