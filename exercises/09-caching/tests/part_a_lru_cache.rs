//! Part (a): the LRU cache.
//!
//! Run with `cargo test -p exercise-09 part_a`. The first tests take one rule at a time (what
//! counts as a use, what an update does, what `remove` frees); the property test at the end
//! runs random sequences of operations against a model that keeps the entries in a `Vec`
//! ordered by use, and compares every answer.

use std::num::NonZeroUsize;

use exercise_09::{LruCache, Put};
use proptest::prelude::*;

fn cache<V>(capacity: usize) -> LruCache<u32, V> {
    LruCache::new(NonZeroUsize::new(capacity).expect("a capacity of at least 1"))
}

fn evicted<V>(key: u32, value: V) -> Put<u32, V> {
    Put::Evicted { key, value }
}

/// Fills `cache` with `keys`, in this order, each with the value `key * 10`.
fn fill(cache: &mut LruCache<u32, u32>, keys: &[u32]) {
    for &key in keys {
        assert_eq!(
            cache.put(key, key * 10),
            Put::Inserted,
            "key {key} is new and there is room"
        );
    }
}

#[test]
fn a_new_cache_is_empty() {
    let mut cache = cache::<&str>(3);
    assert_eq!(cache.capacity().get(), 3);
    assert_eq!(cache.len(), 0);
    assert!(cache.is_empty());
    assert_eq!(cache.get(&1), None);
    assert_eq!(cache.peek(&1), None);
    assert_eq!(cache.remove(&1), None);
    assert!(
        cache.is_empty(),
        "reading and removing nothing adds nothing"
    );
}

#[test]
fn a_value_put_is_read_back() {
    let mut cache = cache(3);
    assert_eq!(cache.put(1, "one"), Put::Inserted);
    assert_eq!(cache.put(2, "two"), Put::Inserted);
    assert_eq!(cache.len(), 2);
    assert!(!cache.is_empty());
    assert_eq!(cache.get(&1), Some(&"one"));
    assert_eq!(cache.peek(&2), Some(&"two"));
    assert_eq!(cache.get(&3), None);
    assert_eq!(cache.len(), 2, "reading changes nothing in size");
}

#[test]
fn a_full_cache_evicts_the_least_recently_put() {
    let mut cache = cache(3);
    fill(&mut cache, &[1, 2, 3]);
    assert_eq!(cache.put(4, 40), evicted(1, 10), "1 is the oldest");
    assert_eq!(cache.put(5, 50), evicted(2, 20), "then 2");
    assert_eq!(cache.len(), 3, "a full cache stays full, never more");
    assert_eq!(cache.peek(&1), None);
    assert_eq!(cache.peek(&2), None);
    for key in [3, 4, 5] {
        assert_eq!(cache.peek(&key), Some(&(key * 10)));
    }
}

#[test]
fn get_makes_an_entry_the_most_recently_used() {
    let mut cache = cache(3);
    fill(&mut cache, &[1, 2, 3]);
    assert_eq!(cache.get(&1), Some(&10));
    assert_eq!(
        cache.put(4, 40),
        evicted(2, 20),
        "1 was read after 2 and 3 were put: 2 is the least recently used"
    );
    assert_eq!(cache.get(&3), Some(&30));
    assert_eq!(cache.put(5, 50), evicted(1, 10), "order of use: 1, 4, 3");
    assert_eq!(cache.put(6, 60), evicted(4, 40));
}

#[test]
fn get_of_a_missing_key_changes_no_order() {
    let mut cache = cache(2);
    fill(&mut cache, &[1, 2]);
    assert_eq!(cache.get(&9), None);
    assert_eq!(cache.put(3, 30), evicted(1, 10));
}

#[test]
fn peek_leaves_the_order_alone() {
    let mut cache = cache(3);
    fill(&mut cache, &[1, 2, 3]);
    assert_eq!(cache.peek(&1), Some(&10));
    assert_eq!(
        cache.put(4, 40),
        evicted(1, 10),
        "peek is not a use: 1 is still the oldest"
    );
}

#[test]
fn updating_a_key_replaces_its_value_and_evicts_nothing() {
    let mut cache = cache(2);
    fill(&mut cache, &[1, 2]);
    assert_eq!(
        cache.put(1, 11),
        Put::Replaced(10),
        "a full cache updates a key it holds without making room"
    );
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.peek(&1), Some(&11));
    assert_eq!(cache.peek(&2), Some(&20), "nothing was evicted");
}

#[test]
fn updating_a_key_makes_it_the_most_recently_used() {
    let mut cache = cache(3);
    fill(&mut cache, &[1, 2, 3]);
    assert_eq!(cache.put(1, 11), Put::Replaced(10));
    assert_eq!(cache.put(4, 40), evicted(2, 20), "order of use: 2, 3, 1");
    assert_eq!(cache.put(5, 50), evicted(3, 30));
    assert_eq!(cache.put(6, 60), evicted(1, 11), "with its new value");
}

