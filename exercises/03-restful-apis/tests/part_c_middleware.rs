//! Part (c): `RequestIdLayer`, a tower middleware for request ids and timing.
//!
//! Run with `cargo test -p exercise-03 part_c`. The first tests wrap a tiny
//! echo router in the layer and drive it with `oneshot`; the last ones start a real server on
//! a free port of 127.0.0.1 and talk to it with reqwest, the way a client would (the very last
//! one runs the whole app, so it needs parts (a) and (b) too).

use std::any::Any;
use std::collections::HashSet;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::Extension;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use exercise_03::{
    AppState, MAX_REQUEST_ID_LEN, RequestId, RequestIdLayer, Review, app, server_timing,
};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::{Layer, Service, ServiceExt};
use tower_http::catch_panic::CatchPanicLayer;
use uuid::Uuid;

/// What a handler saw: the id in the extension and the id in the request header.
async fn echo(Extension(id): Extension<RequestId>, headers: HeaderMap) -> Json<Value> {
    let header = headers.get("x-request-id").map(|value| {
        value
            .to_str()
            .expect("the layer sets an ASCII id")
            .to_owned()
    });
    Json(json!({ "extension": id.as_str(), "header": header }))
}

/// A handler that fails and reports a metric of its own.
async fn teapot() -> Response {
    (
        StatusCode::IM_A_TEAPOT,
        [("server-timing", "db;dur=2")],
        "short and stout",
    )
        .into_response()
}

/// A handler that answers with a problem document of its own, as part (b)'s errors do.
async fn conflict() -> Response {
    (
        StatusCode::CONFLICT,
        [("content-type", "application/problem+json")],
        r#"{"type":"about:blank","title":"Conflict","status":409,"detail":"taken"}"#,
    )
        .into_response()
}

/// A handler that takes a while, as one waiting for a database would.
async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_millis(50)).await;
    "done"
}

fn echo_app() -> Router {
    Router::new()
        .route("/echo", get(echo))
        .route("/teapot", get(teapot))
        .route("/conflict", get(conflict))
        .route("/slow", get(slow))
        .layer(RequestIdLayer)
}

async fn call(request_id: Option<HeaderValue>, uri: &str) -> Response {
    let mut request = Request::builder().uri(uri);
    if let Some(id) = request_id {
        request = request.header("x-request-id", id);
    }
    echo_app()
        .oneshot(
            request
                .body(Body::empty())
                .expect("the test builds a valid request"),
        )
        .await
        .expect("a Router never fails: its errors are responses")
}

fn response_id(response: &Response) -> String {
    response
        .headers()
        .get("x-request-id")
        .expect("every response carries an x-request-id")
        .to_str()
        .expect("an x-request-id is ASCII")
        .to_owned()
}

/// The id the response carries, after checking that the handler saw the same one.
async fn id_seen_everywhere(response: Response) -> String {
    let status = response.status();
    let id = response_id(&response);
    let bytes = to_bytes(response.into_body(), 1 << 16)
        .await
        .expect("the body fits in 64 KiB");
    assert_eq!(
        status,
        StatusCode::OK,
        "the echo handler takes Extension<RequestId>: the layer must put the id in the \
         request's extensions (the handler's answer: {})",
        String::from_utf8_lossy(&bytes)
    );
    let seen: Value = serde_json::from_slice(&bytes).expect("the echo handler answers JSON");
    assert_eq!(
        seen["extension"], id,
        "the handler's Extension<RequestId> is the response's id"
    );
    assert_eq!(
        seen["header"], id,
        "the request's x-request-id header is set to the final id too"
    );
    id
}

fn is_uuid(id: &str) -> bool {
    Uuid::parse_str(id).is_ok()
}

