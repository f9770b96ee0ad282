//! A bounded worker pool: N workers price many SKUs taken from one bounded queue.
//!
//! Shows backpressure (the producer waits while the queue is full), a high-water mark that
//! proves at most N jobs ever run at once, and which lock or atomic fits each piece of shared
//! state. Steps 4 and 5 of `cargo run -p lesson-01` (try `--workers 8 --queue 1`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::cache::QuoteCache;
use crate::config::PoolConfig;
use crate::fan_out::{AggregateError, fetch_best};
use crate::gauge::Gauge;
use crate::price::Sku;
use crate::supplier::Supplier;

/// How often, and for how long in total, the producer found the queue full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backpressure {
    pub waits: usize,
    pub waited: Duration,
}

/// What a pool run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolReport {
    pub requested: usize,
    /// Jobs a worker picked up (the rest were still queued, or never sent, when cancelled).
    pub started: usize,
    /// Priced by a fresh fan-out.
    pub priced: usize,
    pub cache_hits: usize,
    /// Every supplier failed.
    pub unpriced: usize,
    /// Stopped half-way by cancellation.
    pub cancelled: usize,
    /// Fresh prices won, per supplier.
    pub wins: BTreeMap<String, usize>,
    pub max_concurrent_jobs: usize,
    /// Jobs still marked as running after the pool returned: 0 unless something leaked.
    pub jobs_running_after: usize,
    pub workers_joined: usize,
    pub producer: Backpressure,
    pub elapsed: Duration,
}

impl PoolReport {
    pub fn never_started(&self) -> usize {
        self.requested.saturating_sub(self.started)
    }
}

// ANCHOR: shared_state
/// Everything the workers share, behind one `Arc`. Each piece uses the cheapest tool that is
/// correct for how it is accessed:
/// - `jobs`: atomics (single numbers bumped by everyone, see `Gauge`);
/// - `cache`: an `RwLock` (read by every job, written on misses, see `QuoteCache`);
/// - `tally`: a `std::sync::Mutex`, because several counters must change together and the
///   lock is held for a few additions, never across an `.await`.
struct Shared {
    suppliers: Vec<Arc<dyn Supplier>>,
    timeout: Duration,
    jobs: Gauge,
    cache: QuoteCache,
    tally: Mutex<Tally>,
}

#[derive(Debug, Default)]
struct Tally {
    started: usize,
    priced: usize,
    cache_hits: usize,
    unpriced: usize,
    cancelled: usize,
    wins: BTreeMap<String, usize>,
}

impl Shared {
    fn tally(&self) -> MutexGuard<'_, Tally> {
        // Each update to the tally is complete or not started, so a poisoned lock (another
        // worker panicked while holding it) still guards consistent numbers.
        self.tally.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn price(&self, sku: Sku, cancel: &CancellationToken) {
        self.tally().started += 1;
        if self.cache.get(&sku).is_some() {
            self.tally().cache_hits += 1;
            return;
        }
        // No lock is held across this `.await`: other workers update the tally meanwhile.
        let result = fetch_best(&self.suppliers, &sku, self.timeout, cancel).await;
        match result {
            Ok(aggregate) => {
                let mut tally = self.tally();
                tally.priced += 1;
                *tally
                    .wins
                    .entry(aggregate.best.supplier.clone())
                    .or_default() += 1;
                drop(tally);
                self.cache.insert(aggregate.best);
            }
            Err(AggregateError::NoQuotes { .. }) => self.tally().unpriced += 1,
            Err(AggregateError::Cancelled { .. }) => self.tally().cancelled += 1,
        }
    }
}
// ANCHOR_END: shared_state

