//! Exercise 09, caching: the three pieces of a cache you write yourself even when Redis or moka
//! does the storing. An LRU decides what to forget when memory runs out, key design decides
//! what a key means and how to stop trusting old ones, and cache-aside with coalescing decides
//! how a miss reaches the database: once, however many callers miss at the same moment.
//!
//! This is the only file you edit. Replace every `todo!()` until `cargo test -p exercise-09`
//! passes; run one part at a time with `cargo test -p exercise-09 part_a` (or `part_b`,
//! `part_c`). The brief is book chapter 09, section "Exercise", and the doc comments below.
//! Stuck? `cargo xtask hint 09 a` (or `b`, `c`) shows that part's hints one level at a time.
//!
//! Three parts, independent of each other:
//! - (a) [`LruCache`]: a fixed-capacity cache that evicts the least recently used entry, in
//!   O(1) per operation, checked against a simple model by a property test.
//! - (b) [`KeySpace`]: keys like `product:v3:42`, where bumping the version invalidates every
//!   old key at once, and where no two different ids can ever produce the same key.
//! - (c) [`Coalescing`]: cache-aside in front of a slow loader. Concurrent misses for one key
//!   share one load, a missing row is cached for a shorter time, a failure is cached not at
//!   all, and a load whose caller gave up does not leave the others waiting. Tested on tokio's
//!   paused clock.
//!
//! The given types ([`Put`], [`KeyError`], [`CacheConfig`], [`LoadError`]) are in
//! `src/given.rs`: read it, it is part of the brief. Here, besides the `todo!()`s, the fields
//! and constructors are a starting point: replace the fields, add private types and helper
//! functions as you like; the tests use only the public API. The crates at hand are `std`
//! (`HashMap`, `Vec`, `std::sync::Mutex`), `tokio` (`tokio::sync`, `tokio::time::Instant`)
//! and `thiserror`. No `unsafe`: the workspace forbids it.

// Stub bodies ignore their parameters and leave fields unread; this line goes away with the
// solution.
#![allow(unused_variables, dead_code)]

// The given code (the answers' types and errors): one file, shared with the reference solution.
#[path = "../src/given.rs"]
mod given;
pub use given::*;

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::Mutex;

// ---------------------------------------------------------------------------------------------
// Part (a): the LRU cache
// ---------------------------------------------------------------------------------------------

// ANCHOR: lru
/// A cache of at most `capacity` entries that, when full, makes room by evicting the entry used
/// least recently.
///
/// "Used" means written by [`put`](Self::put) or read by [`get`](Self::get); [`peek`](Self::peek)
/// reads without using, and [`remove`](Self::remove) takes an entry out altogether. The goal is
/// O(1) for every operation: no scan of the entries, no shifting of a `Vec` on each access. A
/// `HashMap` from key to slot plus a doubly linked list threaded through a `Vec` of slots (links
/// are indices, not pointers) does it without `unsafe`.
///
/// The capacity is a [`NonZeroUsize`]: a cache that can hold nothing is refused by its type, not
/// checked on every `put`.
#[derive(Debug)]
pub struct LruCache<K, V> {
    capacity: NonZeroUsize,
    entries: HashMap<K, V>,
}

impl<K: Eq + Hash + Clone, V> LruCache<K, V> {
    /// An empty cache that holds up to `capacity` entries.
    pub fn new(capacity: NonZeroUsize) -> Self {
        LruCache {
            capacity,
            entries: HashMap::new(),
        }
    }

    /// The most entries it holds.
    pub fn capacity(&self) -> NonZeroUsize {
        self.capacity
    }

    /// How many entries it holds now, never more than the capacity.
    pub fn len(&self) -> usize {
        todo!("exercise 09, part a, LruCache::len: see book chapter 09, Exercise")
    }

    /// Whether it holds no entry.
    pub fn is_empty(&self) -> bool {
        todo!("exercise 09, part a, LruCache::is_empty: see book chapter 09, Exercise")
    }

