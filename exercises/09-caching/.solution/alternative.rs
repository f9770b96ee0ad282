//! Exercise 09, a second correct solution, written differently on purpose: `cargo xtask verify`
//! runs every test against it too, so that no test accepts only the reference's way.
//!
//! The LRU stamps every use with a tick and keeps the entries ordered by tick in a `BTreeMap`
//! (O(log n), not O(1): simpler, and still far from a scan); keys are read back by a
//! character-by-character scanner; the coalescing cache hands answers to its waiters over a
//! `broadcast` channel and measures age from when an answer was stored.

#[path = "../src/given.rs"]
mod given;
pub use given::*;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::future::Future;
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};

use tokio::sync::broadcast;
use tokio::time::Instant;

// ---- Part (a) ----

#[derive(Debug)]
pub struct LruCache<K, V> {
    capacity: NonZeroUsize,
    /// Each key's value and the tick of its last use.
    entries: HashMap<K, (V, u64)>,
    /// Tick of last use to key: the first entry is the least recently used.
    by_use: BTreeMap<u64, K>,
    next_tick: u64,
}

impl<K: Eq + Hash + Clone, V> LruCache<K, V> {
    pub fn new(capacity: NonZeroUsize) -> Self {
        LruCache {
            capacity,
            entries: HashMap::new(),
            by_use: BTreeMap::new(),
            next_tick: 0,
        }
    }

    pub fn capacity(&self) -> NonZeroUsize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&mut self, key: &K) -> Option<&V> {
        let tick = self.tick();
        let (value, used) = self.entries.get_mut(key)?;
        let key = self.by_use.remove(used).expect("every entry has a tick");
        self.by_use.insert(tick, key);
        *used = tick;
        Some(value)
    }

    pub fn peek(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|(value, _)| value)
    }

    pub fn put(&mut self, key: K, value: V) -> Put<K, V> {
        let tick = self.tick();
        let answer = match self.entries.remove(&key) {
            Some((old, used)) => {
                self.by_use.remove(&used);
                Put::Replaced(old)
            }
            None if self.entries.len() == self.capacity.get() => {
                let (_, oldest) = self.by_use.pop_first().expect("a full cache is not empty");
                let (value, _) = self.entries.remove(&oldest).expect("ticks name entries");
                Put::Evicted { key: oldest, value }
            }
            None => Put::Inserted,
        };
        self.by_use.insert(tick, key.clone());
        self.entries.insert(key, (value, tick));
        answer
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let (value, used) = self.entries.remove(key)?;
        self.by_use.remove(&used);
        Some(value)
    }

    fn tick(&mut self) -> u64 {
        self.next_tick += 1;
        self.next_tick
    }
}

// ---- Part (b) ----

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpace {
    name: String,
    version: u32,
}

