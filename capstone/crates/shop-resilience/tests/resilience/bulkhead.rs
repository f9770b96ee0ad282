//! The bulkhead: N places, the N+1st caller refused at once, a place freed on drop.

use std::num::NonZeroUsize;

use shop_resilience::{Bulkhead, BulkheadFull};

#[test]
fn the_n_plus_first_call_is_refused_and_a_drop_frees_a_place() {
    let bulkhead = Bulkhead::new("inventory", NonZeroUsize::new(2).expect("2 is not 0"));
    assert_eq!(bulkhead.in_flight(), 0);
    let first = bulkhead.try_enter().expect("a place is free");
    let _second = bulkhead.try_enter().expect("a place is free");
    assert_eq!(bulkhead.in_flight(), 2);
    assert_eq!(
        bulkhead.try_enter().expect_err("both places are taken"),
        BulkheadFull {
            name: "inventory",
            max: 2
        }
    );
    drop(first);
    assert_eq!(bulkhead.in_flight(), 1);
    let _third = bulkhead
        .try_enter()
        .expect("the dropped place is free again");
    assert!(bulkhead.try_enter().is_err());
}

#[tokio::test]
async fn a_place_can_travel_into_another_task() {
    let bulkhead = Bulkhead::new("payments", NonZeroUsize::MIN);
    let place = bulkhead.try_enter().expect("free");
    let task = tokio::spawn(async move {
        let _place = place;
        tokio::task::yield_now().await;
    });
    assert!(
        bulkhead.try_enter().is_err(),
        "the task holds the only place"
    );
    task.await.expect("the task does not panic");
    assert!(bulkhead.try_enter().is_ok(), "freed when the task ended");
}
