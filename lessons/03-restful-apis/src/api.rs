//! The routes and handlers of the product API.
//!
//! What this module shows: REST resource design with axum. `/products` is a collection (list,
//! create), `/products/{id}` one member (read, replace, patch, delete); the method says what
//! to do and the status code says what happened. A handler is an async function whose
//! arguments are extractors (state, path, query, body) and whose return value implements
//! `IntoResponse`; errors are `ApiError`s, rendered by `problem.rs`.
//!
//! | method and path | success | failures |
//! |---|---|---|
//! | `GET /products?limit&after&q&in_stock` | 200 and a page | 400 bad query |
//! | `POST /products` | 201, `Location` | 400, 409, 413, 415, 422 |
//! | `GET /products/{id}` | 200 | 404 |
//! | `PUT /products/{id}` | 200 | 404, 409, 422 |
//! | `PATCH /products/{id}` | 200 | 404, 422 |
//! | `DELETE /products/{id}` | 204 | 404 |
//! | `GET /slow?delay_ms` | 200 after the delay | 503 past the timeout |
//!
//! Run the tests with `cargo test -p lesson-03 --test api`.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header::LOCATION;
use axum::http::{Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use shop_domain::ProductId;
use shop_http::FieldError;

use crate::extract::{ApiJson, ApiPath, ApiQuery, Pagination};
use crate::problem::ApiError;
use crate::product::{Product, ProductDraft, ProductPatch};
use crate::store::{ListQuery, Page, ProductStore};

/// The longest delay `/slow` accepts.
pub const MAX_DELAY: Duration = Duration::from_secs(10);

// ANCHOR: state
/// What every handler can reach, through the `State` extractor. axum clones it for each
/// request, so it is a bundle of cheap handles (here one `Arc` inside `ProductStore`).
#[derive(Debug, Clone, Default)]
pub struct AppState {
    pub products: ProductStore,
}
// ANCHOR_END: state

// ANCHOR: routes
/// The routes, before state and middleware are added (`server::app` adds both).
///
/// `Router<AppState>` reads "a router still missing an `AppState`": handlers may extract
/// `State<AppState>`, and `.with_state(..)` must supply one before the router can serve.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/products", get(list_products).post(create_product))
        .route(
            "/products/{id}",
            get(get_product)
                .put(replace_product)
                .patch(update_product)
                .delete(delete_product),
        )
        .route("/slow", get(slow))
        .fallback(no_route)
}
// ANCHOR_END: routes

// ANCHOR: create
/// `POST /products`: 201 Created, a `Location` header naming the new resource, and the
/// resource itself, so the client needs no second request to see the id the server chose.
async fn create_product(
    State(state): State<AppState>,
    ApiJson(draft): ApiJson<ProductDraft>,
) -> Result<impl IntoResponse, ApiError> {
    let new = draft.validate().map_err(ApiError::InvalidFields)?;
    let product = state.products.insert(new)?;
    let location = format!("/products/{}", product.id);
    Ok((
        StatusCode::CREATED,
        [(LOCATION, location)],
        ApiJson(product),
    ))
}
// ANCHOR_END: create

// ANCHOR: read
/// `GET /products/{id}`. The `?` turns the store's `NotFound` into a 404 problem.
async fn get_product(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ProductId>,
) -> Result<ApiJson<Product>, ApiError> {
    Ok(ApiJson(state.products.get(id)?))
}

/// The filter half of `GET /products`; [`Pagination`] is the other half.
#[derive(Debug, Deserialize)]
pub struct ProductFilter {
    /// Names containing this, ignoring case.
    q: Option<String>,
    #[serde(default)]
    in_stock: bool,
}

/// `GET /products`: two extractors read the same query string, each its own parameters.
async fn list_products(
    State(state): State<AppState>,
    page: Pagination,
    ApiQuery(filter): ApiQuery<ProductFilter>,
) -> ApiJson<Page> {
    let query = ListQuery {
        name_contains: filter.q.filter(|q| !q.trim().is_empty()),
        in_stock: filter.in_stock,
        after: page.after,
        limit: page.limit,
    };
    ApiJson(state.products.list(&query))
}
// ANCHOR_END: read

// ANCHOR: write
/// `PUT /products/{id}`: replaces the whole product. Idempotent: sending it twice leaves the
/// same state as sending it once, so a client may retry it after a timeout.
async fn replace_product(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ProductId>,
    ApiJson(draft): ApiJson<ProductDraft>,
) -> Result<ApiJson<Product>, ApiError> {
    let new = draft.validate().map_err(ApiError::InvalidFields)?;
    Ok(ApiJson(state.products.replace(id, new)?))
}

/// `PATCH /products/{id}`: changes the fields present in the body.
async fn update_product(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ProductId>,
    ApiJson(patch): ApiJson<ProductPatch>,
) -> Result<ApiJson<Product>, ApiError> {
    let changes = patch.validate().map_err(ApiError::InvalidFields)?;
    Ok(ApiJson(state.products.update(id, changes)?))
}

/// `DELETE /products/{id}`: 204 No Content, a success with nothing to say. A second DELETE
/// gets a 404: the state is the same (idempotent), the answer differs.
async fn delete_product(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ProductId>,
) -> Result<StatusCode, ApiError> {
    state.products.remove(id)?;
    Ok(StatusCode::NO_CONTENT)
}
// ANCHOR_END: write

/// The query of `GET /slow`.
#[derive(Debug, Deserialize)]
pub struct Delay {
    #[serde(default)]
    delay_ms: u64,
}

/// What `GET /slow` answers.
#[derive(Debug, Serialize, Deserialize)]
pub struct Slept {
    pub slept_ms: u64,
}

/// `GET /slow?delay_ms=300`: stands in for a slow database query or downstream call, so the
/// demo can show the timeout and graceful shutdown with a request that takes a while.
async fn slow(ApiQuery(delay): ApiQuery<Delay>) -> Result<ApiJson<Slept>, ApiError> {
    let requested = Duration::from_millis(delay.delay_ms);
    if requested > MAX_DELAY {
        return Err(ApiError::InvalidQuery(vec![FieldError::parameter(
            "delay_ms",
            format!(
                "must be at most {}, got {}",
                MAX_DELAY.as_millis(),
                delay.delay_ms
            ),
        )]));
    }
    tokio::time::sleep(requested).await;
    Ok(ApiJson(Slept {
        slept_ms: delay.delay_ms,
    }))
}

/// Any path no route matches: a 404 problem rather than axum's empty 404.
async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::NoRoute(format!("{method} {}", uri.path()))
}
