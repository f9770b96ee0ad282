//! One error type for every handler, rendered as RFC 9457 `application/problem+json`.
//!
//! What this module shows:
//! - [`ApiError`]: what can go wrong in a request, as an enum. Handlers return
//!   `Result<_, ApiError>` and use `?`; the `From` impls decide which status a lower layer's
//!   error deserves, in one place;
//! - the capstone owns its problem *types* (the `tag:` URIs below), titles and details, not the
//!   format: every error renders as [`shop_http::Problem`], the document lesson 03 teaches, so
//!   the shop and the lessons speak one JSON shape. Invalid input lists each mistake in
//!   `errors`, one [`FieldError`] per place: `{"pointer": "#/price/currency", "detail": "..."}`
//!   for a member of the JSON body (an RFC 6901 JSON Pointer as a URI fragment, as in RFC 9457's
//!   own example), `{"parameter": "limit", "detail": "..."}` for a query or path parameter;
//! - a 5xx never shows its cause to the client (it may hold SQL, host names, file paths), and
//!   is logged exactly once, here, with its whole cause chain.
//!
//! [`shop_http::problem_details`], in the router's middleware stack, fills in what only the
//! request knows (`instance`, and `request_id` from the `x-request-id` header) and turns the
//! bare error responses of other layers (405 from the router, 413 from the body limit, 503 from
//! the timeout) into problem documents too, so a client handles one format.
//!
//! Unit tests at the bottom drive the rendering with `tower::ServiceExt::oneshot`.

use std::error::Error as StdError;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use shop_db::reviews::ReviewError;
use shop_db::{DbError, PlaceError};
use shop_http::rate_limit::retry_after_secs;
use shop_http::{FieldError, Problem};
use thiserror::Error;

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
    pub const DEPENDENCY_UNAVAILABLE: &str = "tag:backend-rs,2026:shop/dependency-unavailable";
    pub const PAYMENT_DECLINED: &str = "tag:backend-rs,2026:shop/payment-declined";
    pub const IDEMPOTENCY_KEY_REUSED: &str = "tag:backend-rs,2026:shop/idempotency-key-reused";
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
    /// ([`FieldError::parameter`], listed in [`Problem::errors`]). 400 because the request line
    /// itself is wrong.
    #[error("invalid query parameters")]
    InvalidQuery { errors: Vec<FieldError> },

    /// 400: path segments that break a rule, every one named by its route parameter (`slug`
    /// in `/categories/{slug}/products`), as [`ApiError::InvalidQuery`] names query parameters.
    #[error("invalid path parameters")]
    InvalidPath { errors: Vec<FieldError> },

    /// 422: a well-formed JSON body whose values break rules, every one pointed at
    /// ([`FieldError::body`]: `#/price/currency`, `#/products/3/sku`). A body that is not JSON,
    /// or has the wrong shape, is a 400 from the `Json` extractor instead: 422 says
    /// "understood, but I will not do this" (RFC 9110, section 15.5.21).
    #[error("invalid fields")]
    InvalidFields { errors: Vec<FieldError> },

    /// 503: MongoDB, which holds the reviews, is not answering. The rest of the shop works.
    #[error("reviews are unavailable")]
    ReviewsUnavailable(#[source] BoxError),

    /// 503: a service this request needs (the inventory, the payment provider) is not
    /// answering, or its circuit breaker is open. `Retry-After` says when to try again; what
    /// does not need it (the catalog) keeps working.
    #[error("the {what} service is unavailable")]
    DependencyUnavailable {
        what: &'static str,
        retry_after: std::time::Duration,
        #[source]
        source: BoxError,
    },

    /// 402: the payment provider declined the card (`reason` is its code, such as
    /// `insufficient_funds`). Nothing was charged and nothing stays reserved.
    #[error("payment declined: {reason}")]
    PaymentDeclined { reason: &'static str },

    /// 422: an `Idempotency-Key` already used for a different request.
    #[error("idempotency key reused for another request")]
    IdempotencyKeyReused,

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
            ApiError::DependencyUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::PaymentDeclined { .. } => StatusCode::PAYMENT_REQUIRED,
            ApiError::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
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
            ApiError::DependencyUnavailable {
                what, retry_after, ..
            } => Problem::new(
                problem_type::DEPENDENCY_UNAVAILABLE,
                "Temporarily unavailable",
                status,
            )
            .with_detail(format!(
                "The {what} service is not answering. Browsing the catalog still works; try \
                 again in {} seconds (the same Idempotency-Key resumes a checkout).",
                retry_after_secs(*retry_after)
            )),
            ApiError::PaymentDeclined { reason } => {
                Problem::new(problem_type::PAYMENT_DECLINED, "Payment declined", status)
                    .with_detail(format!(
                        "The card was declined ({reason}). Nothing was charged and the stock \
                         is released; to try another card, send a new Idempotency-Key."
                    ))
            }
            ApiError::IdempotencyKeyReused => Problem::new(
                problem_type::IDEMPOTENCY_KEY_REUSED,
                "Idempotency key reused",
                status,
            )
            .with_detail(
                "This Idempotency-Key was sent before with a different request. Use a new key \
                 for a new request.",
            ),
            ApiError::Internal(_) => internal_problem(),
        }
    }
}

