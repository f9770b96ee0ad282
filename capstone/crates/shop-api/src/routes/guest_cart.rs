//! A visitor's cart before sign-in (book chapter 09, "Capstone step"), kept in Redis alone.
//!
//! | method and path | what |
//! | --- | --- |
//! | `POST /guest-cart` | a new, empty cart: 201 with `{"cart_id": "...", "expires_in": 604800}` |
//! | `GET /guest-cart` | the lines, priced as `GET /cart` prices them |
//! | `PUT /guest-cart/items/{product_id}` `{"quantity": 2}` | sets the line's quantity |
//! | `DELETE /guest-cart/items/{product_id}` | removes the line (204; 404 if it was not there) |
//!
//! Every route but the first names the cart with a `Guest-Cart: <cart_id>` header. The id is
//! a header and not a path segment because the request log records each request's path: a
//! cart id is a bearer capability (whoever holds it reads and changes the cart), and a
//! capability does not belong in logs. At sign-in, `POST /auth/login` with
//! `"guest_cart": "<cart_id>"` moves the lines into the account's cart (see
//! [`merge_into_account`]).
//!
//! The rules are the signed-in cart's: a product must be for sale, one cart holds one
//! currency, `PUT` sets a quantity rather than adding one. Each write renews the cart's life
//! (`[cache] guest_cart_ttl_secs`, a week by default), so an abandoned cart disappears without
//! a cleanup job. Without Redis (none configured, or it does not answer) these routes answer
//! 503 and the rest of the shop works on.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::routing::{post, put};
use axum::{Json, Router};
use serde::Serialize;
use shop_cache::GuestCartError;
use shop_db::{Cart, Quantity};
use shop_domain::{ProductId, UserId};
use shop_http::FieldError;

use super::cart::{CartBody, SetQuantity};
use crate::auth::secret;
use crate::error::ApiError;
use crate::extract::{Json as JsonBody, Path};
use crate::security::headers::no_store;
use crate::state::AppState;

/// The header that names a guest cart.
pub const GUEST_CART: HeaderName = HeaderName::from_static("guest-cart");

/// How long a client is told to wait when Redis does not answer.
const RETRY_AFTER: Duration = Duration::from_secs(5);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/guest-cart", post(create).get(show))
        .route(
            "/guest-cart/items/{product_id}",
            put(set_quantity).delete(remove),
        )
        .layer(no_store())
}

// ANCHOR: cart_id
/// A guest cart's id: what [`secret::generate`] makes, 32 random bytes as 43 characters of
/// URL-safe base64. Knowing an id is the only way to a cart, so its 256 bits are its
/// protection. The server hands ids out; a client that makes one up only gets a cart nobody
/// else knows of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestCartId(String);

impl GuestCartId {
    const LEN: usize = 43;

    fn new() -> Self {
        use secrecy::ExposeSecret as _;
        GuestCartId(secret::generate().expose_secret().to_owned())
    }

