//! The checkout as a saga: reserve stock (the inventory service), authorise the payment (the
//! payment provider), confirm the order (commit the reservation, capture the payment, record
//! the order's first events). Three services, no shared transaction.
//!
//! What this module shows:
//! - each step is paired with its compensation, registered only once the step succeeded, so
//!   a failure undoes exactly what was done, last step first (`shop_resilience::saga`);
//! - the order of the steps is a design decision: the step most likely to fail for business
//!   reasons (a declined card) comes before the one that cannot be undone cheaply (capturing
//!   money), and the irreversible work is all in the last step, which has nothing after it
//!   that could fail and need it undone;
//! - idempotency makes the saga retryable: the reservation's key is the order id, so a checkout
//!   retried after a crash finds its reservation instead of taking the stock twice.
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

use crate::payments::{AuthorisationId, FakePayments, PaymentError};

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
    Payment(#[from] PaymentError),
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
    pub authorisation: AuthorisationId,
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
    payments: Arc<FakePayments>,
    /// The orders' event histories, keyed by order: what "confirm order" writes.
    orders: Mutex<BTreeMap<OrderId, Vec<OrderEvent>>>,
}

impl Checkout {
    pub fn new(inventory: Arc<InventoryClient>, payments: Arc<FakePayments>) -> Checkout {
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

        let authorise = self.payments.authorise(&order.card, order.total);
        let payments = Arc::clone(&self.payments);
        let authorisation = saga
            .step(
                AUTHORISE,
                async { Ok(authorise.await?) },
                move |&id| async move {
                    payments.void(id).await?;
                    Ok(())
                },
            )
            .await
            .map_err(|e| (AUTHORISE, e))?;

        // The last step: nothing after it can fail, so it needs no compensation.
        let confirm = self.confirm(order, &reservation, authorisation);
        let committed = saga
            .step(CONFIRM, confirm, |_| async { Ok(()) })
            .await
            .map_err(|e| (CONFIRM, e))?;
        Ok(Placed {
            order_id: order.order_id,
            reservation: committed,
            authorisation,
        })
    }
    // ANCHOR_END: checkout_saga

    /// Commits the stock, captures the money, records the order as placed and paid; answers
    /// the committed reservation.
    async fn confirm(
        &self,
        order: &CheckoutOrder,
        reservation: &Reservation,
        authorisation: AuthorisationId,
    ) -> Result<Reservation, CheckoutError> {
        let committed = self
            .inventory
            .commit(reservation.id, Deadline::after(CALL_BUDGET))
            .await?;
        let amount = self.payments.capture(authorisation).await?;
        let events = vec![
            OrderEvent::Placed {
                order_id: order.order_id,
                customer: order.customer,
                total: order.total,
            },
            OrderEvent::PaymentCaptured { amount },
        ];
        self.orders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(order.order_id, events);
        Ok(committed)
    }
}
