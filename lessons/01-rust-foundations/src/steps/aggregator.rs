//! Steps 1-5: the price aggregator itself.

use std::sync::Arc;
use std::time::Duration;

use narrate::{duration, heading, say, show};
use tokio::time::Instant;

use super::{Demo, StepError};
use crate::fan_out::{FetchError, fetch_best, fetch_one};
use crate::gauge::Gauge;
use crate::pool::{PoolReport, demo_workload, run_pool};
use crate::price::{Quote, Sku};
use crate::supplier::{Behaviour, SimulatedSupplier, Supplier, demo_roster};

pub async fn traits_as_interfaces(demo: &Demo) -> Result<(), StepError> {
    heading(1, "Traits as interfaces");
    say("The aggregator knows suppliers only through the `Supplier` trait. Five suppliers of two");
    say(
        "different types (one Warehouse, four SimulatedSuppliers) share one Vec<Arc<dyn Supplier>>:",
    );
    let roster = demo_roster(&Arc::default());
    for supplier in &roster {
        show(format_args!(
            "{:<14} {}",
            supplier.name(),
            supplier.describe()
        ));
    }

    say("One generic function, `fetch_one<S: Supplier + ?Sized>`, called two ways:");
    let acme = SimulatedSupplier::new("Acme Parts", 100)
        .latency(Duration::from_millis(40), Duration::from_millis(60))
        .behaviour(Behaviour::Answers);
    let sku = Sku::numbered(7);
    let timeout = demo.pool.timeout();
    let started = Instant::now();
    let answer = fetch_one(&acme, &sku, timeout, &demo.shutdown).await;
    show_answer("S = SimulatedSupplier (static dispatch)", answer, started);
    let as_dyn: &dyn Supplier = &acme;
    let started = Instant::now();
    let answer = fetch_one(as_dyn, &sku, timeout, &demo.shutdown).await;
    show_answer("S = dyn Supplier (through the vtable)  ", answer, started);
    say(format_args!(
        "Same answer. A &SimulatedSupplier is {} bytes; a &dyn Supplier is {}: a pointer to the",
        size_of::<&SimulatedSupplier>(),
        size_of::<&dyn Supplier>(),
    ));
    say("data plus a pointer to the vtable each call goes through. Generics cost nothing at run");
    say("time but need one concrete type; trait objects let different types share one list.");
    Ok(())
}

pub async fn fan_out_with_timeouts(demo: &Demo) -> Result<(), StepError> {
    heading(2, "Fan-out, fan-in, timeouts");
    say("One task per supplier, all started at once, each with its own deadline; the answers are");
    say(format_args!(
        "collected as they arrive and the cheapest wins. Deadline: {} per supplier.",
        duration(demo.pool.timeout())
    ));
    let roster = demo_roster(&Arc::default());
    // Two parts chosen to show both stories: the cheapest supplier in time, and too slow.
    for sku in [Sku::numbered(10), Sku::numbered(25)] {
        let started = Instant::now();
        let result = fetch_best(&roster, &sku, demo.pool.timeout(), &demo.shutdown).await;
        let took = duration(started.elapsed());
        say(format_args!("{sku}:"));
        match result {
            Ok(aggregate) => {
                for outcome in &aggregate.outcomes {
                    let what = match &outcome.result {
                        Ok(quote) => quote.price.to_string(),
                        Err(error) => error.to_string(),
                    };
                    show(format_args!(
                        "{:>7}  {:<14} {what}",
                        duration(outcome.elapsed),
                        outcome.supplier
                    ));
                }
                show(format_args!(
                    "best: {} from {}, after {took} ({} quotes, {} failures)",
                    aggregate.best.price,
                    aggregate.best.supplier,
                    aggregate.quotes().count(),
                    aggregate.failures().count(),
                ));
            }
            Err(error) => show(format_args!("no price after {took}: {error}")),
        }
        if demo.shutdown.is_cancelled() {
            return Ok(());
        }
    }
    say(
        "Sleepy Supply never answers, yet each fan-out ends on time: the deadline bounds the wait,",
    );
    say("and a slow or failing supplier costs us its quote, not the whole answer.");
    Ok(())
}

