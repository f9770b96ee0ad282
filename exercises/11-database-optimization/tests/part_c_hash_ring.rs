//! Part (c): the consistent-hash ring. Pure Rust, no service needed.
//!
//! A model in this file says where each key belongs (the first point at or after its hash,
//! round the circle), from the given `vnode_point` and `stable_hash`; the property tests
//! compare your ring with it, the other tests check what consistent hashing is for: few keys
//! move when the ring changes, and the load is even with enough virtual nodes.
//!
//! Run with `cargo test -p exercise-11 part_c`.

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU32;

use exercise_11::{Ring, RingError, stable_hash, vnode_point};
use proptest::prelude::*;

fn vnodes(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).expect("a positive count")
}

fn ring(per_node: u32, nodes: &[&str]) -> Ring {
    let mut ring = Ring::new(vnodes(per_node));
    for node in nodes {
        assert!(
            ring.add(node),
            "{node} is new on the ring: add returns true"
        );
    }
    ring
}

/// Where `key` belongs on a ring of `nodes` with `per_node` points each, the slow way.
fn model(per_node: u32, nodes: &BTreeSet<String>, key: &str) -> Option<String> {
    let points: BTreeMap<u64, &String> = nodes
        .iter()
        .flat_map(|node| (0..per_node).map(move |i| (vnode_point(node, i), node)))
        .collect();
    let hash = stable_hash(key.as_bytes());
    points
        .iter()
        .find(|(point, _)| **point >= hash)
        .or_else(|| points.iter().next())
        .map(|(_, node)| (*node).clone())
}

fn keys(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("customer-{i}")).collect()
}

fn routes(ring: &Ring, keys: &[String]) -> Vec<String> {
    keys.iter()
        .map(|key| {
            ring.route(key)
                .expect("a ring with nodes routes every key")
                .to_owned()
        })
        .collect()
}

#[test]
fn an_empty_ring_is_an_error_not_a_panic() {
    let empty = Ring::new(vnodes(8));
    assert_eq!(empty.route("anything"), Err(RingError::Empty));
    assert_eq!(empty.nodes(), Vec::<&str>::new());

    let mut emptied = ring(8, &["db-1"]);
    assert!(emptied.remove("db-1"), "db-1 was on the ring");
    assert_eq!(
        emptied.route("anything"),
        Err(RingError::Empty),
        "removing the last node leaves an empty ring"
    );
}

#[test]
fn one_node_holds_every_key() {
    let ring = ring(3, &["solo"]);
    for key in keys(200) {
        assert_eq!(ring.route(&key), Ok("solo"));
    }
}

#[test]
fn these_keys_go_to_these_nodes() {
    // Worked out by hand from vnode_point and stable_hash: a ring of three nodes with 16
    // points each. It pins the hash, the labels of the points and the direction of the search.
    let ring = ring(16, &["db-a", "db-b", "db-c"]);
    for (key, node) in EXPECTED_ROUTES {
        assert_eq!(ring.route(key), Ok(node), "key {key}");
    }
}

const EXPECTED_ROUTES: [(&str, &str); 20] = [
    ("alice", "db-a"),
    ("bob", "db-c"),
    ("carol", "db-c"),
    ("dave", "db-c"),
    ("erin", "db-c"),
    ("frank", "db-a"),
    ("grace", "db-a"),
    ("heidi", "db-b"),
    ("ivan", "db-c"),
    ("judy", "db-a"),
    ("mallory", "db-a"),
    ("niaj", "db-b"),
    ("olivia", "db-c"),
    ("peggy", "db-c"),
    ("rupert", "db-c"),
    ("sybil", "db-c"),
    ("trent", "db-a"),
    ("victor", "db-a"),
    ("walter", "db-c"),
    ("", "db-c"),
];

#[test]
fn a_key_on_a_point_belongs_to_that_points_node() {
    // The text of a point's label hashes to the point itself: the key "db-b#2" sits exactly
    // on db-b's third point, which is "at or after" the key's hash.
    let nodes = ["db-a", "db-b", "db-c", "db-d"];
    let ring = ring(5, &nodes);
    for node in nodes {
        for replica in 0..5 {
            let key = format!("{node}#{replica}");
            assert_eq!(
                ring.route(&key),
                Ok(node),
                "{key} hashes to {node}'s point {replica}"
            );
        }
    }
}

#[test]
fn a_key_past_the_last_point_goes_round_to_the_first() {
    let ring = ring(2, &["east", "west"]);
    let nodes: BTreeSet<String> = ["east", "west"].map(str::to_owned).into();
    let last = ["east", "west"]
        .iter()
        .flat_map(|n| (0..2).map(move |i| vnode_point(n, i)))
        .max()
        .expect("four points");
    let past: Vec<String> = keys(5000)
        .into_iter()
        .filter(|key| stable_hash(key.as_bytes()) > last)
        .collect();
    assert!(
        !past.is_empty(),
        "some of 5000 keys hash past the last point"
    );
    for key in past {
        assert_eq!(
            ring.route(&key).ok().map(str::to_owned),
            model(2, &nodes, &key),
            "{key} hashes past every point: it belongs to the smallest one"
        );
    }
}

#[test]
fn the_order_nodes_were_added_in_does_not_matter() {
    let keys = keys(2000);
    let one = ring(50, &["a", "b", "c", "d"]);
    let other = ring(50, &["d", "b", "a", "c"]);
    assert_eq!(routes(&one, &keys), routes(&other, &keys));
    assert_eq!(one.nodes(), vec!["a", "b", "c", "d"]);
    assert_eq!(other.nodes(), vec!["a", "b", "c", "d"]);
}