#[test]
fn parse_accepts_sensible_ids_and_nothing_else() {
    let longest = "a".repeat(MAX_REQUEST_ID_LEN);
    let good = [
        "req-42",
        "0b9c4f3e-7a5d-4c1e-9b1a-2f4d6e8a0c11",
        "A_b.C-9",
        "x",
        longest.as_str(),
    ];
    for id in good {
        let parsed = RequestId::parse(&HeaderValue::from_str(id).unwrap());
        assert_eq!(
            parsed.as_ref().map(RequestId::as_str),
            Some(id),
            "`{id}` is a sensible id"
        );
    }

    let too_long = "a".repeat(MAX_REQUEST_ID_LEN + 1);
    let bad = [
        "",
        too_long.as_str(),
        "has space",
        "semi;colon",
        "<script>",
        "quote\"",
        "tab\there",
        "a/b",
        "x=1",
    ];
    for id in bad {
        let value = HeaderValue::from_str(id).unwrap();
        assert_eq!(
            RequestId::parse(&value),
            None,
            "`{id}` is not a sensible id"
        );
    }
    let not_ascii = HeaderValue::from_bytes("café".as_bytes()).unwrap();
    assert_eq!(
        RequestId::parse(&not_ascii),
        None,
        "bytes outside ASCII are refused"
    );

    // Every byte a header value can hold, in the middle of an otherwise good id.
    for byte in 0..=u8::MAX {
        let Ok(value) = HeaderValue::from_bytes(&[b'a', byte, b'z']) else {
            continue;
        };
        let allowed = byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.');
        assert_eq!(
            RequestId::parse(&value).is_some(),
            allowed,
            "byte {byte:#04x} ({:?}): only ASCII letters, digits, `-`, `_` and `.` are allowed",
            char::from(byte)
        );
    }
}

#[test]
fn server_timing_is_in_milliseconds_with_three_decimals() {
    let table = [
        (Duration::from_micros(1_500), "app;dur=1.500"),
        (Duration::ZERO, "app;dur=0.000"),
        (Duration::from_secs(2), "app;dur=2000.000"),
        (Duration::from_micros(42), "app;dur=0.042"),
        (Duration::from_nanos(3_999_999), "app;dur=3.999"),
        (Duration::from_nanos(999), "app;dur=0.000"),
        (Duration::from_millis(1), "app;dur=1.000"),
        (Duration::from_micros(61_000_001), "app;dur=61000.001"),
    ];
    for (elapsed, expected) in table {
        assert_eq!(
            server_timing(elapsed),
            expected,
            "server_timing({elapsed:?})"
        );
    }
}

#[tokio::test]
async fn keeps_a_sensible_incoming_id() {
    let response = call(Some(HeaderValue::from_static("req-42")), "/echo").await;
    assert_eq!(id_seen_everywhere(response).await, "req-42");
}

#[tokio::test]
async fn generates_a_uuid_when_the_client_sends_none() {
    let first = id_seen_everywhere(call(None, "/echo").await).await;
    let second = id_seen_everywhere(call(None, "/echo").await).await;
    assert!(is_uuid(&first), "a generated id is a UUID: {first}");
    assert_ne!(first, second, "each request gets its own id");
}

#[tokio::test]
async fn replaces_an_absurd_incoming_id() {
    let absurd = [
        HeaderValue::from_str(&"9".repeat(10_000)).unwrap(),
        HeaderValue::from_static("forged\tINFO login ok user=admin"),
        HeaderValue::from_static(""),
        HeaderValue::from_bytes(b"\xffbinary").unwrap(),
    ];
    for value in absurd {
        let id = id_seen_everywhere(call(Some(value.clone()), "/echo").await).await;
        assert!(
            is_uuid(&id),
            "{value:?} is replaced by a fresh UUID, got {id}"
        );
    }
}

#[tokio::test]
async fn every_response_gets_the_headers_even_errors_and_unknown_paths() {
    for uri in ["/echo", "/teapot", "/conflict", "/no-such-path"] {
        let response = call(Some(HeaderValue::from_static("trace-7")), uri).await;
        assert_eq!(
            response
                .headers()
                .get("x-request-id")
                .and_then(|id| id.to_str().ok()),
            Some("trace-7"),
            "{uri}: the id is on every response, whatever the status or content type \
             (a problem document included)"
        );
        let timings: Vec<&str> = response
            .headers()
            .get_all("server-timing")
            .iter()
            .map(|value| value.to_str().unwrap_or("<not visible ASCII>"))
            .collect();
        let app_timing = timings
            .iter()
            .find_map(|timing| timing.strip_prefix("app;dur="))
            .unwrap_or_else(|| {
                panic!("{uri}: a server-timing `app;dur=...` value, got {timings:?}")
            });
        let (millis, micros) = app_timing
            .split_once('.')
            .unwrap_or_else(|| panic!("{uri}: milliseconds with a decimal point: {app_timing}"));
        assert!(
            millis.parse::<u64>().is_ok() && micros.len() == 3 && micros.parse::<u16>().is_ok(),
            "{uri}: dur is milliseconds with three decimals, got {app_timing}"
        );
    }
}

