//! `POST /checkout` (book chapter 08, "Capstone step"): the signed-in customer's cart becomes
//! an order, through a saga across three services.
//!
//! ```text
//! POST /checkout
//! Idempotency-Key: 0b6f3c1e-...            (required: any 1 to 255 visible ASCII characters)
//! {"card_number": "4111 1111 1111 1111", "expected_total": {"amount": "59.90", "currency": "EUR"}}
//! ```
//!
//! | answer | when |
//! | --- | --- |
//! | 201 `{"order": ..., "payment": {"status": "succeeded"}}` | placed; the payment webhook marks it paid |
//! | 201 with `"payment": {"status": "requires_action", "redirect_url": ...}` | the bank wants the customer (3-D Secure) |
//! | 402 | the card was declined: nothing charged, nothing reserved, the order cancelled |
//! | 409 | out of stock, a product withdrawn, the total is not `expected_total`, or the key is busy |
//! | 422 | an empty cart, a malformed card number, or the key used before for another request |
//!
//! A final answer (201, or a 402 or 409 after an order was placed and undone) is stored and
//! replayed for the key. A refusal before anything was written (an empty cart, a changed
//! total) and a 503 are not: the key stays free, for the same request once the cart is fixed
//! or the dependency is back.
//! | 503 + `Retry-After` | the inventory or the provider is down: retry with the same key |
//!
//! The steps, each keyed by the order id the key was given on its first use, so that running
//! them again does nothing twice:
//! 1. **place** the order from the cart, at today's prices (undo: cancel it);
//! 2. **reserve** its lines in the inventory over gRPC (undo: release the reservation);
//! 3. **authorise** the payment with the provider; a decline undoes 2 and 1.
//!
//! The order is *paid* only when the provider's signed webhook says so
//! (`routes::payment_webhooks`), which also commits the reservation. A failure worth retrying
//! (a dependency down) undoes nothing: it suspends the saga and frees the key, and the next
//! request with the key resumes at the step that failed.

use std::time::Duration;

use axum::extract::State;
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shop_db::{Claim, PendingOrder};
use shop_domain::order::{OrderAction, OrderStatus};
use shop_domain::{Money, OrderId, UserId};
use shop_http::problem::{FieldError, Problem};
use shop_inventory::{InventoryError, ReservationId, ReservationStatus, ReserveLine};
use shop_payments::{AuthoriseRequest, CardNumber, IntentStatus, ProviderError};
use shop_resilience::{CallError, Deadline, Saga};

use super::orders::OrderDetailBody;
use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::Json as JsonBody;
use crate::security::headers::no_store;
use crate::state::AppState;

/// The request header that makes a checkout safe to send again.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Set on an answer replayed from an earlier request with the same key.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// How long one request may hold a key: past the request timeout, so a live request never
/// loses it, and short enough that a crashed one frees it soon.
const KEY_LOCK: Duration = Duration::from_secs(60);

/// The time the inventory and the provider get in all, out of the request's own timeout.
const CALL_BUDGET: Duration = Duration::from_secs(5);

/// Said when a dependency gives no hint of its own (a timeout, a dropped connection).
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/checkout", post(checkout))
        .layer(no_store())
}

/// The body of `POST /checkout`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// The card to charge. A real shop never sees it (the provider's form in the browser turns
    /// it into a token); the sandbox takes test card numbers directly.
    pub card_number: String,
    /// The total the customer was shown. When the cart costs something else now (a price
    /// changed), nothing is placed and the answer is 409 with the new total.
    pub expected_total: Option<Money>,
}

/// A placed order and where its payment stands.
#[derive(Debug, Serialize)]
pub struct CheckoutBody {
    pub order: OrderDetailBody,
    pub payment: PaymentBody,
}

#[derive(Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PaymentBody {
    /// Authorised; the provider's webhook will mark the order paid.
    Succeeded,
    /// The customer must confirm with their bank at `redirect_url` first.
    RequiresAction { redirect_url: String },
}