    /// The value of `key`, if cached, which becomes the most recently used entry.
    pub fn get(&mut self, key: &K) -> Option<&V> {
        todo!("exercise 09, part a, LruCache::get: see book chapter 09, Exercise")
    }

    /// The value of `key`, if cached, leaving the order of use as it was: for looking without
    /// touching (metrics, debugging, tests).
    pub fn peek(&self, key: &K) -> Option<&V> {
        todo!("exercise 09, part a, LruCache::peek: see book chapter 09, Exercise")
    }

    /// Caches `value` under `key`, which becomes the most recently used entry.
    ///
    /// - A key already cached gets the new value: [`Put::Replaced`] with the old one. Nothing is
    ///   evicted, even when the cache is full.
    /// - A new key when there is room: [`Put::Inserted`].
    /// - A new key when the cache is full: the least recently used entry leaves first, and comes
    ///   back as [`Put::Evicted`].
    pub fn put(&mut self, key: K, value: V) -> Put<K, V> {
        todo!("exercise 09, part a, LruCache::put: see book chapter 09, Exercise")
    }

    /// Takes `key` out of the cache (explicit invalidation) and answers its value, if it was
    /// cached. Its place is free again: the next new key is inserted without evicting. The order
    /// of use of the other entries does not change.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        todo!("exercise 09, part a, LruCache::remove: see book chapter 09, Exercise")
    }
}
// ANCHOR_END: lru

// ---------------------------------------------------------------------------------------------
// Part (b): versioned keys
// ---------------------------------------------------------------------------------------------

// ANCHOR: keyspace
/// A family of cache keys: a name (what is cached: `product`, `cart-line`) and a schema version.
///
/// A key is `{name}:v{version}:{id}`, the version in decimal: `product:v3:42`. The id is one
/// or more parts (a product id; a user id and a product id for a cart line), joined with `:`
/// after each is escaped: every `%` becomes `%25` and every `:` becomes `%3A` (capital `A`),
/// and every other character (spaces, `*`, non-ASCII letters) stays as it is. So the parts
/// `["a:b", "c"]` give `...:a%3Ab:c` and `["a", "b:c"]` give `...:a:b%3Ac`: no two different
/// ids share a key, and no id can reach into another key space either, since names hold no `:`.
///
/// Versioning is the invalidation that needs no deletes: when the shape of a cached value
/// changes (a field added, a unit changed), [`bump`](Self::bump) the version in the code that
/// reads and writes it, and the new code never sees a value written by the old one; the old keys
/// expire by their TTL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpace {
    name: String,
    version: u32,
}