#[tokio::test]
async fn a_handlers_own_server_timing_survives() {
    let response = call(None, "/teapot").await;
    assert_eq!(
        response.status(),
        StatusCode::IM_A_TEAPOT,
        "the layer keeps the status"
    );
    let timings: Vec<&str> = response
        .headers()
        .get_all("server-timing")
        .iter()
        .map(|value| value.to_str().unwrap())
        .collect();
    assert!(
        timings.contains(&"db;dur=2") && timings.iter().any(|t| t.starts_with("app;dur=")),
        "append the app metric; do not overwrite the handler's db metric: {timings:?}"
    );
}

#[tokio::test]
async fn the_timing_covers_the_inner_services_work() {
    let response = call(None, "/slow").await;
    let millis = response
        .headers()
        .get_all("server-timing")
        .iter()
        .find_map(|value| {
            value
                .to_str()
                .ok()?
                .strip_prefix("app;dur=")?
                .parse::<f64>()
                .ok()
        })
        .expect("a server-timing `app;dur=...` value");
    // A lower bound only: the handler sleeps at least 50 ms, however busy the machine is.
    assert!(
        millis >= 50.0,
        "the clock stops when the inner service has answered, not when it was called: dur={millis}"
    );
}

/// A server on a free port of 127.0.0.1, stopped gracefully by [`TestServer::stop`].
struct TestServer {
    base_url: String,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

/// What the test server answers when the app panics: a 500 that says so, with the panic's
/// message, instead of a dropped connection that a client would report as a network error.
fn panic_response(payload: Box<dyn Any + Send + 'static>) -> Response<String> {
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic without a message".to_owned());
    let mut response = Response::new(message);
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
        .headers_mut()
        .insert(PANICKED, HeaderValue::from_static("true"));
    response
}

/// The header [`panic_response`] marks its responses with.
const PANICKED: &str = "x-test-app-panicked";

impl TestServer {
    async fn start(app: Router) -> TestServer {
        let app = app.layer(CatchPanicLayer::custom(panic_response));
        // Port 0: the OS picks a free port, so tests can run in parallel.
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port on 127.0.0.1");
        let base_url = format!(
            "http://{}",
            listener
                .local_addr()
                .expect("a bound listener has an address")
        );
        let (shutdown, stop) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    stop.await.ok();
                })
                .await
        });
        TestServer {
            base_url,
            shutdown,
            task,
        }
    }

    /// A client that talks to this server directly, even where `HTTP_PROXY` is set.
    fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("a client without TLS or proxy settings always builds")
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    async fn stop(self) {
        self.shutdown.send(()).expect("the server is still running");
        self.task
            .await
            .expect("the server task does not panic")
            .expect("the server shuts down cleanly");
    }
}

/// Sends `request` and returns the response; fails the test, saying why, when the app
/// panicked or the server did not answer.
async fn send(request: reqwest::RequestBuilder) -> reqwest::Response {
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => panic!("the server did not answer: {error}"),
    };
    if response.headers().contains_key(PANICKED) {
        let message = response.text().await.unwrap_or_default();
        panic!(
            "the app panicked while handling the request: {message}\n\
             Is a handler or the layer still a todo!()? (see book chapter 03, section \
             'Exercise')"
        );
    }
    response
}

/// The `x-request-id` of a response that went through the layer.
fn id_of(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-request-id")
        .and_then(|id| id.to_str().ok())
        .unwrap_or_else(|| {
            panic!(
                "{} {}: every response carries an ASCII x-request-id, got {:?}",
                response.status(),
                response.url(),
                response.headers().get("x-request-id")
            )
        })
        .to_owned()
}

