//! The narrated demo of lesson 10: RabbitMQ's exchanges and bindings, publisher confirms and
//! returns, manual acks and prefetch, retries with a delay and a dead-letter queue, an
//! idempotent consumer; schema evolution in JSON and protobuf; the log model on Redis Streams
//! beside RabbitMQ's delete-on-ack.
//!
//! `cargo run -p lesson-10` runs every step and finishes on its own in a few seconds. Steps
//! 1 to 4 need RabbitMQ, step 6 RabbitMQ and Redis, step 7 RabbitMQ and PostgreSQL, step 5
//! nothing (`cargo xtask services up` starts them). Every queue and exchange is named
//! `lesson10.<run>.*`, every Redis key `lesson10:<run>:*` and step 7's database
//! `backend_rs_lesson10_<run>`, with `<run>` random, and all are deleted at the end, after
//! Ctrl-C too.
//! `-- --list` lists the steps, `-- --only retries` (or `--only 4`, `--only 1,schemas`) runs
//! some; `-- --help` lists the options. The code it narrates lives in the library
//! (`src/lib.rs`). Exit status: 0 when every step ran, 1 when a step failed or a service was
//! missing (the other steps still run), 2 for a bad flag, 130 after Ctrl-C.

use std::time::Instant;

use clap::Parser;
use lesson_10::steps::{self, Demo, StepError};
use narrate::demo::{
    Contents, Entry, Outcome, StepArgs, Steps, Tally, cancel_on_ctrl_c, init_tracing,
};

/// Message queuing: exchanges, confirms, acks, retries, schemas, logs.
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
    // lapin logs a refused connection as an error; the narration says it in one sentence
    // (`RUST_LOG=lapin=debug` shows the protocol).
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
        // Ctrl-C: the step in progress finishes (a consumer stops early), the rest are skipped.
        if shutdown.is_cancelled() {
            break;
        }
        match run_step(step, &demo).await {
            // The step said what is missing and how to start it.
            Err(StepError::ServiceMissing(_)) => tally.service_missing(),
            result => tally.record(step, result),
        }
    }
    // Whatever happened above: this run's queues, exchanges and keys go.
    demo.finish().await;
    steps::outro(started.elapsed());
    Ok(tally.outcome(&shutdown))
}
// ANCHOR_END: run

/// The steps `--only` can pick, for the table of contents below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Exchanges,
    Confirms,
    Acks,
    Retries,
    Schemas,
    Log,
    Outbox,
}

// ANCHOR: table_of_contents
/// The table of contents: each step declares what it needs, under the run's own names.
impl Steps for Step {
    #[rustfmt::skip]
    const CONTENTS: Contents<Self> = Contents::new(&[
        Entry::step(Step::Exchanges, "exchanges", "Exchanges, queues and bindings"),
        Entry::step(Step::Confirms, "confirms", "Publisher confirms, and returns"),
        Entry::step(Step::Acks, "acks", "Manual acks and prefetch"),
        Entry::step(Step::Retries, "retries", "Dead-lettering, retries with a delay, idempotent consumers"),
        Entry::step(Step::Schemas, "schemas", "Schema evolution: versioned JSON and protobuf"),
        Entry::step(Step::Log, "log", "The log model: Redis Streams beside a RabbitMQ queue"),
        Entry::step(Step::Outbox, "outbox", "The transactional outbox, relay and deduplicating consumer"),
    ]);
}

/// One call per step.
async fn run_step(step: Step, demo: &Demo) -> Result<(), StepError> {
    match step {
        Step::Exchanges => steps::exchanges(demo).await,
        Step::Confirms => steps::confirms(demo).await,
        Step::Acks => steps::acks(demo).await,
        Step::Retries => steps::retries(demo).await,
        Step::Schemas => steps::schemas(demo).await,
        Step::Log => steps::log_model(demo).await,
        Step::Outbox => steps::outbox(demo).await,
    }
}
// ANCHOR_END: table_of_contents
