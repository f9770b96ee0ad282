//! Part (b): the RED metrics middleware and its Prometheus exposition.
//!
//! Run with `cargo test -p exercise-07 part_b`. The middleware wraps a `tower::service_fn`
//! handler and is driven with `ServiceExt::oneshot`, no server. The tests run on a paused
//! tokio clock (`start_paused = true`): a handler that sleeps 30 ms takes exactly 30 ms, so
//! every duration, and every bucket it lands in, is known.

use std::convert::Infallible;
use std::time::Duration;

use exercise_07::{
    DURATION_BUCKETS, FAMILIES, Histogram, MatchedRoute, RedLayer, RedMetrics, UNMATCHED,
};
use http::{Method, Request, Response, StatusCode};
use tower::{Layer, Service, ServiceExt, service_fn};

const MS: Duration = Duration::from_millis(1);

/// The handler behind the middleware: its path says how long it takes and what it answers.
async fn handler(request: Request<()>) -> Result<Response<String>, Infallible> {
    let (wait, status) = match request.uri().path() {
        "/slow" => (100 * MS, StatusCode::OK),
        "/thirty" => (30 * MS, StatusCode::OK),
        "/fifty" => (50 * MS, StatusCode::OK),
        "/seconds" => (7000 * MS, StatusCode::OK),
        "/broken" => (2 * MS, StatusCode::SERVICE_UNAVAILABLE),
        "/missing" => (Duration::ZERO, StatusCode::NOT_FOUND),
        _ => (Duration::ZERO, StatusCode::OK),
    };
    tokio::time::sleep(wait).await;
    let body = format!("answered {}", request.uri().path());
    Ok(Response::builder()
        .status(status)
        .header("x-handler", "yes")
        .body(body)
        .expect("the handler's response is well formed"))
}

fn request(method: Method, path: &str, route: Option<&'static str>) -> Request<()> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(route) = route {
        builder = builder.extension(MatchedRoute(route));
    }
    builder.body(()).expect("the test's request is well formed")
}

fn get(path: &str, route: &'static str) -> Request<()> {
    request(Method::GET, path, Some(route))
}

/// Sends one request through a fresh middleware around `handler`, returning the response.
async fn send(metrics: &RedMetrics, request: Request<()>) -> Response<String> {
    RedLayer::new(metrics.clone())
        .layer(service_fn(handler))
        .oneshot(request)
        .await
        .unwrap()
}

// ---- the histogram ----

#[test]
fn a_value_is_counted_in_its_own_bucket_only() {
    let mut histogram = Histogram::new(&DURATION_BUCKETS);
    histogram.observe(0.03);
    let mut expected = vec![0; 11];
    expected[3] = 1; // (0.025, 0.05]
    assert_eq!(
        histogram.counts, expected,
        "0.03 is in the 0.05 bucket alone"
    );
    assert_eq!(histogram.sum, 0.03);

    histogram.observe(0.05);
    expected[3] = 2;
    assert_eq!(
        histogram.counts, expected,
        "a value equal to a bound is in that bound's bucket (le: less or equal)"
    );
    histogram.observe(0.0);
    expected[0] = 1;
    histogram.observe(0.005);
    expected[0] = 2;
    histogram.observe(5.0);
    expected[9] = 1;
    histogram.observe(5.001);
    expected[10] = 1;
    histogram.observe(120.0);
    expected[10] = 2;
    assert_eq!(histogram.counts, expected);
    assert_eq!(histogram.count(), 7);
    assert!((histogram.sum - 130.086).abs() < 1e-9, "{}", histogram.sum);
}

#[test]
fn every_bound_has_its_own_bucket() {
    for (i, &bound) in DURATION_BUCKETS.iter().enumerate() {
        let mut histogram = Histogram::new(&DURATION_BUCKETS);
        histogram.observe(bound);
        histogram.observe(bound * 0.999);
        let mut expected = vec![0; 11];
        expected[i] = 2;
        assert_eq!(histogram.counts, expected, "at and just under {bound}");
        histogram.observe(bound * 1.001);
        expected[i + 1] = 1;
        assert_eq!(histogram.counts, expected, "just over {bound}");
    }
}

#[test]
fn a_histogram_with_other_bounds_uses_them() {
    let mut histogram = Histogram::new(&[1.0, 2.0]);
    for value in [0.5, 1.0, 1.5, 2.0, 2.5, 99.0] {
        histogram.observe(value);
    }
    assert_eq!(histogram.counts, [2, 2, 2]);
    assert_eq!(histogram.sum, 106.5);
}