// ANCHOR: checkout
/// `POST /checkout`.
async fn checkout(
    State(state): State<AppState>,
    CurrentUser(who): CurrentUser,
    headers: HeaderMap,
    JsonBody(request): JsonBody<CheckoutRequest>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let card =
        CardNumber::parse(&request.card_number).map_err(|error| ApiError::InvalidFields {
            errors: vec![FieldError::body("card_number", error.to_string())],
        })?;
    let user = who.user_id;
    let fingerprint = fingerprint(&card, request.expected_total);
    let order = match state
        .checkout
        .claim(user, key, fingerprint, KEY_LOCK)
        .await?
    {
        Claim::Acquired { order } => order,
        Claim::Finished { status, body } => return Ok(replay(status, body)),
        Claim::KeyReused => return Err(ApiError::IdempotencyKeyReused),
        Claim::InProgress => {
            return Err(ApiError::Conflict {
                detail: "A request with this Idempotency-Key is still being processed; ask \
                         again in a moment."
                    .to_owned(),
            });
        }
    };
    match run(&state, user, order, card, request.expected_total).await {
        Ok(body) => {
            let body = serde_json::to_value(&body).map_err(|e| ApiError::Internal(e.into()))?;
            state.checkout.finish(user, key, 201, &body).await?;
            Ok(created(order, body))
        }
        // Worth retrying (a dependency down), or refused before anything was written (an
        // empty cart): the key stays unanswered, and free, for the next request to go on with.
        Err(Failed {
            error,
            did_something,
        }) if error.status().is_server_error() || !did_something => {
            state.checkout.unlock(user, key).await?;
            Err(error)
        }
        // Final: an order was placed and undone. Every later request with the key gets this
        // answer, as it would have got the order.
        Err(Failed { error, .. }) => {
            let problem =
                serde_json::to_value(error.problem()).map_err(|e| ApiError::Internal(e.into()))?;
            (state.checkout)
                .finish(user, key, error.status().as_u16(), &problem)
                .await?;
            Err(error)
        }
    }
}
// ANCHOR_END: checkout

/// A checkout that did not place an order, and whether it had changed anything on the way.
struct Failed {
    error: ApiError,
    /// False when the first step refused: no order, no reservation, no payment.
    did_something: bool,
}

// ANCHOR: saga
/// The checkout saga for `order`: each step idempotent, a business failure undoes the done
/// steps, an unavailable dependency suspends it for a retry.
async fn run(
    state: &AppState,
    user: UserId,
    order: OrderId,
    card: CardNumber,
    expected: Option<Money>,
) -> Result<CheckoutBody, Failed> {
    let deadline = Deadline::after(CALL_BUDGET);
    let mut saga = Saga::new("checkout");
    let outcome = async {
        let placed = saga
            .step("place", place(state, user, order, expected), {
                let state = state.clone();
                move |_: &PendingOrder| cancel(state, order)
            })
            .await?;
        let reservation = saga
            .step("reserve", reserve(state, &placed, deadline), {
                let state = state.clone();
                move |id: &ReservationId| release(state, *id)
            })
            .await?;
        // The last step has no undo: a payment authorised is what the saga is for. (A later
        // cancellation is a refund, which the webhook handler asks for.)
        saga.step(
            "authorise",
            authorise(state, &placed, card),
            |_: &PaymentBody| async { Ok(()) },
        )
        .await
        .map(|payment| (reservation, payment))
    }
    .await;
    let did_something = !saga.completed().is_empty();
    let error = match outcome {
        Ok((_reservation, payment)) => {
            saga.finish();
            state.observability.shop.order_placed();
            return answer(state, order, payment).await.map_err(|error| Failed {
                error,
                did_something: true,
            });
        }
        Err(error) if error.status().is_server_error() => {
            saga.suspend();
            error
        }
        Err(error) => {
            let report = saga.abort().await;
            if !report.is_clean() {
                // Logged by the saga; the reaper gives unreleased stock back when it expires.
                tracing::error!(order.id = %order, undone = ?report.undone, "checkout not fully undone");
            }
            error
        }
    };
    Err(Failed {
        error,
        did_something,
    })
}

/// The answer for a placed order; what it bought leaves the cart.
async fn answer(
    state: &AppState,
    order: OrderId,
    payment: PaymentBody,
) -> Result<CheckoutBody, ApiError> {
    state.checkout.clear_bought(order).await?;
    let detail = state.orders.get(order).await?;
    let detail = detail.ok_or_else(|| ApiError::not_found("order", order))?;
    Ok(CheckoutBody {
        order: detail.into(),
        payment,
    })
}
// ANCHOR_END: saga

