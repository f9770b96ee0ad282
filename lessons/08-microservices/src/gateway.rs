//! The gateway: one HTTP front door for two services. `GET /products` joins the catalog (REST)
//! with the inventory's stock levels (gRPC); `POST /checkout` reserves stock in the inventory.
//!
//! What this module shows:
//! - graceful degradation: the product list is the catalog's; availability is extra. When the
//!   inventory does not answer in time (down, slow, or its breaker open), the list is served
//!   without it, each product marked `available: null` ("unknown"), rather than failing the
//!   page. What a route *needs* fails it; what it only *adds* is dropped;
//! - a checkout cannot do without the inventory, so it fails, but in a way a client can act
//!   on: `503 Service Unavailable`, a problem document, and `Retry-After` from the breaker
//!   (the seconds until it lets a trial call through);
//! - every inventory call has a deadline of its own (150 ms for the optional lookup, 800 ms
//!   for a checkout), which the client sends on as `grpc-timeout`;
//! - the gateway counts how each inventory call ended, and how long it took ([`Counters`]):
//!   answered, failed trying the service, or refused at once by the breaker or the bulkhead.
//!
//! Tests: `cargo test -p lesson-08 gateway` (the routes through `tower::ServiceExt::oneshot`).

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use shop_domain::Sku;
use shop_http::rate_limit::retry_after_secs;
use shop_http::{Problem, problem_details};
use shop_inventory::{InventoryClient, InventoryError, ReserveLine};
use shop_resilience::{CallError, Deadline};
use tokio::time::Instant;

use crate::catalog::CatalogClient;

/// How long `GET /products` waits for availability before serving the list without it: the
/// page must stay fast, and availability is a nice-to-have.
pub const STOCK_LOOKUP_BUDGET: Duration = Duration::from_millis(150);
/// How long a checkout may spend on its reservation, retries included.
pub const CHECKOUT_BUDGET: Duration = Duration::from_millis(800);
/// How long a reservation holds its stock before the inventory's reaper takes it back.
pub const HOLD: Duration = Duration::from_secs(15 * 60);
/// `Retry-After` when the call failed without the breaker saying how long it stays open (the
/// first failures, before it opened).
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The problem types the gateway answers with.
pub mod problem_type {
    pub const UNAVAILABLE: &str = "tag:backend-rs,2026:lesson08/dependency-unavailable";
    pub const OUT_OF_STOCK: &str = "tag:backend-rs,2026:lesson08/out-of-stock";
    pub const INVALID: &str = "tag:backend-rs,2026:lesson08/invalid-checkout";
    pub const BAD_GATEWAY: &str = "tag:backend-rs,2026:lesson08/bad-gateway";
}

/// How the gateway's inventory calls ended, the failures broken down by where they stopped,
/// with the time each took: the point of an open breaker is that failing costs nothing.
#[derive(Debug, Default)]
pub struct Counters {
    /// Per [`Ending`], the duration of every call that ended so. A std Mutex: held for one
    /// push or one copy, never across an `.await`.
    took: [Mutex<Vec<Duration>>; 4],
}

/// Where an inventory call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Answered by the inventory service (a business "no" included).
    Answered = 0,
    /// Sent, and failed on the way: connection refused, timed out (the service is down).
    FailedAtService = 1,
    /// Refused in the gateway by the open breaker, without a packet sent.
    RefusedByBreaker = 2,
    /// Refused in the gateway by the full bulkhead.
    RefusedByBulkhead = 3,
}

impl Ending {
    /// A call whose first attempts failed and whose retry the breaker then refused ends as
    /// `CircuitOpen`: it is counted where it ended.
    fn of<T>(result: &Result<T, CallError<InventoryError>>) -> Ending {
        match result {
            Err(CallError::CircuitOpen { .. }) => Ending::RefusedByBreaker,
            Err(CallError::BulkheadFull { .. }) => Ending::RefusedByBulkhead,
            Err(CallError::DeadlineExceeded { .. }) => Ending::FailedAtService,
            Err(error @ CallError::Failed { .. }) if error.is_unavailable() => {
                Ending::FailedAtService
            }
            Ok(_) | Err(CallError::Failed { .. }) => Ending::Answered,
        }
    }
}

