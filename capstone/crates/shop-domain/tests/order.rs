//! Tests for the order state machine and the order fold: every (status, action) pair against a
//! table written out by hand, property tests over random action sequences and random legal
//! histories, each way a history can be refused, and the text and JSON spellings.
//! Run with `cargo test -p shop-domain --test order`.

use std::collections::{BTreeSet, HashSet, VecDeque};

use proptest::prelude::*;
use shop_domain::order::{
    IllegalTransition, Order, OrderAction, OrderCommand, OrderEvent, OrderStatus, ReplayError,
};
use shop_domain::{Currency, Money, OrderId, UserId};

use OrderAction::{Cancel, Deliver, Fulfil, Pay, Refund, Ship};
use OrderStatus::{Cancelled, Delivered, Fulfilled, Paid, PendingPayment, Refunded, Shipped};

/// The rules of the brief, written independently of the implementation: one row per status,
/// one column per action in `OrderAction::ALL` order (pay, fulfil, ship, deliver, cancel,
/// refund); `None` is illegal.
const EXPECTED: [(OrderStatus, [Option<OrderStatus>; 6]); 7] = [
    (
        PendingPayment,
        [Some(Paid), None, None, None, Some(Cancelled), None],
    ),
    (
        Paid,
        [None, Some(Fulfilled), None, None, None, Some(Refunded)],
    ),
    (
        Fulfilled,
        [None, None, Some(Shipped), None, None, Some(Refunded)],
    ),
    (Shipped, [None, None, None, Some(Delivered), None, None]),
    (Delivered, [None, None, None, None, None, Some(Refunded)]),
    (Cancelled, [None; 6]),
    (Refunded, [None; 6]),
];

#[test]
fn every_status_and_action_pair_matches_the_table() {
    assert_eq!(
        EXPECTED.map(|(status, _)| status),
        OrderStatus::ALL,
        "the table covers every status"
    );
    assert_eq!(
        OrderAction::ALL,
        [Pay, Fulfil, Ship, Deliver, Cancel, Refund]
    );
    for (from, row) in EXPECTED {
        for (action, expected) in OrderAction::ALL.into_iter().zip(row) {
            let expected = expected.ok_or(IllegalTransition { from, action });
            assert_eq!(from.apply(action), expected, "{from} --{action}-->");
        }
    }
}

#[test]
fn allowed_actions_and_terminal_states_follow_the_table() {
    for (status, row) in EXPECTED {
        let expected: Vec<OrderAction> = (OrderAction::ALL.into_iter().zip(row))
            .filter_map(|(action, to)| to.map(|_| action))
            .collect();
        assert_eq!(status.allowed_actions(), expected.as_slice(), "{status}");
        assert_eq!(status.is_terminal(), expected.is_empty(), "{status}");
    }
    assert!(Cancelled.is_terminal() && Refunded.is_terminal());
    assert_eq!(Paid.allowed_actions(), [Fulfil, Refund]);
}

#[test]
fn an_illegal_transition_says_what_was_refused_in_words() {
    let illegal = PendingPayment.apply(Ship).expect_err("nobody paid");
    assert_eq!(illegal.from, PendingPayment);
    assert_eq!(illegal.action, Ship);
    assert_eq!(
        illegal.to_string(),
        "cannot ship an order that is pending payment"
    );
    let refund = Cancelled.apply(Refund).expect_err("terminal");
    assert_eq!(
        refund.to_string(),
        "cannot refund an order that is cancelled"
    );
}

#[test]
fn every_status_is_reachable_from_pending_payment() {
    let mut seen = HashSet::from([PendingPayment]);
    let mut queue = VecDeque::from([PendingPayment]);
    while let Some(status) = queue.pop_front() {
        for &action in status.allowed_actions() {
            let next = status.apply(action).expect("an allowed action applies");
            if seen.insert(next) {
                queue.push_back(next);
            }
        }
    }
    let all: HashSet<OrderStatus> = OrderStatus::ALL.into_iter().collect();
    assert_eq!(seen, all);
}

fn status() -> impl Strategy<Value = OrderStatus> {
    prop::sample::select(OrderStatus::ALL.to_vec())
}

fn action() -> impl Strategy<Value = OrderAction> {
    prop::sample::select(OrderAction::ALL.to_vec())
}