#[tokio::test]
async fn over_a_socket_concurrent_requests_get_distinct_ids() {
    let server = TestServer::start(echo_app()).await;
    let client = server.client();

    // One request on its own first: if the layer panics, the test says so once.
    let first = send(client.get(server.url("/echo"))).await;
    assert_eq!(
        first.status(),
        StatusCode::OK,
        "GET /echo through the layer"
    );

    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (client, url) = (client.clone(), server.url("/echo"));
        requests.spawn(async move {
            let response = send(client.get(url)).await;
            let header = id_of(&response);
            let seen: Value = response
                .json()
                .await
                .expect("the echo handler answers JSON");
            assert_eq!(
                seen["extension"], header,
                "the handler saw the id the client got back"
            );
            header
        });
    }
    let ids: HashSet<String> = requests.join_all().await.into_iter().collect();
    assert_eq!(
        ids.len(),
        16,
        "16 concurrent requests, 16 different ids: {ids:?}"
    );

    let response = send(
        client
            .get(server.url("/echo"))
            .header("x-request-id", "from-the-gateway"),
    )
    .await;
    assert_eq!(
        id_of(&response),
        "from-the-gateway",
        "a sensible incoming id is kept"
    );
    assert!(
        response.headers().contains_key("server-timing"),
        "every response carries a server-timing header"
    );

    drop(client);
    server.stop().await;
}

/// Needs parts (a) and (b): the whole app, as a client sees it.
#[tokio::test]
async fn over_a_socket_the_whole_app_works() {
    let server = TestServer::start(app(AppState::new(["MUG-RED"]))).await;
    let client = server.client();

    let created = send(
        client
            .post(server.url("/products/MUG-RED/reviews"))
            .json(&json!({ "author": "Ada", "rating": 5, "comment": "Keeps tea hot." })),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED, "POST a review");
    id_of(&created);
    let location = created
        .headers()
        .get(header::LOCATION)
        .and_then(|location| location.to_str().ok())
        .expect("a 201 carries a Location")
        .to_owned();
    let review: Review = created.json().await.expect("the created review as JSON");

    let fetched = send(client.get(server.url(&location))).await;
    assert_eq!(fetched.status(), StatusCode::OK, "GET {location}");
    assert_eq!(
        fetched.json::<Review>().await.expect("a review as JSON"),
        review,
        "GET {location} returns the review just created"
    );

    let again = send(
        client
            .post(server.url("/products/MUG-RED/reviews"))
            .header("x-request-id", "retry-1")
            .json(&json!({ "author": "Ada", "rating": 1 })),
    )
    .await;
    assert_eq!(
        again.status(),
        StatusCode::CONFLICT,
        "a second review by Ada"
    );
    assert_eq!(
        id_of(&again),
        "retry-1",
        "errors carry the id too, problem documents included"
    );
    assert_eq!(
        again
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|content_type| content_type.to_str().ok()),
        Some("application/problem+json"),
        "an error reaches the client as a problem document"
    );

    let deleted = send(client.delete(server.url(&location))).await;
    assert_eq!(
        deleted.status(),
        StatusCode::NO_CONTENT,
        "DELETE {location}"
    );
    let gone = send(client.get(server.url(&location))).await;
    assert_eq!(
        gone.status(),
        StatusCode::NOT_FOUND,
        "GET {location} after DELETE"
    );

    drop(client);
    server.stop().await;
}

/// An inner service that refuses its first readiness check, as an overloaded dependency does
/// (a concurrency limit, a breaker that is open), and is ready after that.
#[derive(Default)]
struct BusyOnce {
    asked: bool,
}

impl Service<Request<Body>> for BusyOnce {
    type Response = Response;
    type Error = &'static str;
    type Future = std::future::Ready<Result<Response, &'static str>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if std::mem::replace(&mut self.asked, true) {
            Poll::Ready(Ok(()))
        } else {
            Poll::Ready(Err("busy"))
        }
    }

    fn call(&mut self, _: Request<Body>) -> Self::Future {
        std::future::ready(Ok(StatusCode::OK.into_response()))
    }
}

#[tokio::test]
async fn the_middleware_is_ready_exactly_when_the_inner_service_is() {
    let mut service = RequestIdLayer.layer(BusyOnce::default());
    assert_eq!(
        service.ready().await.err(),
        Some("busy"),
        "poll_ready must pass the inner service's answer on: a layer that says `ready` for a \
         busy service hides the backpressure"
    );
    let response = service
        .ready()
        .await
        .expect("the inner service is ready the second time")
        .call(Request::new(Body::empty()))
        .await
        .expect("the inner service answers");
    assert!(
        response.headers().contains_key("x-request-id"),
        "the response passed through the middleware gets its id"
    );
}
