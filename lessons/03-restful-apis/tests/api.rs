//! The whole application (routes and middleware) as a tower `Service`, called in-process with
//! `ServiceExt::oneshot`: no socket, no port, and every status code the API promises.
//!
//! `cargo test -p lesson-03 --test api`

use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::http::header::{ACCEPT_ENCODING, ALLOW, CONTENT_ENCODING, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use lesson_03::api::AppState;
use lesson_03::layer::{RequestStats, SERVER_TIMING};
use lesson_03::problem::types;
use lesson_03::product::Product;
use lesson_03::server::{self, ServerConfig, X_REQUEST_ID};
use lesson_03::store::Page;
use serde_json::{Value, json};
use shop_http::{Location, PROBLEM_JSON, Problem};
use tower::ServiceExt;

/// The application and one helper per kind of request.
struct TestApp {
    router: Router,
}

/// A response with its body read.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).expect("the body is the JSON expected")
    }

    /// Checks the problem+json contract and returns the document.
    fn problem(&self, status: StatusCode) -> Problem {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.headers[CONTENT_TYPE], PROBLEM_JSON);
        let problem: Problem = self.json();
        assert_eq!(
            problem.status,
            status.as_u16(),
            "status member = status code"
        );
        assert!(!problem.title.is_empty());
        problem
    }
}

// ANCHOR: test_app
impl TestApp {
    fn new() -> Self {
        Self::with_config(ServerConfig::default())
    }

    fn with_config(config: ServerConfig) -> Self {
        let router = server::app(AppState::default(), &config, RequestStats::default());
        Self { router }
    }

    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await;
        let response = response.expect("the router's error type is Infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = to_bytes(response.into_body(), usize::MAX).await;
        let body = body.expect("an in-memory body can be read");
        Reply {
            status,
            headers,
            body,
        }
    }

    // ANCHOR_END: test_app

    async fn get(&self, uri: &str) -> Reply {
        let request = Request::get(uri).body(Body::empty());
        self.send(request.expect("a valid request")).await
    }

    async fn json(&self, method: Method, uri: &str, body: Value) -> Reply {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .expect("a valid request");
        self.send(request).await
    }

    async fn create(&self, sku: &str, name: &str, stock: u32) -> Product {
        let reply = self
            .json(Method::POST, "/products", product_json(sku, name, stock))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED);
        reply.json()
    }
}

fn product_json(sku: &str, name: &str, stock: u32) -> Value {
    json!({
        "sku": sku,
        "name": name,
        "price": { "amount_minor": 1250, "currency": "EUR" },
        "stock": stock,
    })
}

#[tokio::test]
async fn create_answers_201_with_the_location_of_the_new_product() {
    let app = TestApp::new();
    let reply = app
        .json(
            Method::POST,
            "/products",
            product_json("mug-red-01", " Red mug ", 3),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let product: Product = reply.json();
    assert_eq!(product.sku.as_str(), "MUG-RED-01", "normalised");
    assert_eq!(product.name, "Red mug");
    let location = reply.headers[LOCATION].to_str().unwrap();
    assert_eq!(location, format!("/products/{}", product.id));

    let fetched = app.get(location).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.json::<Product>(), product);
}