proptest! {
    #[test]
    fn apply_agrees_with_allowed_actions(status in status(), action in action()) {
        prop_assert_eq!(
            status.apply(action).is_ok(),
            status.allowed_actions().contains(&action)
        );
    }

    /// Random actions, legal or not, from a new order: an illegal one changes nothing, and
    /// once a terminal state is reached nothing gets out of it.
    #[test]
    fn no_sequence_of_actions_leaves_a_terminal_state(
        actions in prop::collection::vec(action(), 0..40),
    ) {
        let mut status = PendingPayment;
        for action in actions {
            let was_terminal = status.is_terminal();
            match status.apply(action) {
                Ok(next) => {
                    prop_assert!(!was_terminal, "{} --{}--> {}", status, action, next);
                    prop_assert_ne!(next, PendingPayment, "nothing leads back to the start");
                    status = next;
                }
                Err(illegal) => prop_assert_eq!(illegal, IllegalTransition { from: status, action }),
            }
        }
    }
}

fn placed(total: Money) -> OrderEvent {
    OrderEvent::Placed {
        order_id: OrderId::generate(),
        customer: UserId::generate(),
        total,
    }
}

fn eur(minor: i64) -> Money {
    Money::from_minor(minor, Currency::Eur)
}

/// A legal history: a placement, then events chosen among those the state allows, with the
/// amounts the rules require (a refund of anything from one minor unit to what was paid).
fn history() -> impl Strategy<Value = Vec<OrderEvent>> {
    let currency = prop::sample::select(Currency::ALL.to_vec());
    let choices = prop::collection::vec((any::<prop::sample::Index>(), any::<u64>()), 0..8);
    (1_i64..10_000_000, currency, choices, "[A-Z0-9]{6,12}").prop_map(
        |(minor, currency, choices, tracking)| {
            let total = Money::from_minor(minor, currency);
            let mut events = vec![placed(total)];
            let mut status = PendingPayment;
            for (pick, amount) in choices {
                let allowed = status.allowed_actions();
                if allowed.is_empty() {
                    break;
                }
                let action = *pick.get(allowed);
                events.push(match action {
                    Pay => OrderEvent::PaymentCaptured { amount: total },
                    Fulfil => OrderEvent::Fulfilled,
                    Ship => OrderEvent::Shipped {
                        tracking: tracking.clone(),
                    },
                    Deliver => OrderEvent::Delivered,
                    Cancel => OrderEvent::Cancelled {
                        reason: "changed my mind".into(),
                    },
                    Refund => {
                        let refund = 1 + (amount % minor.unsigned_abs()) as i64;
                        OrderEvent::Refunded {
                            amount: Money::from_minor(refund, currency),
                        }
                    }
                });
                status = status
                    .apply(action)
                    .expect("chosen among the allowed actions");
            }
            events
        },
    )
}

proptest! {
    #[test]
    fn replay_equals_step_by_step_application(events in history()) {
        let replayed = Order::replay(&events).expect("a legal history replays");
        prop_assert_eq!(replayed.version(), events.len() as u64);

        let mut order = Order::replay(&events[..1]).expect("a placement alone replays");
        prop_assert_eq!(order.status(), PendingPayment);
        prop_assert_eq!(order.version(), 1);
        let mut status = PendingPayment;
        for event in &events[1..] {
            let action = event.action().expect("only the first event is a placement");
            status = status.apply(action).expect("the history is legal");
            order = order.apply(event).expect("each event follows the state before it");
            prop_assert_eq!(order.status(), status);
        }
        prop_assert_eq!(&order, &replayed);

        let Some(OrderEvent::Placed { order_id, customer, total }) = events.first() else {
            panic!("a history starts with its placement");
        };
        prop_assert_eq!((order.id(), order.customer(), order.total()), (*order_id, *customer, *total));
        let paid = events.iter().any(|e| matches!(e, OrderEvent::PaymentCaptured { .. }));
        prop_assert_eq!(order.paid(), if paid { *total } else { Money::zero(total.currency()) });
        let refunded = events.iter().find_map(|e| match e {
            OrderEvent::Refunded { amount } => Some(*amount),
            _ => None,
        });
        prop_assert_eq!(order.refunded(), refunded.unwrap_or(Money::zero(total.currency())));
        let shipped = events.iter().find_map(|e| match e {
            OrderEvent::Shipped { tracking } => Some(tracking.as_str()),
            _ => None,
        });
        prop_assert_eq!(order.tracking(), shipped);
    }

    #[test]
    fn events_round_trip_through_json(events in history()) {
        for event in &events {
            let json = serde_json::to_string(event).expect("an event serializes");
            let back: OrderEvent = serde_json::from_str(&json).expect("and deserializes");
            prop_assert_eq!(&back, event);
        }
    }

    /// `decide` accepts a command exactly when the event it produces would replay, and the
    /// event it returns is one the history can take.
    #[test]
    fn decided_events_always_replay(events in history(), action in action(), minor in 1_i64..1000) {
        let order = Order::replay(&events).expect("a legal history replays");
        let command = match action {
            Pay => OrderCommand::Pay { amount: order.total() },
            Fulfil => OrderCommand::Fulfil,
            Ship => OrderCommand::Ship { tracking: "1Z999".into() },
            Deliver => OrderCommand::Deliver,
            Cancel => OrderCommand::Cancel { reason: "out of stock".into() },
            Refund => OrderCommand::Refund,
        };
        match order.decide(command) {
            Ok(event) => {
                prop_assert!(order.status().allowed_actions().contains(&action));
                let mut longer = events.clone();
                longer.push(event);
                prop_assert_eq!(Order::replay(&longer).map(|o| o.version()), Ok(order.version() + 1));
            }
            Err(error) => prop_assert_eq!(
                error,
                ReplayError::Illegal {
                    version: order.version() + 1,
                    source: IllegalTransition { from: order.status(), action },
                }
            ),
        }
        // A payment of the wrong amount is refused whatever the state allows.
        let wrong = Money::from_minor(order.total().amount_minor() + minor, order.total().currency());
        let refused = order.decide(OrderCommand::Pay { amount: wrong });
        prop_assert!(refused.is_err(), "paying {} for {}", wrong, order.total());
    }
}

