//! The narrated demo of lesson 09: Redis's data structures and pipelining; reads from
//! PostgreSQL, Redis and memory measured side by side; a stampede on an expired hot key with
//! and without request coalescing; early probabilistic expiry; invalidation across two
//! instances, versioned keys and negative caching with the capstone's two-tier cache; and
//! write-through against write-behind.
//!
//! `cargo run -p lesson-09` runs every step and finishes on its own in about fifteen seconds.
//! Step 1 needs Redis, the others Redis and PostgreSQL (`cargo xtask services up`); the
//! products live in a database of the demo's own (`backend_rs_lesson09`, re-created at the
//! start of a run and dropped at the end unless `-- --keep`), and every Redis key under a
//! prefix of the run's own, deleted at the end. `-- --list` lists the steps, `-- --only
//! stampede` (or `--only 3`, `--only 3,writes`) runs some; `-- --help` lists the options. The
//! code it narrates lives in the library (`src/lib.rs`) and in `shop-cache`. Exit status: 0
//! when every step ran, 1 when a step failed or a service was missing (the other steps still
//! run), 2 for a bad flag, 130 after Ctrl-C.

use std::time::Instant;

use clap::Parser;
use lesson_09::steps::{self, DEMO_DATABASE, Demo, StepError};
use narrate::demo::{
    Contents, Entry, Outcome, StepArgs, Steps, Tally, cancel_on_ctrl_c, init_tracing,
};
use testkit::demo_db::DatabaseName;

/// Caching: Redis, an in-process tier, stampedes, expiry, invalidation, write policies.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// The demo's database, re-created at the start of the run (it must start with
    /// backend_rs_lesson09, because the demo drops it).
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
    // shop-cache logs a Redis that does not answer at debug level and a lost subscription as a
    // warning; the narration says what matters (`RUST_LOG=shop_cache=debug` shows them all).
    init_tracing("off");
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(run(cli))
}

// ANCHOR: run
async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let shutdown = cancel_on_ctrl_c();
    let started = Instant::now();
    steps::intro();
    let demo = Demo::new(shutdown.clone(), cli.database.clone(), cli.keep)?;
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
    // Whatever happened above: this run's keys go, and its database unless --keep.
    demo.finish().await?;
    steps::outro(started.elapsed());
    Ok(tally.outcome(&shutdown))
}
// ANCHOR_END: run

/// The steps `--only` can pick, for the table of contents below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Structures,
    Latency,
    Stampede,
    EarlyExpiry,
    Invalidation,
    Writes,
}

// ANCHOR: table_of_contents
/// The table of contents: each step sets up what it needs, on the run's database and prefix.
impl Steps for Step {
    #[rustfmt::skip]
    const CONTENTS: Contents<Self> = Contents::new(&[
        Entry::step(Step::Structures, "structures", "Redis data structures, times to live and pipelining"),
        Entry::step(Step::Latency, "latency", "Read latency: PostgreSQL, Redis and memory, side by side"),
        Entry::step(Step::Stampede, "stampede", "A stampede on an expired hot key, with and without coalescing"),
        Entry::step(Step::EarlyExpiry, "early-expiry", "Early probabilistic expiry: refresh before the TTL ends"),
        Entry::step(Step::Invalidation, "invalidation", "Invalidation across two instances, versioned keys, negative caching"),
        Entry::step(Step::Writes, "writes", "Write-through and write-behind, and what each risks"),
    ]);
}

/// One call per step.
async fn run_step(step: Step, demo: &Demo) -> Result<(), StepError> {
    match step {
        Step::Structures => steps::structures(demo).await,
        Step::Latency => steps::latency(demo).await,
        Step::Stampede => steps::stampede(demo).await,
        Step::EarlyExpiry => steps::early_expiry(demo).await,
        Step::Invalidation => steps::invalidation(demo).await,
        Step::Writes => steps::writes(demo).await,
    }
}
// ANCHOR_END: table_of_contents
