//! Part (b): every error becomes an RFC 9457 `application/problem+json` response.
//!
//! Run with `cargo test -p exercise-03 --test part_b_errors`. Most tests render an
//! [`ApiError`] directly with `into_response()`, or send the router a request that an extractor
//! rejects before any handler runs; the last one needs part (a) as well.

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use exercise_03::{ApiError, AppState, FieldError, PROBLEM_JSON, VALIDATION_PROBLEM_TYPE, router};
use serde_json::{Value, json};
use tower::ServiceExt;
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
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|detail| !detail.is_empty()),
        "every problem has a `detail` string: {body}"
    );
    (status, body)
}

/// Checks the members every `about:blank` problem has.
fn assert_about_blank(status: StatusCode, body: &Value) {
    assert_eq!(body["type"], "about:blank", "{body}");
    assert_eq!(
        body["title"],
        status
            .canonical_reason()
            .expect("a status with a reason phrase"),
        "with type about:blank, the title is the status's reason phrase: {body}"
    );
    assert!(
        body.get("errors").is_none(),
        "only validation problems have `errors`: {body}"
    );
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
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
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
