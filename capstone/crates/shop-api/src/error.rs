//! One error type for every handler, rendered as RFC 9457 `application/problem+json`.
//!
//! What this module shows:
//! - [`ApiError`]: what can go wrong in a request, as an enum. Handlers return
//!   `Result<_, ApiError>` and use `?`; the `From` impls decide which status a lower layer's
//!   error deserves, in one place;
//! - [`Problem`]: the wire format, `{"type", "title", "status", "detail", "instance"}`;
//! - a 5xx never shows its cause to the client (it may hold SQL, host names, file paths), and
//!   is logged exactly once, here, with its whole cause chain;
//! - [`problem_details`], a middleware that stamps `instance` with the request's path and turns
//!   the bare error responses other layers produce (405 from the router, 413 from the body
//!   limit, 503 from the timeout) into problem documents too, so a client handles one format.
//!
//! Unit tests at the bottom drive the rendering with `tower::ServiceExt::oneshot`.

use std::borrow::Cow;
use std::error::Error as StdError;

use axum::body::Body;
use axum::extract::Request;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use shop_db::DbError;
use shop_db::reviews::ReviewError;
use thiserror::Error;

/// The media type of an RFC 9457 problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem type is an identifier, not a link: clients compare it as a string to tell "no
/// such product" from "no such route". These are `tag:` URIs (RFC 4151), which say plainly that
/// there is nothing to fetch; a service with published documentation would use its https URLs.
mod problem_type {
    pub const NOT_FOUND: &str = "tag:backend-rs,2026:shop/not-found";
    pub const INVALID_REQUEST: &str = "tag:backend-rs,2026:shop/invalid-request";
    pub const VALIDATION: &str = "tag:backend-rs,2026:shop/validation";
    pub const CONFLICT: &str = "tag:backend-rs,2026:shop/conflict";
    pub const UNAUTHENTICATED: &str = "tag:backend-rs,2026:shop/unauthenticated";
    pub const FORBIDDEN: &str = "tag:backend-rs,2026:shop/forbidden";
    pub const REVIEWS_UNAVAILABLE: &str = "tag:backend-rs,2026:shop/reviews-unavailable";
    pub const INVALID_CREDENTIALS: &str = "tag:backend-rs,2026:shop/invalid-credentials";
    pub const TOO_MANY_REQUESTS: &str = "tag:backend-rs,2026:shop/too-many-requests";
    pub const PAYLOAD_TOO_LARGE: &str = "tag:backend-rs,2026:shop/payload-too-large";
    pub const INTERNAL: &str = "tag:backend-rs,2026:shop/internal-error";
    /// RFC 9457's "nothing more to say than the status code".
    pub const BLANK: &str = "about:blank";
}

/// How long a client should wait before asking for reviews again after a 503.
const REVIEWS_RETRY_AFTER_SECS: u32 = 5;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

