//! RED metrics for every HTTP request, and the exposition Prometheus scrapes.
//!
//! What this module shows (chapter 07):
//! - **R**ate, **E**rrors and **D**uration as three series a layer records for every request:
//!   a counter of requests by method, route and status (errors are the `5xx` statuses of that
//!   same counter, so the error ratio is one division), a histogram of durations by method
//!   and route, and a gauge of requests in flight.
//! - Labels are bounded on purpose. The route is the *template* the router matched
//!   (`/products/{id}`), never the path (`/products/9f3c…`), which would make one series per
//!   product; a request no route matched is `unmatched`; a method outside the standard set
//!   is `other`. Unbounded labels are how a metrics backend runs out of memory.
//! - The histogram's buckets are chosen, not defaulted: the latency SLO is 250 ms, so 0.25 s
//!   is a bucket boundary and "the fraction of requests under 250 ms" is exact, not
//!   interpolated.
//! - [`Exposition`] renders the registry in the text format at `GET /metrics`.
//!
//! Run its tests with `cargo test -p shop-telemetry metrics`.

use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::extract::MatchedPath;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, Request, header};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::time::Instant;
use tower::{Layer, Service};

// ANCHOR: buckets
/// Upper bounds of the duration buckets, in seconds. Dense where the SLO is decided (the
/// 250 ms threshold is a boundary), sparse in the tail, where only "how bad" matters.
pub const DURATION_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
// ANCHOR_END: buckets

/// The content type of the text exposition prometheus-client writes (OpenMetrics 1.0, which
/// Prometheus negotiates and reads).
pub const EXPOSITION_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The route label of a request that no route matched.
pub const UNMATCHED: &str = "unmatched";

// ANCHOR: labels
/// The labels of `http_server_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: &'static str,
    pub route: String,
    pub status: u16,
}

/// The labels of `http_server_request_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: &'static str,
    pub route: String,
}
// ANCHOR_END: labels

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// The three RED series of one service. Cheap to clone: every clone records into the same
/// series, which is how the layer and the exposition share them.
#[derive(Clone)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
}

impl HttpMetrics {
    /// Creates the series and registers them (`http_server_requests_total`,
    /// `http_server_request_duration_seconds`, `http_server_requests_in_flight`).
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(duration_histogram),
            in_flight: Gauge::default(),
        };
        // prometheus-client appends `_total` to a counter's name.
        registry.register(
            "http_server_requests",
            "HTTP requests answered, by method, route template and status code",
            metrics.requests.clone(),
        );
        registry.register_with_unit(
            "http_server_request_duration",
            "Time from receiving a request to its response's head being ready",
            prometheus_client::registry::Unit::Seconds,
            metrics.duration.clone(),
        );
        registry.register(
            "http_server_requests_in_flight",
            "Requests received and not yet answered",
            metrics.in_flight.clone(),
        );
        metrics
    }

    /// Records one answered request.
    pub fn record(&self, method: &'static str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route: route.to_owned(),
                status,
            })
            .inc();
        self.duration
            .get_or_create(&RouteLabels {
                method,
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// How many requests with these labels were answered so far (for tests and demos).
    pub fn requests(&self, method: &'static str, route: &str, status: u16) -> u64 {
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route: route.to_owned(),
                status,
            })
            .get()
    }

    /// Requests in flight right now.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.get()
    }
}

/// The method as a bounded label: the standard methods by name, anything else `other`.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// The route template axum matched, or [`UNMATCHED`]. Axum puts [`MatchedPath`] in the
/// request's extensions when it routes, so a layer added with `Router::layer` (which wraps
/// each route) sees it; a layer around the whole router, outside routing, would not.
pub fn route_label<B>(request: &Request<B>) -> String {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |path| path.as_str().to_owned())
}

// ANCHOR: layer
/// A tower layer recording [`HttpMetrics`] for every request through it.
#[derive(Clone)]
pub struct RedLayer {
    metrics: HttpMetrics,
}

impl RedLayer {
    pub fn new(metrics: HttpMetrics) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for RedLayer {
    type Service = RedService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RedService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service [`RedLayer`] wraps around each route.
#[derive(Clone)]
pub struct RedService<S> {
    inner: S,
    metrics: HttpMetrics,
}

impl<S, B, ResBody> Service<Request<B>> for RedService<S>
where
    S: Service<Request<B>, Response = http::Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = RedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let method = method_label(request.method());
        let route = route_label(&request);
        RedFuture {
            inner: self.inner.call(request),
            record: Some(Pending {
                guard: InFlight::enter(&self.metrics.in_flight),
                metrics: self.metrics.clone(),
                method,
                route,
                started: Instant::now(),
            }),
        }
    }
}

/// What the future records once the response is ready.
struct Pending {
    metrics: HttpMetrics,
    method: &'static str,
    route: String,
    started: Instant,
    /// Held for as long as the request is in flight; dropped with the future, so a request
    /// whose client went away (its future dropped unfinished) leaves the gauge too.
    guard: InFlight,
}

pin_project_lite::pin_project! {
    /// The response future of [`RedService`].
    pub struct RedFuture<F> {
        #[pin]
        inner: F,
        record: Option<Pending>,
    }
}

