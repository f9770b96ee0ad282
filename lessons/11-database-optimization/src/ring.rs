//! Consistent hashing: which shard holds a key, so that adding a shard moves as few keys as
//! possible.
//!
//! `hash(key) % n` spreads keys evenly, but change `n` and almost every key lands somewhere
//! else: going from 3 shards to 4 keeps a key in place only when `h % 3 == h % 4`, a quarter
//! of the time, so three keys in four move. A ring hashes the shards too, onto the same circle
//! of `u64` values, and gives a key to the first shard point at or after the key's own hash.
//! A new shard takes over only the arcs just before its points, from whichever shards owned
//! them: about `1/(n+1)` of the keys move, and every one of them moves *to* the new shard.
//!
//! One point per shard makes arcs of very unequal length, so each shard is placed many times
//! (virtual nodes): with a hundred points each, every shard owns close to its share.
//!
//! `cargo test -p lesson-11 ring`

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;

/// A stable 64-bit hash: FNV-1a over the bytes, then the finalizer of splitmix64 so that
/// inputs differing in one character (`db-1#7`, `db-1#8`) land far apart. Stable means the
/// same on every machine and every Rust version, which `std`'s `DefaultHasher` does not
/// promise: a key must find its shard again after a deploy.
pub fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The naive placement, for comparison: shard number `hash(key) % shards`, `None` for none.
pub fn modulo_shard(key: &str, shards: usize) -> Option<usize> {
    let shards = u64::try_from(shards).ok().filter(|&n| n > 0)?;
    usize::try_from(hash(key.as_bytes()) % shards).ok()
}

// ANCHOR: ring
/// A consistent-hash ring with `vnodes` points per shard.
#[derive(Debug, Clone)]
pub struct HashRing {
    vnodes: NonZeroU32,
    /// Point on the circle → the shard placed there. Ordered, so "the first point at or after
    /// h" is a range query.
    points: BTreeMap<u64, Arc<str>>,
}

impl HashRing {
    /// An empty ring that places each shard `vnodes` times.
    pub fn new(vnodes: NonZeroU32) -> HashRing {
        HashRing {
            vnodes,
            points: BTreeMap::new(),
        }
    }

    /// Places `shard` on the ring (again: adding a shard twice changes nothing). Its points
    /// depend on its name only, so every process that adds the same shards builds the same
    /// ring, in any order.
    pub fn add(&mut self, shard: &str) {
        let name: Arc<str> = Arc::from(shard);
        for i in 0..self.vnodes.get() {
            let point = hash(format!("{shard}#{i}").as_bytes());
            // Two points colliding in 2^64 is too rare to plan for; the first one keeps it.
            self.points.entry(point).or_insert_with(|| name.clone());
        }
    }

    /// Takes `shard` off the ring: its keys go to the shards after its points.
    pub fn remove(&mut self, shard: &str) {
        self.points.retain(|_, owner| &**owner != shard);
    }

    /// The shard that holds `key`: the owner of the first point at or after the key's hash,
    /// going round past the top of the circle to the first point. `None` on an empty ring.
    pub fn shard_for(&self, key: &str) -> Option<&str> {
        let h = hash(key.as_bytes());
        self.points
            .range(h..)
            .next()
            .or_else(|| self.points.iter().next())
            .map(|(_, shard)| &**shard)
    }

    /// How many points the ring holds (shards × virtual nodes).
    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}
