//! Exercise 03, a second correct solution, written differently from `lib.rs` on purpose.
//!
//! `cargo xtask verify` runs every shared test against it, so a test that only accepts the
//! reference's way of writing an answer shows up. How it differs, and why both are right:
//! - (a) the rules are a list of optional errors collected in one expression; the list
//!   handler counts and pages in one pass over the reviews instead of collecting the matches
//!   first; the parameter checks share one helper.
//! - (b) titles use RFC 9110's current reason phrases ("Content Too Large", "Unprocessable
//!   Content") where they differ from the `http` crate's; the problem document is one
//!   `Serialize` struct with borrowed text; the response is built from `Json` and then given
//!   its status and content type; the 500's cause is logged as one line with its whole chain.
//! - (c) `RequestId::parse` goes through `to_str` and `char`s instead of bytes;
//!   `server_timing` splits a microsecond count; the service's future is written with
//!   `std::future::poll_fn` instead of an `async` block.
//!
//! The public API is the stub's, item for item.

// The given code (types, errors, ...): one file, shared with the reference solution.
#[path = "../src/given.rs"]
mod given;
pub use given::*;

use std::fmt;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{self, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
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
        let author = input.author.trim();
        let rating = u8::try_from(input.rating)
            .ok()
            .filter(|stars| (1..=5).contains(stars));
        let errors: Vec<FieldError> = [
            author_error(author),
            rating.is_none().then(rating_error),
            comment_error(&input.comment),
        ]
        .into_iter()
        .flatten()
        .collect();
        match (errors.is_empty(), rating) {
            (true, Some(rating)) => Ok(ReviewDraft {
                author: author.to_owned(),
                rating,
                comment: input.comment,
            }),
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

impl ReviewChanges {
    /// Checks the fields present in a patch with the rules of [`ReviewDraft::parse`] (same
    /// pointers, same order); absent fields are not checked and stay `None`. An empty patch
    /// is valid and changes nothing.
    pub fn parse(patch: ReviewPatch) -> Result<ReviewChanges, ApiError> {
        let rating = patch.rating.map(|rating| {
            u8::try_from(rating)
                .ok()
                .filter(|stars| (1..=5).contains(stars))
        });
        let errors: Vec<FieldError> = [
            matches!(rating, Some(None)).then(rating_error),
            patch.comment.as_deref().and_then(comment_error),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        Ok(ReviewChanges {
            rating: rating.flatten(),
            comment: patch.comment,
        })
    }
}

fn author_error(trimmed: &str) -> Option<FieldError> {
    match trimmed.chars().count() {
        0 => Some(FieldError::new("author", "must not be blank")),
        n if n > MAX_AUTHOR_CHARS => Some(FieldError::new(
            "author",
            format!("must be at most {MAX_AUTHOR_CHARS} characters, got {n}"),
        )),
        _ => None,
    }
}

fn rating_error() -> FieldError {
    FieldError::new("rating", "must be a whole number of stars from 1 to 5")
}

fn comment_error(comment: &str) -> Option<FieldError> {
    // `nth` stops counting as soon as the limit is passed, however long the comment is.
    comment.chars().nth(MAX_COMMENT_CHARS).map(|_| {
        FieldError::new(
            "comment",
            format!("must be at most {MAX_COMMENT_CHARS} characters"),
        )
    })
}

/// `value`, or `default` when absent; an [`ApiError::BadRequest`] naming `name` when outside
/// `low..=high`.
fn in_range<T>(name: &str, value: Option<T>, default: T, low: T, high: T) -> Result<T, ApiError>
where
    T: PartialOrd + fmt::Display + Copy,
{
    match value {
        None => Ok(default),
        Some(v) if low <= v && v <= high => Ok(v),
        Some(v) => Err(ApiError::BadRequest(format!(
            "`{name}` must be between {low} and {high}, got {v}"
        ))),
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
    let draft = ReviewDraft::parse(input)?;
    match state.store.insert(&sku, draft) {
        Ok(review) => {
            let location = HeaderValue::try_from(format!("/reviews/{}", review.id))
                .expect("a path made of a UUID is a valid header value");
            let mut response = (StatusCode::CREATED, Json(review)).into_response();
            response.headers_mut().insert(header::LOCATION, location);
            Ok(response)
        }
        Err(InsertError::UnknownProduct(sku)) => Err(ApiError::ProductNotFound(sku)),
        Err(InsertError::AlreadyReviewed {
            sku,
            author,
            existing,
        }) => Err(ApiError::AlreadyReviewed {
            sku,
            author,
            existing,
        }),
    }
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
    let min_rating = in_range("min_rating", query.min_rating, 1, 1, 5)?;
    let limit = in_range("limit", query.limit, DEFAULT_LIMIT, 1, MAX_LIMIT)?;
    let offset = query.offset.unwrap_or_default();
    let reviews = state
        .store
        .for_product(&sku)
        .ok_or_else(|| ApiError::ProductNotFound(sku.clone()))?;
    // One pass: `total` counts every match; the page keeps the matches numbered
    // `offset` to `offset + limit - 1` (counted without overflow).
    let mut page = ReviewPage {
        items: Vec::new(),
        total: 0,
    };
    for review in reviews {
        if review.rating < min_rating {
            continue;
        }
        if page.total >= offset && page.items.len() < limit {
            page.items.push(review);
        }
        page.total += 1;
    }
    Ok(Json(page))
}

/// `GET /reviews/{id}`: 200 with the review, or [`ApiError::ReviewNotFound`].
pub async fn get_review(
    State(state): State<AppState>,
    Api(Path(id)): Api<Path<Uuid>>,
) -> Result<Json<Review>, ApiError> {
    match state.store.get(id) {
        Some(review) => Ok(Json(review)),
        None => Err(ApiError::ReviewNotFound(id)),
    }
}

/// `PATCH /reviews/{id}`: changes the fields present in the body ([`ReviewChanges::parse`]:
/// 422 when one breaks a rule, and then nothing changes), then 200 with the review as it now
/// is, or [`ApiError::ReviewNotFound`].
pub async fn update_review(
    State(state): State<AppState>,
    Api(Path(id)): Api<Path<Uuid>>,
    Api(Json(patch)): Api<Json<ReviewPatch>>,
) -> Result<Json<Review>, ApiError> {
    let changes = ReviewChanges::parse(patch)?;
    let Some(review) = state.store.update(id, changes) else {
        return Err(ApiError::ReviewNotFound(id));
    };
    Ok(Json(review))
}

/// `DELETE /reviews/{id}`: `204 No Content` (and no body) when the review existed,
/// [`ApiError::ReviewNotFound`] when it did not, including the second time it is deleted.
pub async fn delete_review(
    State(state): State<AppState>,
    Api(Path(id)): Api<Path<Uuid>>,
) -> Result<StatusCode, ApiError> {
    if state.store.remove(id).is_some() {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::ReviewNotFound(id))
    }
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
        use ApiError::*;
        match self {
            Rejected { status, .. } => *status,
            BadRequest(_) => StatusCode::BAD_REQUEST,
            Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ProductNotFound(_) => StatusCode::NOT_FOUND,
            ReviewNotFound(_) => StatusCode::NOT_FOUND,
            AlreadyReviewed { .. } => StatusCode::CONFLICT,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
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
        let status = self.status();
        let message = match &self {
            ApiError::Internal(cause) => {
                tracing::error!(cause = %chain(cause.as_ref()), "internal error");
                None
            }
            other => Some(other.to_string()),
        };
        let document = match &self {
            ApiError::Validation(errors) => ProblemDocument {
                kind: VALIDATION_PROBLEM_TYPE,
                title: VALIDATION_PROBLEM_TITLE,
                status: status.as_u16(),
                detail: message.as_deref(),
                errors: Some(errors),
            },
            _ => ProblemDocument {
                kind: "about:blank",
                title: reason_phrase(status),
                status: status.as_u16(),
                detail: message.as_deref(),
                errors: None,
            },
        };
        let mut response = Json(document).into_response();
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

/// A problem details document, borrowing everything it says.
#[derive(Serialize)]
struct ProblemDocument<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a Vec<FieldError>>,
}

/// The reason phrase RFC 9110 gives a status; the `http` crate's for the rest.
fn reason_phrase(status: StatusCode) -> &'static str {
    match status.as_u16() {
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        _ => status.canonical_reason().unwrap_or("Unknown Status"),
    }
}

/// `error: cause: cause of the cause`, on one line.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text = format!("{text}: {cause}");
        next = cause.source();
    }
    text
}

/// A rejected JSON body: [`ApiError::Rejected`] with the rejection's own status and message
/// (`status()` and `body_text()`): 400 for a syntax error, 422 for the wrong shape, 415
/// without a JSON content type, 413 for a body over the size limit.
impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        rejected(rejection.status(), rejection.body_text())
    }
}