impl KeySpace {
    pub fn new(name: &str, version: u32) -> Result<KeySpace, KeyError> {
        let valid = (1..=MAX_NAME_LEN).contains(&name.len())
            && name
                .chars()
                .all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_'));
        if !valid {
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
        match self.version {
            u32::MAX => Err(KeyError::VersionOverflow {
                name: self.name.clone(),
            }),
            version => Ok(KeySpace {
                name: self.name.clone(),
                version: version + 1,
            }),
        }
    }

    pub fn key(&self, parts: &[&str]) -> Result<String, KeyError> {
        if let Some(index) = parts.iter().position(|p| p.is_empty()) {
            return Err(KeyError::EmptyIdPart { index });
        }
        if parts.is_empty() {
            return Err(KeyError::NoId);
        }
        let escaped: Vec<String> = parts
            .iter()
            .map(|p| p.replace('%', "%25").replace(':', "%3A"))
            .collect();
        let mut key = String::new();
        write!(key, "{}:v{}:{}", self.name, self.version, escaped.join(":"))
            .expect("writing to a String cannot fail");
        Ok(key)
    }

    pub fn parse_key(&self, key: &str) -> Option<Vec<String>> {
        let rest = key.strip_prefix(self.name.as_str())?;
        let rest = rest.strip_prefix(":v")?;
        let digits = rest.find(':')?;
        // Compare the text, not the number: `v03` is not `v3`.
        if rest[..digits] != self.version.to_string() {
            return None;
        }
        let mut parts = vec![String::new()];
        let mut chars = rest[digits + 1..].chars();
        while let Some(c) = chars.next() {
            match c {
                ':' => parts.push(String::new()),
                '%' => {
                    let escaped = [chars.next()?, chars.next()?];
                    let current = parts.last_mut().expect("never empty");
                    match escaped {
                        ['2', '5'] => current.push('%'),
                        ['3', 'A'] => current.push(':'),
                        _ => return None,
                    }
                }
                c => parts.last_mut().expect("never empty").push(c),
            }
        }
        parts.iter().all(|p| !p.is_empty()).then_some(parts)
    }
}

// ---- Part (c) ----

type Answer<V> = Result<Option<V>, LoadError>;

#[derive(Debug)]
enum Slot<V> {
    Cached {
        value: Option<V>,
        stored: Instant,
    },
    /// `generation` is unique per load; the sender lets new waiters subscribe.
    Pending {
        generation: u64,
        sender: broadcast::Sender<Answer<V>>,
    },
}

#[derive(Debug)]
struct Table<K, V> {
    slots: HashMap<K, Slot<V>>,
    generations: u64,
}

#[derive(Debug)]
pub struct Coalescing<K, V> {
    config: CacheConfig,
    table: Mutex<Table<K, V>>,
}

enum Step<V> {
    Done(Option<V>),
    Wait(broadcast::Receiver<Answer<V>>),
    Load(u64, broadcast::Sender<Answer<V>>),
}

impl<K, V> Coalescing<K, V>
where
    K: Eq + Hash + Clone,
    V: Clone,
{
    pub fn new(config: CacheConfig) -> Self {
        Coalescing {
            config,
            table: Mutex::new(Table {
                slots: HashMap::new(),
                generations: 0,
            }),
        }
    }

    pub async fn get_or_load<F, Fut>(&self, key: K, load: F) -> Result<Option<V>, LoadError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<V>, LoadError>>,
    {
        let mut load = Some(load);
        loop {
            match self.step(&key) {
                Step::Done(value) => return Ok(value),
                Step::Wait(mut receiver) => match receiver.recv().await {
                    Ok(answer) => return answer,
                    // Every sender is gone without a word: the leader was dropped.
                    Err(_) => continue,
                },
                Step::Load(generation, sender) => {
                    let load = load.take().expect("only one load per call");
                    let mut cleanup = Cleanup {
                        cache: self,
                        key: key.clone(),
                        generation,
                        armed: true,
                    };
                    let answer = load().await;
                    cleanup.armed = false;
                    self.settle(key, generation, &answer);
                    // No receiver left (every waiter gave up) is no error for the leader.
                    let _ = sender.send(answer.clone());
                    return answer;
                }
            }
        }
    }

    pub fn invalidate(&self, key: &K) {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .slots
            .remove(key);
    }

    fn fresh(&self, value: &Option<V>, stored: Instant) -> bool {
        let ttl = match value {
            Some(_) => self.config.ttl,
            None => self.config.negative_ttl,
        };
        stored.elapsed() < ttl
    }

    fn step(&self, key: &K) -> Step<V> {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = table.slots.get(key) {
            match slot {
                Slot::Cached { value, stored } if self.fresh(value, *stored) => {
                    return Step::Done(value.clone());
                }
                Slot::Pending { sender, .. } => return Step::Wait(sender.subscribe()),
                Slot::Cached { .. } => {}
            }
        }
        table.generations += 1;
        let generation = table.generations;
        let (sender, _) = broadcast::channel(1);
        table.slots.insert(
            key.clone(),
            Slot::Pending {
                generation,
                sender: sender.clone(),
            },
        );
        Step::Load(generation, sender)
    }

    /// Stores the answer of load `generation`, if its slot is still pending for it.
    fn settle(&self, key: K, generation: u64, answer: &Answer<V>) {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let ours = matches!(
            table.slots.get(&key),
            Some(Slot::Pending { generation: g, .. }) if *g == generation
        );
        if !ours {
            return;
        }
        match answer {
            Ok(value) => {
                let slot = Slot::Cached {
                    value: value.clone(),
                    stored: Instant::now(),
                };
                table.slots.insert(key, slot);
            }
            Err(_) => {
                table.slots.remove(&key);
            }
        }
    }
}

/// Removes the pending slot of a load whose future was dropped before it finished. Removing it
/// drops the slot's sender; the leader's own drops with its future, and the channel closes.
struct Cleanup<'a, K: Eq + Hash + Clone, V: Clone> {
    cache: &'a Coalescing<K, V>,
    key: K,
    generation: u64,
    armed: bool,
}

impl<K: Eq + Hash + Clone, V: Clone> Drop for Cleanup<'_, K, V> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut table = self
            .cache
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let ours = matches!(
            table.slots.get(&self.key),
            Some(Slot::Pending { generation, .. }) if *generation == self.generation
        );
        if ours {
            table.slots.remove(&self.key);
        }
    }
}
