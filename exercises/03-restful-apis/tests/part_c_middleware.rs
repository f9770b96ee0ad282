//! Part (c): `RequestIdLayer`, a tower middleware for request ids and timing.
//!
//! Run with `cargo test -p exercise-03 --test part_c_middleware`. The first tests wrap a tiny
//! echo router in the layer and drive it with `oneshot`; the last ones start a real server on
//! a free port of 127.0.0.1 and talk to it with reqwest, the way a client would (the very last
//! one runs the whole app, so it needs parts (a) and (b) too).

use std::collections::HashSet;
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
use tower::ServiceExt;
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

/// A handler that takes a while, as one waiting for a database would.
async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_millis(50)).await;
    "done"
}

fn echo_app() -> Router {
    Router::new()
        .route("/echo", get(echo))
        .route("/teapot", get(teapot))
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
    assert_eq!(response.status(), StatusCode::OK);
    let id = response_id(&response);
    let bytes = to_bytes(response.into_body(), 1 << 16)
        .await
        .expect("the body fits in 64 KiB");
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
}

#[test]
fn server_timing_is_in_milliseconds_with_three_decimals() {
    let table = [
        (Duration::from_micros(1_500), "app;dur=1.500"),
        (Duration::ZERO, "app;dur=0.000"),
        (Duration::from_secs(2), "app;dur=2000.000"),
        (Duration::from_micros(42), "app;dur=0.042"),
        (Duration::from_nanos(3_999_999), "app;dur=3.999"),
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
    for uri in ["/echo", "/teapot", "/no-such-path"] {
        let response = call(Some(HeaderValue::from_static("trace-7")), uri).await;
        assert_eq!(
            response_id(&response),
            "trace-7",
            "{uri}: the id is on every response"
        );
        let timings: Vec<&str> = response
            .headers()
            .get_all("server-timing")
            .iter()
            .map(|value| value.to_str().unwrap())
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

impl TestServer {
    async fn start(app: Router) -> TestServer {
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

#[tokio::test]
async fn over_a_socket_concurrent_requests_get_distinct_ids() {
    let server = TestServer::start(echo_app()).await;
    let client = server.client();

    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (client, url) = (client.clone(), server.url("/echo"));
        requests.spawn(async move {
            let response = client.get(url).send().await.expect("the server answers");
            let header = response.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_owned();
            let seen: Value = response.json().await.unwrap();
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

    let response = client
        .get(server.url("/echo"))
        .header("x-request-id", "from-the-gateway")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "from-the-gateway");
    assert!(response.headers().contains_key("server-timing"));

    drop(client);
    server.stop().await;
}

/// Needs parts (a) and (b): the whole app, as a client sees it.
#[tokio::test]
async fn over_a_socket_the_whole_app_works() {
    let server = TestServer::start(app(AppState::new(["MUG-RED"]))).await;
    let client = server.client();

    let created = client
        .post(server.url("/products/MUG-RED/reviews"))
        .json(&json!({ "author": "Ada", "rating": 5, "comment": "Keeps tea hot." }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    assert!(created.headers().contains_key("x-request-id"));
    let location = created.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let review: Review = created.json().await.unwrap();

    let fetched = client.get(server.url(&location)).send().await.unwrap();
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(fetched.json::<Review>().await.unwrap(), review);

    let again = client
        .post(server.url("/products/MUG-RED/reviews"))
        .header("x-request-id", "retry-1")
        .json(&json!({ "author": "Ada", "rating": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(
        again.headers()["x-request-id"],
        "retry-1",
        "errors carry the id too"
    );
    assert_eq!(
        again.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );

    let deleted = client.delete(server.url(&location)).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = client.get(server.url(&location)).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);

    drop(client);
    server.stop().await;
}