/// How many calls ended one way, and how long the typical one took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Class {
    pub calls: usize,
    /// The median duration (zero for no calls): a mean would let the few slow calls hide
    /// how fast the many were.
    pub median: Duration,
}

impl Counters {
    fn count<T>(&self, result: &Result<T, CallError<InventoryError>>, took: Duration) {
        let mut samples = self.took[Ending::of(result) as usize]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        samples.push(took);
    }

    pub fn get(&self, ending: Ending) -> Class {
        let mut samples = self.took[ending as usize]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        samples.sort_unstable();
        Class {
            calls: samples.len(),
            median: samples.get(samples.len() / 2).copied().unwrap_or_default(),
        }
    }

    /// Calls counted so far, however they ended.
    pub fn total(&self) -> usize {
        [
            Ending::Answered,
            Ending::FailedAtService,
            Ending::RefusedByBreaker,
            Ending::RefusedByBulkhead,
        ]
        .into_iter()
        .map(|ending| self.get(ending).calls)
        .sum()
    }
}

/// What the gateway's handlers share.
#[derive(Debug, Clone)]
pub struct Gateway {
    catalog: CatalogClient,
    inventory: Arc<InventoryClient>,
    counters: Arc<Counters>,
}

impl Gateway {
    pub fn new(catalog: CatalogClient, inventory: Arc<InventoryClient>) -> Gateway {
        Gateway {
            catalog,
            inventory,
            counters: Arc::new(Counters::default()),
        }
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The routes, with lesson 03's problem-details middleware: a body axum cannot parse gets
    /// the same problem+json shape as the gateway's own errors.
    pub fn router(self) -> Router {
        Router::new()
            .route("/products", get(products))
            .route("/checkout", post(checkout))
            .layer(axum::middleware::from_fn(problem_details))
            .with_state(self)
    }
}

/// A product as the gateway lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductView {
    pub sku: String,
    pub name: String,
    pub price_cents: u32,
    /// Units a checkout can reserve now; `None` when the inventory did not say.
    pub available: Option<u32>,
}

/// `GET /products`'s body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    pub products: Vec<ProductView>,
    /// `"live"` with the inventory's numbers, `"unknown"` without them.
    pub availability: String,
}

async fn products(State(gateway): State<Gateway>) -> Response {
    let products = match gateway.catalog.products().await {
        Ok(products) => products,
        // The catalog *is* this route: without it there is nothing to degrade to.
        Err(error) => {
            tracing::warn!(error = %error, "catalog unavailable");
            return Problem::new(
                problem_type::BAD_GATEWAY,
                "Catalog unavailable",
                StatusCode::BAD_GATEWAY,
            )
            .into_response();
        }
    };
    let skus: Vec<Sku> = products
        .iter()
        .filter_map(|p| Sku::parse(&p.sku).ok())
        .collect();
    let (deadline, started) = (Deadline::after(STOCK_LOOKUP_BUDGET), Instant::now());
    let stock = gateway.inventory.stock(&skus, deadline).await;
    gateway.counters.count(&stock, started.elapsed());
    // Degrade, do not fail: availability is dropped, the list is served.
    let levels = stock.ok();
    let available = |sku: &str| {
        levels.as_ref().map(|levels| {
            levels
                .iter()
                .find(|level| level.sku.as_str() == sku)
                .map_or(0, |level| level.available)
        })
    };
    let listing = Listing {
        availability: if levels.is_some() { "live" } else { "unknown" }.to_owned(),
        products: products
            .into_iter()
            .map(|p| ProductView {
                available: available(&p.sku),
                sku: p.sku,
                name: p.name,
                price_cents: p.price_cents,
            })
            .collect(),
    };
    Json(listing).into_response()
}

/// `POST /checkout`'s body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutRequest {
    /// One per checkout the client means to make; a retried request sends the same key, and
    /// the inventory answers with the reservation it made the first time.
    pub idempotency_key: String,
    pub sku: String,
    pub quantity: u32,
}

