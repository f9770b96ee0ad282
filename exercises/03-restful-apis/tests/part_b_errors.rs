//! Part (b): every error becomes an RFC 9457 `application/problem+json` response.
//!
//! Run with `cargo test -p exercise-03 part_b`. Most tests render an
//! [`ApiError`] directly with `into_response()`, or send the router a request that an extractor
//! rejects before any handler runs; the last one needs part (a) as well. Two tests read what
//! `into_response` logs, through a small `tracing` subscriber that keeps each event.

use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use exercise_03::{
    ApiError, AppState, FieldError, PROBLEM_JSON, VALIDATION_PROBLEM_TITLE,
    VALIDATION_PROBLEM_TYPE, router,
};
use serde_json::{Value, json};
use tower::ServiceExt;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber, span};
use uuid::Uuid;

/// The status, and the body parsed as a problem document after checking the content type.
async fn problem(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|value| value.to_str().expect("an ASCII content type").to_owned());
    assert_eq!(
        content_type.as_deref(),
        Some(PROBLEM_JSON),
        "an error response says it is a problem document, not plain JSON"
    );
    let bytes = to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("the body fits in 1 MiB");
    let body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|error| {
        panic!(
            "the body should be JSON ({error}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    assert_eq!(
        body["status"],
        json!(status.as_u16()),
        "`status` in the body repeats the response's status: {body}"
    );
    if status.is_server_error() {
        assert!(
            body.get("detail").is_none(),
            "a 5xx problem has no `detail` member (left out, not null): the client learns \
             that the request failed, never how: {body}"
        );
    } else {
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|detail| !detail.is_empty()),
            "every 4xx problem has a `detail` string: {body}"
        );
    }
    (status, body)
}

/// The titles an `about:blank` problem may have: the status's reason phrase as the `http`
/// crate spells it (`canonical_reason`), or as RFC 9110 renamed it.
fn reason_phrases(status: StatusCode) -> Vec<&'static str> {
    let canonical = status
        .canonical_reason()
        .expect("every status these tests use has a reason phrase");
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => vec![canonical, "Content Too Large"],
        StatusCode::UNPROCESSABLE_ENTITY => vec![canonical, "Unprocessable Content"],
        _ => vec![canonical],
    }
}

/// Checks the members every `about:blank` problem has.
fn assert_about_blank(status: StatusCode, body: &Value) {
    assert_eq!(
        body["type"], "about:blank",
        "a problem that means no more than its status has type about:blank: {body}"
    );
    let phrases = reason_phrases(status);
    assert!(
        body["title"]
            .as_str()
            .is_some_and(|title| phrases.contains(&title)),
        "with type about:blank, the title is the status's reason phrase ({}): {body}",
        phrases.join(" or ")
    );
    assert!(
        body.get("errors").is_none(),
        "only validation problems have `errors`: {body}"
    );
}

/// What `f` logged on this thread, as `(level, fields)` per event, beside what it returned.
fn logged_while<T>(f: impl FnOnce() -> T) -> (T, Vec<(Level, String)>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let value = tracing::subscriber::with_default(Recorder(Arc::clone(&events)), f);
    let events = std::mem::take(&mut *events.lock().unwrap_or_else(PoisonError::into_inner));
    (value, events)
}

/// A `tracing` subscriber that keeps each event's level and fields as text, and ignores spans.
struct Recorder(Arc<Mutex<Vec<(Level, String)>>>);

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }

    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}

    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((*event.metadata().level(), fields.0));
    }

    fn enter(&self, _: &span::Id) {}

    fn exit(&self, _: &span::Id) {}
}

/// An event's fields as `name=value` text; an error field with its whole chain of causes.
#[derive(Default)]
struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // Writing to a `String` cannot fail.
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let _ = write!(self.0, "{}={value}", field.name());
        let mut source = value.source();
        while let Some(cause) = source {
            let _ = write!(self.0, ": {cause}");
            source = cause.source();
        }
        self.0.push(' ');
    }
}

async fn send(app: Router, request: Request<Body>) -> Response {
    app.oneshot(request)
        .await
        .expect("a Router never fails: its errors are responses")
}

fn json_request(method: &str, uri: &str, content_type: Option<&str>, body: &str) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    builder
        .body(Body::from(body.to_owned()))
        .expect("the test builds a valid request")
}

fn get(uri: &str) -> Request<Body> {
    Request::builder()
        .uri(uri)
        .body(Body::empty())
        .expect("the test builds a valid request")
}

fn shop() -> Router {
    router(AppState::new(["MUG-RED"]))
}

