//! An order's life: the status state machine, and the order as a fold over its events.
//!
//! What this module shows:
//! - a state machine as one `match` on (state, action): [`OrderStatus::apply`] is the only
//!   place the rules are written; [`OrderStatus::allowed_actions`] is computed from it by the
//!   compiler, so the list a client is shown cannot disagree with what is accepted;
//! - event sourcing: an [`Order`] is not stored but folded from its history of
//!   [`OrderEvent`]s ([`Order::replay`]); a history that breaks a rule is refused with a
//!   [`ReplayError`] naming the event, rather than folded into a state that cannot exist;
//! - command handling: [`Order::decide`] checks a request against the current state and
//!   answers with the event to record, accepting exactly what the fold would accept.
//!
//! The capstone stores an [`OrderStatus`] per order and moves it with [`OrderStatus::apply`]
//! (an [`IllegalTransition`] is HTTP 409); lesson 08 replays whole histories. Tests:
//! `cargo test -p shop-domain --test order`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::{Money, OrderId, UserId};

/// Where an order stands. Stored and sent as its snake_case spelling (`"pending_payment"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Placed; the money has not arrived yet.
    PendingPayment,
    /// The payment was captured.
    Paid,
    /// Picked and packed in the warehouse.
    Fulfilled,
    /// Handed to the carrier.
    Shipped,
    /// The customer has it.
    Delivered,
    /// Called off before any money moved. Terminal.
    Cancelled,
    /// The money went back: before shipping, or after a return. Terminal.
    Refunded,
}

/// What can be done to an order. Spelled in snake_case (`"fulfil"`), like the statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderAction {
    Pay,
    Fulfil,
    Ship,
    Deliver,
    Cancel,
    Refund,
}

/// An action the order's status does not allow, e.g. shipping an order nobody has paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("cannot {action} an order that is {}", .from.as_str().replace('_', " "))]
pub struct IllegalTransition {
    /// The status the order was in (and still is: nothing changed).
    pub from: OrderStatus,
    /// The action that was refused.
    pub action: OrderAction,
}

// ANCHOR: order_status
impl OrderStatus {
    /// The status that `action` leads to, or why it is not allowed from here.
    ///
    /// Every rule of the state machine is an arm of this one match; an action that has no arm
    /// is illegal, so a rule cannot be added anywhere but here.
    pub const fn apply(self, action: OrderAction) -> Result<OrderStatus, IllegalTransition> {
        use OrderAction as A;
        use OrderStatus as S;
        Ok(match (self, action) {
            (S::PendingPayment, A::Pay) => S::Paid,
            (S::PendingPayment, A::Cancel) => S::Cancelled,
            (S::Paid, A::Fulfil) => S::Fulfilled,
            (S::Fulfilled, A::Ship) => S::Shipped,
            (S::Shipped, A::Deliver) => S::Delivered,
            // Once money has moved, calling the order off is a refund, so the record says
            // that money went back; after delivery it is a return.
            (S::Paid | S::Fulfilled | S::Delivered, A::Refund) => S::Refunded,
            (from, action) => return Err(IllegalTransition { from, action }),
        })
    }
}
// ANCHOR_END: order_status

impl OrderStatus {
    /// Every status, in the order of a normal life (then the two ways out).
    pub const ALL: [OrderStatus; 7] = [
        OrderStatus::PendingPayment,
        OrderStatus::Paid,
        OrderStatus::Fulfilled,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::Refunded,
    ];

    /// The actions [`OrderStatus::apply`] accepts from this status, in [`OrderAction::ALL`]
    /// order; empty for a terminal status.
    pub fn allowed_actions(self) -> &'static [OrderAction] {
        let (actions, len) = &ALLOWED[self as usize];
        &actions[..*len]
    }

    /// Whether nothing more can happen to the order.
    pub fn is_terminal(self) -> bool {
        self.allowed_actions().is_empty()
    }

    /// The spelling stored in the database and used in JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "pending_payment",
            OrderStatus::Paid => "paid",
            OrderStatus::Fulfilled => "fulfilled",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Refunded => "refunded",
        }
    }
}

const STATUSES: usize = OrderStatus::ALL.len();
const ACTIONS: usize = OrderAction::ALL.len();

