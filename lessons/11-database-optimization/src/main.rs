//! The narrated demo of lesson 11: reading plans and the indexes that change them; the N+1
//! problem counted and fixed; lost updates and write skew shown live, with their fixes; a
//! job queue on SKIP LOCKED; connection-pool sizes measured; consistent hashing; a column
//! renamed with zero downtime; reads split between the primary and a streaming replica.
//!
//! `cargo run -p lesson-11` runs every step and finishes on its own in under ten seconds.
//! Every step but the hash ring needs PostgreSQL (`cargo xtask services up`, or
//! `DATABASE_URL`); the replica step also needs its streaming standby on 127.0.0.1:5433
//! (`cargo xtask services up` makes one, or `DATABASE_REPLICA_URL`). Every table lives in a schema of the run's own, `lesson11_<run>` with
//! `<run>` random, dropped at the end, after Ctrl-C too. `-- --list` lists the steps, `--
//! --only anomalies` (or `--only 3`, `--only 1,pool-size`) runs some; `-- --help` lists the
//! options. The code it narrates lives in the library (`src/lib.rs`). Exit status: 0 when
//! every step ran, 1 when a step failed or PostgreSQL was missing (the other steps still
//! run), 2 for a bad flag, 130 after Ctrl-C.

use std::time::Instant;

use clap::Parser;
use lesson_11::steps::{self, Demo, StepError};
use narrate::demo::{
    Contents, Entry, Outcome, StepArgs, Steps, Tally, cancel_on_ctrl_c, init_tracing,
};

/// Database optimization: plans, N+1, anomalies, queues, pools, sharding, migrations.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    contents: StepArgs<Step>,
}

fn main() -> anyhow::Result<Outcome> {
    let cli = Cli::parse();
    if cli.contents.print_list_if_asked() {
        return Ok(Outcome::Success);
    }
    // The narration says what matters (`RUST_LOG=sqlx=info` shows every statement).
    init_tracing("off");
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(run(cli))
}

// ANCHOR: run
async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let shutdown = cancel_on_ctrl_c();
    let started = Instant::now();
    steps::intro();
    let demo = Demo::new(shutdown.clone());
    let mut tally = Tally::default();
    for step in cli.contents.selected() {
        // Ctrl-C: the step in progress finishes (traffic loops stop early), the rest are
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
    // Whatever happened above: this run's schema goes.
    demo.finish().await;
    steps::outro(started.elapsed());
    Ok(tally.outcome(&shutdown))
}
// ANCHOR_END: run

/// The steps `--only` can pick, for the table of contents below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Plans,
    NPlusOne,
    Anomalies,
    SkipLocked,
    PoolSize,
    ConsistentHashing,
    ExpandContract,
    Replica,
}

// ANCHOR: table_of_contents
/// The table of contents: each step creates the tables it needs, in the run's schema.
impl Steps for Step {
    #[rustfmt::skip]
    const CONTENTS: Contents<Self> = Contents::new(&[
        Entry::step(Step::Plans, "plans", "Reading plans: composite, partial, covering and GIN indexes"),
        Entry::step(Step::NPlusOne, "n-plus-one", "The N+1 problem, counted, and three fixes"),
        Entry::step(Step::Anomalies, "anomalies", "Lost updates and write skew, live, and their fixes"),
        Entry::step(Step::SkipLocked, "skip-locked", "A job queue on FOR UPDATE SKIP LOCKED"),
        Entry::step(Step::PoolSize, "pool-size", "Connection-pool size against throughput and p99"),
        Entry::step(Step::ConsistentHashing, "consistent-hashing", "Sharding with a hash ring: what moves when a shard is added"),
        Entry::step(Step::ExpandContract, "expand-contract", "A zero-downtime column rename: expand, backfill, switch, contract"),
        Entry::step(Step::Replica, "replica", "Read/write splitting on a streaming replica: lag and read-your-writes"),
    ]);
}

/// One call per step.
async fn run_step(step: Step, demo: &Demo) -> Result<(), StepError> {
    match step {
        Step::Plans => steps::plans(demo).await,
        Step::NPlusOne => steps::n_plus_one(demo).await,
        Step::Anomalies => steps::anomalies(demo).await,
        Step::SkipLocked => steps::skip_locked(demo).await,
        Step::PoolSize => steps::pool_size(demo).await,
        Step::ConsistentHashing => steps::consistent_hashing(demo).await,
        Step::ExpandContract => steps::expand_contract(demo).await,
        Step::Replica => steps::replica(demo).await,
    }
}
// ANCHOR_END: table_of_contents