impl<F, ResBody, E> Future for RedFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let Some(pending) = this.record.take() {
            // An error from the inner service has no status. Axum's services never fail
            // (their error type is Infallible); for others, an error is a 500 to the client.
            let status = match &result {
                Ok(response) => response.status().as_u16(),
                Err(_) => 500,
            };
            let seconds = pending.started.elapsed().as_secs_f64();
            pending
                .metrics
                .record(pending.method, &pending.route, status, seconds);
            drop(pending.guard);
        }
        Poll::Ready(result)
    }
}
// ANCHOR_END: layer

/// Increments a gauge on creation and decrements it on drop.
struct InFlight(Gauge);

impl InFlight {
    fn enter(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

// ANCHOR: exposition
/// A finished registry, shared by the `/metrics` handler. Metrics are registered while the
/// service is assembled (registration needs `&mut Registry`); after that the registry is only
/// read, and the series themselves are atomics the layers update.
#[derive(Clone)]
pub struct Exposition {
    registry: Arc<Registry>,
}

impl Exposition {
    pub fn new(registry: Registry) -> Self {
        Self {
            registry: Arc::new(registry),
        }
    }

    /// Every series in the text format, ending with `# EOF`.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            // Encoding into a String fails only if a metric's own encoder reports an error,
            // which the built-in metrics never do. Say so rather than serve half a page.
            text.clear();
            let _ = writeln!(text, "# the registry could not be encoded\n# EOF");
        }
        text
    }

    /// The `GET /metrics` response.
    pub fn response(&self) -> Response {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(EXPOSITION_CONTENT_TYPE),
            )],
            self.render(),
        )
            .into_response()
    }
}
// ANCHOR_END: exposition

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    fn app(metrics: &HttpMetrics) -> Router {
        Router::new()
            .route("/products/{id}", get(|| async { "a product" }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    "slow"
                }),
            )
            .route(
                "/broken",
                get(|| async { (http::StatusCode::SERVICE_UNAVAILABLE, "down") }),
            )
            .layer(RedLayer::new(metrics.clone()))
    }

    fn registered() -> (HttpMetrics, Exposition) {
        let mut registry = Registry::default();
        let metrics = HttpMetrics::register(&mut registry);
        (metrics, Exposition::new(registry))
    }

    async fn get_path(app: &Router, path: &str) -> u16 {
        let response = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        response.status().as_u16()
    }

    #[tokio::test]
    async fn requests_are_counted_by_route_template_not_by_path() {
        let (metrics, exposition) = registered();
        let app = app(&metrics);
        get_path(&app, "/products/1").await;
        get_path(&app, "/products/2").await;
        assert_eq!(get_path(&app, "/nowhere").await, 404);
        assert_eq!(get_path(&app, "/broken").await, 503);

        assert_eq!(metrics.requests("GET", "/products/{id}", 200), 2);
        assert_eq!(metrics.requests("GET", UNMATCHED, 404), 1);
        assert_eq!(metrics.requests("GET", "/broken", 503), 1);
        let text = exposition.render();
        assert!(
            text.contains(
                r#"http_server_requests_total{method="GET",route="/products/{id}",status="200"} 2"#
            ),
            "{text}"
        );
        assert!(!text.contains("/products/1"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn durations_land_in_the_right_buckets() {
        let (metrics, exposition) = registered();
        let app = app(&metrics);
        get_path(&app, "/slow").await;
        let text = exposition.render();
        let bucket = |le: &str| {
            format!(
                r#"http_server_request_duration_seconds_bucket{{le="{le}",method="GET",route="/slow"}}"#
            )
        };
        assert!(text.contains(&format!("{} 0\n", bucket("0.025"))), "{text}");
        assert!(text.contains(&format!("{} 1\n", bucket("0.05"))), "{text}");
        assert!(text.contains(&format!("{} 1\n", bucket("+Inf"))), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn in_flight_counts_a_slow_request_and_forgets_a_dropped_one() {
        let (metrics, _) = registered();
        let app = app(&metrics);
        let slow = tokio::spawn({
            let app = app.clone();
            async move { get_path(&app, "/slow").await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(metrics.in_flight(), 1);
        slow.await.unwrap();
        assert_eq!(metrics.in_flight(), 0);

        // A client that goes away: the future is dropped before it finishes.
        let abandoned = tokio::spawn({
            let app = app.clone();
            async move { get_path(&app, "/slow").await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(metrics.in_flight(), 1);
        abandoned.abort();
        let _ = abandoned.await;
        assert_eq!(metrics.in_flight(), 0);
        assert_eq!(metrics.requests("GET", "/slow", 200), 1);
    }

    #[tokio::test]
    async fn an_inner_error_counts_as_a_500() {
        let (metrics, _) = registered();
        let failing = tower::service_fn(|_: Request<Body>| async {
            Err::<http::Response<Body>, _>(std::io::Error::other("backend gone"))
        });
        let mut service = RedLayer::new(metrics.clone()).layer(failing);
        let request = Request::post("/x").body(Body::empty()).unwrap();
        assert!(service.call(request).await.is_err());
        assert_eq!(metrics.requests("POST", UNMATCHED, 500), 1);
    }

    #[test]
    fn unknown_methods_share_one_label() {
        let custom = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&custom), "other");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
    }
}