/// For each status (indexed by discriminant), the actions `apply` accepts: a fixed-size array
/// and how much of it is used. Evaluated at compile time by running `apply` on every pair, so
/// it is derived from the match rather than a second copy of the rules.
static ALLOWED: [([OrderAction; ACTIONS], usize); STATUSES] = {
    let mut table = [([OrderAction::Pay; ACTIONS], 0); STATUSES];
    let mut s = 0;
    while s < OrderStatus::ALL.len() {
        let status = OrderStatus::ALL[s];
        // `allowed_actions` indexes by discriminant; this fails the build if ALL is reordered.
        assert!(
            status as usize == s,
            "OrderStatus::ALL must be in declaration order"
        );
        let mut a = 0;
        while a < OrderAction::ALL.len() {
            let action = OrderAction::ALL[a];
            if status.apply(action).is_ok() {
                let (actions, len) = &mut table[s];
                actions[*len] = action;
                *len += 1;
            }
            a += 1;
        }
        s += 1;
    }
    table
};

impl OrderAction {
    /// Every action, in the order of a normal life.
    pub const ALL: [OrderAction; 6] = [
        OrderAction::Pay,
        OrderAction::Fulfil,
        OrderAction::Ship,
        OrderAction::Deliver,
        OrderAction::Cancel,
        OrderAction::Refund,
    ];

    /// The spelling used in JSON and in the transition history.
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderAction::Pay => "pay",
            OrderAction::Fulfil => "fulfil",
            OrderAction::Ship => "ship",
            OrderAction::Deliver => "deliver",
            OrderAction::Cancel => "cancel",
            OrderAction::Refund => "refund",
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for OrderAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not the spelling of any [`OrderStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("`{0}` is not an order status (expected pending_payment, paid, fulfilled, …)")]
pub struct ParseOrderStatusError(String);

/// The text is not the spelling of any [`OrderAction`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("`{0}` is not an order action (expected pay, fulfil, ship, deliver, cancel or refund)")]
pub struct ParseOrderActionError(String);

impl FromStr for OrderStatus {
    type Err = ParseOrderStatusError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        (OrderStatus::ALL.into_iter())
            .find(|status| status.as_str() == text)
            .ok_or_else(|| ParseOrderStatusError(text.to_owned()))
    }
}

impl FromStr for OrderAction {
    type Err = ParseOrderActionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        (OrderAction::ALL.into_iter())
            .find(|action| action.as_str() == text)
            .ok_or_else(|| ParseOrderActionError(text.to_owned()))
    }
}

/// Something that happened to an order: a fact, named in the past tense, never changed once
/// recorded. JSON is tagged by `"type"`: `{"type":"shipped","tracking":"1Z999"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OrderEvent {
    /// The customer placed the order; always the first event, and only the first.
    Placed {
        order_id: OrderId,
        customer: UserId,
        total: Money,
    },
    PaymentCaptured {
        amount: Money,
    },
    Fulfilled,
    Shipped {
        tracking: String,
    },
    Delivered,
    Cancelled {
        reason: String,
    },
    Refunded {
        amount: Money,
    },
}

impl OrderEvent {
    /// The status change this event records; `None` for [`OrderEvent::Placed`], which starts
    /// an order rather than moving one.
    pub const fn action(&self) -> Option<OrderAction> {
        Some(match self {
            OrderEvent::Placed { .. } => return None,
            OrderEvent::PaymentCaptured { .. } => OrderAction::Pay,
            OrderEvent::Fulfilled => OrderAction::Fulfil,
            OrderEvent::Shipped { .. } => OrderAction::Ship,
            OrderEvent::Delivered => OrderAction::Deliver,
            OrderEvent::Cancelled { .. } => OrderAction::Cancel,
            OrderEvent::Refunded { .. } => OrderAction::Refund,
        })
    }
}

/// Why a history of events does not make an order. `version` is the 1-based position of the
/// offending event.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReplayError {
    #[error("an order's history cannot be empty")]
    Empty,
    #[error("an order's history must start with `placed`")]
    NotPlacedFirst,
    #[error("event {version} places an order that was already placed")]
    PlacedTwice { version: u64 },
    #[error("event {version}: {source}")]
    Illegal {
        version: u64,
        source: IllegalTransition,
    },
    /// A payment is for the whole total, in the order's currency.
    #[error("event {version} captures {found}, but the order is for {expected}")]
    PaymentMismatch {
        version: u64,
        expected: Money,
        found: Money,
    },
    /// A refund is more than nothing, at most what was paid, in the same currency.
    #[error("event {version} refunds {refund}, but {paid} was paid")]
    RefundOutOfRange {
        version: u64,
        paid: Money,
        refund: Money,
    },
}

/// An order as its events have left it. There is no way to build one except by folding
/// events, so every `Order` is the result of a history that obeys the rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Order {
    id: OrderId,
    customer: UserId,
    total: Money,
    status: OrderStatus,
    paid: Money,
    refunded: Money,
    tracking: Option<String>,
    version: u64,
}

impl Order {
    pub const fn id(&self) -> OrderId {
        self.id
    }
    pub const fn customer(&self) -> UserId {
        self.customer
    }
    pub const fn total(&self) -> Money {
        self.total
    }
    pub const fn status(&self) -> OrderStatus {
        self.status
    }
    /// What was captured: zero until the payment, then the total.
    pub const fn paid(&self) -> Money {
        self.paid
    }
    /// What went back: zero unless the order was refunded.
    pub const fn refunded(&self) -> Money {
        self.refunded
    }
    /// The carrier's tracking code, once shipped.
    pub fn tracking(&self) -> Option<&str> {
        self.tracking.as_deref()
    }
    /// How many events made this state; the next event is number `version + 1`. A store
    /// appends only if the stream is still at the version the command was decided on.
    pub const fn version(&self) -> u64 {
        self.version
    }
}

// ANCHOR: order_fold
impl Order {
    /// The state a history leads to: the first event must place the order, and every later
    /// one must be allowed by the state the events before it built.
    pub fn replay<'a, I>(events: I) -> Result<Order, ReplayError>
    where
        I: IntoIterator<Item = &'a OrderEvent>,
    {
        let mut events = events.into_iter();
        let order = match events.next() {
            None => return Err(ReplayError::Empty),
            Some(&OrderEvent::Placed {
                order_id,
                customer,
                total,
            }) => Order {
                id: order_id,
                customer,
                total,
                status: OrderStatus::PendingPayment,
                paid: Money::zero(total.currency()),
                refunded: Money::zero(total.currency()),
                tracking: None,
                version: 1,
            },
            Some(_) => return Err(ReplayError::NotPlacedFirst),
        };
        events.try_fold(order, Order::apply)
    }

