//! Exercise 03, RESTful API development: the reference solution.
//!
//! Try the exercise first (`exercises/03-restful-apis/src/lib.rs`, hints in `hints/`), then
//! compare. Run the shared tests against this file with `cargo test -p exercise-03-solution`.
//!
//! The public API is the stub's, item for item; only the bodies (and their comments) differ.

// The given code (types, errors, ...): one file, shared with the reference solution.
#[path = "../src/given.rs"]
mod given;
pub use given::*;

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
        let mut errors = Vec::new();
        let author = input.author.trim();
        if let Some(error) = check_author(author) {
            errors.push(error);
        }
        let rating = check_rating(input.rating);
        if let Err(error) = &rating {
            errors.push(error.clone());
        }
        if let Some(error) = check_comment(&input.comment) {
            errors.push(error);
        }
        match rating {
            Ok(rating) if errors.is_empty() => Ok(ReviewDraft {
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
        let mut errors = Vec::new();
        let rating = match patch.rating.map(check_rating) {
            Some(Ok(rating)) => Some(rating),
            Some(Err(error)) => {
                errors.push(error);
                None
            }
            None => None,
        };
        if let Some(error) = patch.comment.as_deref().and_then(check_comment) {
            errors.push(error);
        }
        if errors.is_empty() {
            Ok(ReviewChanges {
                rating,
                comment: patch.comment,
            })
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

fn check_author(trimmed: &str) -> Option<FieldError> {
    if trimmed.is_empty() {
        Some(FieldError::new("author", "must not be blank"))
    } else if trimmed.chars().count() > MAX_AUTHOR_CHARS {
        Some(FieldError::new(
            "author",
            format!("must be at most {MAX_AUTHOR_CHARS} characters"),
        ))
    } else {
        None
    }
}

fn check_rating(rating: i64) -> Result<u8, FieldError> {
    match u8::try_from(rating) {
        Ok(stars @ 1..=5) => Ok(stars),
        _ => Err(FieldError::new("rating", "must be between 1 and 5")),
    }
}

fn check_comment(comment: &str) -> Option<FieldError> {
    (comment.chars().count() > MAX_COMMENT_CHARS).then(|| {
        FieldError::new(
            "comment",
            format!("must be at most {MAX_COMMENT_CHARS} characters"),
        )
    })
}

// ANCHOR: solution_create_review
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
    let review = state
        .store
        .insert(&sku, draft)
        .map_err(|error| match error {
            InsertError::UnknownProduct(sku) => ApiError::ProductNotFound(sku),
            InsertError::AlreadyReviewed {
                sku,
                author,
                existing,
            } => ApiError::AlreadyReviewed {
                sku,
                author,
                existing,
            },
        })?;
    let location = format!("/reviews/{}", review.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(review),
    )
        .into_response())
}
// ANCHOR_END: solution_create_review

// ANCHOR: solution_list_reviews
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
    let min_rating = match query.min_rating {
        None => 1,
        Some(stars @ 1..=5) => stars,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "`min_rating` must be between 1 and 5, got {other}"
            )));
        }
    };
    let limit = match query.limit {
        None => DEFAULT_LIMIT,
        Some(limit @ 1..=MAX_LIMIT) => limit,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "`limit` must be between 1 and {MAX_LIMIT}, got {other}"
            )));
        }
    };
    let offset = query.offset.unwrap_or(0);

    let Some(reviews) = state.store.for_product(&sku) else {
        return Err(ApiError::ProductNotFound(sku));
    };
    let matching: Vec<Review> = reviews
        .into_iter()
        .filter(|review| review.rating >= min_rating)
        .collect();
    let total = matching.len();
    let items = matching.into_iter().skip(offset).take(limit).collect();
    Ok(Json(ReviewPage { items, total }))
}
// ANCHOR_END: solution_list_reviews

/// `GET /reviews/{id}`: 200 with the review, or [`ApiError::ReviewNotFound`].
pub async fn get_review(
    State(state): State<AppState>,
    Api(Path(id)): Api<Path<Uuid>>,
) -> Result<Json<Review>, ApiError> {
    state
        .store
        .get(id)
        .map(Json)
        .ok_or(ApiError::ReviewNotFound(id))
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
    state
        .store
        .update(id, changes)
        .map(Json)
        .ok_or(ApiError::ReviewNotFound(id))
}

