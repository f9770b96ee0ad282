//! The narrated demo of lesson 01: a concurrent price aggregator, step by step.
//!
//! `cargo run -p lesson-01` runs every step; `-- --list` lists them, `-- --only pool` (or
//! `--only 4`, `--only 2,pool`) runs some; `-- --help` lists the options. The code it narrates
//! lives in the library (`src/lib.rs` and its modules). Exit status: 0 when every step ran, 1
//! when one failed, 2 for a bad flag, 130 after Ctrl-C.

use std::io;
use std::time::Duration;

use anyhow::Context;
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use lesson_01::config::PoolConfig;
use lesson_01::pipes;
use lesson_01::steps::{self, Demo, StepError};
use narrate::demo::{
    Contents, Entry, Outcome, StepArgs, Steps, Tally, cancel_on_ctrl_c, init_tracing,
};
use tokio::time::Instant;

/// A concurrent price aggregator: fan-out with timeouts, a bounded worker pool, cancellation.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Workers in the pool (steps `pool` and `cancel`).
    #[arg(long, value_name = "N", default_value_t = 4)]
    workers: usize,
    /// How many queued jobs the producer may be ahead of the workers.
    #[arg(long, value_name = "N", default_value_t = 4)]
    queue: usize,
    /// How long to wait for each supplier, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 150)]
    timeout_ms: u64,
    /// Serve price requests on stdin/stdout: how step `pipes` runs this binary as its child
    /// (the flag's name is `pipes::CHILD_FLAG`).
    #[arg(long = "pipe-child", hide = true)]
    pipe_child: bool,
    #[command(flatten)]
    contents: StepArgs<Step>,
}

// ANCHOR: main
fn main() -> anyhow::Result<Outcome> {
    let cli = Cli::parse();
    if cli.pipe_child {
        // The child does one blocking thing at a time: no async runtime needed.
        pipes::serve_pipe(io::stdin().lock(), io::stdout().lock()).context("pipe child")?;
        return Ok(Outcome::Success);
    }
    if cli.contents.print_list_if_asked() {
        return Ok(Outcome::Success);
    }
    let timeout = Duration::from_millis(cli.timeout_ms);
    let pool = match PoolConfig::new(cli.workers, cli.queue, timeout) {
        Ok(pool) => pool,
        // A value out of range is a usage error: report it the way clap reports its own
        // (the message, a hint, exit code 2), not as a crash.
        Err(invalid) => Cli::command()
            .error(ErrorKind::ValueValidation, invalid)
            .exit(),
    };
    // Logs would go to stderr, off unless RUST_LOG asks: the set-up every lesson shares,
    // though nothing in this one logs yet (lesson 03's server does).
    init_tracing("off");
    // What `#[tokio::main]` expands to; spelled out because the pipe child must not start one.
    let runtime = tokio::runtime::Runtime::new().context("could not start the tokio runtime")?;
    runtime.block_on(run(cli, pool))
}
// ANCHOR_END: main

// ANCHOR: shutdown
async fn run(cli: Cli, pool: PoolConfig) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    // Cancelled on Ctrl-C; everything that runs holds a clone or a child of it.
    let shutdown = cancel_on_ctrl_c();
    let program = std::env::current_exe().context("could not find this program's path")?;
    let demo = Demo {
        pool,
        program,
        shutdown: shutdown.clone(),
    };

    steps::intro(&demo);
    let mut tally = Tally::default();
    for step in cli.contents.selected() {
        // The step in progress watches the token and winds down; the rest are skipped.
        if shutdown.is_cancelled() {
            break;
        }
        tally.record(step, run_step(step, &demo).await);
    }
    steps::outro(&demo, started.elapsed());
    Ok(tally.outcome(&shutdown))
}
// ANCHOR_END: shutdown

/// The steps `--only` can pick, for the table of contents below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Traits,
    FanOut,
    Channels,
    Pool,
    Cancel,
    Threads,
    Pipes,
    Sockets,
}

// ANCHOR: table_of_contents
/// The table of contents: number (the place in the list), name for `--only`, title.
impl Steps for Step {
    #[rustfmt::skip]
    const CONTENTS: Contents<Self> = Contents::new(&[
        Entry::step(Step::Traits, "traits", "Traits as interfaces"),
        Entry::step(Step::FanOut, "fan-out", "Fan-out, fan-in, timeouts"),
        Entry::step(
            Step::Channels,
            "channels",
            "Channels: mpsc, oneshot, broadcast, select!",
        ),
        Entry::step(
            Step::Pool,
            "pool",
            "A bounded worker pool with backpressure",
        ),
        Entry::step(Step::Cancel, "cancel", "Cancellation"),
        Entry::step(
            Step::Threads,
            "threads",
            "Threads vs tasks, blocking vs async",
        ),
        Entry::step(Step::Pipes, "pipes", "Processes and pipes"),
        Entry::step(Step::Sockets, "sockets", "IPC over a socket pair"),
    ]);
}

/// One call per step.
async fn run_step(step: Step, demo: &Demo) -> Result<(), StepError> {
    match step {
        Step::Traits => steps::traits_as_interfaces(demo).await,
        Step::FanOut => steps::fan_out_with_timeouts(demo).await,
        Step::Channels => steps::channels(demo).await,
        Step::Pool => steps::worker_pool(demo).await,
        Step::Cancel => steps::cancellation(demo).await,
        Step::Threads => steps::threads_vs_tasks(demo).await,
        Step::Pipes => steps::pipes_to_a_child_process(demo).await,
        Step::Sockets => steps::socket_pair(demo).await,
    }
}
// ANCHOR_END: table_of_contents