    /// One step of the fold: the state after `event`, or why `event` cannot follow this state.
    pub fn apply(mut self, event: &OrderEvent) -> Result<Order, ReplayError> {
        let version = self.version + 1;
        let Some(action) = event.action() else {
            return Err(ReplayError::PlacedTwice { version });
        };
        self.status = (self.status.apply(action))
            .map_err(|source| ReplayError::Illegal { version, source })?;
        match event {
            OrderEvent::PaymentCaptured { amount } if *amount != self.total => {
                return Err(ReplayError::PaymentMismatch {
                    version,
                    expected: self.total,
                    found: *amount,
                });
            }
            OrderEvent::PaymentCaptured { amount } => self.paid = *amount,
            OrderEvent::Refunded { amount } => {
                let refund = *amount;
                let within = refund.currency() == self.paid.currency()
                    && 0 < refund.amount_minor()
                    && refund.amount_minor() <= self.paid.amount_minor();
                if !within {
                    let paid = self.paid;
                    return Err(ReplayError::RefundOutOfRange {
                        version,
                        paid,
                        refund,
                    });
                }
                self.refunded = refund;
            }
            OrderEvent::Shipped { tracking } => self.tracking = Some(tracking.clone()),
            _ => {}
        }
        self.version = version;
        Ok(self)
    }
}
// ANCHOR_END: order_fold

/// A request to change an order, checked by [`Order::decide`] before anything is recorded.
/// Commands are imperative ("pay"); the events they produce are past tense ("payment
/// captured").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderCommand {
    Pay {
        amount: Money,
    },
    Fulfil,
    Ship {
        tracking: String,
    },
    Deliver,
    Cancel {
        reason: String,
    },
    /// Refund everything that was paid.
    Refund,
}

impl Order {
    /// The event a command produces from this state, or why it is refused.
    ///
    /// The command is turned into the event it asks for, which is kept only if the fold
    /// accepts it: the rules are checked in one place, and a decided event always replays.
    /// The error is the one replaying the history with the event appended would give.
    pub fn decide(&self, command: OrderCommand) -> Result<OrderEvent, ReplayError> {
        let event = match command {
            OrderCommand::Pay { amount } => OrderEvent::PaymentCaptured { amount },
            OrderCommand::Fulfil => OrderEvent::Fulfilled,
            OrderCommand::Ship { tracking } => OrderEvent::Shipped { tracking },
            OrderCommand::Deliver => OrderEvent::Delivered,
            OrderCommand::Cancel { reason } => OrderEvent::Cancelled { reason },
            OrderCommand::Refund => OrderEvent::Refunded { amount: self.paid },
        };
        self.clone().apply(&event)?;
        Ok(event)
    }
}
