//! Part (b): the idempotent consumer.
//!
//! Run with `cargo test -p exercise-10 part_b`. First the bounded window of ids on its own (what
//! it remembers, what it forgets first), with a property test against a simple model; then the
//! consumer over it and over a store of the tests' own, counting how often each effect ran.

use std::cell::Cell;
use std::collections::{HashSet, VecDeque};
use std::num::NonZeroUsize;

use exercise_10::{Dedup, Handled, ProcessedStore, Window};
use proptest::prelude::*;

fn window(capacity: usize) -> Window {
    Window::new(NonZeroUsize::new(capacity).expect("a capacity of at least 1"))
}

/// A store that remembers everything, and counts how often it was asked to mark.
#[derive(Debug, Default)]
struct Everything {
    ids: HashSet<String>,
    marks: usize,
}

impl ProcessedStore for Everything {
    fn is_processed(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    fn mark_processed(&mut self, id: &str) {
        self.marks += 1;
        self.ids.insert(id.to_owned());
    }
}

/// An effect that counts its runs and answers `Ok(runs so far)`.
fn counting(runs: &Cell<u32>) -> impl FnOnce() -> Result<u32, String> + '_ {
    move || {
        runs.set(runs.get() + 1);
        Ok(runs.get())
    }
}

#[test]
fn a_new_window_remembers_nothing() {
    let window = window(3);
    assert_eq!(window.len(), 0);
    assert!(window.is_empty());
    assert!(!window.is_processed("e1"));
}

#[test]
fn a_window_remembers_what_was_marked() {
    let mut window = window(3);
    window.mark_processed("e1");
    window.mark_processed("e2");
    assert!(window.is_processed("e1"));
    assert!(window.is_processed("e2"));
    assert!(!window.is_processed("e3"));
    assert_eq!(window.len(), 2);
    assert!(!window.is_empty());
}

#[test]
fn a_full_window_forgets_the_oldest_id_first() {
    let mut window = window(3);
    for id in ["e1", "e2", "e3"] {
        window.mark_processed(id);
    }
    assert!(window.is_processed("e1"), "asking is not marking");
    window.mark_processed("e4");
    assert_eq!(window.len(), 3, "never more than the capacity");
    assert!(
        !window.is_processed("e1"),
        "e1 was marked first, so it goes first"
    );
    for id in ["e2", "e3", "e4"] {
        assert!(window.is_processed(id), "{id} is still remembered");
    }
    window.mark_processed("e5");
    assert!(!window.is_processed("e2"), "then e2");
    assert!(window.is_processed("e3"));
}

#[test]
fn a_window_holds_exactly_its_capacity() {
    let mut window = window(2);
    window.mark_processed("e1");
    window.mark_processed("e2");
    assert_eq!(window.len(), 2);
    assert!(
        window.is_processed("e1") && window.is_processed("e2"),
        "two ids fit a window of two"
    );
    let mut one = self::window(1);
    one.mark_processed("e1");
    assert!(one.is_processed("e1"));
    one.mark_processed("e2");
    assert!(!one.is_processed("e1"));
    assert!(one.is_processed("e2"));
}

#[test]
fn marking_an_id_twice_keeps_one_place() {
    let mut window = window(2);
    window.mark_processed("e1");
    window.mark_processed("e1");
    assert_eq!(window.len(), 1);
    window.mark_processed("e2");
    assert!(
        window.is_processed("e1") && window.is_processed("e2"),
        "e1 was marked twice but holds one place: e1 and e2 fit"
    );
    window.mark_processed("e1");
    window.mark_processed("e3");
    assert!(
        !window.is_processed("e1"),
        "marking e1 again did not make it newer: it is still the oldest"
    );
    assert!(window.is_processed("e2") && window.is_processed("e3"));
}

