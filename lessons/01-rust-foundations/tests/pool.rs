//! The worker pool's promises: never more than N jobs at once, backpressure when the queue is
//! full, repeated SKUs from the cache, and a prompt, leak-free stop on cancellation.
//!
//! All on tokio's paused clock: time only moves when every task is waiting, so "60 ms" of
//! supplier latency takes no real time and every run gives the same numbers.
//! `cargo test -p lesson-01 --test pool`

use std::sync::Arc;
use std::time::Duration;

use lesson_01::config::PoolConfig;
use lesson_01::gauge::Gauge;
use lesson_01::pool::{Backpressure, demo_workload, run_pool};
use lesson_01::price::Sku;
use lesson_01::supplier::{Behaviour, SimulatedSupplier, Supplier};
use tokio_util::sync::CancellationToken;

const MS: Duration = Duration::from_millis(1);

fn suppliers(open_calls: &Arc<Gauge>) -> Vec<Arc<dyn Supplier>> {
    let supplier = |name, latency_ms, behaviour| -> Arc<dyn Supplier> {
        Arc::new(
            SimulatedSupplier::new(name, 100)
                .latency(latency_ms * MS, Duration::ZERO)
                .behaviour(behaviour)
                .open_calls(Arc::clone(open_calls)),
        )
    };
    vec![
        supplier("fast", 10, Behaviour::Answers),
        supplier("slow", 60, Behaviour::OutOfStockOneIn(4)),
    ]
}

fn distinct_skus(n: u32) -> Vec<Sku> {
    (0..n).map(Sku::numbered).collect()
}

#[tokio::test(start_paused = true)]
async fn never_runs_more_jobs_than_workers_and_keeps_them_all_busy() {
    let open_calls = Arc::default();
    for workers in [1, 3, 8] {
        let config = PoolConfig::new(workers, 2, 100 * MS).unwrap();
        let report = run_pool(
            &suppliers(&open_calls),
            distinct_skus(40),
            &config,
            &CancellationToken::new(),
        )
        .await;
        assert_eq!(
            report.max_concurrent_jobs, workers,
            "with {workers} workers"
        );
        assert_eq!(report.priced, 40);
        assert_eq!(report.workers_joined, workers);
        assert_eq!(report.jobs_running_after, 0);
    }
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_makes_the_producer_wait() {
    let open_calls = Arc::default();
    let small = PoolConfig::new(2, 2, 100 * MS).unwrap();
    let report = run_pool(
        &suppliers(&open_calls),
        distinct_skus(20),
        &small,
        &CancellationToken::new(),
    )
    .await;
    assert!(report.producer.waits > 0);
    assert!(report.producer.waited > Duration::ZERO);

    let roomy = PoolConfig::new(2, 20, 100 * MS).unwrap();
    let report = run_pool(
        &suppliers(&open_calls),
        distinct_skus(20),
        &roomy,
        &CancellationToken::new(),
    )
    .await;
    assert_eq!(
        report.producer,
        Backpressure::default(),
        "a queue as long as the work never fills"
    );
}

#[tokio::test(start_paused = true)]
async fn repeated_skus_come_from_the_cache() {
    let open_calls = Arc::default();
    let config = PoolConfig::new(4, 4, 100 * MS).unwrap();
    let report = run_pool(
        &suppliers(&open_calls),
        demo_workload(),
        &config,
        &CancellationToken::new(),
    )
    .await;
    assert_eq!((report.priced, report.cache_hits), (30, 10));
    assert_eq!(report.wins.values().sum::<usize>(), 30);
}

#[tokio::test(start_paused = true)]
async fn cancelling_stops_in_flight_jobs_promptly_and_leaks_nothing() {
    let open_calls = Arc::new(Gauge::default());
    let config = PoolConfig::new(3, 3, 100 * MS).unwrap();
    let cancel = CancellationToken::new();
    let canceller = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(150 * MS).await;
            cancel.cancel();
        })
    };
    let report = run_pool(&suppliers(&open_calls), distinct_skus(40), &config, &cancel).await;

    // Every job takes 60 ms (the slow supplier), so at 150 ms each of the 3 workers has
    // finished two jobs and is half-way through its third.
    assert_eq!(report.elapsed, 150 * MS, "nothing ran on after the cancel");
    assert_eq!(
        (report.priced, report.cancelled, report.never_started()),
        (6, 3, 31)
    );
    assert_eq!(report.jobs_running_after, 0);
    assert_eq!(
        open_calls.current(),
        0,
        "no supplier call outlived the pool"
    );
    assert_eq!(report.workers_joined, 3);
    canceller.await.unwrap();
}
