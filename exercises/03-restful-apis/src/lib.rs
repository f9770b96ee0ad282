//! Exercise 03, RESTful API development: a product-review API over HTTP.
//!
//! This is the only file you edit. Replace every `todo!()` until `cargo test -p exercise-03`
//! passes; run one part at a time with a filter: `cargo test -p exercise-03 part_a` (or
//! `part_b`, `part_c`).
//! The brief is book chapter 03, section "Exercise". Stuck? `cargo xtask hint 03 a` shows
//! part (a)'s hints one level at a time (`b` and `c` for the others; they are also in
//! `hints/a/`, `hints/b/`, `hints/c/`).
//!
//! The API stores reviews of a shop's products in memory:
//!
//! | method and path                  | handler            | success                        |
//! |----------------------------------|--------------------|--------------------------------|
//! | `POST /products/{sku}/reviews`   | [`create_review`]  | 201, `Location`, the review    |
//! | `GET /products/{sku}/reviews`    | [`list_reviews`]   | 200, a [`ReviewPage`]          |
//! | `GET /reviews/{id}`              | [`get_review`]     | 200, the review                |
//! | `PATCH /reviews/{id}`            | [`update_review`]  | 200, the updated review        |
//! | `DELETE /reviews/{id}`           | [`delete_review`]  | 204, no body                   |
//!
//! Three parts, in order:
//! - (a) the handlers and the rules a review must follow ([`ReviewDraft::parse`],
//!   [`ReviewChanges::parse`]): which status each outcome gets, and which [`ApiError`].
//! - (b) [`ApiError`] as an RFC 9457 `application/problem+json` response, and the rejections of
//!   axum's extractors turned into the same format.
//! - (c) [`RequestIdLayer`]: a tower middleware that gives every request an `x-request-id` and
//!   every response a `server-timing` header.
//!
//! Everything that is not a `todo!()` ([`router`], [`app`], [`ReviewStore`], [`Api`], the
//! types) is given, in `given.rs` next to this file: read it, it is part of the brief.

// Stub bodies ignore their parameters; this line goes away with the solution.
#![allow(unused_variables)]

// The given code (types, errors, ...): one file, shared with the reference solution.
#[path = "../src/given.rs"]
mod given;
pub use given::*;