// ANCHOR: worker_pool
/// Prices every SKU with `config.workers` workers, stopping early if `cancel` fires.
///
/// tokio's `mpsc` has one receiver, so the workers share it behind a mutex (see `next_job`).
pub async fn run_pool(
    suppliers: &[Arc<dyn Supplier>],
    skus: Vec<Sku>,
    config: &PoolConfig,
    cancel: &CancellationToken,
) -> PoolReport {
    let started = Instant::now();
    let requested = skus.len();
    let shared = Arc::new(Shared {
        suppliers: suppliers.to_vec(),
        timeout: config.timeout(),
        jobs: Gauge::default(),
        cache: QuoteCache::default(),
        tally: Mutex::default(),
    });
    let (queue, jobs) = mpsc::channel(config.queue_capacity());
    let jobs = Arc::new(tokio::sync::Mutex::new(jobs));

    let mut workers = JoinSet::new();
    for _ in 0..config.workers() {
        workers.spawn(worker(
            Arc::clone(&jobs),
            Arc::clone(&shared),
            cancel.clone(),
        ));
    }
    // From here on only the workers hold the receiver: should they all stop, the producer's
    // `send` fails at once instead of waiting forever for room in the queue.
    drop(jobs);
    // The producer runs here, on the caller's task; it returns once every SKU is queued (or
    // the run is cancelled) and drops the sender, which tells the workers "no more jobs".
    let producer = produce(skus, queue, cancel).await;

    let mut workers_joined = 0;
    while let Some(joined) = workers.join_next().await {
        workers_joined += usize::from(joined.is_ok());
    }
    report(
        &shared,
        requested,
        producer,
        workers_joined,
        started.elapsed(),
    )
}

async fn worker(
    jobs: Arc<tokio::sync::Mutex<mpsc::Receiver<Sku>>>,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) {
    while let Some(sku) = next_job(&jobs, &cancel).await {
        let _running = shared.jobs.enter();
        shared.price(sku, &cancel).await;
    }
}

/// The one place a `tokio::sync::Mutex` is right: its guard is held across an `.await`
/// (waiting in `recv` for the next job). A `std::sync::MutexGuard` there would block the
/// thread and is not `Send`, so the compiler rejects the spawned task outright.
async fn next_job(
    jobs: &tokio::sync::Mutex<mpsc::Receiver<Sku>>,
    cancel: &CancellationToken,
) -> Option<Sku> {
    let mut jobs = jobs.lock().await;
    tokio::select! {
        biased;
        () = cancel.cancelled() => None,
        sku = jobs.recv() => sku,
    }
}
// ANCHOR_END: worker_pool

// ANCHOR: backpressure
/// Queues every SKU, waiting whenever the queue is full: that wait *is* backpressure. The
/// producer can never be more than `queue_capacity` jobs ahead of the workers, so memory stays
/// bounded however many SKUs arrive.
async fn produce(
    skus: Vec<Sku>,
    queue: mpsc::Sender<Sku>,
    cancel: &CancellationToken,
) -> Backpressure {
    let mut pressure = Backpressure::default();
    for sku in skus {
        // `send(..).await` alone would be enough; trying first lets us count the waits.
        let sku = match queue.try_send(sku) {
            Ok(()) => continue,
            Err(TrySendError::Full(sku)) => sku,
            Err(TrySendError::Closed(_)) => break,
        };
        pressure.waits += 1;
        let waiting_since = Instant::now();
        let sent = tokio::select! {
            biased;
            () = cancel.cancelled() => false,
            sent = queue.send(sku) => sent.is_ok(),
        };
        pressure.waited += waiting_since.elapsed();
        if !sent {
            break;
        }
    }
    pressure
}
// ANCHOR_END: backpressure

fn report(
    shared: &Shared,
    requested: usize,
    producer: Backpressure,
    workers_joined: usize,
    elapsed: Duration,
) -> PoolReport {
    let tally = shared.tally();
    PoolReport {
        requested,
        started: tally.started,
        priced: tally.priced,
        cache_hits: tally.cache_hits,
        unpriced: tally.unpriced,
        cancelled: tally.cancelled,
        wins: tally.wins.clone(),
        max_concurrent_jobs: shared.jobs.high_water(),
        jobs_running_after: shared.jobs.current(),
        workers_joined,
        producer,
        elapsed,
    }
}

/// The demo's workload: 30 different parts, then the 10 most popular ones asked for again
/// (those should come from the cache).
pub fn demo_workload() -> Vec<Sku> {
    (1..=30).chain(1..=10).map(Sku::numbered).collect()
}
