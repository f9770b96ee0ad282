//! The given code of exercise 09: the types the three parts answer with. Read it, it is part of
//! the brief; you do not need to change it (the reference solution includes this same file).

use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Part (a): the LRU cache
// ---------------------------------------------------------------------------------------------

// ANCHOR: put
/// What [`LruCache::put`](crate::LruCache::put) did to make room for, or replace with, the new
/// entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "an evicted entry may need handling (written back, counted, logged)"]
pub enum Put<K, V> {
    /// The key was new and there was room: nothing left the cache.
    Inserted,
    /// The key was cached already: this was its old value.
    Replaced(V),
    /// The key was new and the cache was full: this entry, the least recently used, left it.
    Evicted { key: K, value: V },
}
// ANCHOR_END: put

// ---------------------------------------------------------------------------------------------
// Part (b): versioned keys
// ---------------------------------------------------------------------------------------------

/// The longest name a [`KeySpace`](crate::KeySpace) may have, in bytes.
pub const MAX_NAME_LEN: usize = 32;

// ANCHOR: key_error
/// Why a key space or a key could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The name is empty, longer than [`MAX_NAME_LEN`], or holds a byte other than `a`-`z`,
    /// `0`-`9`, `-` and `_`.
    #[error("{name:?} is not a key space name: 1 to {MAX_NAME_LEN} of a-z, 0-9, '-' and '_'")]
    InvalidName { name: String },
    /// The key space is at `u32::MAX`: there is no next version.
    #[error("key space {name:?} is at its last version, {}", u32::MAX)]
    VersionOverflow { name: String },
    /// A key needs at least one id part.
    #[error("a key needs at least one id part")]
    NoId,
    /// The id part at `index` (counted from 0) is the empty string.
    #[error("id part {index} is empty")]
    EmptyIdPart { index: usize },
}
// ANCHOR_END: key_error

// ---------------------------------------------------------------------------------------------
// Part (c): cache-aside with coalescing
// ---------------------------------------------------------------------------------------------

// ANCHOR: config
/// How long [`Coalescing`](crate::Coalescing) keeps what a loader answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// How long a value (the loader answered `Ok(Some(_))`) is served from the cache.
    pub ttl: Duration,
    /// How long a miss (the loader answered `Ok(None)`: no such row) is served from the cache.
    /// Usually much shorter than `ttl`: a row that appears should not stay invisible for long.
    /// `Duration::ZERO` turns negative caching off (concurrent callers still share one load).
    pub negative_ttl: Duration,
}
// ANCHOR_END: config

// ANCHOR: load_error
/// A loader's failure (the database is down, the query timed out).
///
/// `Clone` because every caller that waited for the failed load gets it. A real service's
/// loader would put its source error (`sqlx::Error`, which is not `Clone`) in an `Arc` instead
/// of turning it into text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("loading failed: {message}")]
pub struct LoadError {
    message: String,
}

impl LoadError {
    pub fn new(message: impl Into<String>) -> Self {
        LoadError {
            message: message.into(),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}
// ANCHOR_END: load_error