// ---- the middleware ----

#[tokio::test(start_paused = true)]
async fn the_response_passes_through_unchanged() {
    let metrics = RedMetrics::new();
    let response = send(&metrics, get("/products/7", "/products/{id}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-handler"], "yes");
    assert_eq!(response.body(), "answered /products/7");
}

#[tokio::test(start_paused = true)]
async fn requests_are_counted_by_method_route_template_and_status() {
    let metrics = RedMetrics::new();
    send(&metrics, get("/products/1", "/products/{id}")).await;
    send(&metrics, get("/products/2", "/products/{id}")).await;
    send(
        &metrics,
        request(Method::POST, "/products/2", Some("/products/{id}")),
    )
    .await;
    send(&metrics, get("/missing", "/missing")).await;

    assert_eq!(metrics.requests_total("GET", "/products/{id}", 200), 2);
    assert_eq!(metrics.requests_total("POST", "/products/{id}", 200), 1);
    assert_eq!(metrics.requests_total("GET", "/missing", 404), 1);
    assert_eq!(metrics.requests_total("GET", "/products/{id}", 404), 0);
    let data = metrics.lock();
    assert_eq!(
        data.requests.len(),
        3,
        "one series per (method, route, status) seen: {:?}",
        data.requests
    );
    assert_eq!(
        data.durations.len(),
        3,
        "one histogram per (method, route) seen: {:?}",
        data.durations.keys()
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_no_route_matched_is_unmatched() {
    let metrics = RedMetrics::new();
    send(&metrics, request(Method::GET, "/products/1", None)).await;
    send(&metrics, request(Method::GET, "/no/such/page", None)).await;
    assert_eq!(metrics.requests_total("GET", UNMATCHED, 200), 2);
    assert_eq!(metrics.requests_total("GET", "/products/1", 200), 0);
    assert_eq!(metrics.duration("GET", UNMATCHED).unwrap().count(), 2);
}

#[tokio::test(start_paused = true)]
async fn an_unknown_method_is_other() {
    let metrics = RedMetrics::new();
    let purge = Method::from_bytes(b"PURGE").unwrap();
    send(&metrics, request(purge, "/cache", Some("/cache"))).await;
    assert_eq!(metrics.requests_total("other", "/cache", 200), 1);
    assert!(metrics.duration("other", "/cache").is_some());
}

#[tokio::test(start_paused = true)]
async fn a_5xx_is_counted_under_its_status() {
    let metrics = RedMetrics::new();
    let response = send(&metrics, get("/broken", "/broken")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(metrics.requests_total("GET", "/broken", 503), 1);
    assert_eq!(metrics.requests_total("GET", "/broken", 200), 0);
    assert_eq!(metrics.duration("GET", "/broken").unwrap().count(), 1);
}

#[tokio::test(start_paused = true)]
async fn durations_are_measured_on_the_clock_and_land_in_their_buckets() {
    let metrics = RedMetrics::new();
    send(&metrics, get("/thirty", "/thirty")).await;
    let histogram = metrics.duration("GET", "/thirty").expect("recorded");
    assert_eq!(histogram.bounds(), &DURATION_BUCKETS[..]);
    assert_eq!(
        histogram.counts,
        [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
        "30 ms is over 0.025 and at most 0.05"
    );
    assert_eq!(histogram.sum, 0.03);

    send(&metrics, get("/thirty", "/thirty")).await;
    send(&metrics, get("/fast", "/thirty")).await;
    let histogram = metrics.duration("GET", "/thirty").expect("recorded");
    assert_eq!(histogram.counts, [1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
    assert!((histogram.sum - 0.06).abs() < 1e-12, "{}", histogram.sum);
}

#[tokio::test(start_paused = true)]
async fn a_duration_on_a_bound_is_in_that_bucket_and_a_long_one_only_in_inf() {
    let metrics = RedMetrics::new();
    send(&metrics, get("/fifty", "/fifty")).await;
    send(&metrics, get("/seconds", "/seconds")).await;
    assert_eq!(
        metrics.duration("GET", "/fifty").unwrap().counts,
        [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    );
    let long = metrics.duration("GET", "/seconds").unwrap();
    assert_eq!(long.counts, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(long.sum, 7.0);
}

#[tokio::test(start_paused = true)]
async fn in_flight_counts_the_requests_not_yet_answered() {
    let metrics = RedMetrics::new();
    let service = RedLayer::new(metrics.clone()).layer(service_fn(handler));
    assert_eq!(metrics.in_flight(), 0);

    let first = tokio::spawn(service.clone().oneshot(get("/slow", "/slow")));
    tokio::time::sleep(10 * MS).await;
    assert_eq!(metrics.in_flight(), 1, "one slow request under way");
    let second = tokio::spawn(service.clone().oneshot(get("/slow", "/slow")));
    tokio::time::sleep(10 * MS).await;
    assert_eq!(metrics.in_flight(), 2, "two under way");
    assert_eq!(
        metrics.requests_total("GET", "/slow", 200),
        0,
        "nothing is answered yet"
    );

    first.await.unwrap().unwrap();
    assert_eq!(metrics.in_flight(), 1, "the first is answered");
    second.await.unwrap().unwrap();
    assert_eq!(metrics.in_flight(), 0);
    assert_eq!(metrics.requests_total("GET", "/slow", 200), 2);
    let histogram = metrics.duration("GET", "/slow").unwrap();
    assert_eq!(
        histogram.counts,
        [0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0],
        "each took 100 ms, from its own start"
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_request_leaves_in_flight_and_is_not_counted() {
    let metrics = RedMetrics::new();
    let service = RedLayer::new(metrics.clone()).layer(service_fn(handler));

    // The client gives up after 10 ms: the response future is dropped unfinished.
    let gave_up = tokio::time::timeout(10 * MS, service.clone().oneshot(get("/slow", "/slow")));
    assert!(gave_up.await.is_err(), "the request is slower than 10 ms");
    assert_eq!(
        metrics.in_flight(),
        0,
        "a cancelled request is no longer in flight"
    );
    assert_eq!(
        metrics.requests_total("GET", "/slow", 200),
        0,
        "it has no status"
    );
    assert!(metrics.duration("GET", "/slow").is_none(), "nor a duration");

    // The next requests are counted as usual.
    service
        .clone()
        .oneshot(get("/slow", "/slow"))
        .await
        .unwrap();
    assert_eq!(metrics.in_flight(), 0);
    assert_eq!(metrics.requests_total("GET", "/slow", 200), 1);
}

#[tokio::test(start_paused = true)]
async fn a_response_future_dropped_before_its_first_poll_leaves_in_flight() {
    let metrics = RedMetrics::new();
    let mut service = RedLayer::new(metrics.clone()).layer(service_fn(handler));
    service.ready().await.unwrap();
    let future = service.call(get("/slow", "/slow"));
    assert_eq!(
        metrics.in_flight(),
        1,
        "a request is in flight from `call` on"
    );
    drop(future);
    assert_eq!(metrics.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn readiness_is_the_inner_services() {
    // A concurrency limit is ready only while it has a permit, and its `call` panics
    // if it was not asked first: the middleware must pass `poll_ready` through.
    let metrics = RedMetrics::new();
    let limited = tower::limit::ConcurrencyLimit::new(service_fn(handler), 1);
    let mut service = RedLayer::new(metrics.clone()).layer(limited);
    let response = service
        .ready()
        .await
        .unwrap()
        .call(get("/fast", "/fast"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(metrics.requests_total("GET", "/fast", 200), 1);
}

// ---- the exposition ----

fn help_and_type() -> Vec<String> {
    FAMILIES
        .iter()
        .map(|(name, kind, help)| format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"))
        .collect()
}

#[test]
fn nothing_recorded_renders_the_three_families_and_a_zero_gauge() {
    let metrics = RedMetrics::new();
    let [requests, durations, in_flight] = <[String; 3]>::try_from(help_and_type()).unwrap();
    assert_eq!(
        metrics.render(),
        format!("{requests}{durations}{in_flight}http_server_requests_in_flight 0\n")
    );
}

#[tokio::test(start_paused = true)]
async fn one_request_renders_exactly() {
    let metrics = RedMetrics::new();
    send(&metrics, get("/thirty", "/products/{id}")).await;
    let [requests, durations, in_flight] = <[String; 3]>::try_from(help_and_type()).unwrap();
    let bucket = |le: &str, n: u64| {
        format!(
            "http_server_request_duration_seconds_bucket{{method=\"GET\",route=\"/products/{{id}}\",le=\"{le}\"}} {n}\n"
        )
    };
    let expected = [
        requests,
        "http_server_requests_total{method=\"GET\",route=\"/products/{id}\",status=\"200\"} 1\n"
            .to_owned(),
        durations,
        bucket("0.005", 0),
        bucket("0.01", 0),
        bucket("0.025", 0),
        bucket("0.05", 1),
        bucket("0.1", 1),
        bucket("0.25", 1),
        bucket("0.5", 1),
        bucket("1", 1),
        bucket("2.5", 1),
        bucket("5", 1),
        bucket("+Inf", 1),
        "http_server_request_duration_seconds_sum{method=\"GET\",route=\"/products/{id}\"} 0.03\n"
            .to_owned(),
        "http_server_request_duration_seconds_count{method=\"GET\",route=\"/products/{id}\"} 1\n"
            .to_owned(),
        in_flight,
        "http_server_requests_in_flight 0\n".to_owned(),
    ]
    .concat();
    assert_eq!(metrics.render(), expected);
}

/// The lines of `text` for series of `name` (a bucket, sum or count line, or a counter).
fn series<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|line| {
            line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} "))
        })
        .collect()
}

fn value(line: &str) -> f64 {
    line.rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a series line ends with a number: {line}"))
}

#[tokio::test(start_paused = true)]
async fn buckets_are_cumulative_and_inf_is_the_count() {
    let metrics = RedMetrics::new();
    for path in ["/fast", "/thirty", "/thirty", "/slow", "/seconds", "/fifty"] {
        send(&metrics, get(path, "/mixed")).await;
    }
    let text = metrics.render();
    let buckets: Vec<f64> = series(&text, "http_server_request_duration_seconds_bucket")
        .into_iter()
        .map(value)
        .collect();
    assert_eq!(
        buckets,
        [1.0, 1.0, 1.0, 4.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 6.0],
        "{text}"
    );
    let count = series(&text, "http_server_request_duration_seconds_count");
    assert_eq!(count.len(), 1, "{text}");
    assert_eq!(value(count[0]), 6.0);
    let sum = series(&text, "http_server_request_duration_seconds_sum");
    assert_eq!(sum.len(), 1, "{text}");
    assert!((value(sum[0]) - 7.21).abs() < 1e-9, "{text}");
}

#[tokio::test(start_paused = true)]
async fn every_series_is_rendered_in_label_order() {
    let metrics = RedMetrics::new();
    send(&metrics, get("/missing", "/b")).await;
    send(&metrics, get("/fast", "/b")).await;
    send(&metrics, request(Method::POST, "/fast", Some("/a"))).await;
    send(&metrics, get("/broken", "/a")).await;
    let text = metrics.render();
    assert_eq!(
        series(&text, "http_server_requests_total"),
        [
            "http_server_requests_total{method=\"GET\",route=\"/a\",status=\"503\"} 1",
            "http_server_requests_total{method=\"GET\",route=\"/b\",status=\"200\"} 1",
            "http_server_requests_total{method=\"GET\",route=\"/b\",status=\"404\"} 1",
            "http_server_requests_total{method=\"POST\",route=\"/a\",status=\"200\"} 1",
        ],
        "{text}"
    );
    let counts: Vec<&str> = series(&text, "http_server_request_duration_seconds_count");
    assert_eq!(
        counts,
        [
            "http_server_request_duration_seconds_count{method=\"GET\",route=\"/a\"} 1",
            "http_server_request_duration_seconds_count{method=\"GET\",route=\"/b\"} 2",
            "http_server_request_duration_seconds_count{method=\"POST\",route=\"/a\"} 1",
        ],
        "{text}"
    );
    assert_eq!(
        series(&text, "http_server_request_duration_seconds_bucket").len(),
        33,
        "eleven buckets for each of three series"
    );
    assert!(
        text.ends_with("http_server_requests_in_flight 0\n"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_gauge_renders_requests_in_flight() {
    let metrics = RedMetrics::new();
    let service = RedLayer::new(metrics.clone()).layer(service_fn(handler));
    let slow = tokio::spawn(service.oneshot(get("/slow", "/slow")));
    tokio::time::sleep(10 * MS).await;
    let text = metrics.render();
    assert_eq!(
        series(&text, "http_server_requests_in_flight"),
        ["http_server_requests_in_flight 1"],
        "{text}"
    );
    assert!(
        series(&text, "http_server_requests_total").is_empty(),
        "nothing answered yet: {text}"
    );
    slow.await.unwrap().unwrap();
}