/// `DELETE /reviews/{id}`: `204 No Content` (and no body) when the review existed,
/// [`ApiError::ReviewNotFound`] when it did not, including the second time it is deleted.
pub async fn delete_review(
    State(state): State<AppState>,
    Api(Path(id)): Api<Path<Uuid>>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .remove(id)
        .map(|_| StatusCode::NO_CONTENT)
        .ok_or(ApiError::ReviewNotFound(id))
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
        match self {
            ApiError::Rejected { status, .. } => *status,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::ProductNotFound(_) | ApiError::ReviewNotFound(_) => StatusCode::NOT_FOUND,
            ApiError::AlreadyReviewed { .. } => StatusCode::CONFLICT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The JSON members of a problem details document (RFC 9457 section 3.1). The `Option`s that
/// are `None` are left out of the JSON, not written as `null`.
#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    problem_type: &'static str,
    title: &'static str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
}

// ANCHOR: solution_into_response
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
        let detail = match &self {
            ApiError::Internal(_) => {
                // Recorded as an error value, so a subscriber can print the source chain.
                tracing::error!(error = &self as &dyn std::error::Error, "request failed");
                None
            }
            other => Some(other.to_string()),
        };
        let (problem_type, title, errors) = match &self {
            ApiError::Validation(errors) => (
                VALIDATION_PROBLEM_TYPE,
                VALIDATION_PROBLEM_TITLE,
                Some(errors.as_slice()),
            ),
            _ => (
                "about:blank",
                status.canonical_reason().unwrap_or("Error"),
                None,
            ),
        };
        let problem = Problem {
            problem_type,
            title,
            status: status.as_u16(),
            detail,
            errors,
        };
        (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))],
            Json(problem),
        )
            .into_response()
    }
}
// ANCHOR_END: solution_into_response

/// A rejected JSON body: [`ApiError::Rejected`] with the rejection's own status and message
/// (`status()` and `body_text()`): 400 for a syntax error, 422 for the wrong shape, 415
/// without a JSON content type, 413 for a body over the size limit.
impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        ApiError::Rejected {
            status: rejection.status(),
            detail: rejection.body_text(),
        }
    }
}

/// A query string that does not deserialize (`limit=lots`, an unknown parameter):
/// [`ApiError::Rejected`] with the rejection's status (400) and message.
impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::Rejected {
            status: rejection.status(),
            detail: rejection.body_text(),
        }
    }
}

/// A path segment that does not deserialize (`/reviews/not-a-uuid`): [`ApiError::Rejected`]
/// with the rejection's status (400) and message.
impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> ApiError {
        ApiError::Rejected {
            status: rejection.status(),
            detail: rejection.body_text(),
        }
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
        let bytes = value.as_bytes();
        let allowed = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
        if !(1..=MAX_REQUEST_ID_LEN).contains(&bytes.len()) || !bytes.iter().all(allowed) {
            return None;
        }
        // Every byte is ASCII, so `to_str` succeeds; `ok()?` keeps this free of panics anyway.
        let id = value.to_str().ok()?;
        Some(RequestId(id.to_owned()))
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
    let value = format!(
        "app;dur={}.{:03}",
        elapsed.as_millis(),
        elapsed.subsec_micros() % 1_000
    );
    HeaderValue::try_from(value).expect("a metric name and digits are a valid header value")
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

    // ANCHOR: solution_call
    /// Steps 1 to 4 of [`RequestIdLayer`]. Everything before the inner call is synchronous,
    /// so `self.inner.call(request)` can be made right here, on the service `poll_ready` just
    /// readied; only awaiting its response happens in the returned future.
    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        let started = Instant::now();
        let id = request
            .headers()
            .get(&X_REQUEST_ID)
            .and_then(RequestId::parse)
            .unwrap_or_else(RequestId::generate);
        let id_value = id.to_header_value();
        request
            .headers_mut()
            .insert(&X_REQUEST_ID, id_value.clone());
        request.extensions_mut().insert(id);

        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            let headers = response.headers_mut();
            headers.insert(&X_REQUEST_ID, id_value);
            headers.append(&SERVER_TIMING, server_timing(started.elapsed()));
            Ok(response)
        })
    }
    // ANCHOR_END: solution_call
}
// ANCHOR_END: middleware