#[test]
fn each_error_has_its_status() {
    let id = Uuid::nil();
    let table = [
        (
            ApiError::BadRequest("`limit` must be between 1 and 100, got 0".into()),
            400,
        ),
        (
            ApiError::Validation(vec![FieldError::new("rating", "must be between 1 and 5")]),
            422,
        ),
        (ApiError::ProductNotFound("MUG-BLUE".into()), 404),
        (ApiError::ReviewNotFound(id), 404),
        (
            ApiError::AlreadyReviewed {
                sku: "MUG-RED".into(),
                author: "Ada".into(),
                existing: id,
            },
            409,
        ),
        (ApiError::Internal("disk full".into()), 500),
        (
            ApiError::Rejected {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                detail: "x".into(),
            },
            415,
        ),
        (
            ApiError::Rejected {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                detail: "x".into(),
            },
            413,
        ),
    ];
    for (error, expected) in table {
        assert_eq!(error.status().as_u16(), expected, "the status of {error:?}");
    }
}

#[tokio::test]
async fn not_found_is_an_about_blank_problem() {
    let id = Uuid::new_v4();
    let (status, body) = problem(ApiError::ReviewNotFound(id).into_response()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_about_blank(status, &body);
    assert!(
        body["detail"].as_str().unwrap().contains(&id.to_string()),
        "the detail is the error's message, which names the id: {body}"
    );
}

#[tokio::test]
async fn a_conflict_says_what_conflicts() {
    let existing = Uuid::new_v4();
    let error = ApiError::AlreadyReviewed {
        sku: "MUG-RED".into(),
        author: "Ada".into(),
        existing,
    };
    let (status, body) = problem(error.into_response()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_about_blank(status, &body);
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("Ada")
            && detail.contains("MUG-RED")
            && detail.contains(&existing.to_string()),
        "the detail names the author, the product and the existing review: {detail}"
    );
}

#[tokio::test]
async fn a_validation_problem_lists_every_broken_rule() {
    let error = ApiError::Validation(vec![
        FieldError::new("author", "must not be blank"),
        FieldError::new("rating", "must be between 1 and 5"),
    ]);
    let (status, body) = problem(error.into_response()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["type"], VALIDATION_PROBLEM_TYPE,
        "validation problems have their own type: {body}"
    );
    assert_eq!(
        body["title"], VALIDATION_PROBLEM_TITLE,
        "a problem type has one title, the same for every occurrence: {body}"
    );
    assert_eq!(
        body["errors"],
        json!([
            { "pointer": "#/author", "detail": "must not be blank" },
            { "pointer": "#/rating", "detail": "must be between 1 and 5" },
        ]),
        "the `errors` extension member lists the FieldErrors in order"
    );
}

#[tokio::test]
async fn a_bad_request_keeps_its_message() {
    let message = "`limit` must be between 1 and 100, got 0";
    let (status, body) = problem(ApiError::BadRequest(message.into()).into_response()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_about_blank(status, &body);
    assert_eq!(body["detail"], message);
}

#[tokio::test]
async fn an_internal_error_does_not_leak_its_cause() {
    let secret = "connection to db-primary.internal:5432 refused (user shop_admin)";
    let response = ApiError::Internal(secret.into()).into_response();
    let (status, body) = problem(response).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_about_blank(status, &body);
    let text = body.to_string();
    for leak in ["db-primary", "5432", "shop_admin", "refused"] {
        assert!(
            !text.contains(leak),
            "a 500 must not tell the client `{leak}`: {text}"
        );
    }
}

#[test]
fn an_internal_error_logs_its_cause_once() {
    let cause = "connection to db-primary.internal:5432 refused (user shop_admin)";
    let (response, logged) = logged_while(|| ApiError::Internal(cause.into()).into_response());
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let errors: Vec<&str> = logged
        .iter()
        .filter(|(level, _)| *level == Level::ERROR)
        .map(|(_, fields)| fields.as_str())
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "a 500 is logged once, with tracing::error!: the client was told nothing, so the log \
         is the only record of what went wrong. Logged: {logged:?}"
    );
    assert!(
        errors[0].contains("db-primary.internal:5432"),
        "the ERROR event names the cause ({cause}); it logged: {}",
        errors[0]
    );
}

#[test]
fn client_errors_are_not_logged_as_errors() {
    let client_errors = [
        ApiError::ReviewNotFound(Uuid::nil()),
        ApiError::BadRequest("`limit` must be between 1 and 100, got 0".into()),
        ApiError::Validation(vec![FieldError::new("rating", "must be between 1 and 5")]),
        ApiError::Rejected {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            detail: "Expected request with `Content-Type: application/json`".into(),
        },
    ];
    for error in client_errors {
        let described = format!("{error:?}");
        let (_, logged) = logged_while(|| error.into_response());
        let errors: Vec<&(Level, String)> = logged
            .iter()
            .filter(|(level, _)| *level == Level::ERROR)
            .collect();
        assert!(
            errors.is_empty(),
            "{described} is the client's mistake, not an incident: it is not logged at the \
             ERROR level (alerts fire on those). Logged: {errors:?}"
        );
    }
}

#[tokio::test]
async fn a_rejection_keeps_the_status_axum_chose() {
    let error = ApiError::Rejected {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        detail: "Failed to buffer the request body: length limit exceeded".into(),
    };
    let (status, body) = problem(error.into_response()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_about_blank(status, &body);
    assert_eq!(
        body["detail"],
        "Failed to buffer the request body: length limit exceeded"
    );
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_400_problem() {
    let request = json_request(
        "POST",
        "/products/MUG-RED/reviews",
        Some("application/json"),
        "{\"author\": ",
    );
    let (status, body) = problem(send(shop(), request).await).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a JSON syntax error: {body}"
    );
    assert_about_blank(status, &body);
}

#[tokio::test]
async fn a_body_without_a_json_content_type_is_a_415_problem() {
    let valid = r#"{"author": "Ada", "rating": 5}"#;
    for content_type in [None, Some("text/plain")] {
        let request = json_request("POST", "/products/MUG-RED/reviews", content_type, valid);
        let (status, body) = problem(send(shop(), request).await).await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content type {content_type:?}: {body}"
        );
        assert_about_blank(status, &body);
    }
}

#[tokio::test]
async fn json_of_the_wrong_shape_is_a_422_problem() {
    let wrong = [
        r#"{"author": "Ada", "rating": "five"}"#,
        r#"{"author": "Ada"}"#,
        r#"{"author": "Ada", "rating": 5, "ratng": 4}"#,
    ];
    for body_text in wrong {
        let request = json_request(
            "POST",
            "/products/MUG-RED/reviews",
            Some("application/json"),
            body_text,
        );
        let (status, body) = problem(send(shop(), request).await).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body_text}: {body}"
        );
        assert_about_blank(status, &body);
    }
}