#[test]
fn adding_a_node_moves_about_its_share_of_keys_all_to_it() {
    let keys = keys(10_000);
    let mut ring = ring(100, &["db-1", "db-2", "db-3", "db-4"]);
    let before = routes(&ring, &keys);
    assert!(ring.add("db-5"));
    let after = routes(&ring, &keys);

    let mut moved = 0;
    for ((key, was), is) in keys.iter().zip(&before).zip(&after) {
        if was != is {
            moved += 1;
            assert_eq!(
                is, "db-5",
                "{key} moved from {was} to {is}: only to the new node"
            );
        }
    }
    // A fair share is 1/5 of the keys: 2000.
    assert!(
        (1200..=2800).contains(&moved),
        "{moved} of 10000 keys moved to the fifth node: about a fifth should"
    );
}

#[test]
fn removing_a_node_moves_only_its_keys() {
    let keys = keys(10_000);
    let mut ring = ring(100, &["db-1", "db-2", "db-3", "db-4", "db-5"]);
    let before = routes(&ring, &keys);
    assert!(ring.remove("db-3"));
    let after = routes(&ring, &keys);
    assert_eq!(ring.nodes(), vec!["db-1", "db-2", "db-4", "db-5"]);

    for ((key, was), is) in keys.iter().zip(&before).zip(&after) {
        if was == "db-3" {
            assert_ne!(is, "db-3", "{key}: db-3 is gone, its keys go to the others");
        } else {
            assert_eq!(is, was, "{key} was on {was}, not on db-3: it stays");
        }
    }
}

#[test]
fn enough_virtual_nodes_balance_the_load() {
    let keys = keys(20_000);
    let nodes = ["db-1", "db-2", "db-3", "db-4", "db-5"];
    let ring = ring(200, &nodes);
    let mut load: BTreeMap<String, usize> = BTreeMap::new();
    for node in routes(&ring, &keys) {
        *load.entry(node).or_default() += 1;
    }
    assert_eq!(load.len(), 5, "every node holds keys: {load:?}");
    // A fair share is 4000 keys; 200 points each keep every node within a quarter of it.
    for (node, count) in &load {
        assert!(
            (3000..=5000).contains(count),
            "{node} holds {count} of 20000 keys, far from its fair 4000: {load:?}"
        );
    }
}

#[test]
fn adding_twice_or_removing_a_stranger_changes_nothing() {
    let keys = keys(1000);
    let mut ring = ring(20, &["x", "y"]);
    let before = routes(&ring, &keys);

    assert!(
        !ring.add("x"),
        "x is already on the ring: add returns false"
    );
    assert!(
        !ring.remove("z"),
        "z is not on the ring: remove returns false"
    );
    assert_eq!(routes(&ring, &keys), before);
    assert_eq!(ring.nodes(), vec!["x", "y"]);

    assert!(ring.remove("x"));
    assert!(!ring.remove("x"), "x is gone already: remove returns false");
    assert_eq!(ring.nodes(), vec!["y"]);
    for key in &keys {
        assert_eq!(ring.route(key), Ok("y"));
    }
}

#[derive(Debug, Clone)]
enum Change {
    Add(String),
    Remove(String),
}

fn change() -> impl Strategy<Value = Change> {
    let name = (0..6_u8).prop_map(|n| format!("node-{n}"));
    prop_oneof![
        name.clone().prop_map(Change::Add),
        name.prop_map(Change::Remove),
    ]
}

proptest! {
    // A failing case is reported with its smallest input, never written into tests/.
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn routes_follow_the_model(
        per_node in 1_u32..12,
        nodes in proptest::collection::btree_set("[a-z]{1,6}", 1..6),
        keys in proptest::collection::vec(".{0,12}", 1..40),
    ) {
        let mut ring = Ring::new(vnodes(per_node));
        for node in &nodes {
            ring.add(node);
        }
        for key in &keys {
            prop_assert_eq!(
                ring.route(key).ok().map(str::to_owned),
                model(per_node, &nodes, key),
                "key {:?}", key
            );
        }
    }

    #[test]
    fn adds_and_removes_follow_the_model(
        per_node in 1_u32..8,
        changes in proptest::collection::vec(change(), 1..20),
        keys in proptest::collection::vec("[a-z0-9]{1,8}", 1..20),
    ) {
        let mut ring = Ring::new(vnodes(per_node));
        let mut nodes = BTreeSet::new();
        for change in changes {
            match change {
                Change::Add(node) => {
                    prop_assert_eq!(ring.add(&node), nodes.insert(node.clone()), "add {}", node);
                }
                Change::Remove(node) => {
                    prop_assert_eq!(ring.remove(&node), nodes.remove(&node), "remove {}", node);
                }
            }
            prop_assert_eq!(
                ring.nodes(),
                nodes.iter().map(String::as_str).collect::<Vec<_>>()
            );
            for key in &keys {
                prop_assert_eq!(
                    ring.route(key).ok().map(str::to_owned),
                    model(per_node, &nodes, key),
                    "key {:?}", key
                );
                if nodes.is_empty() {
                    prop_assert_eq!(ring.route(key), Err(RingError::Empty));
                }
            }
        }
    }
}
