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
//! types) is given: read it, it is part of the brief.

// Stub bodies ignore their parameters; this line goes away with the solution.
#![allow(unused_variables)]

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::{self, HeaderName, HeaderValue, StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tower::{Layer, Service};
use uuid::Uuid;

// ANCHOR: model
/// A review of a product, as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// Chosen by the server when the review is created.
    pub id: Uuid,
    /// The product reviewed, e.g. `"MUG-RED"`.
    pub sku: String,
    /// Who wrote it: one review per author and product.
    pub author: String,
    /// 1 to 5 stars.
    pub rating: u8,
    /// Free text, possibly empty.
    pub comment: String,
}

/// The body of `POST /products/{sku}/reviews`, as the client sent it: not checked yet.
///
/// `rating` is an `i64`, not a `u8`, on purpose: `"rating": 0` and `"rating": 300` should both
/// get the same friendly "between 1 and 5" from [`ReviewDraft::parse`], not a deserializer
/// error about `u8`. Unknown fields are refused (a typo such as `"ratng"` must not be ignored).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewReview {
    /// Who writes the review.
    pub author: String,
    /// The stars, 1 to 5 once checked.
    pub rating: i64,
    /// Optional in the JSON; absent means empty.
    #[serde(default)]
    pub comment: String,
}

/// The body of `PATCH /reviews/{id}`: the fields to change. An absent field stays as it is;
/// the author cannot be changed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewPatch {
    /// The new rating, if it changes.
    pub rating: Option<i64>,
    /// The new comment, if it changes.
    pub comment: Option<String>,
}

/// The query string of `GET /products/{sku}/reviews`, e.g. `?min_rating=4&limit=10&offset=20`.
/// Every parameter is optional; unknown ones are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only reviews with at least this many stars (1 to 5; default 1, i.e. all).
    pub min_rating: Option<u8>,
    /// At most this many reviews in the page (1 to [`MAX_LIMIT`]; default [`DEFAULT_LIMIT`]).
    pub limit: Option<usize>,
    /// Skip this many matching reviews first (default 0).
    pub offset: Option<usize>,
}

/// The answer of `GET /products/{sku}/reviews`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewPage {
    /// The page: at most `limit` matching reviews after the first `offset`, oldest first.
    pub items: Vec<Review>,
    /// How many reviews match `min_rating` in all, whatever `limit` and `offset` are.
    pub total: usize,
}

/// An author's name has at most this many characters (after trimming).
pub const MAX_AUTHOR_CHARS: usize = 40;
/// A comment has at most this many characters.
pub const MAX_COMMENT_CHARS: usize = 2000;
/// The page size when the query has no `limit`.
pub const DEFAULT_LIMIT: usize = 20;
/// The largest `limit` a client may ask for.
pub const MAX_LIMIT: usize = 100;
// ANCHOR_END: model

// ANCHOR: store
/// A review that follows every rule: the only kind the [`ReviewStore`] accepts. Its fields are
/// private, so [`ReviewDraft::parse`] is the only way to make one: parse, don't validate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewDraft {
    author: String,
    rating: u8,
    comment: String,
}

/// Checked changes to a review, made by [`ReviewChanges::parse`]; `None` leaves a field alone.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReviewChanges {
    rating: Option<u8>,
    comment: Option<String>,
}

/// Why the store did not insert a review.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InsertError {
    /// The shop does not sell this SKU.
    #[error("no product with SKU `{0}`")]
    UnknownProduct(String),
    /// The author has reviewed this product already: `existing` is that review.
    #[error("`{author}` has already reviewed `{sku}`")]
    AlreadyReviewed {
        /// The product.
        sku: String,
        /// The author, as stored (trimmed).
        author: String,
        /// The id of the review the author wrote before.
        existing: Uuid,
    },
}

