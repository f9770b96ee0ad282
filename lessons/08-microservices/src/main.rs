//! The narrated demo of lesson 08: a catalog (REST), the shop's inventory service (gRPC) and a
//! gateway in front, in one process on loopback ports; deadlines, retries, a circuit breaker
//! that trips when the inventory dies, a bulkhead, the checkout saga, and an order's history
//! as events.
//!
//! `cargo run -p lesson-08` runs every step and finishes on its own in about half a minute;
//! steps 1, 3 and 5 need PostgreSQL (`cargo xtask services up`), where the inventory service
//! keeps its stock, in a database of its own (`backend_rs_lesson08`, re-created by each of
//! them and dropped again unless `-- --keep`). `-- --list` lists the steps, `-- --only
//! breaker` (or `--only 3`, `--only 3,saga`) runs some; `-- --help` lists the options. The
//! code it narrates lives in the library (`src/lib.rs`). Exit status: 0 when every step ran,
//! 1 when a step failed or PostgreSQL was missing (the other steps still run), 2 for a bad
//! flag, 130 after Ctrl-C.

use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use lesson_08::steps::{self, DEMO_DATABASE, Demo, StepError};
use narrate::demo::{
    Contents, Entry, Outcome, StepArgs, Steps, Tally, cancel_on_ctrl_c, init_tracing,
};
use testkit::demo_db::DatabaseName;

/// Microservices: deadlines, retries, circuit breakers, bulkheads, sagas, event sourcing.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// The inventory's demo database, re-created by the steps that use it (it must start with
    /// backend_rs_lesson08, because the demo drops it).
    #[arg(long, default_value = DEMO_DATABASE, value_parser = DatabaseName::parser(DEMO_DATABASE))]
    database: DatabaseName,
    /// Keep the database at the end, to explore it with psql.
    #[arg(long)]
    keep: bool,
    #[command(flatten)]
    contents: StepArgs<Step>,
}

fn main() -> anyhow::Result<Outcome> {
    let cli = Cli::parse();
    if cli.contents.print_list_if_asked() {
        return Ok(Outcome::Success);
    }
    // The services' own logs stay off so they do not interleave with the narration
    // (`RUST_LOG=shop_resilience=info` shows the breaker's transitions as they are logged).
    init_tracing("off");
    let runtime = tokio::runtime::Runtime::new().context("could not start the tokio runtime")?;
    runtime.block_on(run(cli))
}

// ANCHOR: run
async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let shutdown = cancel_on_ctrl_c();
    let started = Instant::now();
    steps::intro();
    let demo = Demo::new(shutdown.clone(), cli.database.clone(), cli.keep)
        .context("could not build the demo's HTTP client")?;
    let mut tally = Tally::default();
    for step in cli.contents.selected() {
        // Ctrl-C: the step in progress finishes (a traffic loop stops early), the rest are
        // skipped.
        if shutdown.is_cancelled() {
            break;
        }
        match run_step(step, &demo).await {
            // The step said what is missing and how to start it.
            Err(StepError::ServiceMissing(_)) => tally.service_missing(),
            result => tally.record(step, result),
        }
    }
    steps::outro(started.elapsed());
    Ok(tally.outcome(&shutdown))
}
// ANCHOR_END: run

/// The steps `--only` can pick, for the table of contents below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Grpc,
    Retries,
    Breaker,
    Bulkhead,
    Saga,
    Events,
}

// ANCHOR: table_of_contents
/// The table of contents: each step starts what it needs and stops it again.
impl Steps for Step {
    #[rustfmt::skip]
    const CONTENTS: Contents<Self> = Contents::new(&[
        Entry::step(Step::Grpc, "grpc", "gRPC: the inventory service and its client"),
        Entry::step(Step::Retries, "retries", "Retries: jittered back-off, and a budget for outages"),
        Entry::step(Step::Breaker, "breaker", "Circuit breaker: inventory dies, the gateway degrades and recovers"),
        Entry::step(Step::Bulkhead, "bulkhead", "Bulkhead: a slow dependency may take eight workers, not all of them"),
        Entry::step(Step::Saga, "saga", "Saga: one checkout across inventory, payments and orders"),
        Entry::step(Step::Events, "events", "Event sourcing: an order's history, its state, a read model"),
    ]);
}

/// One call per step.
async fn run_step(step: Step, demo: &Demo) -> Result<(), StepError> {
    match step {
        Step::Grpc => steps::grpc(demo).await,
        Step::Retries => steps::retries(demo).await,
        Step::Breaker => steps::breaker(demo).await,
        Step::Bulkhead => steps::bulkhead(demo).await,
        Step::Saga => steps::saga(demo).await,
        Step::Events => steps::events(),
    }
}
// ANCHOR_END: table_of_contents