#[test]
fn a_command_against_a_cancelled_order_is_refused() {
    let events = [
        placed(eur(1999)),
        OrderEvent::Cancelled {
            reason: "typo".into(),
        },
    ];
    let order = Order::replay(&events).expect("placed, then cancelled");
    let refused = order.decide(OrderCommand::Ship {
        tracking: "1Z999".into(),
    });
    assert_eq!(
        refused,
        Err(ReplayError::Illegal {
            version: 3,
            source: IllegalTransition {
                from: Cancelled,
                action: Ship
            },
        })
    );
    let paid = Order::replay(&[
        placed(eur(1999)),
        OrderEvent::PaymentCaptured { amount: eur(1999) },
    ])
    .expect("placed, then paid");
    assert_eq!(
        paid.decide(OrderCommand::Refund),
        Ok(OrderEvent::Refunded { amount: eur(1999) }),
        "a refund command gives back everything paid"
    );
}

#[test]
fn replay_rejects_an_empty_history() {
    assert_eq!(Order::replay(&[]), Err(ReplayError::Empty));
}

#[test]
fn replay_rejects_a_history_that_does_not_start_with_placed() {
    let events = [
        OrderEvent::PaymentCaptured { amount: eur(100) },
        placed(eur(100)),
    ];
    assert_eq!(Order::replay(&events), Err(ReplayError::NotPlacedFirst));
}

#[test]
fn replay_rejects_a_second_placement() {
    let events = [
        placed(eur(100)),
        OrderEvent::PaymentCaptured { amount: eur(100) },
        placed(eur(100)),
    ];
    assert_eq!(
        Order::replay(&events),
        Err(ReplayError::PlacedTwice { version: 3 })
    );
}

#[test]
fn replay_rejects_an_illegal_transition_and_names_the_event() {
    let events = [
        placed(eur(100)),
        OrderEvent::Fulfilled,
        OrderEvent::Shipped {
            tracking: "1Z".into(),
        },
    ];
    let error = Order::replay(&events).expect_err("fulfilled before payment");
    assert_eq!(
        error,
        ReplayError::Illegal {
            version: 2,
            source: IllegalTransition {
                from: PendingPayment,
                action: Fulfil
            },
        }
    );
    assert_eq!(
        error.to_string(),
        "event 2: cannot fulfil an order that is pending payment"
    );
    assert!(
        std::error::Error::source(&error).is_some(),
        "the transition is the source"
    );
}

#[test]
fn replay_rejects_a_payment_that_is_not_the_total() {
    for found in [eur(99), eur(101), Money::from_minor(100, Currency::Usd)] {
        let events = [
            placed(eur(100)),
            OrderEvent::PaymentCaptured { amount: found },
        ];
        assert_eq!(
            Order::replay(&events),
            Err(ReplayError::PaymentMismatch {
                version: 2,
                expected: eur(100),
                found,
            }),
            "{found}"
        );
    }
}