/// A query string that does not deserialize (`limit=lots`, an unknown parameter):
/// [`ApiError::Rejected`] with the rejection's status (400) and message.
impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        rejected(rejection.status(), rejection.body_text())
    }
}

/// A path segment that does not deserialize (`/reviews/not-a-uuid`): [`ApiError::Rejected`]
/// with the rejection's status (400) and message.
impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> ApiError {
        rejected(rejection.status(), rejection.body_text())
    }
}
/// Every rejection keeps axum's status and message; only the format changes.
fn rejected(status: StatusCode, detail: String) -> ApiError {
    ApiError::Rejected { status, detail }
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
        let text = value.to_str().ok()?;
        let sensible = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
        (!text.is_empty() && text.len() <= MAX_REQUEST_ID_LEN && text.chars().all(sensible))
            .then(|| RequestId(text.to_owned()))
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
    let micros = elapsed.as_micros();
    HeaderValue::try_from(format!("app;dur={}.{:03}", micros / 1000, micros % 1000))
        .expect("digits and `app;dur=.` make a valid header value")
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
    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        let started = Instant::now();
        let id = match request
            .headers()
            .get(&X_REQUEST_ID)
            .and_then(RequestId::parse)
        {
            Some(id) => id,
            None => RequestId::generate(),
        };
        let value = id.to_header_value();
        request.extensions_mut().insert(id);
        request.headers_mut().insert(&X_REQUEST_ID, value.clone());

        let mut inner = Box::pin(self.inner.call(request));
        let mut value = Some(value);
        // A hand-polled future: ready when the inner one is, then the headers go on.
        Box::pin(std::future::poll_fn(move |cx| {
            let mut response = std::task::ready!(inner.as_mut().poll(cx))?;
            let headers = response.headers_mut();
            if let Some(value) = value.take() {
                headers.insert(&X_REQUEST_ID, value);
            }
            headers.append(&SERVER_TIMING, server_timing(started.elapsed()));
            Poll::Ready(Ok(response))
        }))
    }
}
// ANCHOR_END: middleware
