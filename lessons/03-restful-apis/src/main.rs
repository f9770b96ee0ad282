//! The narrated demo of lesson 03: a product catalogue API, driven by its own client.
//!
//! `cargo run -p lesson-03` starts the server on a free port, runs every step and shuts the
//! server down; `-- --list` lists the steps, `-- --only errors` (or `--only 3`, `--only
//! 3,queries`) runs some between start and shutdown; `-- --serve` keeps the server up for curl
//! until Ctrl-C; `-- --help` lists the options. The code it narrates lives in the library
//! (`src/lib.rs` and its modules). Exit status: 0 when every step ran (or `--serve` stopped),
//! 1 when one failed, 2 for a bad flag, 130 after Ctrl-C.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, value_parser};
use lesson_03::server::ServerConfig;
use lesson_03::steps::{self, Demo, StepError};
use narrate::demo::{
    Contents, Entry, Outcome, StepArgs, Steps, Tally, cancel_on_ctrl_c, init_tracing,
};
use tokio_util::sync::CancellationToken;

/// A product catalogue API with axum and tower, exercised by its own HTTP client.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Keep the server running for curl instead of running the demo; Ctrl-C stops it.
    #[arg(long, conflicts_with_all = ["only", "list"])]
    serve: bool,
    /// The address to listen on with --serve (port 0 picks a free port).
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:3000",
        requires = "serve"
    )]
    addr: SocketAddr,
    /// How long a request may run before the server answers 503, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2_000,
          value_parser = value_parser!(u64).range(100..=8_000))]
    timeout_ms: u64,
    /// The largest request body the server accepts, in KiB.
    #[arg(long, value_name = "KIB", default_value_t = 16,
          value_parser = value_parser!(u64).range(1..=1_024))]
    body_limit_kib: u64,
    #[command(flatten)]
    contents: StepArgs<Step>,
}

fn main() -> anyhow::Result<Outcome> {
    let cli = Cli::parse();
    if cli.contents.print_list_if_asked() {
        return Ok(Outcome::Success);
    }
    let config = ServerConfig {
        request_timeout: Duration::from_millis(cli.timeout_ms),
        // The range check above keeps this far from overflow.
        body_limit: usize::try_from(cli.body_limit_kib * 1024).context("body limit too large")?,
        ..ServerConfig::default()
    };
    // Server logs go to stderr. The demo keeps them off unless RUST_LOG asks, so they do not
    // interleave with the narration; --serve shows one line per request.
    init_tracing(if cli.serve { "info" } else { "off" });
    let runtime = tokio::runtime::Runtime::new().context("could not start the tokio runtime")?;
    runtime.block_on(run(cli, config))
}

// ANCHOR: run
async fn run(cli: Cli, config: ServerConfig) -> anyhow::Result<Outcome> {
    let shutdown = cancel_on_ctrl_c();
    if cli.serve {
        steps::serve(cli.addr, config, shutdown)
            .await
            .context("the server failed")?;
        // Ctrl-C is how a server is meant to stop: a success.
        return Ok(Outcome::Success);
    }
    let started = Instant::now();
    // The demo stops its server itself, in step 7, which runs after a Ctrl-C too: the server
    // has a token of its own.
    let demo = steps::start(config, CancellationToken::new())
        .await
        .context("step 1 (start) failed")?;
    let mut tally = Tally::default();
    for step in cli.contents.selected() {
        // Ctrl-C: the step in progress finishes, the rest are skipped, step 7 still runs.
        if shutdown.is_cancelled() {
            break;
        }
        tally.record(step, run_step(step, &demo).await);
    }
    steps::graceful_shutdown(demo)
        .await
        .context("step 7 (graceful shutdown) failed")?;
    steps::outro(started.elapsed());
    Ok(tally.outcome(&shutdown))
}
// ANCHOR_END: run

/// The steps `--only` can pick, for the table of contents below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Crud,
    Errors,
    Queries,
    Middleware,
    Protocols,
}

// ANCHOR: table_of_contents
/// The table of contents; step 1 (start) and step 7 (graceful shutdown) frame the others and
/// run whatever `--only` says.
impl Steps for Step {
    #[rustfmt::skip]
    const CONTENTS: Contents<Self> = Contents::new(&[
        Entry::always("start", "Start the server"),
        Entry::step(Step::Crud, "crud", "Create, read, update, delete"),
        Entry::step(Step::Errors, "errors",
                    "One error format: application/problem+json (RFC 9457)"),
        Entry::step(Step::Queries, "queries", "Query extractors: keyset pagination and filters"),
        Entry::step(Step::Middleware, "middleware",
                    "Middleware: request id, timing, compression, timeout"),
        Entry::step(Step::Protocols, "protocols",
                    "HTTP/1.1 keep-alive and HTTP/2 multiplexing (h2c)"),
        Entry::always("shutdown", "Graceful shutdown"),
    ]);
}

/// One call per step.
async fn run_step(step: Step, demo: &Demo) -> Result<(), StepError> {
    match step {
        Step::Crud => steps::crud(demo).await,
        Step::Errors => steps::errors(demo).await,
        Step::Queries => steps::queries(demo).await,
        Step::Middleware => steps::middleware(demo).await,
        Step::Protocols => steps::protocols(demo).await,
    }
}
// ANCHOR_END: table_of_contents