#[test]
fn remove_frees_a_place_and_keeps_the_order() {
    let mut cache = cache(3);
    fill(&mut cache, &[1, 2, 3]);
    assert_eq!(cache.remove(&2), Some(20));
    assert_eq!(cache.remove(&2), None, "removed already");
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.peek(&2), None);
    assert_eq!(cache.put(4, 40), Put::Inserted, "its place is free");
    assert_eq!(
        cache.put(5, 50),
        evicted(1, 10),
        "the others kept their order"
    );
    assert_eq!(cache.put(6, 60), evicted(3, 30));
    assert_eq!(cache.put(7, 70), evicted(4, 40));
}

#[test]
fn removing_the_newest_the_oldest_and_every_entry() {
    let mut cache = cache(3);
    fill(&mut cache, &[1, 2, 3]);
    assert_eq!(cache.remove(&3), Some(30), "the most recently used");
    assert_eq!(cache.put(4, 40), Put::Inserted);
    assert_eq!(cache.remove(&1), Some(10), "the least recently used");
    assert_eq!(cache.put(5, 50), Put::Inserted);
    assert_eq!(cache.get(&2), Some(&20), "order of use: 4, 5, 2");
    assert_eq!(cache.put(6, 60), evicted(4, 40));
    for key in [2, 5, 6] {
        assert_eq!(cache.remove(&key), Some(key * 10));
    }
    assert!(cache.is_empty());
    fill(&mut cache, &[7, 8, 9]);
    assert_eq!(
        cache.put(10, 100),
        evicted(7, 70),
        "emptied, it starts over"
    );
}

#[test]
fn a_cache_of_one_keeps_the_last_key_put() {
    let mut cache = cache(1);
    assert_eq!(cache.put(1, "one"), Put::Inserted);
    assert_eq!(cache.put(1, "uno"), Put::Replaced("one"));
    assert_eq!(cache.put(2, "two"), evicted(1, "uno"));
    assert_eq!(cache.get(&2), Some(&"two"));
    assert_eq!(cache.len(), 1);
}

// ---- The model ----

#[derive(Debug, Clone)]
enum Op {
    Get(u32),
    Peek(u32),
    Put(u32, u32),
    Remove(u32),
}

/// What the cache should do, the slow and obvious way: the entries in a `Vec`, least recently
/// used first.
struct Model {
    capacity: usize,
    entries: Vec<(u32, u32)>,
}

impl Model {
    fn position(&self, key: u32) -> Option<usize> {
        self.entries.iter().position(|&(k, _)| k == key)
    }

    fn get(&mut self, key: u32) -> Option<u32> {
        let entry = self.entries.remove(self.position(key)?);
        self.entries.push(entry);
        Some(entry.1)
    }

    fn peek(&self, key: u32) -> Option<u32> {
        self.position(key).map(|at| self.entries[at].1)
    }

    fn put(&mut self, key: u32, value: u32) -> Put<u32, u32> {
        let answer = if let Some(at) = self.position(key) {
            Put::Replaced(self.entries.remove(at).1)
        } else if self.entries.len() < self.capacity {
            Put::Inserted
        } else {
            let (key, value) = self.entries.remove(0);
            Put::Evicted { key, value }
        };
        self.entries.push((key, value));
        answer
    }

    fn remove(&mut self, key: u32) -> Option<u32> {
        Some(self.entries.remove(self.position(key)?).1)
    }
}

fn op() -> impl Strategy<Value = Op> {
    // Few keys, so that hits, updates and evictions all happen often.
    let key = 0..6u32;
    prop_oneof![
        3 => key.clone().prop_map(Op::Get),
        1 => key.clone().prop_map(Op::Peek),
        4 => (key.clone(), 0..1000u32).prop_map(|(k, v)| Op::Put(k, v)),
        2 => key.prop_map(Op::Remove),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Every answer is the model's, and at the end the whole order of use is too: putting
    /// `capacity` new keys evicts the entries from the least recently used on.
    #[test]
    fn the_cache_follows_the_model(capacity in 1..5usize, ops in prop::collection::vec(op(), 0..60)) {
        let mut cache = cache(capacity);
        let mut model = Model { capacity, entries: Vec::new() };
        for (step, op) in ops.iter().enumerate() {
            match *op {
                Op::Get(k) => prop_assert_eq!(cache.get(&k).copied(), model.get(k), "step {}: {:?}", step, op),
                Op::Peek(k) => prop_assert_eq!(cache.peek(&k).copied(), model.peek(k), "step {}: {:?}", step, op),
                Op::Put(k, v) => prop_assert_eq!(cache.put(k, v), model.put(k, v), "step {}: {:?}", step, op),
                Op::Remove(k) => prop_assert_eq!(cache.remove(&k), model.remove(k), "step {}: {:?}", step, op),
            }
            prop_assert_eq!(cache.len(), model.entries.len(), "len after step {}: {:?}", step, op);
            prop_assert_eq!(cache.is_empty(), model.entries.is_empty());
        }
        for key in 0..6 {
            prop_assert_eq!(cache.peek(&key).copied(), model.peek(key), "key {} at the end", key);
        }
        for fresh in 100..100 + capacity as u32 {
            prop_assert_eq!(cache.put(fresh, 0), model.put(fresh, 0), "flushing with key {}", fresh);
        }
    }
}