/// `201 Created`'s body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutAccepted {
    pub reservation_id: String,
}

// ANCHOR: gateway_checkout
async fn checkout(
    State(gateway): State<Gateway>,
    Json(request): Json<CheckoutRequest>,
) -> Response {
    let (Ok(sku), Some(quantity)) = (Sku::parse(&request.sku), NonZeroU32::new(request.quantity))
    else {
        return Problem::new(
            problem_type::INVALID,
            "Invalid checkout",
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .with_detail("`sku` must be a SKU and `quantity` at least 1.")
        .into_response();
    };
    let lines = [ReserveLine { sku, quantity }];
    let (deadline, started) = (Deadline::after(CHECKOUT_BUDGET), Instant::now());
    let result = gateway
        .inventory
        .reserve(&request.idempotency_key, &lines, HOLD, deadline)
        .await;
    gateway.counters.count(&result, started.elapsed());
    match result {
        Ok(reservation) => {
            let body = CheckoutAccepted {
                reservation_id: reservation.id.to_string(),
            };
            (StatusCode::CREATED, Json(body)).into_response()
        }
        // Down, refusing, too slow, breaker open, bulkhead full: the client should come back,
        // and the breaker knows when that is worth doing.
        Err(error) if error.is_unavailable() => {
            let wait = error.retry_after().unwrap_or(DEFAULT_RETRY_AFTER);
            unavailable(retry_after_secs(wait), &error)
        }
        Err(CallError::Failed { source, .. }) => refused(&source),
        // The other kinds (bulkhead, breaker, deadline) are all unavailable, so the first arm
        // took them; the compiler cannot see that.
        Err(error) => unavailable(retry_after_secs(DEFAULT_RETRY_AFTER), &error),
    }
}

/// 503 with `Retry-After`; the cause is logged, never sent (it names internal services).
fn unavailable(retry_after_secs: u64, error: &CallError<InventoryError>) -> Response {
    tracing::warn!(error = %error, retry_after_secs, "checkout: inventory unavailable");
    let mut response = Problem::new(
        problem_type::UNAVAILABLE,
        "Checkout temporarily unavailable",
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .with_detail(format!(
        "Stock cannot be reserved right now; try again in {retry_after_secs} s."
    ))
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}
// ANCHOR_END: gateway_checkout

/// The inventory answered, and the answer is no.
fn refused(error: &InventoryError) -> Response {
    let problem = match error {
        InventoryError::Insufficient { sku } => Problem::new(
            problem_type::OUT_OF_STOCK,
            "Out of stock",
            StatusCode::CONFLICT,
        )
        .with_detail(format!("Not enough units of {sku} left.")),
        InventoryError::UnknownSku { .. }
        | InventoryError::Invalid { .. }
        | InventoryError::KeyReused => Problem::new(
            problem_type::INVALID,
            "Invalid checkout",
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .with_detail(error.to_string()),
        _ => {
            tracing::error!(error = %error, "checkout: unexpected inventory answer");
            Problem::new(
                problem_type::BAD_GATEWAY,
                "Checkout failed",
                StatusCode::BAD_GATEWAY,
            )
        }
    };
    problem.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;
    use axum::body::Body;
    use axum::http::Request;
    use shop_http::{PROBLEM_JSON, Server};
    use shop_resilience::{Dependency, Outcome};
    use tokio_util::sync::CancellationToken;
    use tower::ServiceExt as _;

    /// A port nothing listens on: bound, read, and closed again.
    async fn closed_port() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let addr = listener.local_addr().expect("a bound address");
        drop(listener);
        format!("http://{addr}")
    }

    /// A gateway in front of a live catalog and an inventory nobody serves.
    async fn gateway_with_dead_inventory(shutdown: &CancellationToken) -> Gateway {
        let server = Server::bind(([127, 0, 0, 1], 0).into())
            .await
            .expect("a free port")
            .spawn(catalog::router(catalog::products()), shutdown.clone());
        let catalog = CatalogClient::new(server.base_url()).expect("a client");
        let dependency = Arc::new(Dependency::new(
            "inventory",
            shop_inventory::default_dependency_config(),
        ));
        let inventory = InventoryClient::connect_lazy(&closed_port().await, dependency)
            .expect("a lazy client needs no server");
        Gateway::new(catalog, Arc::new(inventory))
    }

    fn checkout_request() -> Request<Body> {
        let body =
            serde_json::json!({"idempotency_key": "k-1", "sku": "MUG-RED-01", "quantity": 1});
        Request::post("/checkout")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .expect("a valid request")
    }

    async fn json(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
            .await
            .expect("a readable body");
        serde_json::from_slice(&bytes).expect("a JSON body")
    }

    #[tokio::test]
    async fn an_open_breaker_makes_checkout_503_with_retry_after() {
        let shutdown = CancellationToken::new();
        let gateway = gateway_with_dead_inventory(&shutdown).await;
        let breaker = gateway.inventory.dependency().breaker();
        for _ in 0..breaker.config().failure_threshold.get() {
            let permit = breaker.acquire().expect("closed: calls are let through");
            breaker.record(permit, Outcome::Failure);
        }
        let response = gateway
            .clone()
            .router()
            .oneshot(checkout_request())
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let open_for = breaker.config().open_for;
        let retry_after: u64 = response.headers()[header::RETRY_AFTER]
            .to_str()
            .expect("ASCII")
            .parse()
            .expect("whole seconds");
        assert!(
            (1..=retry_after_secs(open_for)).contains(&retry_after),
            "Retry-After {retry_after} for a breaker open for {open_for:?}"
        );
        let problem = json(response).await;
        assert_eq!(problem["type"], problem_type::UNAVAILABLE);
        assert_eq!(problem["status"], 503);
        let counters = gateway.counters();
        assert_eq!(counters.get(Ending::RefusedByBreaker).calls, 1);
        assert_eq!(counters.total(), 1, "nothing else was tried: {counters:?}");
        shutdown.cancel();
    }

    #[tokio::test]
    async fn the_catalog_is_served_while_the_inventory_is_down() {
        let shutdown = CancellationToken::new();
        let gateway = gateway_with_dead_inventory(&shutdown).await;
        let response = gateway
            .clone()
            .router()
            .oneshot(
                Request::get("/products")
                    .body(Body::empty())
                    .expect("a request"),
            )
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
        let listing: Listing = serde_json::from_value(json(response).await).expect("a listing");
        assert_eq!(listing.availability, "unknown");
        assert_eq!(listing.products.len(), catalog::PRODUCTS.len());
        assert!(listing.products.iter().all(|p| p.available.is_none()));
        assert_eq!(gateway.counters().get(Ending::FailedAtService).calls, 1);
        shutdown.cancel();
    }

    #[tokio::test]
    async fn a_dead_inventory_without_an_open_breaker_still_answers_503() {
        let shutdown = CancellationToken::new();
        let gateway = gateway_with_dead_inventory(&shutdown).await;
        let response = gateway
            .clone()
            .router()
            .oneshot(checkout_request())
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key(header::RETRY_AFTER));
        shutdown.cancel();
    }

    #[tokio::test]
    async fn a_body_that_is_not_json_gets_a_problem_document() {
        let shutdown = CancellationToken::new();
        let gateway = gateway_with_dead_inventory(&shutdown).await;
        let request = Request::post("/checkout")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{not json"))
            .expect("a request");
        let response = gateway
            .clone()
            .router()
            .oneshot(request)
            .await
            .expect("infallible");
        assert!(response.status().is_client_error(), "{}", response.status());
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(gateway.counters().total(), 0);
        shutdown.cancel();
    }

    #[tokio::test]
    async fn a_malformed_checkout_is_422_without_calling_the_inventory() {
        let shutdown = CancellationToken::new();
        let gateway = gateway_with_dead_inventory(&shutdown).await;
        let body = serde_json::json!({"idempotency_key": "k", "sku": "no", "quantity": 0});
        let request = Request::post("/checkout")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .expect("a request");
        let response = gateway
            .clone()
            .router()
            .oneshot(request)
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(gateway.counters().total(), 0);
        shutdown.cancel();
    }
}
