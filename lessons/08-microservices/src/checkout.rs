//! The checkout as a saga: reserve stock (the inventory service), take the payment (the
//! capstone's payment provider, `shop-payments`), confirm the order (commit the reservation,
//! record the order's first events). Three services, no shared transaction.
//!
//! What this module shows:
//! - each step is paired with its compensation, registered only once the step succeeded, so
//!   a failure undoes exactly what was done, last step first (`shop_resilience::saga`);
//! - the order of the steps is a design decision: the cheap undo first (releasing stock costs
//!   nothing), the dear one later (a refund costs fees and shows on the customer's statement),
//!   and the last step is one nothing after it can fail, so it needs no undo at all;
//! - idempotency makes the saga retryable: the reservation's key and the payment's are both
//!   derived from the order id, so a checkout retried after a crash finds its reservation and
//!   its payment instead of taking the stock, or the money, twice.
//!
//! Step 5 of `cargo run -p lesson-08` runs it against the real inventory service.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use shop_domain::order::OrderEvent;
use shop_domain::{Money, OrderId, UserId};
use shop_inventory::{InventoryClient, InventoryError, Reservation, ReserveLine};
use shop_resilience::{CallError, Deadline};
use shop_resilience::{Compensated, Saga};
use thiserror::Error;

use shop_payments::{
    AuthoriseRequest, CardNumber, CardNumberError, IntentId, IntentStatus, PaymentIntent,
    PaymentProvider, ProviderError,
};

/// The steps, by the names the saga reports.
pub const RESERVE: &str = "reserve stock";
pub const AUTHORISE: &str = "authorise payment";
pub const CONFIRM: &str = "confirm order";

/// Each inventory call of the saga, compensations included, gets this long.
const CALL_BUDGET: Duration = Duration::from_secs(2);
/// A reservation outlives a slow payment page, and no more.
const HOLD: Duration = Duration::from_secs(15 * 60);