/// The "database": the products the shop sells and their reviews, in memory.
///
/// A `std::sync::Mutex`, not tokio's: no lock is held across an `.await`, and every method
/// does its work in one step while holding it, so the check for a duplicate author and the
/// insert cannot be separated by another request.
#[derive(Debug)]
pub struct ReviewStore {
    inner: Mutex<Reviews>,
}

#[derive(Debug)]
struct Reviews {
    products: HashSet<String>,
    /// In creation order, which is the order [`ReviewStore::for_product`] returns.
    reviews: Vec<Review>,
}

impl ReviewStore {
    /// A store for a shop that sells `products` (their SKUs), with no reviews yet.
    pub fn new<I, S>(products: I) -> ReviewStore
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ReviewStore {
            inner: Mutex::new(Reviews {
                products: products.into_iter().map(Into::into).collect(),
                reviews: Vec::new(),
            }),
        }
    }

    /// Stores a new review of `sku` with a fresh id and returns it.
    pub fn insert(&self, sku: &str, draft: ReviewDraft) -> Result<Review, InsertError> {
        let mut data = self.lock();
        if !data.products.contains(sku) {
            return Err(InsertError::UnknownProduct(sku.to_owned()));
        }
        if let Some(existing) = data
            .reviews
            .iter()
            .find(|review| review.sku == sku && review.author == draft.author)
        {
            return Err(InsertError::AlreadyReviewed {
                sku: sku.to_owned(),
                author: draft.author,
                existing: existing.id,
            });
        }
        let review = Review {
            id: Uuid::new_v4(),
            sku: sku.to_owned(),
            author: draft.author,
            rating: draft.rating,
            comment: draft.comment,
        };
        data.reviews.push(review.clone());
        Ok(review)
    }

    /// The review with this id, if there is one.
    pub fn get(&self, id: Uuid) -> Option<Review> {
        self.lock().reviews.iter().find(|r| r.id == id).cloned()
    }

    /// Every review of `sku`, oldest first; `None` when the shop does not sell `sku`.
    pub fn for_product(&self, sku: &str) -> Option<Vec<Review>> {
        let data = self.lock();
        data.products.contains(sku).then(|| {
            data.reviews
                .iter()
                .filter(|review| review.sku == sku)
                .cloned()
                .collect()
        })
    }

    /// Applies `changes` to the review with this id and returns the result; `None` when
    /// there is no such review.
    pub fn update(&self, id: Uuid, changes: ReviewChanges) -> Option<Review> {
        let mut data = self.lock();
        let review = data.reviews.iter_mut().find(|r| r.id == id)?;
        if let Some(rating) = changes.rating {
            review.rating = rating;
        }
        if let Some(comment) = changes.comment {
            review.comment = comment;
        }
        Some(review.clone())
    }

    /// Removes the review with this id and returns it; `None` when there is no such review.
    pub fn remove(&self, id: Uuid) -> Option<Review> {
        let mut data = self.lock();
        let index = data.reviews.iter().position(|r| r.id == id)?;
        Some(data.reviews.remove(index))
    }

    fn lock(&self) -> MutexGuard<'_, Reviews> {
        // A panic while the lock is held would poison it, but no method can leave the data
        // half-changed (each change is one push, assignment or remove), so the data is still
        // good: carry on with it rather than turn every later request into a 500.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What every handler can reach: cheap to clone (one `Arc`), as axum clones it per request.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The reviews.
    pub store: Arc<ReviewStore>,
}

impl AppState {
    /// State for a shop that sells `products`.
    pub fn new<I, S>(products: I) -> AppState
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        AppState {
            store: Arc::new(ReviewStore::new(products)),
        }
    }
}
// ANCHOR_END: store

// ANCHOR: router
/// The API's routes, without middleware: what parts (a) and (b) test with `oneshot`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/products/{sku}/reviews",
            post(create_review).get(list_reviews),
        )
        .route(
            "/reviews/{id}",
            get(get_review).patch(update_review).delete(delete_review),
        )
        .with_state(state)
}