#[tokio::test]
async fn a_body_over_the_size_limit_is_a_413_problem() {
    // axum's body extractors stop reading at 2 MB unless told otherwise (`DefaultBodyLimit`).
    let comment = "x".repeat(3 << 20);
    let too_big = format!(r#"{{"author": "Ada", "rating": 5, "comment": "{comment}"}}"#);
    let request = json_request(
        "POST",
        "/products/MUG-RED/reviews",
        Some("application/json"),
        &too_big,
    );
    let (status, body) = problem(send(shop(), request).await).await;
    assert_eq!(
        status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "a body over the limit: {body}"
    );
    assert_about_blank(status, &body);
}

#[tokio::test]
async fn an_id_that_is_not_a_uuid_is_a_400_problem() {
    let (status, body) = problem(send(shop(), get("/reviews/not-a-uuid")).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_about_blank(status, &body);
}

#[tokio::test]
async fn a_query_string_that_does_not_parse_is_a_400_problem() {
    for uri in [
        "/products/MUG-RED/reviews?limit=lots",
        "/products/MUG-RED/reviews?sort=best",
    ] {
        let (status, body) = problem(send(shop(), get(uri)).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_about_blank(status, &body);
    }
}

/// Needs part (a): the handlers decide, this part renders.
#[tokio::test]
async fn the_handlers_errors_reach_the_client_as_problems() {
    let app = shop();
    let review = r#"{"author": "Ada", "rating": 5}"#;
    let create = || {
        json_request(
            "POST",
            "/products/MUG-RED/reviews",
            Some("application/json"),
            review,
        )
    };
    assert_eq!(
        send(app.clone(), create()).await.status(),
        StatusCode::CREATED
    );

    let (status, body) = problem(send(app.clone(), create()).await).await;
    assert_eq!(
        (status, &body["type"]),
        (StatusCode::CONFLICT, &json!("about:blank")),
        "{body}"
    );

    let invalid = json_request(
        "POST",
        "/products/MUG-RED/reviews",
        Some("application/json"),
        r#"{"author": "", "rating": 9}"#,
    );
    let (status, body) = problem(send(app.clone(), invalid).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let pointers: Vec<&str> = body["errors"]
        .as_array()
        .expect("a validation problem has an `errors` array")
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(pointers, ["#/author", "#/rating"]);

    let (status, _) =
        problem(send(app.clone(), get("/products/MUG-RED/reviews?limit=0")).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = problem(send(app.clone(), get("/products/TEAPOT/reviews")).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = problem(send(app, get(&format!("/reviews/{}", Uuid::new_v4()))).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