pub async fn worker_pool(demo: &Demo) -> Result<(), StepError> {
    let config = &demo.pool;
    heading(4, "A bounded worker pool with backpressure");
    let workload = demo_workload();
    say(format_args!(
        "{} requests (30 parts, then the 10 most popular again) go through a queue that holds {};",
        workload.len(),
        config.queue_capacity()
    ));
    say(format_args!(
        "{} workers take jobs from it, each job a full fan-out.",
        config.workers()
    ));
    let report = run_pool(
        &demo_roster(&Arc::default()),
        workload,
        config,
        &demo.shutdown,
    )
    .await;

    show(format_args!(
        "done in {}: {} priced by fan-out, {} from the cache, {} with no price",
        duration(report.elapsed),
        report.priced,
        report.cache_hits,
        report.unpriced
    ));
    if report.cancelled + report.never_started() > 0 {
        show(format_args!(
            "interrupted: {} jobs cancelled mid-way, {} never started",
            report.cancelled,
            report.never_started()
        ));
    }
    show(format_args!(
        "most jobs running at once: {} (the pool has {} workers: never more)",
        report.max_concurrent_jobs,
        config.workers()
    ));
    show(format_args!(
        "the producer found the queue full {} times and waited {} in all: backpressure",
        report.producer.waits,
        duration(report.producer.waited)
    ));
    show(format_args!("best prices won: {}", wins(&report)));
    say("Shared state, each with the right tool: atomics count the running jobs, an RwLock guards");
    say("the read-mostly cache, a std Mutex the tally, and a tokio Mutex lets the workers share");
    say("the queue's single receiver (its guard is held across an .await).");
    Ok(())
}

pub async fn cancellation(demo: &Demo) -> Result<(), StepError> {
    heading(5, "Cancellation");
    let cancel_after = Duration::from_millis(400);
    say(format_args!(
        "The same requests again, with a CancellationToken that is cancelled after {}.",
        duration(cancel_after)
    ));
    say("It is a child of the Ctrl-C token, so Ctrl-C would cancel it too. Every wait in the");
    say("pool, in the fan-out and in the producer also waits for the token.");
    // ANCHOR: child_token
    let open_calls = Arc::new(Gauge::default());
    // Cancelling a child stops this run only; cancelling the parent (Ctrl-C) stops it too.
    let token = demo.shutdown.child_token();
    let canceller = tokio::spawn({
        let token = token.clone();
        async move {
            // Also wakes up on Ctrl-C, so an interrupted run does not wait out the timer.
            tokio::select! {
                () = tokio::time::sleep(cancel_after) => token.cancel(),
                () = token.cancelled() => {}
            }
            Instant::now()
        }
    });
    let report = run_pool(
        &demo_roster(&open_calls),
        demo_workload(),
        &demo.pool,
        &token,
    )
    .await;
    let returned = Instant::now();
    let cancelled_at = canceller.await?;
    // ANCHOR_END: child_token

    let from_cache = match report.cache_hits {
        0 => String::new(),
        hits => format!(" (+{hits} from the cache)"),
    };
    show(format_args!(
        "priced {}{from_cache}, cancelled mid-job {}, never started {}",
        report.priced,
        report.cancelled,
        report.never_started()
    ));
    if token.is_cancelled() {
        show(format_args!(
            "the pool returned {} after the cancel",
            duration(returned.saturating_duration_since(cancelled_at))
        ));
    }
    show(format_args!(
        "workers joined: {} of {}; jobs still running: {}; supplier calls still open: {}",
        report.workers_joined,
        demo.pool.workers(),
        report.jobs_running_after,
        open_calls.current()
    ));
    say("Coming from Go: the token plays the part of context.Context's Done channel. It is passed");
    say("in as a parameter, and dropping a future is what actually stops the work in flight.");
    Ok(())
}

fn wins(report: &PoolReport) -> String {
    let mut wins: Vec<_> = report.wins.iter().collect();
    wins.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let wins: Vec<_> = wins.iter().map(|(name, n)| format!("{name} {n}")).collect();
    wins.join(", ")
}

fn show_answer(how: &str, answer: Result<Quote, FetchError>, started: Instant) {
    let answer = match answer {
        Ok(quote) => format!("{} {} from {}", quote.sku, quote.price, quote.supplier),
        Err(error) => error.to_string(),
    };
    show(format_args!(
        "{how}: {answer} in {}",
        duration(started.elapsed())
    ));
}