#[tokio::test]
async fn put_replaces_patch_changes_delete_removes() {
    let app = TestApp::new();
    let mug = app.create("MUG-1", "Mug", 3).await;
    let path = format!("/products/{}", mug.id);

    let replaced = app
        .json(Method::PUT, &path, product_json("MUG-2", "Big mug", 9))
        .await;
    assert_eq!(replaced.status, StatusCode::OK);
    let replaced: Product = replaced.json();
    assert_eq!((replaced.id, replaced.sku.as_str()), (mug.id, "MUG-2"));

    let patch = Request::patch(&path)
        .header(CONTENT_TYPE, "application/merge-patch+json")
        .body(Body::from(r#"{"stock": 0}"#))
        .unwrap();
    let patched = app.send(patch).await;
    assert_eq!(patched.status, StatusCode::OK);
    let patched: Product = patched.json();
    assert_eq!((patched.stock, patched.name.as_str()), (0, "Big mug"));

    let delete = || Request::delete(&path).body(Body::empty()).unwrap();
    let deleted = app.send(delete()).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(deleted.body.is_empty());
    app.send(delete()).await.problem(StatusCode::NOT_FOUND);
    app.get(&path).await.problem(StatusCode::NOT_FOUND);
}

// ANCHOR: not_found_test
#[tokio::test]
async fn an_unknown_product_is_a_404_problem_naming_the_request() {
    let app = TestApp::new();
    let id = shop_domain::ProductId::generate();
    let path = format!("/products/{id}");
    let problem = app.get(&path).await.problem(StatusCode::NOT_FOUND);
    assert_eq!(problem.type_uri, "about:blank");
    assert_eq!(problem.title, "Not Found");
    assert_eq!(problem.instance.as_deref(), Some(path.as_str()));
    assert!(problem.detail.unwrap().contains(&id.to_string()));
    assert!(problem.extensions["request_id"].is_string());
}
// ANCHOR_END: not_found_test

#[tokio::test]
async fn a_duplicate_sku_is_a_409_pointing_at_the_owner() {
    let app = TestApp::new();
    let owner = app.create("CUP-1", "Cup", 1).await;
    let problem = app
        .json(Method::POST, "/products", product_json("cup-1", "Other", 1))
        .await
        .problem(StatusCode::CONFLICT);
    assert_eq!(problem.type_uri, types::DUPLICATE_SKU);
    assert_eq!(
        problem.extensions["existing"],
        format!("/products/{}", owner.id)
    );
}

#[tokio::test]
async fn invalid_fields_are_a_422_listing_every_one() {
    let app = TestApp::new();
    let body = json!({
        "sku": "no spaces",
        "name": "",
        "price": { "amount_minor": 100, "currency": "USD" },
        "stock": 1,
    });
    let problem = app
        .json(Method::POST, "/products", body)
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem.type_uri, types::INVALID_FIELDS);
    let places: Vec<&Location> = problem.errors.iter().map(|error| &error.location).collect();
    assert_eq!(
        places,
        [
            &Location::Pointer("#/sku".into()),
            &Location::Pointer("#/name".into()),
            &Location::Pointer("#/price/currency".into())
        ]
    );
}

#[tokio::test]
async fn json_of_the_wrong_shape_is_a_422_and_broken_json_a_400() {
    let app = TestApp::new();
    let wrong_shape = app
        .json(
            Method::POST,
            "/products",
            json!({ "sku": "CUP-1", "stock": -1 }),
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong_shape.type_uri, "about:blank");

    let broken = Request::post("/products")
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"sku": "CUP-1","#))
        .unwrap();
    let problem = app.send(broken).await.problem(StatusCode::BAD_REQUEST);
    assert!(problem.detail.unwrap().contains("EOF"));

    let unknown_field = app
        .json(
            Method::PATCH,
            "/products/0191e8a4-7b3c-7def-8123-456789abcdef",
            json!({ "stok": 1 }),
        )
        .await;
    unknown_field.problem(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_415() {
    let app = TestApp::new();
    let request = Request::post("/products")
        .header(CONTENT_TYPE, "text/plain")
        .body(Body::from("sku=CUP-1"))
        .unwrap();
    app.send(request)
        .await
        .problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_problem_whether_or_not_its_length_is_announced() {
    let app = TestApp::with_config(ServerConfig {
        body_limit: 1024,
        ..ServerConfig::default()
    });
    let big = format!(r#"{{"name": "{}"}}"#, "x".repeat(2048));
    // With content-length: the body-limit layer refuses before the handler runs.
    let announced = Request::post("/products")
        .header(CONTENT_TYPE, "application/json")
        .header("content-length", big.len())
        .body(Body::from(big.clone()))
        .unwrap();
    app.send(announced)
        .await
        .problem(StatusCode::PAYLOAD_TOO_LARGE);
    // Streamed without a length: the JSON extractor hits the limit while reading.
    let streamed = Request::post("/products")
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from_stream(chunked(big.into_bytes())))
        .unwrap();
    app.send(streamed)
        .await
        .problem(StatusCode::PAYLOAD_TOO_LARGE);
}

/// A body stream of 256-byte chunks, with no length known in advance.
fn chunked(bytes: Vec<u8>) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    let chunks: Vec<_> = bytes.chunks(256).map(|chunk| Ok(chunk.to_vec())).collect();
    futures::stream::iter(chunks)
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems_too() {
    let app = TestApp::new();
    let problem = app.get("/produce").await.problem(StatusCode::NOT_FOUND);
    assert_eq!(problem.detail.as_deref(), Some("no route for GET /produce"));

    let reply = app
        .send(Request::delete("/products").body(Body::empty()).unwrap())
        .await;
    assert_eq!(reply.headers[ALLOW], "GET,HEAD,POST");
    reply.problem(StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn pages_and_filters_come_from_the_query_string() {
    let app = TestApp::new();
    let mug = app.create("MUG-1", "Red mug", 0).await;
    let cup = app.create("CUP-1", "Cup", 5).await;
    let blue = app.create("MUG-2", "Blue mug", 5).await;

    let first: Page = app.get("/products?limit=2").await.json();
    assert_eq!(first.items, [mug, cup.clone()]);
    let rest: Page = app
        .get(&format!("/products?limit=2&after={}", cup.id))
        .await
        .json();
    assert_eq!((rest.items, rest.next_after), (vec![blue.clone()], None));

    let filtered: Page = app.get("/products?q=MUG&in_stock=true").await.json();
    assert_eq!(filtered.items, [blue]);

    let problem = app
        .get("/products?limit=0&after=x")
        .await
        .problem(StatusCode::BAD_REQUEST);
    assert_eq!(problem.type_uri, types::INVALID_QUERY);
    assert_eq!(problem.errors.len(), 2);
    app.get("/products?in_stock=maybe")
        .await
        .problem(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_request_id_is_made_up_or_echoed() {
    let app = TestApp::new();
    let made_up = app.get("/products").await;
    let id = made_up.headers[X_REQUEST_ID].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    assert!(made_up.headers.contains_key(SERVER_TIMING));

    let request = Request::get("/products")
        .header(X_REQUEST_ID, "checkout-7f3a")
        .body(Body::empty())
        .unwrap();
    let echoed = app.send(request).await;
    assert_eq!(echoed.headers[X_REQUEST_ID], "checkout-7f3a");
}

#[tokio::test]
async fn responses_are_gzipped_only_for_clients_that_ask() {
    let app = TestApp::new();
    for n in 0..20 {
        app.create(&format!("SKU-{n}"), "A product with a longish name", 1)
            .await;
    }
    let plain = app.get("/products?limit=100").await;
    assert_eq!(plain.headers.get(CONTENT_ENCODING), None);

    let request = Request::get("/products?limit=100")
        .header(ACCEPT_ENCODING, "gzip")
        .body(Body::empty())
        .unwrap();
    let gzipped = app.send(request).await;
    assert_eq!(gzipped.headers[CONTENT_ENCODING], "gzip");
    assert_eq!(&gzipped.body[..2], [0x1f, 0x8b], "gzip magic number");
    assert!(gzipped.body.len() < plain.body.len() / 2);
}

// ANCHOR: timeout_test
/// On tokio's paused clock the two-second timeout passes instantly and always the same way.
#[tokio::test(start_paused = true)]
async fn a_request_past_the_timeout_is_a_503_problem() {
    let app = TestApp::new();
    let reply = app.get("/slow?delay_ms=5000").await;
    let problem = reply.problem(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(problem.instance.as_deref(), Some("/slow"));

    let in_time = app.get("/slow?delay_ms=1000").await;
    assert_eq!(in_time.status, StatusCode::OK);
    app.get("/slow?delay_ms=60000")
        .await
        .problem(StatusCode::BAD_REQUEST);
}
// ANCHOR_END: timeout_test