use std::task::{Context, Poll};
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{self, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tower::Service;
use uuid::Uuid;

// ANCHOR: handlers
impl ReviewDraft {
    /// Checks a review against the rules and keeps the cleaned values.
    ///
    /// - `author`, pointer `#/author`: trimmed of surrounding whitespace, then 1 to
    ///   [`MAX_AUTHOR_CHARS`] characters; the trimmed name is the one stored.
    /// - `rating`, pointer `#/rating`: 1 to 5.
    /// - `comment`, pointer `#/comment`: at most [`MAX_COMMENT_CHARS`] characters, kept as
    ///   written (it may be empty).
    ///
    /// "Characters" are `char`s (`str::chars().count()`), not bytes: `"Zoë"` has 3.
    ///
    /// Every broken rule is reported, not just the first: `Err(ApiError::Validation(errors))`
    /// with one [`FieldError::new`] per field that breaks a rule, in the order of the list.
    /// A client that sends three mistakes learns about all three at once. The `detail` of
    /// each is yours to word (e.g. `"must be between 1 and 5"`); the tests read the pointers.
    pub fn parse(input: NewReview) -> Result<ReviewDraft, ApiError> {
        todo!("exercise 03, part a, ReviewDraft::parse: see book chapter 03, section 'Exercise'")
    }
}

impl ReviewChanges {
    /// Checks the fields present in a patch with the rules of [`ReviewDraft::parse`] (same
    /// pointers, same order); absent fields are not checked and stay `None`. An empty patch
    /// is valid and changes nothing.
    pub fn parse(patch: ReviewPatch) -> Result<ReviewChanges, ApiError> {
        todo!("exercise 03, part a, ReviewChanges::parse: see book chapter 03, section 'Exercise'")
    }
}

/// `POST /products/{sku}/reviews`: creates a review.
///
/// First the body is checked ([`ReviewDraft::parse`]: 422 when it breaks a rule), then the
/// store inserts it: [`ApiError::ProductNotFound`] when the shop does not sell `sku`,
/// [`ApiError::AlreadyReviewed`] when the author has reviewed it before (see
/// [`InsertError`]). Cheap checks on the input come before work on the store, everywhere.
///
/// Success: `201 Created`, a `Location: /reviews/{id}` header (where the new review lives;
/// a path is a valid `Location`) and the review as JSON.
pub async fn create_review(
    State(state): State<AppState>,
    Api(Path(sku)): Api<Path<String>>,
    Api(Json(input)): Api<Json<NewReview>>,
) -> Result<Response, ApiError> {
    todo!("exercise 03, part a, create_review: see book chapter 03, section 'Exercise'")
}

/// `GET /products/{sku}/reviews`: a page of a product's reviews, oldest first.
///
/// - `min_rating` outside 1 to 5, or `limit` outside 1 to [`MAX_LIMIT`]:
///   [`ApiError::BadRequest`] naming the parameter (e.g. ``"`limit` must be between 1 and
///   100, got 0"``). These checks come first.
/// - A product the shop does not sell: [`ApiError::ProductNotFound`]. One that it sells but
///   nobody reviewed: 200 with an empty page.
/// - `total` counts every review with at least `min_rating` stars; `items` holds at most
///   `limit` of those, after skipping the first `offset` of *those* (the offset counts
///   matching reviews, not all of them). An `offset` past the end is not an error: the page
///   is just empty.
pub async fn list_reviews(
    State(state): State<AppState>,
    Api(Path(sku)): Api<Path<String>>,
    Api(Query(query)): Api<Query<ListQuery>>,
) -> Result<Json<ReviewPage>, ApiError> {
    todo!("exercise 03, part a, list_reviews: see book chapter 03, section 'Exercise'")
}

/// `GET /reviews/{id}`: 200 with the review, or [`ApiError::ReviewNotFound`].
pub async fn get_review(
    State(state): State<AppState>,
    Api(Path(id)): Api<Path<Uuid>>,
) -> Result<Json<Review>, ApiError> {
    todo!("exercise 03, part a, get_review: see book chapter 03, section 'Exercise'")
}

/// `PATCH /reviews/{id}`: changes the fields present in the body ([`ReviewChanges::parse`]:
/// 422 when one breaks a rule, and then nothing changes), then 200 with the review as it now
/// is, or [`ApiError::ReviewNotFound`].
pub async fn update_review(
    State(state): State<AppState>,
    Api(Path(id)): Api<Path<Uuid>>,
    Api(Json(patch)): Api<Json<ReviewPatch>>,
) -> Result<Json<Review>, ApiError> {
    todo!("exercise 03, part a, update_review: see book chapter 03, section 'Exercise'")
}

/// `DELETE /reviews/{id}`: `204 No Content` (and no body) when the review existed,
/// [`ApiError::ReviewNotFound`] when it did not, including the second time it is deleted.
pub async fn delete_review(
    State(state): State<AppState>,
    Api(Path(id)): Api<Path<Uuid>>,
) -> Result<StatusCode, ApiError> {
    todo!("exercise 03, part a, delete_review: see book chapter 03, section 'Exercise'")
}
// ANCHOR_END: handlers

// ANCHOR: errors
impl ApiError {
    /// The HTTP status of this error:
    ///
    /// | variant                                 | status                          |
    /// |-----------------------------------------|---------------------------------|
    /// | [`Rejected`](ApiError::Rejected)        | the `status` it holds           |
    /// | [`BadRequest`](ApiError::BadRequest)    | 400 Bad Request                 |
    /// | [`Validation`](ApiError::Validation)    | 422 Unprocessable Entity        |
    /// | `ProductNotFound`, `ReviewNotFound`     | 404 Not Found                   |
    /// | `AlreadyReviewed`                       | 409 Conflict                    |
    /// | [`Internal`](ApiError::Internal)        | 500 Internal Server Error       |
    pub fn status(&self) -> StatusCode {
        todo!("exercise 03, part b, ApiError::status: see book chapter 03, section 'Exercise'")
    }
}

/// Renders the error as an RFC 9457 problem details document:
///
/// - the status is [`ApiError::status`];
/// - `content-type: application/problem+json` ([`PROBLEM_JSON`]), not `application/json`;
/// - the body is a JSON object with these members:
///   - `type`: [`VALIDATION_PROBLEM_TYPE`] for [`ApiError::Validation`], `"about:blank"`
///     for every other variant;
///   - `title`: [`VALIDATION_PROBLEM_TITLE`] for a validation problem; for `about:blank`,
///     the status's reason phrase. [`StatusCode::canonical_reason`] gives it (`"Not Found"`);
///     where RFC 9110 renamed one, its new name is right too: `"Content Too Large"` for 413,
///     `"Unprocessable Content"` for 422;
///   - `status`: the status code as a number, the same as the response's;
///   - `detail`: the error's message (its `Display`); a 500 has no `detail` at all;
///   - `errors`: only for [`ApiError::Validation`], the list of [`FieldError`]s.
///
/// A 500 must not leak: the client learns that the request failed, never how (a database
/// host in a message helps an attacker, not the client), so the member is left out, not
/// `null`. Its cause goes to the log instead: one `tracing::error!` event that names it.
/// The other errors are the client's, not incidents: they are not logged at the `ERROR`
/// level.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        todo!(
            "exercise 03, part b, IntoResponse for ApiError: see book chapter 03, section 'Exercise'"
        )
    }
}

