//! Integration tests: the whole service over HTTP (`helpers::TestApp`).
//!
//! One test binary with a module per area compiles once and shares the helpers. Run them with
//! `cargo test -p shop-api --test api`; they need PostgreSQL (tests named `needs_postgres`) and,
//! for the reviews that work, MongoDB (`needs_mongodb`). `cargo xtask test` skips and lists
//! the ones whose service is down.

mod accounts;
mod admin_products;
mod caching;
mod cart;
mod catalog_search;
mod checkout;
mod guest_cart;
mod health;
mod helpers;
mod orders;
mod permissions;
mod products;
mod replica;
mod reviews;
mod security;
mod startup;
mod telemetry;

use reqwest::Response;
use serde_json::Value;

/// The media type every error response must carry.
const PROBLEM_JSON: &str = "application/problem+json";

/// Status, `Content-Type` and JSON body of a response.
async fn parts(response: Response) -> (reqwest::StatusCode, String, Value) {
    let status = response.status();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.json().await.expect("the body is JSON");
    (status, content_type, body)
}