#[test]
fn replay_rejects_a_refund_beyond_what_was_paid() {
    let paid = [
        placed(eur(100)),
        OrderEvent::PaymentCaptured { amount: eur(100) },
    ];
    for refund in [
        eur(101),
        eur(0),
        eur(-5),
        Money::from_minor(50, Currency::Gbp),
    ] {
        let mut events = paid.to_vec();
        events.push(OrderEvent::Refunded { amount: refund });
        assert_eq!(
            Order::replay(&events),
            Err(ReplayError::RefundOutOfRange {
                version: 3,
                paid: eur(100),
                refund,
            }),
            "{refund}"
        );
    }
    for refund in [eur(1), eur(40), eur(100)] {
        let mut events = paid.to_vec();
        events.push(OrderEvent::Refunded { amount: refund });
        let order = Order::replay(&events).expect("a refund within what was paid");
        assert_eq!((order.status(), order.refunded()), (Refunded, refund));
    }
}

#[test]
fn events_are_tagged_by_type_in_json() {
    let shipped = OrderEvent::Shipped {
        tracking: "1Z999".into(),
    };
    let json = serde_json::to_value(&shipped).expect("serializes");
    assert_eq!(
        json,
        serde_json::json!({"type": "shipped", "tracking": "1Z999"})
    );
    let paid = serde_json::json!({
        "type": "payment_captured",
        "amount": {"amount_minor": 1999, "currency": "EUR"},
    });
    assert_eq!(
        serde_json::from_value::<OrderEvent>(paid).expect("deserializes"),
        OrderEvent::PaymentCaptured { amount: eur(1999) }
    );
    let fulfilled = serde_json::to_string(&OrderEvent::Fulfilled).expect("serializes");
    assert_eq!(fulfilled, r#"{"type":"fulfilled"}"#);
    assert!(serde_json::from_str::<OrderEvent>(r#"{"type":"lost"}"#).is_err());
}

#[test]
fn statuses_and_actions_have_one_spelling_for_text_and_json() {
    let statuses: BTreeSet<&str> = OrderStatus::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        statuses.len(),
        OrderStatus::ALL.len(),
        "spellings are distinct"
    );
    assert_eq!(PendingPayment.as_str(), "pending_payment");
    for status in OrderStatus::ALL {
        let json = serde_json::to_string(&status).expect("serializes");
        assert_eq!(json, format!("\"{}\"", status.as_str()));
        assert_eq!(
            serde_json::from_str::<OrderStatus>(&json).expect("parses"),
            status
        );
        assert_eq!(status.as_str().parse::<OrderStatus>(), Ok(status));
        assert_eq!(status.to_string(), status.as_str());
    }
    assert_eq!(Fulfil.as_str(), "fulfil");
    for action in OrderAction::ALL {
        let json = serde_json::to_string(&action).expect("serializes");
        assert_eq!(json, format!("\"{}\"", action.as_str()));
        assert_eq!(
            serde_json::from_str::<OrderAction>(&json).expect("parses"),
            action
        );
        assert_eq!(action.as_str().parse::<OrderAction>(), Ok(action));
        assert_eq!(action.to_string(), action.as_str());
    }
}

#[test]
fn unknown_spellings_are_rejected() {
    for text in [
        "",
        "Paid",
        "PAID",
        "pending payment",
        "PendingPayment",
        "placed",
        " paid",
    ] {
        assert!(text.parse::<OrderStatus>().is_err(), "{text:?}");
        assert!(
            serde_json::from_str::<OrderStatus>(&format!("{text:?}")).is_err(),
            "{text:?}"
        );
    }
    for text in ["", "Ship", "fulfill", "cancelled", "refund "] {
        assert!(text.parse::<OrderAction>().is_err(), "{text:?}");
    }
    let error = "lost".parse::<OrderStatus>().expect_err("not a status");
    assert!(
        error
            .to_string()
            .starts_with("`lost` is not an order status")
    );
}

proptest! {
    #[test]
    fn only_the_known_spellings_parse(text in "[a-z_ ]{0,16}") {
        let status = text.parse::<OrderStatus>();
        prop_assert_eq!(status.is_ok(), OrderStatus::ALL.iter().any(|s| s.as_str() == text));
        let action = text.parse::<OrderAction>();
        prop_assert_eq!(action.is_ok(), OrderAction::ALL.iter().any(|a| a.as_str() == text));
    }
}
