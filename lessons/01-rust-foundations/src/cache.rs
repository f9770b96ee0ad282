//! A quote cache shared by every worker of the pool: read on every job, written only on a miss.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use crate::price::{Quote, Sku};

// ANCHOR: cache
/// `RwLock` because the access pattern is read-mostly: every job looks here first, and only
/// the jobs that miss write. Any number of readers can hold the lock at once; a writer waits
/// for them and then has it alone.
///
/// `std::sync::RwLock`, not tokio's: the lock is held for a hash-map lookup and never across
/// an `.await`, so a blocking lock is cheaper and cannot stall the runtime. (tokio's docs
/// recommend the same; mini-redis's `db.rs` makes this choice for its `Mutex`.)
#[derive(Debug, Default)]
pub struct QuoteCache {
    quotes: RwLock<HashMap<Sku, Quote>>,
}

impl QuoteCache {
    pub fn get(&self, sku: &Sku) -> Option<Quote> {
        // A panic while the lock was held "poisons" it. The map is still consistent here (each
        // write is one `insert`), so we take the data back instead of panicking in turn.
        let quotes = self.quotes.read().unwrap_or_else(PoisonError::into_inner);
        quotes.get(sku).cloned()
    }

    pub fn insert(&self, quote: Quote) {
        let mut quotes = self.quotes.write().unwrap_or_else(PoisonError::into_inner);
        quotes.insert(quote.sku.clone(), quote);
    }
}
// ANCHOR_END: cache
