//! Fan-out / fan-in: ask every supplier at once, give each its own deadline, and keep the best
//! quote among those that answered in time, with a report of those that did not.
//!
//! Step 2 of `cargo run -p lesson-01` runs this for two SKUs; the worker pool (step 4) runs it
//! once per job.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::price::{Quote, Sku};
use crate::supplier::{Supplier, SupplierError};

// ANCHOR: errors
/// Why one supplier produced no quote. One enum per boundary, built with `thiserror`: callers
/// can `match` on the variant, and `Display` gives a sentence for humans.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FetchError {
    #[error("timed out after {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error("{0}")]
    Supplier(#[from] SupplierError),
    #[error("cancelled")]
    Cancelled,
    /// The supplier's task panicked: a bug in that supplier, reported rather than allowed to
    /// take the whole aggregation down with it.
    #[error("crashed: {0}")]
    Crashed(String),
}

/// Why there is no best quote at all.
#[derive(Debug, Error)]
pub enum AggregateError {
    #[error("no supplier quoted {sku} ({})", summarize(.outcomes))]
    NoQuotes { sku: Sku, outcomes: Vec<Outcome> },
    #[error("cancelled while pricing {sku}")]
    Cancelled { sku: Sku },
}
// ANCHOR_END: errors

/// What one supplier did, and when (measured from the start of the fan-out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub supplier: String,
    pub elapsed: Duration,
    pub result: Result<Quote, FetchError>,
}

// ANCHOR: aggregate
/// The result of one fan-out: the best quote and every supplier's outcome, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregate {
    pub sku: Sku,
    pub best: Quote,
    pub outcomes: Vec<Outcome>,
}

impl Aggregate {
    pub fn quotes(&self) -> impl Iterator<Item = &Quote> {
        self.outcomes.iter().filter_map(|o| o.result.as_ref().ok())
    }

    pub fn failures(&self) -> impl Iterator<Item = (&str, &FetchError)> {
        self.outcomes
            .iter()
            .filter_map(|o| o.result.as_ref().err().map(|e| (&*o.supplier, e)))
    }
}
// ANCHOR_END: aggregate

// ANCHOR: fetch_one
/// Asks one supplier, giving up at `limit` or when `cancel` fires, whichever comes first.
///
/// Generic over `S` (static dispatch: one copy of this function per supplier type, calls can be
/// inlined). `?Sized` lets `S` also be `dyn Supplier`, which is what the fan-out passes.
///
/// The deadline wraps the future (`timeout`) and cancellation is a token; neither has to be
/// threaded through the supplier's code, because dropping a future stops it at its next
/// `.await`.
pub async fn fetch_one<S: Supplier + ?Sized>(
    supplier: &S,
    sku: &Sku,
    limit: Duration,
    cancel: &CancellationToken,
) -> Result<Quote, FetchError> {
    tokio::select! {
        // `biased` polls the branches in order: once cancelled, we never start or finish a
        // request on a coin flip. (Unbiased, `select!` picks among ready branches at random.)
        biased;
        () = cancel.cancelled() => Err(FetchError::Cancelled),
        answer = tokio::time::timeout(limit, supplier.quote(sku)) => match answer {
            Ok(result) => result.map_err(FetchError::from),
            Err(_elapsed) => Err(FetchError::Timeout(limit)),
        },
    }
}
// ANCHOR_END: fetch_one

// ANCHOR: fan_out
/// Fans out one task per supplier, fans the answers back in as they arrive, and returns the
/// cheapest quote among those that arrived in time (ties go to the earlier answer). The
/// `JoinSet` spawns the tasks and hands back their results as they finish.
pub async fn fetch_best(
    suppliers: &[Arc<dyn Supplier>],
    sku: &Sku,
    limit: Duration,
    cancel: &CancellationToken,
) -> Result<Aggregate, AggregateError> {
    let started = Instant::now();
    // A `JoinSet` owns its tasks: if this function's future is dropped half-way, dropping the
    // set aborts every task still running, so no request outlives the caller who wanted it.
    let mut tasks = JoinSet::new();
    let mut names = HashMap::new();
    for supplier in suppliers {
        // Each task gets its own handles ('static: a task may outlive this stack frame).
        // Cloning an Arc or a token is a reference-count bump, not a copy of the data.
        let (task_supplier, sku, cancel) = (Arc::clone(supplier), sku.clone(), cancel.clone());
        let handle =
            tasks.spawn(async move { fetch_one(&*task_supplier, &sku, limit, &cancel).await });
        names.insert(handle.id(), supplier.name().to_owned());
    }

    let mut outcomes = Vec::with_capacity(suppliers.len());
    while let Some(joined) = tasks.join_next_with_id().await {
        let (id, result) = match joined {
            Ok((id, result)) => (id, result),
            Err(crash) => (crash.id(), Err(FetchError::Crashed(crash.to_string()))),
        };
        let supplier = names.remove(&id).unwrap_or_default();
        outcomes.push(Outcome {
            supplier,
            elapsed: started.elapsed(),
            result,
        });
    }

    let sku = sku.clone();
    if outcomes
        .iter()
        .any(|o| o.result == Err(FetchError::Cancelled))
    {
        return Err(AggregateError::Cancelled { sku });
    }
    // `min_by_key` keeps the first of equal minimums: the earliest answer wins a tie.
    let best = outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().ok())
        .min_by_key(|q| q.price);
    match best.cloned() {
        Some(best) => Ok(Aggregate {
            sku,
            best,
            outcomes,
        }),
        None => Err(AggregateError::NoQuotes { sku, outcomes }),
    }
}
// ANCHOR_END: fan_out

fn summarize(outcomes: &[Outcome]) -> String {
    if outcomes.is_empty() {
        return "no suppliers were asked".to_owned();
    }
    let failures: Vec<String> = outcomes
        .iter()
        .filter_map(|o| {
            o.result
                .as_ref()
                .err()
                .map(|e| format!("{}: {e}", o.supplier))
        })
        .collect();
    failures.join("; ")
}
