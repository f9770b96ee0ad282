//! The signed-in customer's cart (book chapter 08, "Capstone step").
//!
//! | method and path | what |
//! | --- | --- |
//! | `GET /cart` | the lines, priced as the catalog prices them now, and the subtotal |
//! | `PUT /cart/items/{product_id}` `{"quantity": 2}` | sets the line's quantity (adds it if new) |
//! | `DELETE /cart/items/{product_id}` | removes the line (204; 404 if it was not there) |
//! | `DELETE /cart` | empties the cart (204) |
//!
//! Every write answers with the cart as it is afterwards, so a client never has to guess the
//! new subtotal. `PUT` sets a quantity instead of adding one: sent twice (a retry after a lost
//! response), it leaves the same cart. The cart needs a signed-in user; a visitor's cart is
//! [`super::guest_cart`]'s, in Redis, merged into this one at sign-in.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use shop_db::{Cart, CartError, CartLine, Quantity};
use shop_domain::{Money, ProductId, Sku};
use shop_http::FieldError;

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::{Json as JsonBody, Path};
use crate::security::headers::no_store;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/cart", get(show).delete(clear))
        .route("/cart/items/{product_id}", put(set_quantity).delete(remove))
        // A cart is personal: no shared cache may keep it.
        .layer(no_store())
}

#[derive(Debug, Serialize)]
pub struct CartBody {
    pub lines: Vec<CartLineBody>,
    /// The total of the lines still for sale; `null` for an empty cart.
    pub subtotal: Option<Money>,
    pub item_count: u32,
}

#[derive(Debug, Serialize)]
pub struct CartLineBody {
    pub product_id: ProductId,
    pub sku: Sku,
    pub name: String,
    pub quantity: Quantity,
    pub unit_price: Money,
    pub line_total: Money,
    /// `false` once the product has been withdrawn from sale: remove the line to check out.
    pub available: bool,
}

impl From<CartLine> for CartLineBody {
    fn from(line: CartLine) -> Self {
        CartLineBody {
            product_id: line.product_id,
            sku: line.sku,
            name: line.name,
            quantity: line.quantity,
            unit_price: line.unit_price,
            line_total: line.line_total,
            available: line.available,
        }
    }
}

impl From<Cart> for CartBody {
    fn from(cart: Cart) -> Self {
        let item_count = cart
            .lines
            .iter()
            .map(|line| u32::from(line.quantity.get()))
            .sum();
        CartBody {
            lines: cart.lines.into_iter().map(CartLineBody::from).collect(),
            subtotal: cart.subtotal,
            item_count,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetQuantity {
    /// A plain integer here, checked below, so that a 0 or a 500 is a 422 naming `quantity`
    /// rather than a 400 about the body's shape.
    pub quantity: i64,
}

/// `GET /cart`.
async fn show(
    State(state): State<AppState>,
    CurrentUser(who): CurrentUser,
) -> Result<Json<CartBody>, ApiError> {
    let cart = state.carts.get(who.user_id).await?;
    Ok(Json(cart.into()))
}

// ANCHOR: set_quantity
/// `PUT /cart/items/{product_id}`: the product must be for sale and priced in the cart's
/// currency.
async fn set_quantity(
    State(state): State<AppState>,
    CurrentUser(who): CurrentUser,
    Path(product): Path<ProductId>,
    JsonBody(body): JsonBody<SetQuantity>,
) -> Result<Json<CartBody>, ApiError> {
    let quantity = Quantity::new(body.quantity).map_err(|error| ApiError::InvalidFields {
        errors: vec![FieldError::body("quantity", error.to_string())],
    })?;
    match state
        .carts
        .set_quantity(who.user_id, product, quantity)
        .await
    {
        Ok(()) => {}
        Err(CartError::UnknownProduct(id)) => return Err(ApiError::not_found("product", id)),
        Err(mismatch @ CartError::CurrencyMismatch { .. }) => {
            return Err(ApiError::Conflict {
                detail: format!("{mismatch}: one cart holds one currency."),
            });
        }
        Err(CartError::Db(error)) => return Err(error.into()),
    }
    let cart = state.carts.get(who.user_id).await?;
    Ok(Json(cart.into()))
}
// ANCHOR_END: set_quantity

/// `DELETE /cart/items/{product_id}`.
async fn remove(
    State(state): State<AppState>,
    CurrentUser(who): CurrentUser,
    Path(product): Path<ProductId>,
) -> Result<StatusCode, ApiError> {
    if state.carts.remove(who.user_id, product).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("cart line", product))
    }
}

/// `DELETE /cart`.
async fn clear(
    State(state): State<AppState>,
    CurrentUser(who): CurrentUser,
) -> Result<StatusCode, ApiError> {
    state.carts.clear(who.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
