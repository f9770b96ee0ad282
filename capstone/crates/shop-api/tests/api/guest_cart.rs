//! Guest carts over HTTP (chapter 09): a visitor fills a cart in Redis, signs in, and finds the
//! lines in the account's cart; the cart rules are the signed-in cart's; without Redis the
//! guest cart is unavailable and signing in still works.

use std::time::Duration;

use redis::AsyncCommands;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::caching::with_redis;
use crate::helpers::{PASSWORD, TestApp};
use crate::{PROBLEM_JSON, parts};

async fn new_cart(app: &TestApp) -> String {
    let (status, _, body) = parts(app.post_json("/guest-cart", &json!({}), None).await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["cart_id"].as_str().expect("a cart id").to_owned();
    assert_eq!(id.len(), 43, "{id}");
    id
}

async fn put(app: &TestApp, cart: &str, product: &str, quantity: Value) -> (StatusCode, Value) {
    let request = app
        .request(Method::PUT, &format!("/guest-cart/items/{product}"), None)
        .header("guest-cart", cart)
        .json(&json!({ "quantity": quantity }));
    let (status, _, body) = parts(app.send(request).await).await;
    (status, body)
}

async fn guest_cart(app: &TestApp, cart: &str) -> Value {
    let request = app
        .request(Method::GET, "/guest-cart", None)
        .header("guest-cart", cart);
    let (status, _, body) = parts(app.send(request).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// `(product id, quantity)` of every line, sorted by product id.
fn lines(cart: &Value) -> Vec<(String, i64)> {
    let mut lines: Vec<(String, i64)> = cart["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|line| {
            let id = line["product_id"].as_str().expect("an id").to_owned();
            (id, line["quantity"].as_i64().expect("a quantity"))
        })
        .collect();
    lines.sort();
    lines
}

async fn sign_in_with(app: &TestApp, email: &str, cart: &str) -> String {
    let body = json!({ "email": email, "password": PASSWORD, "guest_cart": cart });
    let (status, _, tokens) = parts(app.post_json("/auth/login", &body, None).await).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens["access_token"].as_str().expect("a token").to_owned()
}

#[tokio::test]
async fn needs_redis_needs_postgres_a_guest_cart_is_merged_into_the_account_once_at_sign_in() {
    let redis = testkit::redis().await;
    let app = TestApp::spawn_with(with_redis(&redis)).await;
    let f = app.fixtures();
    let (headphones, speaker) = (f.headphones.to_string(), f.speaker.to_string());
    let account = app.signed_up("guest@example.test").await;
    // The account already holds one pair of headphones.
    let request = app
        .request(
            Method::PUT,
            &format!("/cart/items/{headphones}"),
            Some(&account.access),
        )
        .json(&json!({ "quantity": 1 }));
    assert_eq!(app.send(request).await.status(), StatusCode::OK);

    // As a guest: two headphones and a speaker, priced by the catalog.
    let cart = new_cart(&app).await;
    assert_eq!(
        put(&app, &cart, &headphones, json!(2)).await.0,
        StatusCode::OK
    );
    let (status, body) = put(&app, &cart, &speaker, json!(1)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["subtotal"],
        json!({ "amount_minor": 2 * 4_999 + 12_900, "currency": "EUR" })
    );
    assert_eq!(body["item_count"], 3);
    assert_eq!(guest_cart(&app, &cart).await, body);

    // The cart lives in Redis with an expiry, renewed by each write: never without one.
    let ttl: i64 = redis
        .connection()
        .pttl(redis.key(&format!("cart:guest:{cart}")))
        .await
        .expect("Redis answers");
    assert!(ttl > 0 && ttl <= 7 * 86_400_000, "{ttl}");

    // Signing in moves the lines: quantities add up, and the guest cart is gone.
    let access = sign_in_with(&app, &account.email, &cart).await;
    let (status, _, merged) = parts(app.get_as("/cart", &access).await).await;
    assert_eq!(status, StatusCode::OK, "{merged}");
    let mut expected = vec![(headphones.clone(), 3), (speaker.clone(), 1)];
    expected.sort();
    assert_eq!(lines(&merged), expected);
    assert_eq!(lines(&guest_cart(&app, &cart).await), vec![]);

    // The same id a second time (a replayed sign-in) adds nothing.
    let access = sign_in_with(&app, &account.email, &cart).await;
    let (_, _, again) = parts(app.get_as("/cart", &access).await).await;
    assert_eq!(lines(&again), expected);
}

#[tokio::test]
async fn needs_redis_needs_postgres_a_guest_cart_keeps_the_signed_in_cart_s_rules() {
    let redis = testkit::redis().await;
    let app = TestApp::spawn_with(with_redis(&redis)).await;
    let f = app.fixtures();
    let cart = new_cart(&app).await;

    // Unknown and archived products, impossible quantities.
    let unknown = "00000000-0000-4000-8000-000000000000";
    assert_eq!(
        put(&app, &cart, unknown, json!(1)).await.0,
        StatusCode::NOT_FOUND
    );
    for quantity in [json!(0), json!(100), json!(-1)] {
        let (status, problem) = put(&app, &cart, &f.hose.to_string(), quantity).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    }
    let (_, admin) = app.token_for(shop_domain::Role::Admin).await;
    let archived = app.archive_product(&f.hose.to_string(), Some(&admin)).await;
    assert_eq!(archived.status(), StatusCode::NO_CONTENT);
    let (status, _) = put(&app, &cart, &f.hose.to_string(), json!(1)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // One currency per cart.
    sqlx::query("UPDATE products SET currency = 'USD' WHERE id = $1")
        .bind(f.speaker.as_uuid())
        .execute(app.pool())
        .await
        .expect("the speaker is priced in dollars");
    assert_eq!(
        put(&app, &cart, &f.headphones.to_string(), json!(1))
            .await
            .0,
        StatusCode::OK
    );
    let (status, problem) = put(&app, &cart, &f.speaker.to_string(), json!(1)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("USD")),
        "{problem}"
    );

    // Setting a quantity twice is setting it once; removing twice is a 404 the second time.
    assert_eq!(
        put(&app, &cart, &f.headphones.to_string(), json!(4))
            .await
            .0,
        StatusCode::OK
    );
    let (_, body) = put(&app, &cart, &f.headphones.to_string(), json!(4)).await;
    assert_eq!(lines(&body), vec![(f.headphones.to_string(), 4)]);
    let delete = || {
        app.request(
            Method::DELETE,
            &format!("/guest-cart/items/{}", f.headphones),
            None,
        )
        .header("guest-cart", &cart)
    };
    assert_eq!(app.send(delete()).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.send(delete()).await.status(), StatusCode::NOT_FOUND);

    // The cart is named by a well-formed header, or the request is refused before Redis.
    let bad_alphabet = format!("{}!", "a".repeat(42));
    let traversal = format!("{:a<43}", "../../etc/passwd");
    for header in [
        None,
        Some(&"short".to_owned()),
        Some(&bad_alphabet),
        Some(&traversal),
    ] {
        let mut request = app.request(Method::GET, "/guest-cart", None);
        if let Some(value) = header {
            request = request.header("guest-cart", value.as_str());
        }
        let (status, content_type, problem) = parts(app.send(request).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{header:?}: {problem}");
        assert_eq!(content_type, PROBLEM_JSON);
    }
}

#[tokio::test]
async fn needs_postgres_without_redis_a_guest_cart_is_unavailable_and_sign_in_still_works() {
    // The test configuration has no Redis at all.
    let app = TestApp::spawn().await;
    let (status, _, problem) = parts(app.post_json("/guest-cart", &json!({}), None).await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
    let account = app.signed_up("no-redis@example.test").await;
    sign_in_with(&app, &account.email, &"a".repeat(43)).await;
    // A malformed id is ignored too: the sign-in has succeeded either way.
    sign_in_with(&app, &account.email, "not a cart").await;
}

#[tokio::test]
async fn needs_postgres_with_redis_unreachable_guest_carts_answer_503_with_retry_after() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = closed.local_addr().expect("an address").port();
    drop(closed);
    let app = TestApp::spawn_with(move |config| {
        config.cache.redis_url = Some(format!("redis://127.0.0.1:{port}").into());
    })
    .await;
    let f = app.fixtures();
    let cart = new_cart(&app).await;
    let request = app
        .request(
            Method::PUT,
            &format!("/guest-cart/items/{}", f.speaker),
            None,
        )
        .header("guest-cart", &cart)
        .json(&json!({ "quantity": 1 }));
    let response = app.send(request).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let account = app.signed_up("redis-down@example.test").await;
    tokio::time::timeout(
        Duration::from_secs(10),
        sign_in_with(&app, &account.email, &cart),
    )
    .await
    .expect("sign-in does not wait on a Redis that is down");
}
