//! Part (c): the outbox relay.
//!
//! Run with `cargo test -p exercise-10 part_c`. Each test fills an in-memory outbox, scripts the
//! broker's answers, runs passes, and checks three things: what the broker was sent, in what
//! order; what the outbox says afterwards (sent, attempts); and the pass's report.

use exercise_10::{Confirm, Outbox, RelayReport, ScriptedBroker, relay_pass};

use Confirm::{Ack, Nack, Unreachable};

/// An outbox with one row per `(key, payload)`, ids 1, 2, 3, ... in this order.
fn outbox(rows: &[(&str, &str)]) -> Outbox {
    let mut outbox = Outbox::new();
    for (key, payload) in rows {
        outbox.insert(key, payload);
    }
    outbox
}

fn report(sent: &[u64], failed: &[u64], held: &[u64], unreachable: bool) -> RelayReport {
    RelayReport {
        sent: sent.to_vec(),
        failed: failed.to_vec(),
        held: held.to_vec(),
        unreachable,
    }
}

/// `(id, sent, attempts)` of every row.
fn state(outbox: &Outbox) -> Vec<(u64, bool, u32)> {
    outbox
        .rows()
        .iter()
        .map(|row| (row.id, row.sent, row.attempts))
        .collect()
}

#[test]
fn an_empty_outbox_publishes_nothing() {
    let mut outbox = Outbox::new();
    let mut broker = ScriptedBroker::new([]);
    assert_eq!(
        relay_pass(&mut outbox, &mut broker),
        report(&[], &[], &[], false)
    );
    assert!(broker.published().is_empty());
}

#[test]
fn acked_rows_are_published_in_order_and_marked_sent() {
    let mut outbox = outbox(&[
        ("order-1", "placed"),
        ("order-2", "placed"),
        ("order-1", "paid"),
    ]);
    let mut broker = ScriptedBroker::new([]);
    assert_eq!(
        relay_pass(&mut outbox, &mut broker),
        report(&[1, 2, 3], &[], &[], false)
    );
    assert_eq!(broker.published(), [1, 2, 3], "in id order");
    assert_eq!(state(&outbox), [(1, true, 0), (2, true, 0), (3, true, 0)]);
}

#[test]
fn a_sent_row_is_never_published_again() {
    let mut outbox = outbox(&[("order-1", "placed"), ("order-2", "placed")]);
    let mut broker = ScriptedBroker::new([]);
    relay_pass(&mut outbox, &mut broker);
    let third = outbox.insert("order-3", "placed");
    assert_eq!(
        relay_pass(&mut outbox, &mut broker),
        report(&[third], &[], &[], false),
        "the second pass has only the new row to send"
    );
    assert_eq!(
        relay_pass(&mut outbox, &mut broker),
        report(&[], &[], &[], false),
        "and the third nothing"
    );
    assert_eq!(broker.published(), [1, 2, 3], "each row went out once");
}

#[test]
fn a_nacked_row_stays_pending_with_one_attempt_more() {
    let mut outbox = outbox(&[("order-1", "placed")]);
    let mut broker = ScriptedBroker::new([Nack, Nack]);
    assert_eq!(
        relay_pass(&mut outbox, &mut broker),
        report(&[], &[1], &[], false)
    );
    assert_eq!(state(&outbox), [(1, false, 1)], "not sent, one failure");
    assert_eq!(
        relay_pass(&mut outbox, &mut broker),
        report(&[], &[1], &[], false),
        "the next pass tries it again"
    );
    assert_eq!(state(&outbox), [(1, false, 2)]);
    assert_eq!(
        relay_pass(&mut outbox, &mut broker),
        report(&[1], &[], &[], false),
        "and the third, with the broker acking again, sends it"
    );
    assert_eq!(state(&outbox), [(1, true, 2)], "the failures stay counted");
    assert_eq!(broker.published(), [1, 1, 1]);
}

