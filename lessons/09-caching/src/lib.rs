//! Lesson 09, caching: what to keep close to the code that reads it, and how to keep it true.
//!
//! The two-tier cache at the heart of the lesson is the capstone's `shop-cache` crate (moka in
//! memory, Redis behind it, coalesced misses, negative entries, versioned keys, invalidation
//! fanned out over pub/sub); the demonstration uses it as the shop does. This crate holds what
//! only the lesson needs: the things `shop-cache` is compared with, and the patterns the shop
//! does not use.
//!
//! Run the narrated demo with `cargo run -p lesson-09` (`-- --only stampede` for one step, `--
//! --help` for the options) and the tests with `cargo test -p lesson-09`. Read the modules in
//! this order:
//!
//! | module | shows |
//! |--------|-------|
//! | [`catalog`] | the demo's products in PostgreSQL, and a load that the database counts |
//! | [`round_trips`] | a Redis connection that counts its requests: commands vs pipelines |
//! | [`latency`] | percentiles and a histogram on a log axis, to compare the tiers |
//! | [`naive`] | cache-aside without coalescing: the stampede's victim |
//! | [`xfetch`] | early probabilistic expiry: refresh before the entry expires |
//! | [`write_policies`] | write-through, and write-behind with batched flushes |
//!
//! [`steps`] holds the narration that `main.rs` runs, one function per step.

pub mod catalog;
pub mod latency;
pub mod naive;
pub mod round_trips;
pub mod steps;
pub mod write_policies;
pub mod xfetch;

use thiserror::Error;

/// Why a read through one of this lesson's own caches failed. Unlike shop-cache's `TwoTier`,
/// which treats a Redis failure as a miss, these fail with it: they are here to show one
/// thing each, and hiding errors is not that thing.
#[derive(Debug, Error)]
pub enum CacheError<E> {
    #[error("Redis did not answer")]
    Redis(#[source] redis::RedisError),
    #[error("a value did not encode or decode")]
    Decode(#[source] serde_json::Error),
    #[error("the loader failed")]
    Load(#[source] E),
}