// ANCHOR_END: ring

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    fn ring(vnodes: u32, shards: &[&str]) -> HashRing {
        let mut ring = HashRing::new(NonZeroU32::new(vnodes).unwrap());
        for shard in shards {
            ring.add(shard);
        }
        ring
    }

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("user:{i}")).collect()
    }

    #[test]
    fn the_hash_is_stable_across_runs_and_machines() {
        // Pinned (computed independently) so that a change to `hash`, which would re-shard
        // every key of a real deployment, fails here first.
        assert_eq!(hash(b""), 0xf52a_15e9_a9b5_e89b);
        assert_eq!(hash(b"user:42"), 0xd68c_b863_fc5e_0c34);
        assert_ne!(hash(b"db-1#7"), hash(b"db-1#8"));
    }

    #[test]
    fn an_empty_ring_or_no_shards_places_nothing() {
        assert_eq!(ring(10, &[]).shard_for("k"), None);
        assert_eq!(modulo_shard("k", 0), None);
        assert!(ring(10, &[]).is_empty());
    }

    #[test]
    fn assignment_is_stable_and_independent_of_insertion_order() {
        let a = ring(100, &["db-1", "db-2", "db-3"]);
        let b = ring(100, &["db-3", "db-1", "db-2", "db-1"]);
        assert_eq!(a.len(), 300, "adding a shard twice adds no points");
        for key in keys(2_000) {
            assert_eq!(a.shard_for(&key), b.shard_for(&key), "{key}");
            assert_eq!(a.shard_for(&key), a.shard_for(&key));
        }
    }

    #[test]
    fn adding_a_fourth_shard_moves_about_a_quarter_of_the_keys_and_only_to_it() {
        let before = ring(100, &["db-1", "db-2", "db-3"]);
        let mut after = before.clone();
        after.add("db-4");
        let keys = keys(10_000);
        let mut moved = 0;
        for key in &keys {
            let (old, new) = (before.shard_for(key), after.shard_for(key));
            if old != new {
                moved += 1;
                assert_eq!(new, Some("db-4"), "{key} moved between old shards");
            }
        }
        let fraction = moved as f64 / keys.len() as f64;
        assert!((0.18..0.32).contains(&fraction), "moved {fraction}");

        let modulo_moved = keys
            .iter()
            .filter(|key| modulo_shard(key, 3) != modulo_shard(key, 4))
            .count() as f64
            / keys.len() as f64;
        assert!(
            (0.70..0.80).contains(&modulo_moved),
            "modulo moved {modulo_moved}"
        );
    }

    #[test]
    fn virtual_nodes_even_out_the_shares() {
        let share = |vnodes| {
            let ring = ring(vnodes, &["db-1", "db-2", "db-3", "db-4"]);
            let mut counts: HashMap<&str, usize> = HashMap::new();
            let keys = keys(20_000);
            for key in &keys {
                *counts.entry(ring.shard_for(key).unwrap()).or_default() += 1;
            }
            let max = counts.values().copied().max().unwrap();
            max as f64 / (keys.len() as f64 / 4.0)
        };
        let (one, many) = (share(1), share(200));
        assert!(
            many < 1.15,
            "with 200 vnodes the fullest shard has {many}× its share"
        );
        assert!(one > many, "one point each: {one}, 200 each: {many}");
    }

    #[test]
    fn removing_a_shard_moves_only_its_own_keys() {
        let full = ring(50, &["a", "b", "c", "d"]);
        let mut less = full.clone();
        less.remove("c");
        for key in keys(5_000) {
            let (old, new) = (full.shard_for(&key), less.shard_for(&key));
            if old != Some("c") {
                assert_eq!(old, new, "{key}");
            } else {
                assert_ne!(new, Some("c"));
            }
        }
    }

    proptest! {
        /// For any set of shards and keys: a new shard only takes keys (never shuffles them
        /// among the others), and removing it again gives every key back where it was.
        #[test]
        fn a_new_shard_only_takes_keys_and_gives_them_back(
            shards in proptest::collection::btree_set("[a-z]{1,6}", 1..6),
            newcomer in "[A-Z]{1,6}",
            keys in proptest::collection::vec(".{0,12}", 1..200),
            vnodes in 1u32..64,
        ) {
            let shards: Vec<&str> = shards.iter().map(String::as_str).collect();
            let before = ring(vnodes, &shards);
            let mut after = before.clone();
            after.add(&newcomer);
            let mut again = after.clone();
            again.remove(&newcomer);
            for key in &keys {
                let (old, new) = (before.shard_for(key), after.shard_for(key));
                prop_assert!(old == new || new == Some(newcomer.as_str()));
                prop_assert_eq!(again.shard_for(key), old);
            }
        }
    }
}
