//! A DataLoader-style batcher: code written one key at a time, queries sent one batch at a
//! time.
//!
//! The N+1 problem often hides in code that is right to be written per item: a GraphQL
//! resolver for `customer.orders`, a template helper, a per-row permission check. Each asks
//! for its own key. A [`Batcher`] lets them: every [`Batcher::load`] made while the first one
//! of a batch waits out the current scheduler tick joins that batch, and the batch is one call
//! of the fetch function with every distinct key (one `WHERE id = ANY($1)` query), whose
//! answers are handed back to each caller.
//!
//! "Within one tick" means the loads that are polled together: `join_all` over a page of
//! items, or the fields of one GraphQL selection. Loads issued one after another, each
//! awaited before the next, still make one batch each; no timer adds latency to them.
//!
//! `cargo test -p lesson-11 batcher`

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use thiserror::Error;
use tokio::sync::oneshot;

/// Why a [`Batcher::load`] has no answer.
#[derive(Debug, Error)]
pub enum LoadError<E: std::error::Error + 'static> {
    /// The batch's fetch failed; every load in it gets the same error.
    #[error("the batched query failed")]
    Failed(#[source] Arc<E>),
    /// The load that was running the batch was cancelled before it finished.
    #[error("the batch was cancelled before it ran")]
    Cancelled,
}

type Answer<V, E> = Result<Option<V>, Arc<E>>;
type Waiters<K, V, E> = Vec<(K, oneshot::Sender<Answer<V, E>>)>;

// ANCHOR: batcher
/// Gathers the keys asked for in one tick into one call of `fetch`.
pub struct Batcher<K, V, E, F> {
    fetch: F,
    /// The loads of the batch being gathered. A std Mutex: held for a push or a take, never
    /// across an `.await`.
    waiting: Mutex<Waiters<K, V, E>>,
    batches: AtomicUsize,
}

impl<K, V, E, F, Fut> Batcher<K, V, E, F>
where
    K: Eq + Hash + Clone,
    V: Clone,
    E: std::error::Error + 'static,
    F: Fn(Vec<K>) -> Fut,
    Fut: Future<Output = Result<HashMap<K, V>, E>>,
{
    /// `fetch` gets the distinct keys of a batch and returns what it found for them; a key it
    /// leaves out loads as `None`.
    pub fn new(fetch: F) -> Self {
        Batcher {
            fetch,
            waiting: Mutex::new(Vec::new()),
            batches: AtomicUsize::new(0),
        }
    }

    /// The value for `key`, fetched in a batch with every other key asked for in this tick.
    pub async fn load(&self, key: K) -> Result<Option<V>, LoadError<E>> {
        let (answer, wait) = oneshot::channel();
        let leads = {
            let mut waiting = lock(&self.waiting);
            waiting.push((key, answer));
            waiting.len() == 1
        };
        if leads {
            // The first load of a batch runs it, after giving the others polled in this tick
            // their turn to join. If this load is dropped before it takes the batch, the guard
            // empties the queue, so those waiting see `Cancelled` instead of waiting forever.
            let mut guard = Lead {
                waiting: &self.waiting,
                armed: true,
            };
            tokio::task::yield_now().await;
            let batch = std::mem::take(&mut *lock(&self.waiting));
            guard.armed = false;
            self.run(batch).await;
        }
        match wait.await {
            Ok(answer) => answer.map_err(LoadError::Failed),
            Err(_) => Err(LoadError::Cancelled),
        }
    }

    async fn run(&self, batch: Waiters<K, V, E>) {
        let mut seen = HashSet::new();
        let keys: Vec<K> = batch
            .iter()
            .filter(|(key, _)| seen.insert(key.clone()))
            .map(|(key, _)| key.clone())
            .collect();
        self.batches.fetch_add(1, Ordering::Relaxed);
        match (self.fetch)(keys).await {
            Ok(found) => {
                for (key, answer) in batch {
                    // A load dropped meanwhile no longer listens; nothing to do for it.
                    let _ = answer.send(Ok(found.get(&key).cloned()));
                }
            }
            Err(error) => {
                let error = Arc::new(error);
                for (_, answer) in batch {
                    let _ = answer.send(Err(error.clone()));
                }
            }
        }
    }

    /// How many batches (calls of `fetch`) ran so far.
    pub fn batches(&self) -> usize {
        self.batches.load(Ordering::Relaxed)
    }
}
// ANCHOR_END: batcher