/// Step 1: the order, from the cart (or as a resumed checkout left it). What each refusal
/// answers is decided with the other errors' statuses, in `crate::error`.
async fn place(
    state: &AppState,
    user: UserId,
    order: OrderId,
    expected: Option<Money>,
) -> Result<PendingOrder, ApiError> {
    let placed = state.checkout.place(user, order, expected).await?;
    // A resumed checkout whose order was cancelled meanwhile (by the customer, or by a failed
    // payment's webhook) has nothing left to resume. Any other status goes on: pending, or
    // paid because the webhook came first.
    if placed.status == OrderStatus::Cancelled {
        return Err(ApiError::Conflict {
            detail: "This checkout's order was cancelled. Check out again with a new \
                     Idempotency-Key."
                .to_owned(),
        });
    }
    Ok(placed)
}

/// Step 2: the order's lines set aside in the inventory, keyed by the order id.
async fn reserve(
    state: &AppState,
    order: &PendingOrder,
    deadline: Deadline,
) -> Result<ReservationId, ApiError> {
    let lines = (order.lines.iter())
        .filter_map(|(sku, quantity)| {
            let quantity = std::num::NonZeroU32::new(*quantity)?;
            Some(ReserveLine {
                sku: sku.clone(),
                quantity,
            })
        })
        .collect::<Vec<_>>();
    let key = order.id.to_string();
    let hold = state.config.inventory.hold;
    let reservation = (state.inventory)
        .reserve(&key, &lines, hold, deadline)
        .await
        .map_err(inventory_error)?;
    if reservation.status != ReservationStatus::Held && order.status == OrderStatus::PendingPayment
    {
        // Resumed so late that the hold expired (or someone released it).
        return Err(ApiError::Conflict {
            detail: "This checkout's stock reservation has lapsed. Check out again with a new \
                     Idempotency-Key."
                .to_owned(),
        });
    }
    state
        .checkout
        .set_reservation(order.id, reservation.id.0)
        .await?;
    Ok(reservation.id)
}

/// Step 3: the payment, keyed by the order id at the provider as well.
async fn authorise(
    state: &AppState,
    order: &PendingOrder,
    card: CardNumber,
) -> Result<PaymentBody, ApiError> {
    let request = AuthoriseRequest {
        idempotency_key: format!("checkout-{}", order.id),
        amount: order.total,
        card,
        reference: order.id.to_string(),
    };
    let intent = state.payments.authorise(request).await.map_err(|error| {
        if matches!(error, ProviderError::Unavailable(_)) {
            state
                .observability
                .shop
                .payment_failed("provider_unavailable");
        }
        provider_error(error)
    })?;
    state
        .checkout
        .set_payment_intent(order.id, intent.id.as_str())
        .await?;
    match intent.status {
        IntentStatus::Succeeded | IntentStatus::Refunded => Ok(PaymentBody::Succeeded),
        IntentStatus::RequiresAction { redirect_url } => {
            Ok(PaymentBody::RequiresAction { redirect_url })
        }
        IntentStatus::Declined { reason } => {
            state.observability.shop.payment_failed(reason.as_str());
            Err(ApiError::PaymentDeclined {
                reason: reason.as_str(),
            })
        }
    }
}

/// Undo of step 1, and what a customer's or a failed payment's cancellation does.
pub(super) async fn cancel(state: AppState, order: OrderId) -> Result<(), ApiError> {
    match state
        .orders
        .transition(order, OrderAction::Cancel, None, None)
        .await
    {
        Ok(_) => Ok(()),
        // Already cancelled (a webhook got there first): the undo is done.
        Err(shop_db::TransitionError::Illegal(illegal))
            if illegal.from == OrderStatus::Cancelled =>
        {
            Ok(())
        }
        Err(shop_db::TransitionError::Illegal(illegal)) => Err(ApiError::Conflict {
            detail: illegal.to_string(),
        }),
        Err(shop_db::TransitionError::NotFound(id)) => Err(ApiError::not_found("order", id)),
        Err(shop_db::TransitionError::Db(error)) => Err(error.into()),
    }
}

/// Undo of step 2.
async fn release(state: AppState, reservation: ReservationId) -> Result<(), ApiError> {
    let deadline = Deadline::after(CALL_BUDGET);
    match state.inventory.release(reservation, deadline).await {
        Ok(_) => Ok(()),
        Err(error) => Err(inventory_error(error)),
    }
}

