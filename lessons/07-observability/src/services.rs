//! The two services the demonstration observes: a storefront, and the stock service it calls
//! over HTTP for every product page.
//!
//! What this module shows (chapter 07):
//! - Instrumenting a service is two layers and one route, exactly as in the capstone:
//!   `shop_telemetry`'s [`RedLayer`] records rate, errors and duration per route template;
//!   tower-http's `TraceLayer` opens one span per request with [`server_span`] (named
//!   `"{METHOD} {route}"`, a child of the caller's span when a `traceparent` came in); and
//!   `GET /metrics` serves the [`Exposition`] that Prometheus scrapes.
//! - A call to another service is a *client* span of its own, and it carries that span's id in
//!   `traceparent` ([`propagation::outgoing`]), so the callee's server span becomes its child
//!   and the two services' spans form one trace.
//! - The stock service misbehaves on a schedule ([`stock_behaviour`]): mostly fast, sometimes
//!   slow, now and then a 503. It is deterministic (decided by the request's number), so the
//!   demonstration's numbers are the same on every run and the tests can rely on them.
//!
//! Run its tests with `cargo test -p lesson-07 services`.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use shop_http::{Problem, RunningServer, ServeError, Server};
use shop_telemetry::metrics::{Exposition, HttpMetrics, RedLayer};
use shop_telemetry::propagation::{self, record_response, server_span};
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;
use tracing::Instrument as _;

/// One service's metrics: its RED series and the page that exposes them.
#[derive(Clone)]
pub struct ServiceMetrics {
    pub http: HttpMetrics,
    pub exposition: Exposition,
}

impl ServiceMetrics {
    /// A registry of its own (never a global one), so two services in one process, or two
    /// tests side by side, each count only their own requests.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let http = HttpMetrics::register(&mut registry);
        ServiceMetrics {
            http,
            exposition: Exposition::new(registry),
        }
    }
}

impl Default for ServiceMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for ServiceMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceMetrics")
    }
}

/// `/metrics`, the span per request and the RED layer around every route of `routes`. The
/// RED layer goes on with `Router::layer`, which wraps each route, so it sees the matched
/// route template; the trace layer sits inside it.
fn instrumented(routes: Router, metrics: &ServiceMetrics) -> Router {
    let exposition = metrics.exposition.clone();
    routes
        .route(
            "/metrics",
            get(move || {
                let exposition = exposition.clone();
                async move { exposition.response() }
            }),
        )
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(server_span)
                .on_response(record_response)
                .on_failure(()),
        )
        .layer(RedLayer::new(metrics.http.clone()))
}

/// What the stock service does with its `n`th request (counting from 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StockBehaviour {
    /// Answers after this delay.
    Answer(Duration),
    /// Answers 503 at once: its database is "failing over".
    Unavailable,
}

// ANCHOR: stock
/// The schedule of the stock service's bad moments: every 20th request fails (5%), every 25th
/// takes 300 ms (over the 250 ms latency SLO), every 5th takes 60 ms, the rest take 0 to 9 ms.
pub fn stock_behaviour(n: u64) -> StockBehaviour {
    if n.is_multiple_of(20) {
        StockBehaviour::Unavailable
    } else if n.is_multiple_of(25) {
        StockBehaviour::Answer(Duration::from_millis(300))
    } else if n.is_multiple_of(5) {
        StockBehaviour::Answer(Duration::from_millis(60))
    } else {
        StockBehaviour::Answer(Duration::from_millis(3 * (n % 4)))
    }
}

/// The stock level of one SKU, as the stock service answers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevel {
    pub sku: String,
    pub available: u32,
}

/// The stock service: `GET /stock/{sku}` and `GET /metrics`.
pub fn stock_app(metrics: &ServiceMetrics) -> Router {
    let requests = Arc::new(AtomicU64::new(0));
    let routes = Router::new()
        .route("/stock/{sku}", get(stock_level))
        .with_state(requests);
    instrumented(routes, metrics)
}

async fn stock_level(State(requests): State<Arc<AtomicU64>>, Path(sku): Path<String>) -> Response {
    let n = requests.fetch_add(1, Ordering::Relaxed) + 1;
    match stock_behaviour(n) {
        StockBehaviour::Unavailable => {
            tracing::warn!(request_number = n, "stock database unavailable");
            Problem::for_status(StatusCode::SERVICE_UNAVAILABLE)
                .with_detail("the stock database is failing over; try again shortly")
                .into_response()
        }
        StockBehaviour::Answer(delay) => {
            tokio::time::sleep(delay).await;
            let available = u32::try_from(n % 13).unwrap_or(0);
            Json(StockLevel { sku, available }).into_response()
        }
    }
}
// ANCHOR_END: stock

