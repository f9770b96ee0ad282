//! The catalog over HTTP: list with filters and cursors, create with validation, patch with
//! merge-patch semantics. Errors are problem+json ([`crate::problem`]).
//!
//! What this module shows: each handler is the same three moves, parse the request into
//! domain types (`TryFrom`, every error at once), run one statement, map the result to a DTO.
//! A malformed request never reaches the database: the validation test runs this router with
//! a pool that points nowhere.
//!
//! Tests: `cargo test -p lesson-05 --test http`.

use std::net::{Ipv4Addr, SocketAddr};

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use shop_http::{FieldError, RunningServer, ServeError, Server};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::catalog::{self, CatalogError, Page};
use crate::listing::{ListParams, ListQuery};
use crate::problem::ApiError;
use crate::product::{CreateProduct, NewProduct, ProductChanges, ProductPatch, ProductView};

// ANCHOR: router
/// The routes, over a pool.
pub fn router(pool: PgPool) -> Router {
    Router::new()
        .route("/products", get(list_products).post(create_product))
        .route("/products/{id}", get(get_product).patch(patch_product))
        .with_state(pool)
}
// ANCHOR_END: router

impl From<CatalogError> for ApiError {
    fn from(error: CatalogError) -> Self {
        match error {
            CatalogError::UnknownCategory(slug) => ApiError::InvalidBody(vec![FieldError::body(
                "category",
                format!("there is no category `{slug}`"),
            )]),
            CatalogError::DuplicateSku(sku) => ApiError::DuplicateSku(sku),
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

/// A body serde could not read becomes a problem too, with axum's own status (400 for broken
/// JSON, 415 for a missing content type, 422 for the wrong shape) and message.
fn unreadable(rejection: JsonRejection) -> ApiError {
    ApiError::UnreadableBody {
        status: rejection.status(),
        detail: rejection.body_text(),
    }
}

// ANCHOR: list
async fn list_products(
    State(pool): State<PgPool>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Page>, ApiError> {
    // Every value of ListParams is a string, so this fails only for an unknown parameter.
    let Query(params) = params.map_err(|rejection| {
        ApiError::InvalidQuery(vec![FieldError::parameter("*", rejection.body_text())])
    })?;
    let query = ListQuery::try_from(params).map_err(ApiError::InvalidQuery)?;
    Ok(Json(catalog::list(&pool, &query).await?))
}
// ANCHOR_END: list

// ANCHOR: create
async fn create_product(
    State(pool): State<PgPool>,
    body: Result<Json<CreateProduct>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(dto) = body.map_err(unreadable)?;
    let new = NewProduct::try_from(dto).map_err(ApiError::InvalidBody)?;
    let product = catalog::create(&pool, &new).await?;
    let location = format!("/products/{}", product.id);
    Ok((
        StatusCode::CREATED,
        [(LOCATION, location)],
        Json(ProductView::from(product)),
    )
        .into_response())
}
// ANCHOR_END: create

/// A malformed id is a problem document like every other error, not axum's plain text.
fn unreadable_path(rejection: PathRejection) -> ApiError {
    ApiError::InvalidPath(rejection.body_text())
}

async fn get_product(
    State(pool): State<PgPool>,
    id: Result<Path<Uuid>, PathRejection>,
) -> Result<Json<ProductView>, ApiError> {
    let Path(id) = id.map_err(unreadable_path)?;
    let product = catalog::get(&pool, id).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(product.into()))
}

// ANCHOR: patch
async fn patch_product(
    State(pool): State<PgPool>,
    id: Result<Path<Uuid>, PathRejection>,
    body: Result<Json<ProductPatch>, JsonRejection>,
) -> Result<Json<ProductView>, ApiError> {
    let Path(id) = id.map_err(unreadable_path)?;
    let Json(patch) = body.map_err(unreadable)?;
    let changes = ProductChanges::try_from(patch).map_err(ApiError::InvalidBody)?;
    let product = catalog::update(&pool, id, &changes)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(product.into()))
}
// ANCHOR_END: patch

/// The API running on a loopback port, until [`RunningApi::shut_down`]. The server is
/// shop-http's, the one lesson 03 teaches: connection limits, and a shutdown that lets the
/// requests in flight finish.
#[derive(Debug)]
pub struct RunningApi {
    server: RunningServer,
}

impl RunningApi {
    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// Stops accepting, lets requests in flight finish, and waits for the server to end.
    pub async fn shut_down(self) -> Result<(), ServeError> {
        self.server.begin_shutdown();
        self.server.stopped().await
    }
}

/// Serves [`router`] on a free loopback port (port 0: the OS picks).
pub async fn start(pool: PgPool) -> Result<RunningApi, ServeError> {
    let server = Server::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await?
        .spawn(router(pool), CancellationToken::new());
    Ok(RunningApi { server })
}