// ANCHOR: api_error
/// Everything a handler can fail with.
#[derive(Debug, Error)]
pub enum ApiError {
    /// 404: the resource does not exist. `what` is its kind ("product"), `key` how it was named.
    #[error("{what} {key} not found")]
    NotFound { what: &'static str, key: String },

    /// 400: the path or query string could not be parsed. `detail` is safe to show: it
    /// describes the client's own input.
    #[error("invalid request: {detail}")]
    InvalidRequest { detail: String },

    /// 409: the request conflicts with the current state (an email address already in use).
    #[error("conflict: {detail}")]
    Conflict { detail: String },

    /// 401: no credentials, or credentials that did not check out. One message for every
    /// reason (missing, malformed, expired, forged): which check failed is for the log.
    #[error("not authenticated")]
    Unauthenticated,

    /// 403: authenticated, but without the permission this needs. (A resource that belongs to
    /// someone else answers 404 instead, so its existence is not confirmed.)
    #[error("forbidden: {detail}")]
    Forbidden { detail: String },

    /// 401: a password, refresh token or API key that did not check out. `detail` is fixed
    /// text: after a sign-in, the same for a wrong password and an unknown address, so the
    /// response does not tell an attacker which addresses have accounts.
    #[error("invalid credentials")]
    InvalidCredentials { detail: &'static str },

    /// 429: too many requests (rate limit) or too many failed sign-ins (throttle). The
    /// `Retry-After` header says when to try again.
    #[error("too many requests")]
    TooManyRequests { retry_after: std::time::Duration },

    /// 413: the request body is larger than the service accepts.
    #[error("payload too large")]
    PayloadTooLarge,

    /// 400: query parameters that parsed as text but break a rule, every one named
    /// ([`Problem::errors`]). 400 because the request line itself is wrong.
    #[error("invalid query parameters")]
    InvalidQuery { errors: Vec<FieldError> },

    /// 400: path segments that break a rule, every one named by its route parameter (`slug`
    /// in `/categories/{slug}/products`), as [`ApiError::InvalidQuery`] names query parameters.
    #[error("invalid path parameters")]
    InvalidPath { errors: Vec<FieldError> },

    /// 422: a well-formed JSON body whose values break rules, every one named. A body that is
    /// not JSON, or has the wrong shape, is a 400 from the `Json` extractor instead: 422 says
    /// "understood, but I will not do this" (RFC 9110, section 15.5.21).
    #[error("invalid fields")]
    InvalidFields { errors: Vec<FieldError> },

    /// 503: MongoDB, which holds the reviews, is not answering. The rest of the shop works.
    #[error("reviews are unavailable")]
    ReviewsUnavailable(#[source] BoxError),

    /// 500: anything else. The source is logged, never sent.
    #[error("internal error")]
    Internal(#[source] BoxError),
}
// ANCHOR_END: api_error

impl ApiError {
    pub fn not_found(what: &'static str, key: impl ToString) -> Self {
        ApiError::NotFound {
            what,
            key: key.to_string(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::InvalidCredentials { .. } => StatusCode::UNAUTHORIZED,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::InvalidQuery { .. } | ApiError::InvalidPath { .. } => StatusCode::BAD_REQUEST,
            ApiError::InvalidFields { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::ReviewsUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The document the client sees. For 5xx it is fixed text: the cause stays in the log.
    pub fn problem(&self) -> Problem {
        let status = self.status();
        match self {
            ApiError::NotFound { what, key } => {
                Problem::new(problem_type::NOT_FOUND, "Resource not found", status)
                    .with_detail(format!("There is no {what} `{key}`."))
            }
            ApiError::InvalidRequest { detail } => {
                Problem::new(problem_type::INVALID_REQUEST, "Invalid request", status)
                    .with_detail(detail.clone())
            }
            ApiError::Conflict { detail } => {
                Problem::new(problem_type::CONFLICT, "Conflict", status).with_detail(detail.clone())
            }
            ApiError::Unauthenticated => Problem::new(
                problem_type::UNAUTHENTICATED,
                "Authentication required",
                status,
            )
            .with_detail("Send a valid, unexpired access token: `Authorization: Bearer <token>`."),
            ApiError::Forbidden { detail } => {
                Problem::new(problem_type::FORBIDDEN, "Forbidden", status)
                    .with_detail(detail.clone())
            }
            ApiError::InvalidCredentials { detail } => Problem::new(
                problem_type::INVALID_CREDENTIALS,
                "Invalid credentials",
                status,
            )
            .with_detail(*detail),
            ApiError::TooManyRequests { retry_after } => {
                Problem::new(problem_type::TOO_MANY_REQUESTS, "Too many requests", status)
                    .with_detail(format!(
                        "Slow down: try again in {} seconds.",
                        retry_after_secs(*retry_after)
                    ))
            }
            ApiError::PayloadTooLarge => {
                Problem::new(problem_type::PAYLOAD_TOO_LARGE, "Payload too large", status)
                    .with_detail("The request body is larger than this endpoint accepts.")
            }
            ApiError::InvalidQuery { errors } => {
                Problem::new(problem_type::VALIDATION, "Invalid query parameters", status)
                    .with_detail(FieldError::summary(errors))
                    .with_errors(errors.clone())
            }
            ApiError::InvalidPath { errors } => {
                Problem::new(problem_type::VALIDATION, "Invalid path parameters", status)
                    .with_detail(FieldError::summary(errors))
                    .with_errors(errors.clone())
            }
            ApiError::InvalidFields { errors } => {
                Problem::new(problem_type::VALIDATION, "Invalid fields", status)
                    .with_detail(FieldError::summary(errors))
                    .with_errors(errors.clone())
            }
            ApiError::ReviewsUnavailable(_) => Problem::new(
                problem_type::REVIEWS_UNAVAILABLE,
                "Reviews are temporarily unavailable",
                status,
            )
            .with_detail(
                "The review store is not answering. Products, prices and categories still work; \
                 try the reviews again shortly.",
            ),
            ApiError::Internal(_) => Problem::internal(),
        }
    }
}

// ANCHOR: into_response
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The one place a failed request is logged with its cause: handlers just return the
        // error. (TraceLayer still logs every response's status and latency, at INFO.)
        match &self {
            ApiError::Internal(source) => {
                tracing::error!(error = %CauseChain(source.as_ref()), "request failed");
            }
            ApiError::ReviewsUnavailable(source) => {
                tracing::warn!(error = %CauseChain(source.as_ref()), "reviews unavailable");
            }
            _ => {}
        }
        let mut response = self.problem().into_response();
        match self {
            ApiError::ReviewsUnavailable(_) => {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(REVIEWS_RETRY_AFTER_SECS),
                );
            }
            ApiError::TooManyRequests { retry_after } => {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after_secs(retry_after)),
                );
            }
            // RFC 9110: a 401 says which scheme would work.
            ApiError::Unauthenticated | ApiError::InvalidCredentials { .. } => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}
// ANCHOR_END: into_response

/// Which status each lower-layer error deserves is decided here, once.
impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::EmailTaken(email) => ApiError::Conflict {
                detail: format!("The email address {email} is already registered."),
            },
            DbError::SkuTaken(sku) => ApiError::Conflict {
                detail: format!(
                    "The SKU {sku} is already in use (archived products keep theirs; an import \
                     with it puts the product back on sale)."
                ),
            },
            DbError::DuplicateSku(sku) => ApiError::InvalidFields {
                errors: vec![FieldError::new(
                    "sku",
                    format!("{sku} appears more than once"),
                )],
            },
            DbError::UnknownCategories(slugs) => ApiError::InvalidFields {
                errors: slugs
                    .into_iter()
                    .map(|slug| {
                        FieldError::new("category", format!("no category has the slug `{slug}`"))
                    })
                    .collect(),
            },
            DbError::Attributes(error) => ApiError::InvalidFields {
                errors: vec![FieldError::new("attributes", error.to_string())],
            },
            // Bad rows and a failing database are the server's problem, not the client's.
            error @ (DbError::InvalidRow { .. } | DbError::Sqlx(_)) => {
                ApiError::Internal(error.into())
            }
        }
    }
}

impl From<ReviewError> for ApiError {
    fn from(error: ReviewError) -> Self {
        match error {
            ReviewError::Unreachable { .. } => ApiError::ReviewsUnavailable(error.into()),
            ReviewError::AlreadyReviewed { .. } => ApiError::Conflict {
                detail: error.to_string(),
            },
            ReviewError::Mongo { .. } => ApiError::Internal(error.into()),
        }
    }
}

// ANCHOR: rejections
/// axum's extractors reject bad input with their own plain-text responses. Our [`Path`] and
/// [`Query`](crate::extract::Query) wrappers send those rejections through here instead, so a
/// malformed id or query string is a problem document like every other error.
///
/// [`Path`]: crate::extract::Path
impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        rejection_to_error(rejection.status(), rejection.body_text())
    }
}

