//! The catalog service: products over REST, from memory. It knows names and prices and nothing
//! about stock, which is the inventory service's business: one bounded context each.
//!
//! What this module shows:
//! - a service boundary drawn along the data: the catalog owns product descriptions, the
//!   inventory owns units on shelves, and neither reads the other's storage; the gateway joins
//!   them per request;
//! - [`CatalogClient`], what a caller of a REST service holds: a base URL and an HTTP client with
//!   a timeout (no call to another service is ever unbounded).
//!
//! Tests: `cargo test -p lesson-08 catalog`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

/// One product as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub sku: String,
    pub name: String,
    pub price_cents: u32,
}

/// The demo's products: (SKU, name, price in cents).
pub const PRODUCTS: [(&str, &str, u32); 4] = [
    ("MUG-RED-01", "Red mug", 1_250),
    ("TEE-BLK-M", "Black T-shirt, M", 2_400),
    ("CAP-NAVY", "Navy cap", 1_800),
    ("SOCK-WOOL-3", "Wool socks, 3 pairs", 1_500),
];

/// [`PRODUCTS`] as values.
pub fn products() -> Vec<Product> {
    PRODUCTS
        .iter()
        .map(|&(sku, name, price_cents)| Product {
            sku: sku.to_owned(),
            name: name.to_owned(),
            price_cents,
        })
        .collect()
}

/// `GET /products`: the whole catalog (four products need no paging).
pub fn router(products: Vec<Product>) -> Router {
    Router::new()
        .route("/products", get(list))
        .with_state(Arc::new(products))
}

async fn list(State(products): State<Arc<Vec<Product>>>) -> Json<Vec<Product>> {
    Json(products.as_ref().clone())
}

/// Why the catalog did not answer with products.
#[derive(Debug, thiserror::Error)]
#[error("the catalog did not answer")]
pub struct CatalogError(#[from] reqwest::Error);

/// The gateway's handle on the catalog service.
#[derive(Debug, Clone)]
pub struct CatalogClient {
    base_url: String,
    http: reqwest::Client,
}

impl CatalogClient {
    /// How long the gateway waits for the catalog: it answers from memory, in a millisecond.
    pub const TIMEOUT: Duration = Duration::from_millis(500);

    pub fn new(base_url: String) -> Result<CatalogClient, CatalogError> {
        let http = reqwest::Client::builder()
            // Loopback only: a proxy from the environment must not see the demo's requests.
            .no_proxy()
            .timeout(Self::TIMEOUT)
            .build()?;
        Ok(CatalogClient { base_url, http })
    }

    pub async fn products(&self) -> Result<Vec<Product>, CatalogError> {
        let products = self
            .http
            .get(format!("{}/products", self.base_url))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(products)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shop_http::Server;
    use tokio_util::sync::CancellationToken;

    #[tokio::test]
    async fn the_client_reads_what_the_service_lists() {
        let shutdown = CancellationToken::new();
        let server = Server::bind(([127, 0, 0, 1], 0).into())
            .await
            .expect("a free port")
            .spawn(router(products()), shutdown.clone());
        let client = CatalogClient::new(server.base_url()).expect("a client");
        let listed = client.products().await.expect("the catalog answers");
        assert_eq!(listed, products());
        shutdown.cancel();
        server.stopped().await.expect("a clean stop");
    }
}