/// Why a step (or a compensation) failed.
#[derive(Debug, Error)]
pub enum CheckoutError {
    #[error("inventory: {0}")]
    Inventory(#[from] CallError<InventoryError>),
    #[error("payment: {0}")]
    Payment(#[from] ProviderError),
    #[error("payment: {0}")]
    Card(#[from] CardNumberError),
    #[error("payment declined: {0}")]
    Declined(&'static str),
    /// The card wants 3-D Secure: the customer must confirm, which this demonstration has no
    /// customer for (the capstone's checkout answers with the bank's URL).
    #[error("payment needs the customer to confirm with their bank")]
    RequiresAction,
}

/// What the customer asked for.
#[derive(Debug, Clone)]
pub struct CheckoutOrder {
    pub order_id: OrderId,
    pub customer: UserId,
    pub lines: Vec<ReserveLine>,
    pub total: Money,
    pub card: String,
}

/// A checkout that went through.
#[derive(Debug, Clone)]
pub struct Placed {
    pub order_id: OrderId,
    /// The reservation as committed by the last step.
    pub reservation: Reservation,
    /// The provider's payment intent.
    pub payment: IntentId,
}

/// How a checkout ended.
#[derive(Debug)]
pub enum CheckoutOutcome {
    Placed(Placed),
    /// `step` failed with `error`; `compensated` says what was undone.
    Aborted {
        step: &'static str,
        error: CheckoutError,
        compensated: Compensated<CheckoutError>,
    },
}

/// The checkout and the services it coordinates.
#[derive(Debug)]
pub struct Checkout {
    inventory: Arc<InventoryClient>,
    payments: Arc<dyn PaymentProvider>,
    /// The orders' event histories, keyed by order: what "confirm order" writes.
    orders: Mutex<BTreeMap<OrderId, Vec<OrderEvent>>>,
}

impl Checkout {
    pub fn new(inventory: Arc<InventoryClient>, payments: Arc<dyn PaymentProvider>) -> Checkout {
        Checkout {
            inventory,
            payments,
            orders: Mutex::new(BTreeMap::new()),
        }
    }

    /// The events recorded for `order_id` (none unless its checkout went through).
    pub fn events(&self, order_id: OrderId) -> Vec<OrderEvent> {
        let orders = self.orders.lock().unwrap_or_else(PoisonError::into_inner);
        orders.get(&order_id).cloned().unwrap_or_default()
    }

    // ANCHOR: checkout_saga
    /// Runs the checkout saga for `order`.
    pub async fn place(&self, order: &CheckoutOrder) -> CheckoutOutcome {
        let mut saga = Saga::new("checkout");
        match self.steps(&mut saga, order).await {
            Ok(placed) => {
                saga.finish();
                CheckoutOutcome::Placed(placed)
            }
            Err((step, error)) => CheckoutOutcome::Aborted {
                step,
                error,
                compensated: saga.abort().await,
            },
        }
    }

    async fn steps(
        &self,
        saga: &mut Saga<CheckoutError>,
        order: &CheckoutOrder,
    ) -> Result<Placed, (&'static str, CheckoutError)> {
        let key = order.order_id.to_string();
        let reserve =
            self.inventory
                .reserve(&key, &order.lines, HOLD, Deadline::after(CALL_BUDGET));
        let inventory = Arc::clone(&self.inventory);
        let reservation = saga
            .step(
                RESERVE,
                async { Ok(reserve.await?) },
                move |r: &Reservation| {
                    let id = r.id;
                    async move {
                        inventory.release(id, Deadline::after(CALL_BUDGET)).await?;
                        Ok(())
                    }
                },
            )
            .await
            .map_err(|e| (RESERVE, e))?;

        let card = CardNumber::parse(&order.card).map_err(|e| (AUTHORISE, e.into()))?;
        let authorise = self.payments.authorise(AuthoriseRequest {
            idempotency_key: format!("checkout-{key}"),
            amount: order.total,
            card,
            reference: key.clone(),
        });
        let payments = Arc::clone(&self.payments);
        let payment = saga
            .step(
                AUTHORISE,
                async { accepted(authorise.await?) },
                move |intent: &PaymentIntent| {
                    let (id, amount) = (intent.id.clone(), intent.amount);
                    async move {
                        payments.refund(&id, amount, format!("refund-{id}")).await?;
                        Ok(())
                    }
                },
            )
            .await
            .map_err(|e| (AUTHORISE, e))?;

        // The last step: nothing after it can fail, so it needs no compensation.
        let confirm = self.confirm(order, &reservation, &payment);
        let committed = saga
            .step(CONFIRM, confirm, |_| async { Ok(()) })
            .await
            .map_err(|e| (CONFIRM, e))?;
        Ok(Placed {
            order_id: order.order_id,
            reservation: committed,
            payment: payment.id,
        })
    }
    // ANCHOR_END: checkout_saga

    /// Commits the stock and records the order as placed and paid; answers the committed
    /// reservation.
    async fn confirm(
        &self,
        order: &CheckoutOrder,
        reservation: &Reservation,
        payment: &PaymentIntent,
    ) -> Result<Reservation, CheckoutError> {
        let committed = self
            .inventory
            .commit(reservation.id, Deadline::after(CALL_BUDGET))
            .await?;
        let events = vec![
            OrderEvent::Placed {
                order_id: order.order_id,
                customer: order.customer,
                total: order.total,
            },
            OrderEvent::PaymentCaptured {
                amount: payment.amount,
            },
        ];
        self.orders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(order.order_id, events);
        Ok(committed)
    }
}

/// The payment step succeeded only if the money was taken: a decline is the step failing.
fn accepted(intent: PaymentIntent) -> Result<PaymentIntent, CheckoutError> {
    match intent.status {
        IntentStatus::Succeeded => Ok(intent),
        IntentStatus::Declined { reason } => Err(CheckoutError::Declined(reason.as_str())),
        IntentStatus::RequiresAction { .. } | IntentStatus::Refunded => {
            Err(CheckoutError::RequiresAction)
        }
    }
}