/// The whole application: [`router`] wrapped in [`RequestIdLayer`], outermost so that every
/// response gets its headers, even the 404 of an unknown path.
pub fn app(state: AppState) -> Router {
    router(state).layer(RequestIdLayer)
}
// ANCHOR_END: router

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
/// Everything that can go wrong in a request, each variant one HTTP status. Handlers return
/// `Result<_, ApiError>`; [`IntoResponse`] turns the error into a problem+json response.
#[derive(Debug, Error)]
pub enum ApiError {
    /// An axum extractor refused the request: a body that is not JSON (400) or not the right
    /// shape (422), no `content-type: application/json` (415), a path segment that is not a
    /// UUID (400), a query string that does not deserialize (400). axum's rejection already
    /// chose the right status; this keeps it, and its message, and changes only the format.
    #[error("{detail}")]
    Rejected {
        /// The status the rejection chose.
        status: StatusCode,
        /// The rejection's message (`body_text()`).
        detail: String,
    },
    /// 400: a request parameter breaks a rule our code checks (`limit=0`).
    #[error("{0}")]
    BadRequest(String),
    /// 422: a well-formed body that breaks rules: one [`FieldError`] per broken rule.
    #[error("the request body breaks {} validation rule(s)", .0.len())]
    Validation(Vec<FieldError>),
    /// 404: the shop does not sell this SKU.
    #[error("no product with SKU `{0}`")]
    ProductNotFound(String),
    /// 404: no review has this id.
    #[error("no review with id {0}")]
    ReviewNotFound(Uuid),
    /// 409: the author has reviewed this product already; `existing` is that review (the
    /// client may want to `PATCH` it instead).
    #[error("`{author}` has already reviewed `{sku}`: update review {existing} instead")]
    AlreadyReviewed {
        /// The product.
        sku: String,
        /// The author.
        author: String,
        /// The review the author wrote before.
        existing: Uuid,
    },
    /// 500: a bug or a failing dependency. Its cause is for the logs, never for the client.
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// One broken rule of a request body, for the `errors` member of a validation problem, shaped
/// as RFC 9457 section 3 suggests: `{"pointer": "#/rating", "detail": "must be between 1 and 5"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// A JSON Pointer (RFC 6901) to the offending member, as a URI fragment: `#/rating`.
    pub pointer: String,
    /// What is wrong with it, for a human.
    pub detail: String,
}

impl FieldError {
    /// The error for the top-level body member `field`: `FieldError::new("rating", "...")` has
    /// the pointer `#/rating`.
    pub fn new(field: &str, detail: impl Into<String>) -> FieldError {
        FieldError {
            pointer: format!("#/{field}"),
            detail: detail.into(),
        }
    }
}

/// The media type of an RFC 9457 problem details document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The `type` of a validation problem ([`ApiError::Validation`]), the one book chapter 03
/// shows in its section "Validation errors": a URI that names the problem type. It is a
/// `tag:` URI (RFC 4151), which identifies without pretending to be a link. Every other
/// problem is `about:blank`, which RFC 9457 defines as "nothing beyond what the status code
/// says".
pub const VALIDATION_PROBLEM_TYPE: &str = "tag:backend-rs.github.io,2025:problems/invalid-fields";

/// The `title` of a validation problem: a problem type's title is the same for every
/// occurrence of it, as in the chapter's example.
pub const VALIDATION_PROBLEM_TITLE: &str = "Invalid fields";

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

/// An extractor whose rejection is an [`ApiError`]: `Api<Json<T>>` works like `Json<T>`, but a
/// bad body becomes a problem+json response instead of axum's plain-text one. It wraps any
/// extractor `E` for which `ApiError: From<E::Rejection>`, so the three `From` impls below
/// decide what `Api<Json<_>>`, `Api<Query<_>>` and `Api<Path<_>>` answer.
///
/// Given, not part of the exercise: axum-extra's `WithRejection` does the same, and
/// `#[derive(FromRequest)]` with `#[from_request(via(Json), rejection(ApiError))]` writes it for
/// one extractor at a time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Api<E>(pub E);