/// A JSON body that is malformed, of the wrong type or shape is the client's mistake (400);
/// one that is too large is a 413.
impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::PayloadTooLarge;
        }
        rejection_to_error(rejection.status(), rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        rejection_to_error(rejection.status(), rejection.body_text())
    }
}

/// Whole seconds for `Retry-After`, rounded up: "0" would invite an immediate retry.
fn retry_after_secs(wait: std::time::Duration) -> u64 {
    // Rounded up, and never 0: a bucket a hair short of one token computes a wait that rounds
    // to nothing, and `Retry-After: 0` would invite the client to hammer straight back.
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

fn rejection_to_error(status: StatusCode, text: String) -> ApiError {
    if status.is_server_error() {
        // E.g. a handler asking for a path parameter its route does not have: our bug.
        ApiError::Internal(text.into())
    } else {
        ApiError::InvalidRequest { detail: text }
    }
}
// ANCHOR_END: rejections

/// An RFC 9457 problem document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Identifies the kind of problem; clients branch on this, not on `title`.
    #[serde(rename = "type")]
    pub problem_type: Cow<'static, str>,
    /// A short summary of the kind of problem: the same for every occurrence.
    pub title: Cow<'static, str>,
    /// The HTTP status code, repeated for clients that only keep the body.
    pub status: u16,
    /// What went wrong this time, for a human.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Which request it happened to: its path, filled in by [`problem_details`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// For validation problems, every broken rule by field (an RFC 9457 extension member), so
    /// a form can mark all its wrong fields after one round trip. Absent when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

// ANCHOR: field_error
/// One invalid input: which field (a query parameter, or a path into the JSON body such as
/// `products[3].price.currency`), and what is wrong with it, for a human.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl ToString) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.to_string(),
        }
    }

    /// "3 fields are invalid: name, price, sku." for the problem's `detail`.
    fn summary(errors: &[FieldError]) -> String {
        let mut fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        fields.dedup();
        match fields.as_slice() {
            [one] => format!("The field `{one}` is invalid; see `errors`."),
            many => format!(
                "{} fields are invalid: {}; see `errors`.",
                many.len(),
                many.join(", ")
            ),
        }
    }
}

