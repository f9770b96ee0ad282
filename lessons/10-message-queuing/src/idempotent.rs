//! An idempotent consumer: the same message delivered twice has its effect once.
//!
//! At-least-once delivery is what a broker promises: a consumer that crashes after its work
//! but before its ack gets the message again, and a publisher that lost a confirm publishes
//! again. So the consumer remembers the ids it has processed. This one remembers the last
//! `capacity` ids in memory, which is enough to show the idea and what it costs; the capstone's
//! consumers keep them in PostgreSQL (`processed_events`), written in the same transaction as
//! the effect, so that "done" and "remembered as done" cannot come apart.

use std::collections::{HashSet, VecDeque};

// ANCHOR: dedup
/// The ids seen most recently, at most `capacity` of them.
#[derive(Debug)]
pub struct Dedup {
    seen: HashSet<String>,
    order: VecDeque<String>,
    capacity: usize,
}

impl Dedup {
    pub fn new(capacity: usize) -> Self {
        Dedup {
            seen: HashSet::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// True the first time `id` is offered (then remembered), false for a duplicate. An id
    /// older than the last `capacity` is forgotten: the window must be longer than the
    /// longest gap between a message and its redelivery.
    pub fn first_time(&mut self, id: &str) -> bool {
        if self.seen.contains(id) {
            return false;
        }
        if self.order.len() == self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        self.seen.insert(id.to_owned());
        self.order.push_back(id.to_owned());
        true
    }
}
// ANCHOR_END: dedup

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duplicate_is_refused_and_a_new_id_accepted() {
        let mut dedup = Dedup::new(10);
        assert!(dedup.first_time("a"));
        assert!(!dedup.first_time("a"));
        assert!(dedup.first_time("b"));
        assert!(!dedup.first_time("b"));
    }

    #[test]
    fn the_window_forgets_the_oldest_id_only() {
        let mut dedup = Dedup::new(2);
        assert!(dedup.first_time("a"));
        assert!(dedup.first_time("b"));
        assert!(dedup.first_time("c"), "a is forgotten now");
        assert!(!dedup.first_time("b"), "b is still remembered");
        assert!(
            dedup.first_time("a"),
            "a was forgotten, so it counts as new"
        );
    }
}