/// The document every [`ApiError::Internal`] gets, whatever happened: the request id is all the
/// client needs to quote, and all that is safe to show.
fn internal_problem() -> Problem {
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

/// The response for a handler that panicked (the router's `CatchPanicLayer`): the panic goes to
/// the log, and the client gets the same 500 as for any other internal error.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    shop_http::problem::panic_response_with(panic, internal_problem())
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
            ApiError::DependencyUnavailable { what, source, .. } => {
                tracing::warn!(dependency = what, error = %CauseChain(source.as_ref()), "dependency unavailable");
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
            ApiError::TooManyRequests { retry_after }
            | ApiError::DependencyUnavailable { retry_after, .. } => {
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

/// A cart that cannot become an order (book chapter 08): nothing was written, and each
/// refusal says what the customer can do about it.
impl From<PlaceError> for ApiError {
    fn from(error: PlaceError) -> Self {
        let whole_body = |detail: &str| ApiError::InvalidFields {
            errors: vec![FieldError::body("", detail)],
        };
        match error {
            PlaceError::EmptyCart => whole_body("the cart is empty: add products first"),
            PlaceError::NothingToPay => {
                whole_body("the cart's total is zero, and an order needs a payment")
            }
            PlaceError::Unavailable(skus) => ApiError::Conflict {
                detail: format!(
                    "No longer for sale: {}. Remove them from the cart and check out again.",
                    skus.iter()
                        .map(|sku| sku.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
            PlaceError::PriceChanged { expected, current } => ApiError::Conflict {
                detail: format!(
                    "The cart now costs {current}, not {expected}: prices changed. Review the \
                     cart and check out again with the new total."
                ),
            },
            PlaceError::Db(error) => error.into(),
        }
    }
}

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
            // Only an import has several SKUs, in its `products` array; the import handler
            // names the items itself before the repository is asked.
            DbError::DuplicateSku(sku) => ApiError::InvalidFields {
                errors: vec![FieldError::body(
                    "products",
                    format!("the SKU {sku} appears more than once"),
                )],
            },
            // A single product's `category`; the import handler names its items itself.
            DbError::UnknownCategories(slugs) => ApiError::InvalidFields {
                errors: slugs
                    .into_iter()
                    .map(|slug| {
                        FieldError::body("category", format!("no category has the slug `{slug}`"))
                    })
                    .collect(),
            },
            DbError::Attributes(error) => ApiError::InvalidFields {
                errors: vec![FieldError::body("attributes", error.to_string())],
            },
            // Bad rows and a failing database are the server's problem, not the client's.
            error @ (DbError::InvalidRow { .. } | DbError::Sqlx(_)) => {
                ApiError::Internal(error.into())
            }
        }
    }
}

impl From<std::sync::Arc<DbError>> for ApiError {
    /// A cache loader's error, shared by the requests that waited for the same load
    /// (chapter 09): the one that is left unwraps it, the others report it as it is.
    fn from(error: std::sync::Arc<DbError>) -> Self {
        match std::sync::Arc::try_unwrap(error) {
            Ok(error) => error.into(),
            Err(shared) => ApiError::Internal(Box::new(shared)),
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
fn rejection_to_error(status: StatusCode, text: String) -> ApiError {
    if status.is_server_error() {
        // E.g. a handler asking for a path parameter its route does not have: our bug.
        ApiError::Internal(text.into())
    } else {
        ApiError::InvalidRequest { detail: text }
    }
}
// ANCHOR_END: rejections

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
    use std::time::Duration;

    use axum::Router;
    use axum::body::Body;
    use axum::extract::Request;
    use axum::http::HeaderMap;
    use axum::routing::get;
    use serde_json::{Value, json};
    use shop_http::{PROBLEM_JSON, problem_details};
    use tower::ServiceExt;

    use super::*;
    use crate::extract::Path;

    #[test]
    fn retry_after_is_whole_seconds_rounded_up_and_never_zero() {
        assert_eq!(retry_after_secs(Duration::from_nanos(1)), 1);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(2_001)), 3);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
    }

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
                "/busy",
                get(|| async {
                    Err::<(), _>(ApiError::TooManyRequests {
                        retry_after: Duration::from_millis(1_500),
                    })
                }),
            )
            .route(
                "/ids/{id}",
                get(|Path(id): Path<shop_domain::ProductId>| async move { id.to_string() }),
            )
            .layer(axum::middleware::from_fn(problem_details))
    }

    async fn call_full(uri: &str, request_id: Option<&str>) -> (StatusCode, HeaderMap, Value) {
        let mut request = Request::builder().uri(uri);
        if let Some(id) = request_id {
            request = request.header("x-request-id", id);
        }
        let response = app()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (parts.status, parts.headers, json)
    }

    async fn call(uri: &str) -> (StatusCode, Option<String>, Value) {
        let (status, headers, json) = call_full(uri, None).await;
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
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
    async fn a_panic_is_answered_like_any_other_internal_error() {
        let response = panic_response(Box::new("secret at db.internal"));
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["type"], problem_type::INTERNAL);
        assert!(!body.to_string().contains("db.internal"), "{body}");
    }

    #[tokio::test]
    async fn a_500_does_not_leak_its_cause() {
        let (status, _, body) = call("/boom").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["type"], problem_type::INTERNAL);
        assert!(
            body["detail"].as_str().unwrap().contains("x-request-id"),
            "{body}"
        );
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

    #[tokio::test]
    async fn the_middleware_keeps_the_errors_headers_and_adds_the_request_id() {
        let (status, headers, body) = call_full("/busy", Some("req-7")).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers[header::RETRY_AFTER], "2");
        assert_eq!(headers[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(body["type"], problem_type::TOO_MANY_REQUESTS);
        assert_eq!(body["instance"], "/busy");
        assert_eq!(body["request_id"], "req-7");
    }

    #[test]
    fn body_members_are_pointers_and_parameters_are_named() {
        let fields = ApiError::InvalidFields {
            errors: vec![
                FieldError::body("price/currency", "unknown currency"),
                FieldError::body_segments(&["products", "3", "sku"], "is required"),
            ],
        };
        assert_eq!(
            serde_json::to_value(fields.problem()).unwrap(),
            json!({
                "type": problem_type::VALIDATION,
                "title": "Invalid fields",
                "status": 422,
                "detail": "2 inputs are invalid: price/currency, products/3/sku; see `errors`",
                "errors": [
                    { "pointer": "#/price/currency", "detail": "unknown currency" },
                    { "pointer": "#/products/3/sku", "detail": "is required" },
                ],
            })
        );
        let query = ApiError::InvalidQuery {
            errors: vec![FieldError::parameter("limit", "at most 100")],
        };
        let query = serde_json::to_value(query.problem()).unwrap();
        assert_eq!(query["status"], 400);
        assert_eq!(
            query["errors"],
            json!([{ "parameter": "limit", "detail": "at most 100" }])
        );
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