/// Collects every [`FieldError`] of one input, so that validation reports all of them at
/// once instead of stopping at the first.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    /// The value of `result`, or `None` after recording its error against `field`.
    pub fn check<T, E: std::fmt::Display>(
        &mut self,
        field: impl Into<String>,
        result: Result<T, E>,
    ) -> Option<T> {
        result.map_err(|error| self.push(field, error)).ok()
    }

    pub fn push(&mut self, field: impl Into<String>, message: impl ToString) {
        self.0.push(FieldError::new(field, message));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<FieldError> {
        self.0
    }
}
// ANCHOR_END: field_error

impl Problem {
    pub fn new(problem_type: &'static str, title: &'static str, status: StatusCode) -> Problem {
        Problem {
            problem_type: Cow::Borrowed(problem_type),
            title: Cow::Borrowed(title),
            status: status.as_u16(),
            detail: None,
            instance: None,
            errors: Vec::new(),
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Problem {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Problem {
        self.errors = errors;
        self
    }

    /// The one document every 500 gets, whatever happened.
    pub fn internal() -> Problem {
        Problem::new(
            problem_type::INTERNAL,
            "Internal server error",
            StatusCode::INTERNAL_SERVER_ERROR,
        )
        .with_detail(
            "The server could not complete the request. If it keeps happening, report it with \
             the response's x-request-id header.",
        )
    }

    /// A problem that says no more than its status code (`about:blank`, titled with the
    /// status's reason phrase, as RFC 9457 asks).
    pub fn from_status(status: StatusCode) -> Problem {
        Problem::new(
            problem_type::BLANK,
            status.canonical_reason().unwrap_or("Error"),
            status,
        )
    }

    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = match serde_json::to_vec(&self) {
            Ok(body) => body,
            // Strings and a number always serialize; this arm only satisfies the type checker.
            Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        };
        let mut response = (
            self.status_code(),
            [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))],
            body,
        )
            .into_response();
        // Kept beside the body so `problem_details` can add `instance` without parsing JSON.
        response.extensions_mut().insert(self);
        response
    }
}

// ANCHOR: problem_details
/// Middleware: every 4xx/5xx leaves as a problem document whose `instance` is the request path.
///
/// Handlers cannot fill `instance` themselves (an error value does not know which request it
/// belongs to), and layers such as the router's 405 or the timeout's 503 answer with an empty
/// body. Error responses that already carry a body of their own type (like `/readyz`'s JSON
/// report) are left alone.
pub async fn problem_details(request: Request, next: Next) -> Response {
    let instance = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let problem = match response.extensions().get::<Problem>() {
        Some(problem) => problem.clone(),
        None if has_own_body(&response) => return response,
        None => Problem::from_status(status),
    };
    let problem = Problem {
        instance: Some(instance),
        ..problem
    };
    // Keep the status and headers (`Allow` on a 405, `Retry-After`, ...); replace the body.
    let (mut parts, _) = response.into_parts();
    let rendered = problem.into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    let (rendered_parts, body) = rendered.into_parts();
    parts.extensions.extend(rendered_parts.extensions);
    Response::from_parts(parts, body)
}
// ANCHOR_END: problem_details

