//! The bulkhead: at most N calls to one dependency at once; the N+1st is refused at once rather
//! than queued, so a slow dependency costs the caller N tasks, not all of them.

use std::num::NonZeroUsize;
use std::sync::Arc;

use thiserror::Error;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug)]
pub struct Bulkhead {
    name: &'static str,
    max: usize,
    // Owned permits (through the Arc) so that a place can outlive the borrow of the bulkhead,
    // e.g. moved into a spawned task.
    places: Arc<Semaphore>,
}

/// One of the bulkhead's places, freed on drop.
#[derive(Debug)]
pub struct BulkheadPermit {
    _place: OwnedSemaphorePermit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("bulkhead {name} full: {max} calls already in flight")]
pub struct BulkheadFull {
    pub name: &'static str,
    pub max: usize,
}

impl Bulkhead {
    pub fn new(name: &'static str, max_concurrent: NonZeroUsize) -> Self {
        // Semaphore::new panics above MAX_PERMITS (usize::MAX >> 3); no real limit is that high.
        let max = max_concurrent.get().min(Semaphore::MAX_PERMITS);
        Bulkhead {
            name,
            max,
            places: Arc::new(Semaphore::new(max)),
        }
    }

    // ANCHOR: bulkhead
    pub fn try_enter(&self) -> Result<BulkheadPermit, BulkheadFull> {
        // `try_acquire`, never `acquire`: waiting for a place is the queue the bulkhead is
        // there to prevent. The semaphore is never closed, so the only refusal is "full".
        match Arc::clone(&self.places).try_acquire_owned() {
            Ok(place) => Ok(BulkheadPermit { _place: place }),
            Err(_) => Err(BulkheadFull {
                name: self.name,
                max: self.max,
            }),
        }
    }
    // ANCHOR_END: bulkhead

    /// Calls in flight now.
    pub fn in_flight(&self) -> usize {
        self.max - self.places.available_permits()
    }
}