// ANCHOR: release_stock
/// Gives a cancelled order's reserved stock back, if it had any. Best effort: when the
/// inventory is down, its reaper releases the reservation once the hold expires.
pub async fn release_stock(state: &AppState, order: OrderId) {
    let reservation = match state.checkout.pending(order).await {
        Ok(Some(PendingOrder {
            reservation: Some(id),
            ..
        })) => ReservationId(id),
        Ok(_) => return,
        Err(error) => {
            tracing::warn!(order.id = %order, %error, "cannot look up the order's reservation");
            return;
        }
    };
    if let Err(error) = release(state.clone(), reservation).await {
        tracing::warn!(
            order.id = %order,
            %error,
            "reservation not released now; the inventory's reaper releases it when its hold expires"
        );
    }
}
// ANCHOR_END: release_stock

/// What the inventory's answer means for the customer.
pub fn inventory_error(error: CallError<InventoryError>) -> ApiError {
    if error.is_unavailable() {
        return ApiError::DependencyUnavailable {
            what: "inventory",
            retry_after: error.retry_after().unwrap_or(DEFAULT_RETRY_AFTER),
            source: error.into(),
        };
    }
    match error {
        CallError::Failed {
            source: InventoryError::Insufficient { sku },
            ..
        } => ApiError::Conflict {
            detail: format!("Not enough stock of {sku}. Lower the quantity and check out again."),
        },
        CallError::Failed {
            source: InventoryError::UnknownSku { sku },
            ..
        } => ApiError::Conflict {
            detail: format!("{sku} is not stocked. Remove it from the cart and check out again."),
        },
        CallError::Failed {
            source: InventoryError::KeyReused,
            ..
        } => ApiError::Conflict {
            detail: "The cart changed while this checkout was under way. Check out again with a \
                     new Idempotency-Key."
                .to_owned(),
        },
        other => ApiError::Internal(other.into()),
    }
}

/// What the provider's failure means for the customer.
pub fn provider_error(error: ProviderError) -> ApiError {
    match error {
        ProviderError::Unavailable(_) => ApiError::DependencyUnavailable {
            what: "payments",
            retry_after: DEFAULT_RETRY_AFTER,
            source: error.into(),
        },
        // A refusal of a request the shop built is the shop's bug: a 500, logged.
        other => ApiError::Internal(other.into()),
    }
}

/// The `Idempotency-Key` header: required, 1 to 255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<&str, ApiError> {
    let invalid = |detail: &str| ApiError::InvalidRequest {
        detail: detail.to_owned(),
    };
    let value = (headers.get(&IDEMPOTENCY_KEY)).ok_or_else(|| {
        invalid("send an Idempotency-Key header (a new random value, such as a UUID, per checkout)")
    })?;
    let key = value
        .to_str()
        .ok()
        .filter(|key| (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| invalid("the Idempotency-Key must be 1 to 255 visible ASCII characters"))?;
    Ok(key)
}

// ANCHOR: fingerprint
/// What "the same request" means for a key: the card's last four digits and the expected
/// total. Not the card number, not even hashed: a hash of a 16-digit number with a known bank
/// prefix is undone by trying them all, and a table of them would be card data to protect.
fn fingerprint(card: &CardNumber, expected: Option<Money>) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(b"checkout/v1\0");
    hash.update(card.last_four().as_bytes());
    hash.update(b"\0");
    if let Some(total) = expected {
        hash.update(total.currency().code().as_bytes());
        hash.update(total.amount_minor().to_be_bytes());
    }
    hash.finalize().into()
}
// ANCHOR_END: fingerprint

fn created(order: OrderId, body: serde_json::Value) -> Response {
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/orders/{order}")) {
        response.headers_mut().insert(LOCATION, location);
    }
    response
}

/// The stored answer of an earlier request with the same key.
fn replay(status: u16, body: serde_json::Value) -> Response {
    let mut response = if status == 201 {
        let order = body["order"]["id"].as_str().and_then(|id| id.parse().ok());
        match order {
            Some(order) => created(order, body),
            None => (StatusCode::CREATED, Json(body)).into_response(),
        }
    } else {
        match serde_json::from_value::<Problem>(body) {
            Ok(problem) => problem.into_response(),
            Err(error) => ApiError::Internal(error.into()).into_response(),
        }
    };
    response
        .headers_mut()
        .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response
}