/// Empties the queue if the leading load is dropped before it took the batch.
struct Lead<'a, T> {
    waiting: &'a Mutex<Vec<T>>,
    armed: bool,
}

impl<T> Drop for Lead<'_, T> {
    fn drop(&mut self) {
        if self.armed {
            lock(self.waiting).clear();
        }
    }
}

/// A poisoned lock only means another load panicked mid-push; the queue is still a queue.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use futures::future::join_all;

    use super::*;

    #[derive(Debug, Error)]
    #[error("the database is down")]
    struct Down;

    type Calls = Arc<Mutex<Vec<Vec<u32>>>>;
    type Fetched = futures::future::Ready<Result<HashMap<u32, u32>, Down>>;

    /// A fetch that records every batch of keys it was called with and answers `key * 10`,
    /// leaving out 13.
    fn recording() -> (Calls, impl Fn(Vec<u32>) -> Fetched) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = calls.clone();
        let fetch = move |keys: Vec<u32>| {
            seen.lock().unwrap().push(keys.clone());
            let found = keys
                .into_iter()
                .filter(|&k| k != 13)
                .map(|k| (k, k * 10))
                .collect();
            futures::future::ready(Ok(found))
        };
        (calls, fetch)
    }

    #[tokio::test]
    async fn loads_made_together_become_one_fetch_of_the_distinct_keys() {
        let (calls, fetch) = recording();
        let batcher = Batcher::new(fetch);
        let keys = [1, 2, 3, 2, 13, 1, 40];
        let answers = join_all(keys.iter().map(|&k| batcher.load(k))).await;
        let answers: Vec<Option<u32>> = answers.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            answers,
            [
                Some(10),
                Some(20),
                Some(30),
                Some(20),
                None,
                Some(10),
                Some(400)
            ]
        );
        assert_eq!(batcher.batches(), 1);
        assert_eq!(*calls.lock().unwrap(), [vec![1, 2, 3, 13, 40]]);
    }

    #[tokio::test]
    async fn a_hundred_concurrent_loads_are_one_batch() {
        let (calls, fetch) = recording();
        let batcher = Batcher::new(fetch);
        let answers = join_all((0..100).map(|k| batcher.load(k))).await;
        assert!(answers.iter().all(Result::is_ok));
        assert_eq!(batcher.batches(), 1);
        assert_eq!(calls.lock().unwrap()[0].len(), 100);
    }

    #[tokio::test]
    async fn loads_awaited_one_after_another_are_a_batch_each() {
        let (_, fetch) = recording();
        let batcher = Batcher::new(fetch);
        for k in 0..5 {
            assert_eq!(batcher.load(k).await.unwrap(), Some(k * 10));
        }
        assert_eq!(batcher.batches(), 5);
    }

    #[tokio::test]
    async fn a_failed_fetch_fails_every_load_of_its_batch() {
        let calls = AtomicUsize::new(0);
        let batcher = Batcher::new(|_keys: Vec<u32>| {
            calls.fetch_add(1, Ordering::Relaxed);
            futures::future::ready(Err::<HashMap<u32, u32>, _>(Down))
        });
        let answers = join_all((0..3).map(|k| batcher.load(k))).await;
        for answer in answers {
            assert!(matches!(answer, Err(LoadError::Failed(_))), "{answer:?}");
        }
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_cancelled_leader_leaves_no_load_waiting_forever() {
        let (_, fetch) = recording();
        let batcher = Batcher::new(fetch);
        {
            // The leader is polled once (it joins and yields), a follower joins, and then both
            // are dropped: the next load must lead a fresh batch and get its answer.
            let mut leader = Box::pin(batcher.load(1));
            let mut follower = Box::pin(batcher.load(2));
            let waker = futures::task::noop_waker();
            let mut cx = std::task::Context::from_waker(&waker);
            assert!(leader.as_mut().poll(&mut cx).is_pending());
            assert!(follower.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(batcher.load(3).await.unwrap(), Some(30));
        assert_eq!(batcher.batches(), 1);
    }
}
