//! Endpoints for integrations, authenticated by API key instead of a signed-in user (book
//! chapter 04).
//!
//! `GET /integrations/orders` with `X-API-Key: shop_...`: the key owner's orders, for a key
//! with the `orders:read` scope. A key sees exactly what its owner would; the scope narrows
//! that further, never widens it.

use axum::extract::State;
use axum::{Json, Router, routing::get};
use serde::Serialize;

use super::accounts::OrderBody;
use crate::auth::{ApiKeyAuth, OrdersRead};
use crate::error::ApiError;
use crate::security::headers::no_store;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/integrations/orders", get(orders))
        .layer(no_store())
}

#[derive(Debug, Serialize)]
pub struct OrdersBody {
    pub orders: Vec<OrderBody>,
}

// ANCHOR: orders
/// `GET /integrations/orders`: 401 without a live key, 403 without `orders:read`.
async fn orders(
    State(state): State<AppState>,
    key: ApiKeyAuth<OrdersRead>,
) -> Result<Json<OrdersBody>, ApiError> {
    let orders = state.accounts.users.orders(key.owner.user_id).await?;
    Ok(Json(OrdersBody {
        orders: orders.into_iter().map(OrderBody::from).collect(),
    }))
}
// ANCHOR_END: orders