impl KeySpace {
    /// A key space, if `name` is 1 to [`MAX_NAME_LEN`] bytes of `a`-`z`, `0`-`9`, `-` and `_`;
    /// otherwise [`KeyError::InvalidName`] with the name as given. Any version is valid, 0
    /// included.
    pub fn new(name: &str, version: u32) -> Result<KeySpace, KeyError> {
        todo!("exercise 09, part b, KeySpace::new: see book chapter 09, Exercise")
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    /// The same name at the next version. `self` is left as it was (old readers may still hold
    /// it). At `u32::MAX` there is no next version: [`KeyError::VersionOverflow`].
    pub fn bump(&self) -> Result<KeySpace, KeyError> {
        todo!("exercise 09, part b, KeySpace::bump: see book chapter 09, Exercise")
    }

    /// The key of the id made of `parts`, escaped and joined as described on [`KeySpace`].
    ///
    /// No parts at all is [`KeyError::NoId`], and an empty part is [`KeyError::EmptyIdPart`]
    /// with its index (the first empty one): an empty id is nearly always an unset field, and
    /// caching under it would mix up everything that forgot to set it.
    pub fn key(&self, parts: &[&str]) -> Result<String, KeyError> {
        todo!("exercise 09, part b, KeySpace::key: see book chapter 09, Exercise")
    }

    /// The id parts of `key`, if `key` is exactly a key that [`key`](Self::key) of this key
    /// space (this name, this version) produces; `None` for anything else: a key of another name
    /// or of another version (a stale key, after a bump), an empty part, a `%` not followed by
    /// `25` or `3A` (`%3a` and `%41` too: `key` never writes them). Never panics, whatever the
    /// input. So `space.parse_key(&space.key(parts)?)` is `Some(parts)`, and whenever
    /// `parse_key(s)` is `Some(parts)`, `key(parts)` is `s` again.
    pub fn parse_key(&self, key: &str) -> Option<Vec<String>> {
        todo!("exercise 09, part b, KeySpace::parse_key: see book chapter 09, Exercise")
    }
}
// ANCHOR_END: keyspace

// ---------------------------------------------------------------------------------------------
// Part (c): cache-aside with request coalescing and negative caching
// ---------------------------------------------------------------------------------------------

// ANCHOR: coalescing
/// An in-process cache-aside cache that protects its source from stampedes.
///
/// Shared by many tasks (it sits in an `Arc`); every method takes `&self`. Time is tokio's
/// ([`tokio::time::Instant`]), so the tests pause and advance it. Expired entries are replaced
/// on their next access; nothing sweeps in the background.
///
/// Hold no `std::sync::Mutex` guard across an `.await`: the guard is not `Send` (the future
/// would not spawn), and a task parked while holding it would stall every other key.
#[derive(Debug)]
pub struct Coalescing<K, V> {
    config: CacheConfig,
    entries: Mutex<HashMap<K, V>>,
}

impl<K, V> Coalescing<K, V>
where
    K: Eq + Hash + Clone,
    V: Clone,
{
    /// An empty cache.
    pub fn new(config: CacheConfig) -> Self {
        Coalescing {
            config,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The cached answer for `key`, or `load`'s, which is then cached.
    ///
    /// 1. **Hit**: an answer for `key` stored less than its TTL ago is returned as it is: a
    ///    value as `Ok(Some(value))`, a cached miss as `Ok(None)`. `load` is not called. An
    ///    answer stored at `t` serves calls made before `t + ttl`; from `t + ttl` on it is
    ///    expired and the next call loads again. A TTL too long for the clock to add (say
    ///    `Duration::MAX`) means the answer never expires, not a panic.
    /// 2. **Coalescing**: on a miss, if a load of `key` is already under way, this call does
    ///    not call `load`: it waits for that load and answers with its result, whatever it is.
    ///    Only if no load of `key` is under way does this call lead one: it calls `load` once
    ///    and awaits it. So N callers that miss the same key at the same moment cause one
    ///    load, not N. Loads of different keys do not wait for each other.
    /// 3. **What is cached**: `Ok(Some(value))` for `ttl`; `Ok(None)` (the source has no such
    ///    thing) for `negative_ttl`, counted from when the load finished. `Err(_)` is not
    ///    cached at all: the leader and every caller that waited get the error, and the next
    ///    call loads again.
    /// 4. **Cancellation**: the leading call's future may be dropped before its load finishes
    ///    (a timeout around it, a client that went away, an aborted task). Then the load is
    ///    abandoned and nothing is cached, and no waiter hangs and none sees an error: exactly
    ///    one of the waiters takes over and leads a new load with its own `load`, and the
    ///    others wait for that one. With no waiters, the next call simply leads a new load.
    pub async fn get_or_load<F, Fut>(&self, key: K, load: F) -> Result<Option<V>, LoadError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<V>, LoadError>>,
    {
        todo!("exercise 09, part c, Coalescing::get_or_load: see book chapter 09, Exercise")
    }

    /// Forgets what is cached for `key` (explicit invalidation, after the source changed).
    ///
    /// A load of `key` under way is not stopped, and the callers waiting for it still get its
    /// result, but that result is not cached: it may have been read before the change that
    /// caused this invalidation. A call after `invalidate` does not wait for that load: it leads
    /// a new one.
    pub fn invalidate(&self, key: &K) {
        todo!("exercise 09, part c, Coalescing::invalidate: see book chapter 09, Exercise")
    }
}
// ANCHOR_END: coalescing
