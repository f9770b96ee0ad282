//! Exercise 09, reference solution: an O(1) LRU cache, versioned cache keys, and cache-aside
//! with request coalescing and negative caching.
//!
//! Read it after you have tried (the hints come first: `cargo xtask hint 09 a`). The same tests
//! run against it: `cargo test -p exercise-09-solution`.

#[path = "../src/given.rs"]
mod given;
pub use given::*;

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::mem;
use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;
use tokio::time::Instant;

// ---------------------------------------------------------------------------------------------
// Part (a): the LRU cache
// ---------------------------------------------------------------------------------------------

// ANCHOR: lru
/// One entry, and its neighbours in the order of use. Links are indices into
/// `LruCache::slots`: a linked list without pointers, so without `unsafe` and without an
/// allocation per node.
#[derive(Debug)]
struct Slot<K, V> {
    key: K,
    value: V,
    /// The slot used just more recently than this one; `None` for the most recent.
    newer: Option<usize>,
    /// The slot used just less recently; `None` for the least recent.
    older: Option<usize>,
}

/// A HashMap finds a key's slot in O(1); the list through the slots keeps the order of use, so
/// moving an entry to the front and evicting the back are O(1) too.
#[derive(Debug)]
pub struct LruCache<K, V> {
    capacity: NonZeroUsize,
    index: HashMap<K, usize>,
    /// Dense: `remove` moves the last slot into the hole, so there is no free list to keep.
    slots: Vec<Slot<K, V>>,
    /// The most recently used slot.
    newest: Option<usize>,
    /// The least recently used slot: the next to be evicted.
    oldest: Option<usize>,
}

impl<K: Eq + Hash + Clone, V> LruCache<K, V> {
    pub fn new(capacity: NonZeroUsize) -> Self {
        LruCache {
            capacity,
            index: HashMap::with_capacity(capacity.get()),
            slots: Vec::with_capacity(capacity.get()),
            newest: None,
            oldest: None,
        }
    }

    pub fn capacity(&self) -> NonZeroUsize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn get(&mut self, key: &K) -> Option<&V> {
        let at = *self.index.get(key)?;
        self.unlink(at);
        self.push_newest(at);
        Some(&self.slots[at].value)
    }

    pub fn peek(&self, key: &K) -> Option<&V> {
        self.index.get(key).map(|&at| &self.slots[at].value)
    }

    pub fn put(&mut self, key: K, value: V) -> Put<K, V> {
        if let Some(&at) = self.index.get(&key) {
            self.unlink(at);
            self.push_newest(at);
            return Put::Replaced(mem::replace(&mut self.slots[at].value, value));
        }
        if self.slots.len() < self.capacity.get() {
            let at = self.slots.len();
            self.slots.push(Slot {
                key: key.clone(),
                value,
                newer: None,
                older: None,
            });
            self.index.insert(key, at);
            self.push_newest(at);
            return Put::Inserted;
        }
        // Full: the oldest slot is reused in place for the new entry.
        let at = self.oldest.expect("a full cache has an oldest entry");
        self.unlink(at);
        let slot = &mut self.slots[at];
        let evicted_key = mem::replace(&mut slot.key, key.clone());
        let evicted_value = mem::replace(&mut slot.value, value);
        self.index.remove(&evicted_key);
        self.index.insert(key, at);
        self.push_newest(at);
        Put::Evicted {
            key: evicted_key,
            value: evicted_value,
        }
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let at = self.index.remove(key)?;
        self.unlink(at);
        let removed = self.slots.swap_remove(at);
        // The last slot moved into `at` (unless `at` was the last): whatever pointed at its old
        // index must point at the new one.
        if at < self.slots.len() {
            let moved = &self.slots[at];
            let (newer, older) = (moved.newer, moved.older);
            match newer {
                Some(n) => self.slots[n].older = Some(at),
                None => self.newest = Some(at),
            }
            match older {
                Some(o) => self.slots[o].newer = Some(at),
                None => self.oldest = Some(at),
            }
            let moved_key = self.slots[at].key.clone();
            self.index.insert(moved_key, at);
        }
        Some(removed.value)
    }

    /// Takes slot `at` out of the list, joining its neighbours.
    fn unlink(&mut self, at: usize) {
        let Slot { newer, older, .. } = self.slots[at];
        match newer {
            Some(n) => self.slots[n].older = older,
            None => self.newest = older,
        }
        match older {
            Some(o) => self.slots[o].newer = newer,
            None => self.oldest = newer,
        }
    }