impl<S, E> FromRequestParts<S> for Api<E>
where
    E: FromRequestParts<S>,
    ApiError: From<E::Rejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Ok(Api(E::from_request_parts(parts, state).await?))
    }
}

impl<S, E> FromRequest<S> for Api<E>
where
    E: FromRequest<S>,
    ApiError: From<E::Rejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        Ok(Api(E::from_request(request, state).await?))
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
/// The header that carries a request's id, in both directions.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The header that reports how long the server took (W3C Server Timing).
pub static SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// The id of one request: it ties together the client's report, the response and every log
/// line the request produced. [`RequestIdLayer`] puts one in each request's extensions, so a
/// handler takes it with `Extension(id): Extension<RequestId>`.
///
/// It is always safe to copy into a header or a log line: [`RequestId::parse`] and
/// [`RequestId::generate`] are the only ways to make one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

/// The longest incoming id [`RequestId::parse`] accepts, in bytes: a UUID has 36.
pub const MAX_REQUEST_ID_LEN: usize = 64;

impl RequestId {
    /// A fresh id: a random (version 4) UUID in its hyphenated form.
    pub fn generate() -> RequestId {
        RequestId(Uuid::new_v4().to_string())
    }

    /// The id a client (or a proxy in front of us) sent, if it is a sensible one: 1 to
    /// [`MAX_REQUEST_ID_LEN`] bytes, each an ASCII letter, an ASCII digit, `-`, `_` or `.`.
    /// Anything else (empty, too long, spaces, quotes, `;`, bytes outside ASCII) is `None`.
    ///
    /// Why so strict: the id is copied into logs and response headers, so a caller must not be
    /// able to forge log lines, smuggle markup, or fill the disk with it.
    pub fn parse(value: &HeaderValue) -> Option<RequestId> {
        todo!("exercise 03, part c, RequestId::parse: see book chapter 03, section 'Exercise'")
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as a header value.
    pub fn to_header_value(&self) -> HeaderValue {
        HeaderValue::from_str(&self.0)
            .expect("a RequestId holds only ASCII letters, digits, '-', '_' and '.'")
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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

/// A tower [`Layer`] that gives every request an id and every response its timing.
///
/// For each request, [`RequestIdService`]:
/// 1. keeps the `x-request-id` the client sent when [`RequestId::parse`] accepts it, and
///    otherwise (no header, or a bad one) uses [`RequestId::generate`];
/// 2. stores that [`RequestId`] in the request's extensions (for handlers) and sets the
///    request's `x-request-id` header to it (for anything inside that reads headers), so
///    everybody sees the same id;
/// 3. calls the inner service;
/// 4. sets `x-request-id` on the response to the same id, whatever the inner service answered
///    (errors, problem documents and 404s included), and *appends* a `server-timing` value
///    ([`server_timing`]) for the time from step 1 until the inner service produced its
///    response. Appended, not inserted: a handler may report metrics of its own
///    (`db;dur=3`), which must survive.
///
/// Why a hand-written `Layer` and not `axum::middleware::from_fn`: `from_fn` is the shorter way
/// for middleware one app needs (an `async fn(Request, Next) -> Response`). A `Layer` is what
/// libraries such as tower-http ship: it works around any tower service (an axum router, a
/// tonic server, a bare hyper one), and writing one shows what `from_fn` hides: `poll_ready`,
/// the future a service returns, and where the clock starts.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestIdLayer;

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestIdService<S>;

    fn layer(&self, inner: S) -> RequestIdService<S> {
        RequestIdService { inner }
    }
}

/// The service [`RequestIdLayer`] wraps around an inner service `S`.
#[derive(Debug, Clone)]
pub struct RequestIdService<S> {
    inner: S,
}

/// A boxed future that can move between threads: the simplest `Future` type a service can name.
/// (tower-http writes a struct per middleware instead, to save the allocation.)
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

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