/// A rejected JSON body: [`ApiError::Rejected`] with the rejection's own status and message
/// (`status()` and `body_text()`): 400 for a syntax error, 422 for the wrong shape, 415
/// without a JSON content type, 413 for a body over the size limit.
impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        todo!("exercise 03, part b, From<JsonRejection>: see book chapter 03, section 'Exercise'")
    }
}

/// A query string that does not deserialize (`limit=lots`, an unknown parameter):
/// [`ApiError::Rejected`] with the rejection's status (400) and message.
impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        todo!("exercise 03, part b, From<QueryRejection>: see book chapter 03, section 'Exercise'")
    }
}

/// A path segment that does not deserialize (`/reviews/not-a-uuid`): [`ApiError::Rejected`]
/// with the rejection's status (400) and message.
impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> ApiError {
        todo!("exercise 03, part b, From<PathRejection>: see book chapter 03, section 'Exercise'")
    }
}
// ANCHOR_END: errors

// ANCHOR: middleware
impl RequestId {
    /// The id a client (or a proxy in front of us) sent, if it is a sensible one: 1 to
    /// [`MAX_REQUEST_ID_LEN`] bytes, each an ASCII letter, an ASCII digit, `-`, `_` or `.`.
    /// Anything else (empty, too long, spaces, quotes, `;`, bytes outside ASCII) is `None`.
    ///
    /// Why so strict: the id is copied into logs and response headers, so a caller must not be
    /// able to forge log lines, smuggle markup, or fill the disk with it.
    pub fn parse(value: &HeaderValue) -> Option<RequestId> {
        todo!("exercise 03, part c, RequestId::parse: see book chapter 03, section 'Exercise'")
    }
}

/// The value of the `server-timing` header for a request that took `elapsed`: one metric named
/// `app` whose `dur` is in milliseconds with exactly three decimals (microseconds), as the
/// Server Timing spec wants milliseconds:
///
/// | `elapsed`        | value              |
/// |------------------|--------------------|
/// | 1500 µs          | `app;dur=1.500`    |
/// | 0                | `app;dur=0.000`    |
/// | 2 s              | `app;dur=2000.000` |
/// | 42 µs            | `app;dur=0.042`    |
///
/// Sub-microsecond remainders are dropped (truncated, not rounded).
pub fn server_timing(elapsed: Duration) -> HeaderValue {
    todo!("exercise 03, part c, server_timing: see book chapter 03, section 'Exercise'")
}

/// What [`RequestIdService`] does. `poll_ready` is given and `call` is yours: a trait impl
/// cannot be split between two files, so both are here.
impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for RequestIdService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<http::Response<ResBody>, S::Error>>;

    /// Ready when the inner service is: this layer adds no capacity limit of its own.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    /// Steps 1 to 4 of [`RequestIdLayer`]. `poll_ready` has just readied `self.inner` for this
    /// request: call it once, here.
    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        todo!(
            "exercise 03, part c, RequestIdService::call: see book chapter 03, section 'Exercise'"
        )
    }
}
// ANCHOR_END: middleware