#[test]
fn an_effect_runs_once_per_event_id() {
    let mut dedup = Dedup::new(Everything::default());
    let runs = Cell::new(0);
    assert_eq!(dedup.handle("e1", counting(&runs)), Ok(Handled::Ran(1)));
    assert_eq!(
        dedup.handle("e1", counting(&runs)),
        Ok(Handled::Duplicate),
        "a redelivery of e1"
    );
    assert_eq!(dedup.handle("e1", counting(&runs)), Ok(Handled::Duplicate));
    assert_eq!(runs.get(), 1, "the effect ran once");
    assert_eq!(dedup.handle("e2", counting(&runs)), Ok(Handled::Ran(2)));
    assert_eq!(runs.get(), 2, "another id is another event");
    assert!(dedup.store().is_processed("e1") && dedup.store().is_processed("e2"));
}

#[test]
fn a_failed_effect_does_not_mark_the_id() {
    let mut dedup = Dedup::new(Everything::default());
    let answer = dedup.handle("e1", || Err::<u32, _>("the database is down"));
    assert_eq!(answer, Err("the database is down"));
    assert!(
        !dedup.store().is_processed("e1"),
        "e1 failed: it is not processed"
    );
    assert_eq!(dedup.store().marks, 0);
    let runs = Cell::new(0);
    assert_eq!(
        dedup.handle("e1", counting(&runs)),
        Ok(Handled::Ran(1)),
        "the redelivery runs the effect again"
    );
    assert!(dedup.store().is_processed("e1"));
    assert_eq!(dedup.handle("e1", counting(&runs)), Ok(Handled::Duplicate));
    assert_eq!(runs.get(), 1);
}

#[test]
fn a_duplicate_does_not_touch_the_store() {
    let mut dedup = Dedup::new(Everything::default());
    assert_eq!(
        dedup.handle("e1", || Ok::<_, ()>("done")),
        Ok(Handled::Ran("done"))
    );
    assert_eq!(dedup.store().marks, 1, "marked once it succeeded");
    assert_eq!(
        dedup.handle("e1", || -> Result<(), ()> {
            panic!("a duplicate's effect must not run")
        }),
        Ok(Handled::Duplicate)
    );
    assert_eq!(dedup.store().marks, 1, "a duplicate is not marked again");
}

#[test]
fn the_consumer_over_a_window_runs_again_what_it_forgot() {
    let mut dedup = Dedup::new(window(2));
    let runs = Cell::new(0);
    for id in ["e1", "e2", "e1", "e3"] {
        let _ = dedup.handle(id, counting(&runs));
    }
    assert_eq!(runs.get(), 3, "e1 twice within the window ran once");
    assert_eq!(dedup.store().len(), 2);
    assert_eq!(
        dedup.handle("e1", counting(&runs)),
        Ok(Handled::Ran(4)),
        "e3 pushed e1 out: a duplicate later than the window runs again"
    );
    assert_eq!(dedup.handle("e3", counting(&runs)), Ok(Handled::Duplicate));
}

/// What the window must remember: the last `capacity` distinct ids marked, oldest first.
#[derive(Debug, Default)]
struct Model {
    ids: VecDeque<String>,
}

impl Model {
    fn mark(&mut self, id: &str, capacity: usize) {
        if self.ids.iter().any(|held| held == id) {
            return;
        }
        if self.ids.len() == capacity {
            self.ids.pop_front();
        }
        self.ids.push_back(id.to_owned());
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Random marks of a few ids (so that repeats and evictions are common) against the model.
    #[test]
    fn the_window_follows_the_model(
        capacity in 1usize..6,
        marks in proptest::collection::vec(0u8..10, 0..60),
    ) {
        let mut window = window(capacity);
        let mut model = Model::default();
        for id in marks {
            let id = format!("e{id}");
            window.mark_processed(&id);
            model.mark(&id, capacity);
            prop_assert_eq!(window.len(), model.ids.len());
            for probe in 0u8..10 {
                let probe = format!("e{probe}");
                prop_assert_eq!(
                    window.is_processed(&probe),
                    model.ids.contains(&probe),
                    "after marking {}, is {} processed?", id, probe
                );
            }
        }
    }
}