/// Why the storefront could not get a stock level.
#[derive(Debug, thiserror::Error)]
pub enum StockCallError {
    #[error("could not reach the stock service")]
    Unreachable(#[source] reqwest::Error),
    #[error("the stock service answered {0}")]
    Status(StatusCode),
    #[error("the stock service's answer is not a stock level")]
    Body(#[source] reqwest::Error),
}

/// The storefront's client for the stock service.
#[derive(Clone, Debug)]
pub struct StockClient {
    http: reqwest::Client,
    base_url: String,
}

impl StockClient {
    /// A client for the stock service at `base_url` (`http://127.0.0.1:PORT`).
    pub fn new(base_url: impl Into<String>) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            // Loopback only: a proxy from the environment must not see these calls.
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(StockClient {
            http,
            base_url: base_url.into(),
        })
    }

    // ANCHOR: propagate_call
    /// `GET /stock/{sku}` as a client span of its own, whose id travels in `traceparent`: the
    /// stock service's server span becomes its child, in the same trace.
    pub async fn level(&self, sku: &str) -> Result<StockLevel, StockCallError> {
        let url = format!("{}/stock/{sku}", self.base_url);
        let span = tracing::info_span!(
            "stock call",
            otel.name = "GET /stock/{sku}",
            otel.kind = "client",
            http.request.method = "GET",
            url.full = %url,
            http.response.status_code = tracing::field::Empty,
        );
        async {
            let response = self
                .http
                .get(&url)
                // Read inside the span: the header names *this* span as the parent.
                .headers(propagation::outgoing())
                .send()
                .await
                .map_err(StockCallError::Unreachable)?;
            let status = response.status();
            tracing::Span::current().record("http.response.status_code", status.as_u16());
            if !status.is_success() {
                return Err(StockCallError::Status(status));
            }
            response.json().await.map_err(StockCallError::Body)
        }
        .instrument(span)
        .await
    }
    // ANCHOR_END: propagate_call
}

/// A product page as the storefront answers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductPage {
    pub id: u32,
    pub sku: String,
    pub in_stock: u32,
}

/// The SKU of product `id`.
pub fn sku_of(id: u32) -> String {
    format!("SKU-{id:04}")
}

// ANCHOR: storefront
/// The storefront: `GET /products/{id}`, which asks the stock service, and `GET /metrics`.
pub fn storefront_app(stock: StockClient, metrics: &ServiceMetrics) -> Router {
    let routes = Router::new()
        .route("/products/{id}", get(product_page))
        .with_state(stock);
    instrumented(routes, metrics)
}

async fn product_page(State(stock): State<StockClient>, Path(id): Path<u32>) -> Response {
    let sku = sku_of(id);
    match stock.level(&sku).await {
        Ok(level) => Json(ProductPage {
            id,
            sku,
            in_stock: level.available,
        })
        .into_response(),
        // The stock service's failure is ours too: a page without stock levels is a 503.
        Err(error) => {
            tracing::warn!(error = %error, sku = %sku, "no stock level for the product page");
            Problem::for_status(StatusCode::SERVICE_UNAVAILABLE)
                .with_detail("stock levels are unavailable right now; try again shortly")
                .into_response()
        }
    }
}
// ANCHOR_END: storefront

/// The two services, running on free loopback ports.
#[derive(Debug)]
pub struct Services {
    pub storefront: RunningServer,
    pub stock: RunningServer,
    pub storefront_metrics: ServiceMetrics,
    pub stock_metrics: ServiceMetrics,
}

/// Port 0 on the loopback interface: a free port, reachable from this machine only.
pub fn loopback() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

/// Why the services could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error("could not build the storefront's HTTP client")]
    Client(#[from] reqwest::Error),
}

impl Services {
    /// Starts the stock service, then the storefront pointed at it; both stop when `shutdown`
    /// is cancelled (see [`Services::stop`]).
    pub async fn start(shutdown: &CancellationToken) -> Result<Services, StartError> {
        let stock_metrics = ServiceMetrics::new();
        let stock = Server::bind(loopback())
            .await?
            .spawn(stock_app(&stock_metrics), shutdown.clone());
        let storefront_metrics = ServiceMetrics::new();
        let client = StockClient::new(stock.base_url())?;
        let storefront = Server::bind(loopback()).await?.spawn(
            storefront_app(client, &storefront_metrics),
            shutdown.clone(),
        );
        Ok(Services {
            storefront,
            stock,
            storefront_metrics,
            stock_metrics,
        })
    }

    /// Stops both servers and waits until they have.
    pub async fn stop(self) -> Result<(), ServeError> {
        self.storefront.begin_shutdown();
        self.stock.begin_shutdown();
        self.storefront.stopped().await?;
        self.stock.stopped().await
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn the_stock_schedule_fails_five_percent_and_is_slow_over_the_slo_now_and_then() {
        let behaviours: Vec<StockBehaviour> = (1..=100).map(stock_behaviour).collect();
        let unavailable = behaviours
            .iter()
            .filter(|b| **b == StockBehaviour::Unavailable)
            .count();
        assert_eq!(unavailable, 5);
        let over_slo = behaviours
            .iter()
            .filter(|b| matches!(b, StockBehaviour::Answer(d) if *d > Duration::from_millis(250)))
            .count();
        assert_eq!(over_slo, 3, "25, 50 and 75 (100 fails instead)");
        assert_eq!(
            stock_behaviour(1),
            StockBehaviour::Answer(Duration::from_millis(3))
        );
    }

    #[tokio::test]
    async fn the_storefront_answers_503_when_stock_does_and_counts_both() {
        let shutdown = CancellationToken::new();
        let services = Services::start(&shutdown).await.unwrap();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut statuses = Vec::new();
        for id in 1..=20 {
            let url = format!("{}/products/{id}", services.storefront.base_url());
            statuses.push(client.get(url).send().await.unwrap().status().as_u16());
        }
        assert_eq!(
            statuses.iter().filter(|s| **s == 503).count(),
            1,
            "{statuses:?}"
        );
        assert_eq!(statuses[19], 503, "the 20th stock request fails");
        let http = &services.storefront_metrics.http;
        assert_eq!(http.requests("GET", "/products/{id}", 200), 19);
        assert_eq!(http.requests("GET", "/products/{id}", 503), 1);
        let stock = &services.stock_metrics.http;
        assert_eq!(stock.requests("GET", "/stock/{sku}", 503), 1);
        let page = client
            .get(format!("{}/metrics", services.stock.base_url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains(
                r#"http_server_requests_total{method="GET",route="/stock/{sku}",status="200"} 19"#
            ),
            "{page}"
        );
        services.stop().await.unwrap();
    }
}
