//! Part (a): the handlers, and the rules a review follows.
//!
//! Run with `cargo test -p exercise-03 part_a`. Two kinds of tests:
//! - the successful requests go through the whole [`router`] with `tower::ServiceExt::oneshot`:
//!   one request in, one response out, no socket, no port;
//! - the failures call the handlers directly and look at the [`ApiError`] they return, so
//!   this part passes before part (b) renders those errors as HTTP responses.

use axum::body::{Body, to_bytes};
use axum::extract::{Path, Query, State};
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use axum::{Json, Router};
use exercise_03::{
    Api, ApiError, AppState, DEFAULT_LIMIT, FieldError, ListQuery, MAX_AUTHOR_CHARS,
    MAX_COMMENT_CHARS, NewReview, Review, ReviewPage, ReviewPatch, create_review, delete_review,
    get_review, list_reviews, router, update_review,
};
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

const MUG: &str = "MUG-RED";
const TEAPOT: &str = "TEAPOT";

fn shop() -> AppState {
    AppState::new([MUG, TEAPOT])
}

/// Sends one request through the router and returns the response.
async fn send(app: &Router, method: &str, uri: &str, body: Option<Value>) -> Response {
    let builder = Request::builder().method(method).uri(uri);
    let request = match body {
        Some(json) => builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json.to_string())),
        None => builder.body(Body::empty()),
    }
    .expect("the test builds a valid request");
    app.clone()
        .oneshot(request)
        .await
        .expect("a Router never fails: its errors are responses")
}

async fn body_bytes(response: Response) -> Vec<u8> {
    to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("the body fits in 1 MiB")
        .to_vec()
}

async fn json_body<T: serde::de::DeserializeOwned>(response: Response) -> T {
    let bytes = body_bytes(response).await;
    serde_json::from_slice(&bytes).unwrap_or_else(|error| {
        panic!(
            "the body should be JSON of the expected shape ({error}), got: {}",
            String::from_utf8_lossy(&bytes)
        )
    })
}