/// Does this error response carry a document of its own? Plain text (what tower-http's body
/// limit sends) and no content type at all (an empty body) do not count.
fn has_own_body(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| !value.starts_with("text/plain"))
}

/// The response for a handler that panicked (see `CatchPanicLayer` in the router): the panic
/// message goes to the log, the client gets the same 500 as for any other internal error.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned());
    tracing::error!(panic = %message, "handler panicked");
    Problem::internal().into_response()
}

/// Displays an error and all of its sources: `internal error: database error: connection
/// refused`. `{}` on the error alone would print only the first link.
pub(crate) struct CauseChain<'a>(pub(crate) &'a (dyn StdError + 'static));

impl std::fmt::Display for CauseChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            write!(f, ": {error}")?;
            source = error.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::routing::get;
    use serde_json::Value;
    use tower::ServiceExt;

    use super::*;

    #[test]
    fn retry_after_is_whole_seconds_rounded_up_and_never_zero() {
        use std::time::Duration;
        assert_eq!(retry_after_secs(Duration::from_nanos(1)), 1);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(2_001)), 3);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
    }
    use crate::extract::Path;

    /// A tiny router with one route per kind of error, behind the problem middleware.
    fn app() -> Router {
        Router::new()
            .route(
                "/missing",
                get(|| async { Err::<(), _>(ApiError::not_found("product", "p-1")) }),
            )
            .route(
                "/boom",
                get(|| async {
                    let cause = std::io::Error::other("password=hunter2 at db.internal:5432");
                    Err::<(), _>(ApiError::Internal(cause.into()))
                }),
            )
            .route(
                "/ids/{id}",
                get(|Path(id): Path<shop_domain::ProductId>| async move { id.to_string() }),
            )
            .layer(axum::middleware::from_fn(problem_details))
    }

    async fn call(uri: &str) -> (StatusCode, Option<String>, Value) {
        let request = Request::builder().uri(uri).body(Body::empty()).unwrap();
        let response = app().oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, content_type, json)
    }

    #[tokio::test]
    async fn not_found_renders_every_problem_member() {
        let (status, content_type, body) = call("/missing").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON));
        assert_eq!(body["type"], problem_type::NOT_FOUND);
        assert_eq!(body["title"], "Resource not found");
        assert_eq!(body["status"], 404);
        assert_eq!(body["detail"], "There is no product `p-1`.");
        assert_eq!(body["instance"], "/missing");
    }

    #[tokio::test]
    async fn a_500_does_not_leak_its_cause() {
        let (status, _, body) = call("/boom").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["type"], problem_type::INTERNAL);
        let text = body.to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("db.internal"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn an_extractor_rejection_is_a_400_problem() {
        let (status, content_type, body) = call("/ids/not-a-uuid").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON));
        assert_eq!(body["type"], problem_type::INVALID_REQUEST);
        assert_eq!(body["instance"], "/ids/not-a-uuid");
        assert!(
            body["detail"].as_str().unwrap().contains("not-a-uuid"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn bare_error_responses_from_other_layers_become_problems() {
        // No route matches: axum's own empty 404, filled in by the middleware.
        let (status, content_type, body) = call("/nowhere").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON));
        assert_eq!(body["type"], "about:blank");
        assert_eq!(body["title"], "Not Found");
        assert_eq!(body["instance"], "/nowhere");
    }

    #[test]
    fn review_store_outages_are_503_and_other_mongo_failures_500() {
        let unreachable = ReviewError::Unreachable {
            url: "mongodb://127.0.0.1:1".to_owned(),
            source: mongodb::error::Error::custom("no server"),
        };
        assert_eq!(
            ApiError::from(unreachable).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let broken = ReviewError::Mongo {
            operation: "find",
            source: mongodb::error::Error::custom("bad document"),
        };
        assert_eq!(
            ApiError::from(broken).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn the_cause_chain_lists_every_source() {
        let error = DbError::Sqlx(sqlx::Error::PoolTimedOut);
        let chain = CauseChain(&error).to_string();
        assert!(chain.starts_with("database error: "), "{chain}");
        assert!(chain.contains("pool timed out"), "{chain}");
    }
}
