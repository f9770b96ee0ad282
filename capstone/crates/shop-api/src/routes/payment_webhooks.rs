//! `POST /webhooks/payments` (book chapter 08, "Capstone step"): the payment provider tells
//! the shop how a payment ended, and the order moves on.
//!
//! Anyone can send a request here, so nothing in the body is believed until its
//! `Payment-Signature` checks out (`shop_payments::signature`): a bad signature, a stale
//! timestamp or a replay is a 400 and changes nothing. The provider sends an event again until
//! it hears 2xx, so each event's effects are idempotent, and its id is recorded once they are
//! done: a redelivery of a handled event is answered 200 and does nothing.
//!
//! | event | effect |
//! | --- | --- |
//! | `payment_intent.succeeded` | the order pending payment becomes paid, its reservation is committed; an order cancelled meanwhile is refunded |
//! | `payment_intent.payment_failed` | the order is cancelled and its reservation released |
//! | others | recorded, nothing else |
//!
//! A failure the provider's retry can fix (the database or the inventory down) is a 5xx, so
//! the event comes again.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Value, json};
use shop_db::TransitionError;
use shop_domain::OrderId;
use shop_domain::order::{OrderAction, OrderStatus};
use shop_inventory::{InventoryError, ReservationId};
use shop_payments::signature::HEADER;
use shop_payments::{Event, EventKind, PaymentIntent};
use shop_resilience::{CallError, Deadline};
use time::OffsetDateTime;

use super::checkout::{cancel, inventory_error, provider_error, release_stock};
use crate::error::ApiError;
use crate::state::AppState;

/// How long the effects of one event may spend on the inventory and the provider.
const CALL_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

pub fn routes() -> Router<AppState> {
    Router::new().route("/webhooks/payments", post(receive))
}

// ANCHOR: receive
/// `POST /webhooks/payments`.
async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    // A header that is not text cannot be a signature; "" fails as malformed.
    let signature = headers
        .get(HEADER)
        .map(|value| value.to_str().unwrap_or(""));
    if let Err(error) = state
        .webhooks
        .verify(signature, &body, OffsetDateTime::now_utc())
    {
        if error.is_bad_request() {
            tracing::warn!(%error, "payment webhook refused");
            return Err(ApiError::InvalidRequest {
                detail: format!("webhook not accepted: {error}"),
            });
        }
        // Too many events inside the tolerance window to remember another: come back later.
        return Err(ApiError::TooManyRequests {
            retry_after: std::time::Duration::from_secs(1),
        });
    }
    // Signed by the provider, so it is its format; a body that is not is still refused.
    let event: Event = serde_json::from_slice(&body).map_err(|_| ApiError::InvalidRequest {
        detail: "the body is not a payment event".to_owned(),
    })?;
    let id = event.id.as_str();
    if state.checkout.event_handled(id).await? {
        tracing::info!(event.id = id, "payment event already handled");
        return Ok(Json(json!({ "received": true, "duplicate": true })));
    }
    match (event.kind, event.data.reference.parse::<OrderId>()) {
        (EventKind::PaymentSucceeded, Ok(order)) => paid(&state, order, &event.data).await?,
        (EventKind::PaymentFailed, Ok(order)) => failed(&state, order, &event.data).await?,
        (_, Ok(_)) => {}
        (_, Err(_)) => tracing::warn!(
            event.id = id,
            reference = event.data.reference,
            "a payment event for no checkout of this shop"
        ),
    }
    let kind = serde_json::to_value(event.kind).unwrap_or_default();
    (state.checkout)
        .event_done(
            id,
            kind.as_str().unwrap_or("unknown"),
            event.data.id.as_str(),
        )
        .await?;
    Ok(Json(json!({ "received": true })))
}
// ANCHOR_END: receive

// ANCHOR: paid
/// The payment for `order` succeeded: it is paid, and its stock leaves the warehouse.
async fn paid(state: &AppState, order: OrderId, intent: &PaymentIntent) -> Result<(), ApiError> {
    let Some(pending) = belongs(state, order, intent).await? else {
        return Ok(());
    };
    let moved = (state.orders)
        .transition(order, OrderAction::Pay, None, None)
        .await;
    match moved {
        Ok(_) => {}
        // A redelivery after the transition but before the commit: go on and commit.
        Err(TransitionError::Illegal(illegal)) if illegal.from != OrderStatus::Cancelled => {}
        // The customer cancelled while the payment went through: give the money back. The
        // refund's idempotency key makes a redelivered event refund once.
        Err(TransitionError::Illegal(_)) => {
            tracing::warn!(order.id = %order, "payment succeeded for a cancelled order: refunding");
            let key = format!("refund-{order}");
            (state.payments)
                .refund(&intent.id, intent.amount, key)
                .await
                .map_err(provider_error)?;
            return Ok(());
        }
        Err(TransitionError::NotFound(_)) => return Ok(()),
        Err(TransitionError::Db(error)) => return Err(error.into()),
    }
    let Some(reservation) = pending.reservation else {
        return Ok(());
    };
    let deadline = Deadline::after(CALL_BUDGET);
    match state
        .inventory
        .commit(ReservationId(reservation), deadline)
        .await
    {
        Ok(_) => Ok(()),
        // Paid after the hold expired: the reaper gave the units back, and they may be sold
        // again. No retry changes that; a person must decide (restock, or refund).
        Err(CallError::Failed {
            source: InventoryError::WrongState { message },
            ..
        }) => {
            tracing::error!(order.id = %order, message, "paid order's reservation could not be committed: needs attention");
            Ok(())
        }
        Err(error) => Err(inventory_error(error)),
    }
}
// ANCHOR_END: paid

/// The payment for `order` failed: the order is cancelled and its stock released.
async fn failed(state: &AppState, order: OrderId, intent: &PaymentIntent) -> Result<(), ApiError> {
    if belongs(state, order, intent).await?.is_none() {
        return Ok(());
    }
    match cancel(state.clone(), order).await {
        // Not cancellable any more (paid by another intent, say): nothing to undo.
        Ok(()) | Err(ApiError::Conflict { .. } | ApiError::NotFound { .. }) => {}
        Err(error) => return Err(error),
    }
    release_stock(state, order).await;
    Ok(())
}

/// The order, if the event's intent is the one the checkout created for it. An event that
/// names an order with another intent changes nothing.
async fn belongs(
    state: &AppState,
    order: OrderId,
    intent: &PaymentIntent,
) -> Result<Option<shop_db::PendingOrder>, ApiError> {
    let Some(pending) = state.checkout.pending(order).await? else {
        tracing::warn!(order.id = %order, "a payment event for an unknown order");
        return Ok(None);
    };
    // Unset when the webhook outran the checkout's own record of the intent.
    if let Some(known) = &pending.payment_intent
        && known != intent.id.as_str()
    {
        tracing::warn!(order.id = %order, "a payment event for another intent of this order");
        return Ok(None);
    }
    Ok(Some(pending))
}
