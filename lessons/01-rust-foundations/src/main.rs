//! The narrated demo of lesson 01: a concurrent price aggregator, step by step.
//!
//! `cargo run -p lesson-01` runs every step; `-- --only pool` runs one; `-- --help` lists the
//! options. The code it narrates lives in the library (`src/lib.rs` and its modules).

use std::io;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, ValueEnum};
use lesson_01::config::PoolConfig;
use lesson_01::pipes;
use lesson_01::steps::{self, Demo};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

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
    /// Run only this step.
    #[arg(long, value_enum, value_name = "STEP")]
    only: Option<Step>,
    /// Serve price requests on stdin/stdout: how step `pipes` runs this binary as its child
    /// (the flag's name is `pipes::CHILD_FLAG`).
    #[arg(long = "pipe-child", hide = true)]
    pipe_child: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
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

// ANCHOR: main
fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    if cli.pipe_child {
        // The child does one blocking thing at a time: no async runtime needed.
        pipes::serve_pipe(io::stdin().lock(), io::stdout().lock()).context("pipe child")?;
        return Ok(ExitCode::SUCCESS);
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
    // What `#[tokio::main]` expands to; spelled out because the pipe child must not start one.
    let runtime = tokio::runtime::Runtime::new().context("could not start the tokio runtime")?;
    runtime.block_on(run(pool, cli.only))
}
// ANCHOR_END: main

// ANCHOR: shutdown
async fn run(pool: PoolConfig, only: Option<Step>) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_ctrl_c(shutdown.clone()));
    let program = std::env::current_exe().context("could not find this program's path")?;
    let demo = Demo {
        pool,
        program,
        shutdown,
    };

    steps::intro(&demo);
    for &step in Step::value_variants() {
        if demo.shutdown.is_cancelled() {
            break;
        }
        if only.is_none_or(|only| only == step) {
            run_step(step, &demo)
                .await
                .with_context(|| format!("step {step:?} failed"))?;
        }
    }
    steps::outro(&demo, started.elapsed());
    // 130 = 128 + SIGINT: how shells tell "interrupted" from "succeeded" or "failed".
    Ok(if demo.shutdown.is_cancelled() {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

/// Ctrl-C cancels the token; everything that runs holds a clone or a child of it.
async fn cancel_on_ctrl_c(shutdown: CancellationToken) {
    if tokio::signal::ctrl_c().await.is_ok() {
        eprintln!("\n  Ctrl-C: cancelling...");
        shutdown.cancel();
    }
}
// ANCHOR_END: shutdown

// ANCHOR: table_of_contents
/// The table of contents.
async fn run_step(step: Step, demo: &Demo) -> Result<(), steps::StepError> {
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