    /// Puts slot `at`, which is in no list, at the front.
    fn push_newest(&mut self, at: usize) {
        self.slots[at].newer = None;
        self.slots[at].older = self.newest;
        match self.newest {
            Some(previous) => self.slots[previous].newer = Some(at),
            None => self.oldest = Some(at),
        }
        self.newest = Some(at);
    }
}
// ANCHOR_END: lru

// ---------------------------------------------------------------------------------------------
// Part (b): versioned keys
// ---------------------------------------------------------------------------------------------

// ANCHOR: keyspace
/// A name and a schema version; keys are `{name}:v{version}:{escaped parts joined by ':'}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpace {
    name: String,
    version: u32,
}

impl KeySpace {
    pub fn new(name: &str, version: u32) -> Result<KeySpace, KeyError> {
        let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_".contains(b);
        if name.is_empty() || name.len() > MAX_NAME_LEN || !name.bytes().all(|b| allowed(&b)) {
            return Err(KeyError::InvalidName {
                name: name.to_owned(),
            });
        }
        Ok(KeySpace {
            name: name.to_owned(),
            version,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    pub fn bump(&self) -> Result<KeySpace, KeyError> {
        let version = self
            .version
            .checked_add(1)
            .ok_or_else(|| KeyError::VersionOverflow {
                name: self.name.clone(),
            })?;
        Ok(KeySpace {
            name: self.name.clone(),
            version,
        })
    }

    pub fn key(&self, parts: &[&str]) -> Result<String, KeyError> {
        if parts.is_empty() {
            return Err(KeyError::NoId);
        }
        let mut key = self.prefix();
        for (index, part) in parts.iter().enumerate() {
            if part.is_empty() {
                return Err(KeyError::EmptyIdPart { index });
            }
            if index > 0 {
                key.push(':');
            }
            escape_into(part, &mut key);
        }
        Ok(key)
    }

    pub fn parse_key(&self, key: &str) -> Option<Vec<String>> {
        // The name holds no ':' and the version is written one way only, so the prefix is
        // exactly this; after it, every ':' separates two parts (escaped ones are `%3A`).
        let id = key.strip_prefix(&self.prefix())?;
        id.split(':').map(unescape).collect()
    }

    fn prefix(&self) -> String {
        format!("{}:v{}:", self.name, self.version)
    }
}

/// Appends `part` to `key` with `%` and `:` escaped. `%` must be escaped too: otherwise the
/// part `%3A` and the part `:` would give the same text.
fn escape_into(part: &str, key: &mut String) {
    for c in part.chars() {
        match c {
            '%' => key.push_str("%25"),
            ':' => key.push_str("%3A"),
            c => key.push(c),
        }
    }
}

/// The part `escape_into` wrote as `text`, or `None` if it never writes `text`.
fn unescape(text: &str) -> Option<String> {
    if text.is_empty() {
        return None;
    }
    let mut part = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('%') {
        part.push_str(&rest[..at]);
        let escaped = &rest[at + 1..];
        if let Some(after) = escaped.strip_prefix("25") {
            part.push('%');
            rest = after;
        } else if let Some(after) = escaped.strip_prefix("3A") {
            part.push(':');
            rest = after;
        } else {
            return None;
        }
    }
    part.push_str(rest);
    Some(part)
}
// ANCHOR_END: keyspace

// ---------------------------------------------------------------------------------------------
// Part (c): cache-aside with request coalescing and negative caching
// ---------------------------------------------------------------------------------------------

// ANCHOR: coalescing
type Answer<V> = Result<Option<V>, LoadError>;

/// What the cache knows about one key.
#[derive(Debug)]
enum Entry<V> {
    /// An answer of the loader, a value or a miss; `expires: None` is never.
    Stored {
        value: Option<V>,
        expires: Option<Instant>,
    },
    /// A load under way. Its leader sends the answer on the channel; a waiter that finds the
    /// channel closed with no answer knows the leader was dropped. `load` tells this load from
    /// a later one of the same key (after an invalidation, or a takeover).
    Loading {
        load: u64,
        answer: watch::Receiver<Option<Answer<V>>>,
    },
}

#[derive(Debug)]
struct Entries<K, V> {
    by_key: HashMap<K, Entry<V>>,
    next_load: u64,
}

/// What a call found under the lock.
enum Found<V> {
    Hit(Option<V>),
    Wait(watch::Receiver<Option<Answer<V>>>),
    Lead(Leader<V>),
}

/// The leader's side of a load.
struct Leader<V> {
    load: u64,
    answer: watch::Sender<Option<Answer<V>>>,
}

#[derive(Debug)]
pub struct Coalescing<K, V> {
    config: CacheConfig,
    // A std mutex, not tokio's: it is held for a few map operations and never across an
    // `.await`, so waiting for a load never blocks the other keys.
    entries: Mutex<Entries<K, V>>,
}

impl<K, V> Coalescing<K, V>
where
    K: Eq + Hash + Clone,
    V: Clone,
{
    pub fn new(config: CacheConfig) -> Self {
        Coalescing {
            config,
            entries: Mutex::new(Entries {
                by_key: HashMap::new(),
                next_load: 0,
            }),
        }
    }

    pub async fn get_or_load<F, Fut>(&self, key: K, load: F) -> Result<Option<V>, LoadError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<V>, LoadError>>,
    {
        // A call leads at most once (it returns after), but it may wait more than once: each
        // time the load it waited for is abandoned, it looks again, and may lead.
        let mut load = Some(load);
        loop {
            let mut answer = match self.find(&key) {
                Found::Hit(value) => return Ok(value),
                Found::Wait(answer) => answer,
                Found::Lead(leader) => {
                    let load = load.take().expect("a call that leads returns");
                    return self.lead(key, leader, load).await;
                }
            };
            if let Ok(answer) = answer.wait_for(Option::is_some).await {
                return answer.clone().expect("waited for an answer");
            }
            // Closed without an answer: the leader was dropped. Look again.
        }
    }

    pub fn invalidate(&self, key: &K) {
        self.lock().by_key.remove(key);
    }

    fn lock(&self) -> MutexGuard<'_, Entries<K, V>> {
        // A panic elsewhere while holding the lock left a map that is still consistent: every
        // change under the lock is a single insert or remove.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Looks `key` up and, when it is neither stored nor loading, registers this call as the
    /// leader of a new load: both under one lock, so two callers cannot both lead.
    fn find(&self, key: &K) -> Found<V> {
        let mut entries = self.lock();
        match entries.by_key.get(key) {
            Some(Entry::Stored { value, expires })
                if expires.is_none_or(|expires| Instant::now() < expires) =>
            {
                return Found::Hit(value.clone());
            }
            Some(Entry::Loading { answer, .. }) => return Found::Wait(answer.clone()),
            _ => {}
        }
        let load = entries.next_load;
        entries.next_load += 1;
        let (sender, receiver) = watch::channel(None);
        entries.by_key.insert(
            key.clone(),
            Entry::Loading {
                load,
                answer: receiver,
            },
        );
        Found::Lead(Leader {
            load,
            answer: sender,
        })
    }

    async fn lead<F, Fut>(&self, key: K, leader: Leader<V>, load: F) -> Answer<V>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Answer<V>>,
    {
        // If this future is dropped while `load` runs, the guard takes the entry out, then its
        // sender closes: the waiters wake, find nothing, and one of them leads.
        let mut guard = Abandon {
            cache: self,
            key: Some(key),
            leader,
        };
        let answer = load().await;
        let key = guard.key.take().expect("taken only here");
        {
            let mut entries = self.lock();
            // Stored only if the entry is still this load's: an invalidation took it out (and
            // a later load may have put its own in), so this answer may be stale.
            if let Some(Entry::Loading { load, .. }) = entries.by_key.get(&key)
                && *load == guard.leader.load
            {
                match &answer {
                    Ok(value) => {
                        let ttl = if value.is_some() {
                            self.config.ttl
                        } else {
                            self.config.negative_ttl
                        };
                        // Too far to add to the clock: never expires.
                        let expires = Instant::now().checked_add(ttl);
                        let value = value.clone();
                        entries.by_key.insert(key, Entry::Stored { value, expires });
                    }
                    // A failure is not cached: the next call loads again.
                    Err(_) => {
                        entries.by_key.remove(&key);
                    }
                }
            }
        }
        guard.leader.answer.send_replace(Some(answer.clone()));
        answer
    }
}

/// Takes an abandoned load's entry out of the map, if it is still that load's.
struct Abandon<'a, K: Eq + Hash + Clone, V: Clone> {
    cache: &'a Coalescing<K, V>,
    /// `None` once the load has finished: nothing to clean up.
    key: Option<K>,
    leader: Leader<V>,
}

impl<K: Eq + Hash + Clone, V: Clone> Drop for Abandon<'_, K, V> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut entries = self.cache.lock();
        if let Some(Entry::Loading { load, .. }) = entries.by_key.get(&key)
            && *load == self.leader.load
        {
            entries.by_key.remove(&key);
        }
        // `self.leader.answer` drops after this: the waiters wake to an entry already gone.
    }
}
// ANCHOR_END: coalescing
