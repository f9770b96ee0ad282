//! The router: every route the service answers, and the middleware every request goes through.

mod accounts;
mod admin_products;
mod admin_users;
mod cart;
mod catalog;
mod checkout;
mod guest_cart;
mod health;
mod integrations;
mod orders;
mod payment_webhooks;
mod reviews;

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use shop_http::problem::problem_details;
use shop_telemetry::metrics::RedLayer;
use shop_telemetry::propagation::{record_response, server_span};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use accounts::{ApiKeyBody, ExportBody, ProfileBody, TokenBody};
pub use admin_products::{ImportBody, ImportReportBody, NewProductBody, ProductPatchBody};
pub use cart::{CartBody, CartLineBody, SetQuantity};
pub use catalog::{
    CategoriesBody, CategoryBody, CategoryProductsBody, FacetsBody, PageParams, ProductBody,
    ProductPageBody, SearchBody, SearchParams,
};
pub use checkout::{
    CheckoutBody, CheckoutRequest, IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED, PaymentBody,
};
pub use health::{Check, CheckStatus, Checks, Health, Overall, Readiness};
pub use orders::{
    OrderDetailBody, OrderLineBody, OrderListBody, OrderListParams, OrderSummaryBody,
    TransitionBody, TransitionRequest,
};
pub use reviews::{AuthorBody, RatingBody, ReviewBody, ReviewParams, ReviewsBody};

use crate::error::panic_response;
use crate::state::AppState;

/// The largest request body accepted: far above any sign-up, profile edit or key request, far
/// below what would let one client tie up memory. Refused bodies are a 413 problem (chapter 06).
pub const BODY_LIMIT: usize = 64 * 1024;

// ANCHOR: router
/// Every route, with the state and the middleware stack applied.
pub fn router(state: AppState) -> Router {
    let timeout = state.config.request_timeout;
    let security = state.config.security.clone();
    let red = RedLayer::new(state.observability.http.clone());
    let routes = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics))
        .route("/categories", get(catalog::categories))
        .route(
            "/categories/{slug}/products",
            get(catalog::category_products),
        )
        .route("/products", get(catalog::products))
        .route("/products/search", get(catalog::search))
        .route("/products/trending", get(catalog::trending))
        .route("/products/{id}", get(catalog::product))
        .route("/products/{id}/reviews", get(reviews::list))
        .route("/products/{id}/rating", get(reviews::rating))
        .merge(accounts::routes())
        .merge(admin_users::routes())
        .merge(admin_products::routes())
        .merge(cart::routes())
        .merge(guest_cart::routes())
        .merge(orders::routes())
        .merge(checkout::routes())
        .merge(payment_webhooks::routes())
        .merge(integrations::routes())
        .with_state(state);
    // The rate limit sits on the routes, inside the middleware stack; CORS and the security
    // headers sit outside it (see `crate::security`).
    let routes = crate::security::with_rate_limit(routes, &security);
    let routes = with_middleware(routes, timeout).layer(red);
    crate::security::with_edge_policies(routes, &security)
}
// ANCHOR_END: router

// ANCHOR: middleware
/// Wraps every route in the stack, listed outermost first: a request passes down this list and
/// its response back up. (`ServiceBuilder` reads top-down; chained `Router::layer` calls would
/// read bottom-up.)
fn with_middleware(routes: Router, timeout: Duration) -> Router {
    let stack = ServiceBuilder::new()
        // A request id first, so that everything below, the trace span included, can see it.
        // A client's own `x-request-id` is kept: it ties our log lines to theirs.
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        // One span per request; one INFO line per response with status and latency. Failures
        // are not logged again here: ApiError logs each 5xx once, with its cause.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(server_span)
                .on_response(record_response)
                .on_failure(()),
        )
        // Echo the id in the response, so a client can quote it in a bug report.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(CompressionLayer::new())
        // Inside compression, so it reads uncompressed bodies; outside everything that can
        // answer with a bare status (panic, timeout, body limit, router), so it can fill those.
        .layer(axum::middleware::from_fn(problem_details))
        // A panicking handler becomes a 500 for this request, not a dropped connection.
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        // Innermost: its bare 503 is then an ordinary response for problem_details to fill.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ));
    routes.layer(stack)
}
// ANCHOR_END: middleware

/// `GET /metrics`: every series in Prometheus's text format. Like `/healthz` it is open on
/// the service's own port, which suits a laptop and a private network; in production the
/// gateway in front does not route it, and Prometheus scrapes each instance directly.
async fn metrics(State(state): State<AppState>) -> Response {
    state.observability.exposition.response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, header};
    use serde_json::Value;
    use shop_http::PROBLEM_JSON;
    use tower::ServiceExt;

    use super::*;

    async fn panicking() -> &'static str {
        panic!("a handler bug")
    }

    /// Routes that misbehave, behind the real middleware stack.
    fn misbehaving() -> Router {
        let routes = Router::new().route("/panic", get(panicking)).route(
            "/slow",
            get(|| async { tokio::time::sleep(Duration::from_secs(3600)).await }),
        );
        with_middleware(routes, Duration::from_millis(50))
    }

    async fn call(uri: &str) -> (StatusCode, axum::http::HeaderMap, Value) {
        let request = Request::builder().uri(uri).body(Body::empty()).unwrap();
        let response = misbehaving().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (
            parts.status,
            parts.headers,
            serde_json::from_slice(&bytes).unwrap(),
        )
    }

    #[tokio::test]
    async fn a_panicking_handler_is_a_500_problem_with_a_request_id() {
        let (status, headers, body) = call("/panic").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(headers[header::CONTENT_TYPE], PROBLEM_JSON);
        assert!(headers.contains_key("x-request-id"));
        assert_eq!(body["instance"], "/panic");
        assert!(!body.to_string().contains("a handler bug"), "{body}");
    }

    // The paused clock jumps to the timeout as soon as every task is idle: no real waiting.
    #[tokio::test(start_paused = true)]
    async fn a_request_over_the_timeout_is_a_503_problem() {
        let (status, headers, body) = call("/slow").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(headers[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(body["instance"], "/slow");
    }
}