#[test]
fn a_failed_row_holds_back_the_later_rows_of_its_key() {
    let mut outbox = outbox(&[
        ("order-1", "placed"),
        ("order-1", "paid"),
        ("order-1", "shipped"),
    ]);
    let mut broker = ScriptedBroker::new([Nack]);
    assert_eq!(
        relay_pass(&mut outbox, &mut broker),
        report(&[], &[1], &[2, 3], false),
        "\"paid\" before \"placed\" would reach consumers out of order"
    );
    assert_eq!(broker.published(), [1], "nothing after the nack of order-1");
    assert_eq!(
        state(&outbox),
        [(1, false, 1), (2, false, 0), (3, false, 0)],
        "held rows were not attempted, so they did not fail"
    );
    assert_eq!(
        relay_pass(&mut outbox, &mut broker),
        report(&[1, 2, 3], &[], &[], false),
        "the next pass sends all three, still in order"
    );
    assert_eq!(broker.published(), [1, 1, 2, 3]);
}

#[test]
fn other_keys_go_on_past_a_failure() {
    let mut outbox = outbox(&[
        ("order-1", "placed"),
        ("order-2", "placed"),
        ("order-1", "paid"),
        ("order-3", "placed"),
        ("order-2", "paid"),
    ]);
    // Row 1 (order-1) is nacked; rows 2, 4 and 5 are acked; row 3 (order-1) is held.
    let mut broker = ScriptedBroker::new([Nack, Ack, Ack]);
    assert_eq!(
        relay_pass(&mut outbox, &mut broker),
        report(&[2, 4, 5], &[1], &[3], false)
    );
    assert_eq!(broker.published(), [1, 2, 4, 5]);
    assert_eq!(
        state(&outbox),
        [
            (1, false, 1),
            (2, true, 0),
            (3, false, 0),
            (4, true, 0),
            (5, true, 0),
        ]
    );
}

#[test]
fn a_later_failure_of_another_key_holds_back_only_that_key() {
    let mut outbox = outbox(&[("a", "1"), ("b", "1"), ("a", "2"), ("b", "2"), ("c", "1")]);
    // Row 1 acked, row 2 (b) nacked, row 3 (a) acked, row 4 (b) held, row 5 acked.
    let mut broker = ScriptedBroker::new([Ack, Nack]);
    assert_eq!(
        relay_pass(&mut outbox, &mut broker),
        report(&[1, 3, 5], &[2], &[4], false)
    );
    assert_eq!(broker.published(), [1, 2, 3, 5]);
}

#[test]
fn an_unreachable_broker_stops_the_pass() {
    let mut outbox = outbox(&[
        ("order-1", "placed"),
        ("order-2", "placed"),
        ("order-3", "placed"),
        ("order-4", "placed"),
    ]);
    let mut broker = ScriptedBroker::new([Ack, Unreachable]);
    assert_eq!(
        relay_pass(&mut outbox, &mut broker),
        report(&[1], &[2], &[], true),
        "row 2 got no answer: rows 3 and 4, of other keys, are not tried"
    );
    assert_eq!(broker.published(), [1, 2]);
    assert_eq!(
        state(&outbox),
        [(1, true, 0), (2, false, 1), (3, false, 0), (4, false, 0)]
    );
    assert_eq!(
        relay_pass(&mut outbox, &mut broker),
        report(&[2, 3, 4], &[], &[], false),
        "once the broker is back, the next pass picks up where this one stopped"
    );
}

#[test]
fn a_held_row_stays_held_when_the_broker_goes_away_after_it() {
    let mut outbox = outbox(&[("a", "1"), ("a", "2"), ("b", "1"), ("c", "1")]);
    let mut broker = ScriptedBroker::new([Nack, Unreachable]);
    assert_eq!(
        relay_pass(&mut outbox, &mut broker),
        report(&[], &[1, 3], &[2], true)
    );
    assert_eq!(broker.published(), [1, 3]);
    assert_eq!(
        state(&outbox),
        [(1, false, 1), (2, false, 0), (3, false, 1), (4, false, 0)]
    );
}

#[test]
fn an_unreachable_first_row_publishes_nothing_else() {
    let mut outbox = outbox(&[("a", "1"), ("b", "1")]);
    let mut broker = ScriptedBroker::new([Unreachable]);
    assert_eq!(
        relay_pass(&mut outbox, &mut broker),
        report(&[], &[1], &[], true)
    );
    assert_eq!(broker.published(), [1]);
    assert_eq!(state(&outbox), [(1, false, 1), (2, false, 0)]);
}