    /// Anything but 43 URL-safe base64 characters is refused before it reaches Redis, so a
    /// key never holds what a client typed beyond that alphabet.
    pub fn parse(text: &str) -> Option<Self> {
        let well_formed = text.len() == Self::LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| GuestCartId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
// ANCHOR_END: cart_id

/// The `Guest-Cart` header, required by every route but `POST /guest-cart`.
fn cart_id(headers: &HeaderMap) -> Result<GuestCartId, ApiError> {
    let value = headers
        .get(&GUEST_CART)
        .ok_or_else(|| ApiError::InvalidRequest {
            detail: "send the Guest-Cart header with the cart_id POST /guest-cart returned"
                .to_owned(),
        })?;
    value
        .to_str()
        .ok()
        .and_then(GuestCartId::parse)
        .ok_or_else(|| ApiError::InvalidRequest {
            detail: "the Guest-Cart header is not a cart id (43 URL-safe base64 characters)"
                .to_owned(),
        })
}

impl From<GuestCartError> for ApiError {
    fn from(error: GuestCartError) -> Self {
        ApiError::DependencyUnavailable {
            what: "guest cart",
            retry_after: RETRY_AFTER,
            source: error.into(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct CreatedGuestCart {
    pub cart_id: String,
    /// Seconds an untouched cart lives; every write starts the count again.
    pub expires_in: u64,
}

/// `POST /guest-cart`. Nothing is written: an empty cart and an unknown one look the same, so
/// the cart comes into being with its first line. With no Redis configured this is a 503 too,
/// so a client does not collect an id for a cart it could never fill.
async fn create(
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<CreatedGuestCart>), ApiError> {
    let carts = &state.caches.guest_carts;
    if !carts.is_configured() {
        return Err(GuestCartError::Unavailable.into());
    }
    let created = CreatedGuestCart {
        cart_id: GuestCartId::new().0,
        expires_in: carts.ttl().as_secs(),
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /guest-cart`.
async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<CartBody>, ApiError> {
    let id = cart_id(&headers)?;
    Ok(Json(priced(&state, &id).await?.into()))
}

// ANCHOR: set_quantity
/// `PUT /guest-cart/items/{product_id}`: the product must be for sale and priced in the
/// currency of the cart's other lines.
async fn set_quantity(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(product): Path<ProductId>,
    JsonBody(body): JsonBody<SetQuantity>,
) -> Result<Json<CartBody>, ApiError> {
    let id = cart_id(&headers)?;
    let quantity = Quantity::new(body.quantity).map_err(|error| ApiError::InvalidFields {
        errors: vec![FieldError::body("quantity", error.to_string())],
    })?;
    let wanted = state.carts.price(&[(product, quantity)]).await?;
    let Some(line) = wanted.lines.first().filter(|line| line.available) else {
        return Err(ApiError::not_found("product", product));
    };
    let currency = line.unit_price.currency();
    let cart = priced(&state, &id).await?;
    if let Some(other) = cart
        .lines
        .iter()
        .find(|other| other.product_id != product && other.unit_price.currency() != currency)
    {
        return Err(ApiError::Conflict {
            detail: format!(
                "the cart is in {}; this product is priced in {currency}: one cart holds one \
                 currency.",
                other.unit_price.currency()
            ),
        });
    }
    // Checked, then written: two requests racing with products in two currencies could both
    // pass. Unlike the signed-in cart's one-statement upsert, Redis cannot see the catalog;
    // the merge at sign-in keeps to one currency whatever the guest cart holds.
    state
        .caches
        .guest_carts
        .set(id.as_str(), &product.to_string(), quantity.get())
        .await?;
    Ok(Json(priced(&state, &id).await?.into()))
}
// ANCHOR_END: set_quantity

/// `DELETE /guest-cart/items/{product_id}`.
async fn remove(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(product): Path<ProductId>,
) -> Result<StatusCode, ApiError> {
    let id = cart_id(&headers)?;
    let carts = &state.caches.guest_carts;
    if carts.remove(id.as_str(), &product.to_string()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("cart line", product))
    }
}

/// The guest cart's lines, priced by the catalog.
async fn priced(state: &AppState, id: &GuestCartId) -> Result<Cart, ApiError> {
    let lines = state.caches.guest_carts.lines(id.as_str()).await?;
    Ok(state.carts.price(&parsed(lines)).await?)
}

/// Redis holds what the routes above wrote, so every line parses; one that does not (written
/// by hand, or by an older version) is skipped and logged rather than failing the cart.
fn parsed(lines: Vec<shop_cache::CartLine>) -> Vec<(ProductId, Quantity)> {
    lines
        .into_iter()
        .filter_map(|line| {
            let product = line.product.parse::<ProductId>().ok();
            let quantity = Quantity::new(i64::from(line.quantity)).ok();
            if product.is_none() || quantity.is_none() {
                tracing::warn!(product = %line.product, quantity = line.quantity, "skipped a malformed guest cart line");
            }
            product.zip(quantity)
        })
        .collect()
}

// ANCHOR: merge
/// At sign-in: moves the guest cart's lines into `user`'s cart. [`shop_cache::GuestCarts::take`]
/// reads and deletes the cart in one step, so two sign-ins racing with one cart id cannot both
/// add it. The sign-in has already succeeded and is not undone by this: a malformed id is
/// ignored, and with Redis down the guest cart simply stays where it is for a later sign-in.
/// If PostgreSQL fails after the take, the lines are written back to Redis (best effort,
/// logged) so the customer's choices are not lost to a failure of ours.
pub async fn merge_into_account(state: &AppState, user: UserId, guest_cart: &str) {
    let Some(id) = GuestCartId::parse(guest_cart) else {
        tracing::info!("sign-in named a malformed guest cart; nothing merged");
        return;
    };
    let carts = &state.caches.guest_carts;
    let lines = match carts.take(id.as_str()).await {
        Ok(lines) => parsed(lines),
        Err(error) => {
            tracing::warn!(%error, "the guest cart was not merged at sign-in; it stays in Redis");
            return;
        }
    };
    if lines.is_empty() {
        return;
    }
    match state.carts.merge(user, &lines).await {
        Ok(merged) => tracing::info!(lines = lines.len(), merged, "guest cart merged at sign-in"),
        Err(error) => {
            tracing::error!(%error, "merging the guest cart failed; putting it back");
            for (product, quantity) in &lines {
                let put_back = carts
                    .set(id.as_str(), &product.to_string(), quantity.get())
                    .await;
                if let Err(error) = put_back {
                    tracing::error!(%error, %product, "a guest cart line was lost");
                }
            }
        }
    }
}
// ANCHOR_END: merge
