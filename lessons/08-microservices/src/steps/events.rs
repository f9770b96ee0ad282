//! Step 6: an order kept as its events: the state after each one, a command refused by the
//! state machine, and a read model folded from the same log. No service needed.

use narrate::demo::expect;
use narrate::{Table, heading, say, show};
use shop_domain::order::{Order, OrderCommand, OrderEvent, OrderStatus};
use shop_domain::{Currency, Money, OrderId, UserId};

use super::{StepError, event_summary};
use crate::read_model::{OrdersByStatus, Recorded};

fn eur(minor: i64) -> Money {
    Money::from_minor(minor, Currency::Eur)
}

fn json(event: &OrderEvent) -> String {
    serde_json::to_string(event).unwrap_or_else(|_| format!("{event:?}"))
}

/// An order from placement to delivery.
fn delivered_history(order_id: OrderId) -> Vec<OrderEvent> {
    let total = eur(4_900);
    vec![
        OrderEvent::Placed {
            order_id,
            customer: UserId::generate(),
            total,
        },
        OrderEvent::PaymentCaptured { amount: total },
        OrderEvent::Fulfilled,
        OrderEvent::Shipped {
            tracking: "1Z999AA10123456784".into(),
        },
        OrderEvent::Delivered,
    ]
}

pub fn events() -> Result<(), StepError> {
    heading(
        6,
        "Event sourcing: an order's history, its state, a read model",
    );
    say("An order is not a row that is updated; it is the list of what happened to it, and");
    say("its state is a fold over that list (shop_domain::order::Order::replay):");
    let order_id = OrderId::generate();
    let history = delivered_history(order_id);

    // ANCHOR: replay
    let mut table = Table::new(["v>", "event", "status after", "paid", "tracking"]);
    let mut state: Option<Order> = None;
    for event in &history {
        // One step of the fold: the first event starts the order, each later one moves it.
        let next = match state.take() {
            None => Order::replay([event])?,
            Some(order) => order.apply(event)?,
        };
        table.row([
            next.version().to_string(),
            event_summary(event),
            next.status().to_string(),
            next.paid().to_string(),
            next.tracking().unwrap_or("-").to_owned(),
        ]);
        state = Some(next);
    }
    let replayed = Order::replay(&history)?;
    // ANCHOR_END: replay
    print!("{table}");
    say("Each event is stored as JSON, tagged by its type:");
    show(json(&history[3]));
    expect(
        state.as_ref() == Some(&replayed) && replayed.status() == OrderStatus::Delivered,
        "the step-by-step fold and the whole replay to agree on a delivered order",
        format!("{state:?} vs {replayed:?}"),
    )?;
    say(format_args!(
        "Replaying all {} events at once gives the same state: nothing is stored but the",
        history.len()
    ));
    say("events, so the history can always explain the state (an audit log for free).");

    println!();
    let cancelled_id = OrderId::generate();
    let cancelled_history = vec![
        OrderEvent::Placed {
            order_id: cancelled_id,
            customer: UserId::generate(),
            total: eur(1_250),
        },
        OrderEvent::Cancelled {
            reason: "customer changed their mind".into(),
        },
    ];
    let cancelled = Order::replay(&cancelled_history)?;
    say(format_args!(
        "A second order, placed then cancelled: status {}. A command is checked against",
        cancelled.status()
    ));
    say("the state before any event is recorded (Order::decide); shipping it is refused:");
    let command = OrderCommand::Ship {
        tracking: "1Z999AA10123456785".into(),
    };
    let decided = cancelled.decide(command);
    match &decided {
        Ok(event) => show(format_args!("accepted?! {}", json(event))),
        Err(error) => show(format_args!("ship → refused: {error}")),
    }
    expect(
        decided.is_err(),
        "shipping a cancelled order to be an illegal transition",
        format!("{decided:?}"),
    )?;
    say("Nothing was appended: a refused command leaves no trace in the history. The rules");
    say("live in one match (OrderStatus::apply), which the fold and the command both use.");

    println!();
    read_model(order_id, &history, cancelled_id, &cancelled_history)
}

/// The same events, as one log across orders, folded into a count per status.
fn read_model(
    delivered_id: OrderId,
    delivered: &[OrderEvent],
    cancelled_id: OrderId,
    cancelled: &[OrderEvent],
) -> Result<(), StepError> {
    let paid_id = OrderId::generate();
    let pending_id = OrderId::generate();
    let placed = |order_id, minor| OrderEvent::Placed {
        order_id,
        customer: UserId::generate(),
        total: eur(minor),
    };
    let recorded = |order_id, event: &OrderEvent| Recorded {
        order_id,
        event: event.clone(),
    };
    // Interleaved as a log is: in the order things happened, across orders.
    let mut log = vec![
        recorded(delivered_id, &delivered[0]),
        recorded(cancelled_id, &cancelled[0]),
        recorded(paid_id, &placed(paid_id, 2_400)),
        recorded(delivered_id, &delivered[1]),
        recorded(pending_id, &placed(pending_id, 1_800)),
        recorded(cancelled_id, &cancelled[1]),
        recorded(paid_id, &OrderEvent::PaymentCaptured { amount: eur(2_400) }),
    ];
    log.extend(delivered[2..].iter().map(|e| recorded(delivered_id, e)));
    let projection: OrdersByStatus = log.iter().collect();
    say(format_args!(
        "CQRS: the write side replays one order to decide; a read side folds the whole log ({}",
        log.len()
    ));
    say("events, four orders) into the shape a screen needs, here orders per status:");
    let mut table = Table::new(["status", "orders>"]);
    for (status, count) in projection.rows() {
        table.row([status.to_string(), count.to_string()]);
    }
    print!("{table}");

    // The check: replaying each order on the write side gives the same statuses.
    let mut by_replay = Vec::new();
    for id in [delivered_id, cancelled_id, paid_id, pending_id] {
        let history = log.iter().filter(|r| r.order_id == id).map(|r| &r.event);
        by_replay.push(Order::replay(history)?.status());
    }
    let agrees = OrderStatus::ALL.into_iter().all(|status| {
        projection.count(status) == by_replay.iter().filter(|&&s| s == status).count()
    });
    expect(
        agrees && projection.skipped == 0,
        "the read model to agree with replaying each order",
        format!("{projection:?} vs {by_replay:?}"),
    )?;
    say("It agrees with replaying each order, without replaying any: each event moved one");
    say("count. A read model is disposable; rebuild it from the log, or add another (revenue");
    say("per day, orders per customer) without touching the write side.");
    Ok(())
}
