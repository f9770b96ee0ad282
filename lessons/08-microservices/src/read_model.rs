//! A CQRS read model: how many orders are in each status, kept up to date one event at a time
//! from the same event log the orders themselves are replayed from.
//!
//! What this module shows:
//! - command and query sides apart: the write side replays one order's history to decide a
//!   command ([`shop_domain::order::Order::replay`]); a read side folds *every* order's events
//!   into whatever shape a screen needs (here a count per status), without replaying anyone;
//! - a projection keeps only what it answers with: the status of each order and the counts,
//!   no totals, no customers. Another screen gets another projection from the same log;
//! - the status rules are not written twice: the projection moves an order with
//!   [`OrderStatus::apply`], the one match of the state machine.
//!
//! Tests: `cargo test -p lesson-08 read_model`.

use std::collections::HashMap;

use shop_domain::OrderId;
use shop_domain::order::{OrderEvent, OrderStatus};

/// One entry of the event log: the order it belongs to, and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub order_id: OrderId,
    pub event: OrderEvent,
}

/// Orders per status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrdersByStatus {
    status_of: HashMap<OrderId, OrderStatus>,
    /// Events the projection could not place (a status change for an order it never saw
    /// placed, or one its status does not allow): a bug upstream, counted, not hidden.
    pub skipped: u64,
}

impl OrdersByStatus {
    pub fn new() -> OrdersByStatus {
        OrdersByStatus::default()
    }

    /// Moves the projection on by one recorded event.
    pub fn apply(&mut self, recorded: &Recorded) {
        let current = self.status_of.get(&recorded.order_id).copied();
        let next = match (current, recorded.event.action()) {
            (None, None) => Some(OrderStatus::PendingPayment),
            (Some(status), Some(action)) => status.apply(action).ok(),
            // Placed twice, or moved before it was placed.
            _ => None,
        };
        match next {
            Some(status) => {
                self.status_of.insert(recorded.order_id, status);
            }
            None => self.skipped += 1,
        }
    }

    /// The orders in `status` now.
    pub fn count(&self, status: OrderStatus) -> usize {
        self.status_of.values().filter(|&&s| s == status).count()
    }

    /// Every status with its count, in the order of an order's life.
    pub fn rows(&self) -> Vec<(OrderStatus, usize)> {
        OrderStatus::ALL
            .into_iter()
            .map(|status| (status, self.count(status)))
            .collect()
    }
}

impl<'a> FromIterator<&'a Recorded> for OrdersByStatus {
    fn from_iter<I: IntoIterator<Item = &'a Recorded>>(log: I) -> Self {
        let mut projection = OrdersByStatus::new();
        for recorded in log {
            projection.apply(recorded);
        }
        projection
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shop_domain::order::Order;
    use shop_domain::{Currency, Money, UserId};

    fn placed(order_id: OrderId) -> Recorded {
        Recorded {
            order_id,
            event: OrderEvent::Placed {
                order_id,
                customer: UserId::generate(),
                total: Money::from_minor(1_000, Currency::Eur),
            },
        }
    }

    fn event(order_id: OrderId, event: OrderEvent) -> Recorded {
        Recorded { order_id, event }
    }

    #[test]
    fn the_counts_agree_with_replaying_each_order() {
        let (a, b, c) = (
            OrderId::generate(),
            OrderId::generate(),
            OrderId::generate(),
        );
        let paid = OrderEvent::PaymentCaptured {
            amount: Money::from_minor(1_000, Currency::Eur),
        };
        let log = [
            placed(a),
            placed(b),
            event(a, paid.clone()),
            placed(c),
            event(
                b,
                OrderEvent::Cancelled {
                    reason: "changed my mind".into(),
                },
            ),
            event(a, OrderEvent::Fulfilled),
        ];
        let projection: OrdersByStatus = log.iter().collect();
        assert_eq!(projection.count(OrderStatus::Fulfilled), 1);
        assert_eq!(projection.count(OrderStatus::Cancelled), 1);
        assert_eq!(projection.count(OrderStatus::PendingPayment), 1);
        assert_eq!(projection.skipped, 0);
        for id in [a, b, c] {
            let history: Vec<&OrderEvent> = log
                .iter()
                .filter(|r| r.order_id == id)
                .map(|r| &r.event)
                .collect();
            let order = Order::replay(history).expect("a legal history");
            assert!(projection.count(order.status()) >= 1);
        }
        let total: usize = projection.rows().iter().map(|(_, n)| n).sum();
        assert_eq!(total, 3);
    }

    #[test]
    fn an_event_that_breaks_the_rules_is_skipped_and_counted() {
        let a = OrderId::generate();
        let log = [
            event(a, OrderEvent::Delivered),
            placed(a),
            event(
                a,
                OrderEvent::Shipped {
                    tracking: "1Z".into(),
                },
            ),
            placed(a),
        ];
        let projection: OrdersByStatus = log.iter().collect();
        assert_eq!(projection.skipped, 3);
        assert_eq!(projection.count(OrderStatus::PendingPayment), 1);
    }
}