/// `GET uri` through the router: checks the 200 and returns the page.
async fn list(app: &Router, uri: &str) -> ReviewPage {
    let response = send(app, "GET", uri, None).await;
    let status = response.status();
    if status != StatusCode::OK {
        let body = body_bytes(response).await;
        panic!(
            "GET {uri} should answer 200, got {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    json_body(response).await
}

/// Creates a review through the router, checks the 201 and returns the review.
async fn create(app: &Router, sku: &str, author: &str, rating: i64) -> Review {
    let body = json!({ "author": author, "rating": rating, "comment": "" });
    let response = send(app, "POST", &format!("/products/{sku}/reviews"), Some(body)).await;
    assert_eq!(response.status(), StatusCode::CREATED, "creating a review");
    json_body(response).await
}

fn new_review(author: &str, rating: i64, comment: &str) -> NewReview {
    NewReview {
        author: author.to_owned(),
        rating,
        comment: comment.to_owned(),
    }
}

/// Calls the handler directly, skipping routing and extraction.
async fn create_directly(
    state: &AppState,
    sku: &str,
    input: NewReview,
) -> Result<Review, ApiError> {
    let response = create_review(
        State(state.clone()),
        Api(Path(sku.to_owned())),
        Api(Json(input)),
    )
    .await?;
    assert_eq!(response.status(), StatusCode::CREATED);
    Ok(json_body(response).await)
}

async fn list_directly(
    state: &AppState,
    sku: &str,
    query: ListQuery,
) -> Result<ReviewPage, ApiError> {
    let Json(page) = list_reviews(
        State(state.clone()),
        Api(Path(sku.to_owned())),
        Api(Query(query)),
    )
    .await?;
    Ok(page)
}

/// The pointers of a validation error; `case` says what was sent, for the failure message.
fn pointers(error: ApiError, case: &str) -> Vec<String> {
    match error {
        ApiError::Validation(errors) => {
            assert!(
                errors.iter().all(|e| !e.detail.is_empty()),
                "every FieldError needs a detail for humans: {errors:?}"
            );
            errors.into_iter().map(|e: FieldError| e.pointer).collect()
        }
        other => panic!("{case}: expected ApiError::Validation, got {other:?}"),
    }
}

#[tokio::test]
async fn create_answers_201_with_a_location_and_the_review() {
    let app = router(shop());
    let body = json!({ "author": "  Ada  ", "rating": 5, "comment": "Holds a whole pot." });
    let response = send(&app, "POST", "/products/MUG-RED/reviews", Some(body)).await;

    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "a created resource is 201, not 200"
    );
    let location = response
        .headers()
        .get(header::LOCATION)
        .expect("a 201 says where the new resource lives, in a Location header")
        .to_str()
        .expect("a Location is ASCII")
        .to_owned();
    let review: Review = json_body(response).await;
    assert_eq!(location, format!("/reviews/{}", review.id));
    assert_eq!(
        review,
        Review {
            id: review.id,
            sku: MUG.to_owned(),
            author: "Ada".to_owned(),
            rating: 5,
            comment: "Holds a whole pot.".to_owned(),
        },
        "the author is stored trimmed, the rest as sent"
    );
}

#[tokio::test]
async fn a_created_review_can_be_read_back_at_its_location() {
    let app = router(shop());
    let created = create(&app, TEAPOT, "Grace", 4).await;

    let response = send(&app, "GET", &format!("/reviews/{}", created.id), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let fetched: Review = json_body(response).await;
    assert_eq!(fetched, created);
}

#[tokio::test]
async fn the_comment_is_optional() {
    let app = router(shop());
    let body = json!({ "author": "Linus", "rating": 3 });
    let response = send(&app, "POST", "/products/TEAPOT/reviews", Some(body)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let review: Review = json_body(response).await;
    assert_eq!(review.comment, "", "an absent comment is an empty one");
}

#[tokio::test]
async fn list_filters_by_rating_and_pages_oldest_first() {
    let app = router(shop());
    let mut mugs = Vec::new();
    for (author, rating) in [("a", 5), ("b", 3), ("c", 4), ("d", 1), ("e", 5)] {
        mugs.push(create(&app, MUG, author, rating).await);
    }
    create(&app, TEAPOT, "a", 5).await;

    let page = list(&app, "/products/MUG-RED/reviews").await;
    assert_eq!(
        page,
        ReviewPage {
            items: mugs.clone(),
            total: 5
        },
        "no parameters: every review of this product (not the teapot's), oldest first"
    );

    let page = list(&app, "/products/MUG-RED/reviews?min_rating=4").await;
    let good = vec![mugs[0].clone(), mugs[2].clone(), mugs[4].clone()];
    assert_eq!(
        page,
        ReviewPage {
            items: good.clone(),
            total: 3
        },
        "min_rating=4 keeps 5, 4 and 5 stars"
    );

    let page = list(&app, "/products/MUG-RED/reviews?min_rating=5").await;
    assert_eq!(
        page,
        ReviewPage {
            items: vec![mugs[0].clone(), mugs[4].clone()],
            total: 2
        },
        "min_rating=5 (the top of its range 1 to 5) keeps the five-star reviews"
    );
    let page = list(&app, "/products/MUG-RED/reviews?min_rating=1&limit=100").await;
    assert_eq!(
        page.total, 5,
        "min_rating=1 and limit=100 are in range, both ends included"
    );

    let page = list(
        &app,
        "/products/MUG-RED/reviews?min_rating=4&limit=1&offset=1",
    )
    .await;
    assert_eq!(
        page,
        ReviewPage {
            items: vec![good[1].clone()],
            total: 3
        },
        "offset skips matching reviews, limit caps the page, total still counts all matches"
    );

    let page = list(&app, "/products/MUG-RED/reviews?min_rating=4&offset=2").await;
    assert_eq!(
        page,
        ReviewPage {
            items: vec![good[2].clone()],
            total: 3
        },
        "the offset counts matching reviews: filter by min_rating first, then skip"
    );

    let page = list(&app, "/products/MUG-RED/reviews?offset=50").await;
    assert_eq!(
        page,
        ReviewPage {
            items: vec![],
            total: 5
        },
        "an offset past the end is an empty page"
    );
}

#[tokio::test]
async fn list_pages_hold_twenty_reviews_unless_told_otherwise() {
    let state = shop();
    for n in 0..(DEFAULT_LIMIT + 5) {
        create_directly(&state, MUG, new_review(&format!("author-{n}"), 4, ""))
            .await
            .expect("25 authors, one review each");
    }
    let page = list_directly(&state, MUG, ListQuery::default())
        .await
        .expect("no parameters: the default page");
    assert_eq!(
        page.items.len(),
        DEFAULT_LIMIT,
        "no limit: a page of DEFAULT_LIMIT reviews"
    );
    assert_eq!(page.total, DEFAULT_LIMIT + 5);

    let all = ListQuery {
        limit: Some(100),
        ..ListQuery::default()
    };
    let page = list_directly(&state, MUG, all)
        .await
        .expect("limit=100 is allowed");
    assert_eq!(page.items.len(), DEFAULT_LIMIT + 5, "limit=100 is allowed");

    let empty = list_directly(&state, TEAPOT, ListQuery::default())
        .await
        .expect("a product nobody reviewed: 200, empty");
    assert_eq!(
        empty,
        ReviewPage {
            items: vec![],
            total: 0
        },
        "a product nobody reviewed: 200, empty"
    );
}

#[tokio::test]
async fn patch_changes_only_the_fields_it_sends() {
    let app = router(shop());
    let body = json!({ "author": "Ada", "rating": 2, "comment": "Chipped on arrival." });
    let created: Review =
        json_body(send(&app, "POST", "/products/MUG-RED/reviews", Some(body)).await).await;

    let uri = format!("/reviews/{}", created.id);
    let response = send(&app, "PATCH", &uri, Some(json!({ "rating": 4 }))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let updated: Review = json_body(response).await;
    assert_eq!(
        updated,
        Review {
            rating: 4,
            ..created.clone()
        },
        "only the rating changes; the comment was not sent, so it stays"
    );

    let body = json!({ "comment": "The seller replaced it." });
    let updated: Review = json_body(send(&app, "PATCH", &uri, Some(body)).await).await;
    assert_eq!(updated.comment, "The seller replaced it.");
    assert_eq!(updated.rating, 4, "the earlier change is kept");

    let fetched: Review = json_body(send(&app, "GET", &uri, None).await).await;
    assert_eq!(fetched, updated, "the change is stored, not only returned");
}

#[tokio::test]
async fn delete_answers_204_and_the_review_is_gone() {
    let state = shop();
    let app = router(state.clone());
    let created = create(&app, MUG, "Ada", 5).await;

    let response = send(&app, "DELETE", &format!("/reviews/{}", created.id), None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(body_bytes(response).await.is_empty(), "204 means no body");

    let gone = get_review(State(state.clone()), Api(Path(created.id))).await;
    assert!(
        matches!(gone, Err(ApiError::ReviewNotFound(id)) if id == created.id),
        "after DELETE, GET finds nothing: {:?}",
        gone.map(|Json(review)| review)
    );
    let again = delete_review(State(state), Api(Path(created.id))).await;
    assert!(
        matches!(again, Err(ApiError::ReviewNotFound(id)) if id == created.id),
        "deleting twice: the second time there is nothing to delete: {again:?}"
    );
}

#[tokio::test]
async fn create_reports_every_broken_rule_at_once() {
    let state = shop();
    let long_comment = "x".repeat(MAX_COMMENT_CHARS + 1);
    let case = "a blank author, 0 stars and a too-long comment";
    let error = create_directly(&state, MUG, new_review("   ", 0, &long_comment))
        .await
        .expect_err(case);
    assert_eq!(
        pointers(error, case),
        ["#/author", "#/rating", "#/comment"],
        "{case}: one FieldError per field, in order"
    );

    let too_long = "é".repeat(MAX_AUTHOR_CHARS + 1);
    let case = "an author of 41 characters and 6 stars";
    let error = create_directly(&state, MUG, new_review(&too_long, 6, "fine"))
        .await
        .expect_err(case);
    assert_eq!(pointers(error, case), ["#/author", "#/rating"], "{case}");

    for rating in [-1, 0, 6, 256, i64::MAX] {
        let case = format!("rating {rating} is not 1 to 5");
        let error = create_directly(&state, MUG, new_review("Ada", rating, ""))
            .await
            .expect_err(&case);
        assert_eq!(pointers(error, &case), ["#/rating"], "{case}");
    }
    let stored = list_directly(&state, MUG, ListQuery::default())
        .await
        .expect("the mug's reviews");
    assert!(
        stored.items.is_empty(),
        "nothing invalid was stored: {stored:?}"
    );
}

#[tokio::test]
async fn the_limits_are_inclusive_and_count_characters_not_bytes() {
    let state = shop();
    // "é" is 2 bytes: a byte count would call this author too long.
    let author = "é".repeat(MAX_AUTHOR_CHARS);
    let comment = "ü".repeat(MAX_COMMENT_CHARS);
    let review = create_directly(&state, MUG, new_review(&author, 1, &comment))
        .await
        .unwrap_or_else(|error| {
            panic!(
                "an author of exactly {MAX_AUTHOR_CHARS} characters and a comment of exactly \
                 {MAX_COMMENT_CHARS} are allowed; limits count chars, not bytes (é is 2 bytes): \
                 {error:?}"
            )
        });
    assert_eq!(
        (review.author, review.rating),
        (author, 1),
        "1 star is a valid rating"
    );

    let review = create_directly(&state, TEAPOT, new_review("Ada", 5, ""))
        .await
        .expect("5 stars is a valid rating");
    assert_eq!(review.rating, 5, "1 and 5 are both valid ratings");
}

#[tokio::test]
async fn create_checks_the_body_then_the_product() {
    let state = shop();
    let error = create_directly(&state, "MUG-BLUE", new_review("Ada", 4, ""))
        .await
        .expect_err("the shop does not sell MUG-BLUE");
    assert!(
        matches!(&error, ApiError::ProductNotFound(sku) if sku == "MUG-BLUE"),
        "the shop does not sell MUG-BLUE: {error:?}"
    );
    let case = "a blank author for a product the shop does not sell: the body is checked \
                before the store is asked";
    let error = create_directly(&state, "MUG-BLUE", new_review("", 4, ""))
        .await
        .expect_err(case);
    assert_eq!(pointers(error, case), ["#/author"], "{case}");
}

#[tokio::test]
async fn an_author_reviews_a_product_once() {
    let state = shop();
    let first = create_directly(&state, MUG, new_review("Ada", 4, ""))
        .await
        .expect("Ada's first review of the mug");

    let error = create_directly(&state, MUG, new_review(" Ada ", 1, "changed my mind"))
        .await
        .expect_err("a second review of the mug by Ada (trimmed) is a conflict");
    match error {
        ApiError::AlreadyReviewed {
            sku,
            author,
            existing,
        } => {
            assert_eq!(
                (sku.as_str(), author.as_str(), existing),
                (MUG, "Ada", first.id)
            );
        }
        other => panic!("a second review by Ada (trimmed) is a conflict, got {other:?}"),
    }
    create_directly(&state, TEAPOT, new_review("Ada", 4, ""))
        .await
        .expect("Ada may review another product");
    create_directly(&state, MUG, new_review("Grace", 4, ""))
        .await
        .expect("another author may review the mug");
}

#[tokio::test]
async fn list_checks_its_parameters_then_the_product() {
    let state = shop();
    let bad = [
        ListQuery {
            min_rating: Some(0),
            ..ListQuery::default()
        },
        ListQuery {
            min_rating: Some(6),
            ..ListQuery::default()
        },
        ListQuery {
            limit: Some(0),
            ..ListQuery::default()
        },
        ListQuery {
            limit: Some(101),
            ..ListQuery::default()
        },
    ];
    for query in bad {
        let result = list_directly(&state, "NO-SUCH-SKU", query).await;
        assert!(
            matches!(&result, Err(ApiError::BadRequest(message)) if !message.is_empty()),
            "{query:?} is out of range (checked before the product): {result:?}"
        );
    }
    let result = list_directly(&state, "NO-SUCH-SKU", ListQuery::default()).await;
    assert!(
        matches!(&result, Err(ApiError::ProductNotFound(sku)) if sku == "NO-SUCH-SKU"),
        "parameters in range, product unknown: {result:?}"
    );

    let edges = [
        ListQuery {
            min_rating: Some(1),
            limit: Some(1),
            offset: Some(0),
        },
        ListQuery {
            min_rating: Some(5),
            limit: Some(100),
            offset: Some(usize::MAX),
        },
    ];
    for query in edges {
        let result = list_directly(&state, MUG, query).await;
        assert!(
            result.is_ok(),
            "{query:?} is in range: min_rating 1 to 5 and limit 1 to 100, both ends included, \
             and any offset: {result:?}"
        );
    }
}

#[tokio::test]
async fn unknown_review_ids_are_not_found() {
    let state = shop();
    let id = Uuid::new_v4();
    let got = get_review(State(state.clone()), Api(Path(id))).await;
    assert!(
        matches!(got, Err(ApiError::ReviewNotFound(x)) if x == id),
        "GET: {:?}",
        got.map(|j| j.0)
    );

    let patch = ReviewPatch {
        rating: Some(3),
        comment: None,
    };
    let patched = update_review(State(state.clone()), Api(Path(id)), Api(Json(patch))).await;
    assert!(
        matches!(patched, Err(ApiError::ReviewNotFound(x)) if x == id),
        "PATCH: {:?}",
        patched.map(|j| j.0)
    );

    let deleted = delete_review(State(state), Api(Path(id))).await;
    assert!(
        matches!(deleted, Err(ApiError::ReviewNotFound(x)) if x == id),
        "DELETE: {deleted:?}"
    );
}

#[tokio::test]
async fn patch_checks_the_fields_it_sends_and_changes_nothing_when_one_is_wrong() {
    let state = shop();
    let created = create_directly(&state, MUG, new_review("Ada", 4, "good"))
        .await
        .expect("a valid review");

    let patch = ReviewPatch {
        rating: Some(9),
        comment: Some("y".repeat(MAX_COMMENT_CHARS + 1)),
    };
    let result = update_review(
        State(state.clone()),
        Api(Path(created.id)),
        Api(Json(patch)),
    )
    .await;
    assert_eq!(
        pointers(
            result
                .map(|j| j.0)
                .expect_err("9 stars and a too-long comment"),
            "9 stars and a too-long comment"
        ),
        ["#/rating", "#/comment"]
    );

    let patch = ReviewPatch {
        rating: Some(1),
        comment: Some("z".repeat(MAX_COMMENT_CHARS + 1)),
    };
    let result = update_review(
        State(state.clone()),
        Api(Path(created.id)),
        Api(Json(patch)),
    )
    .await;
    let case = "a valid rating with a too-long comment";
    assert_eq!(
        pointers(result.map(|j| j.0).expect_err(case), case),
        ["#/comment"],
        "{case}: only the broken field is reported"
    );

    let Json(unchanged) = get_review(State(state.clone()), Api(Path(created.id)))
        .await
        .expect("the review is still there");
    assert_eq!(
        unchanged, created,
        "a rejected patch changes nothing, not even its valid fields"
    );

    let Json(same) = update_review(
        State(state),
        Api(Path(created.id)),
        Api(Json(ReviewPatch::default())),
    )
    .await
    .expect("an empty patch is valid");
    assert_eq!(same, created, "an empty patch is valid and changes nothing");
}
