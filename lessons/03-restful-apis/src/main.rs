//! The narrated demo of lesson 03: a product catalogue API, driven by its own client.
//!
//! `cargo run -p lesson-03` starts the server on a free port, runs every step and shuts the
//! server down; `-- --only errors` runs one step between start and shutdown; `-- --serve`
//! keeps the server up for curl until Ctrl-C; `-- --help` lists the options. The code it
//! narrates lives in the library (`src/lib.rs` and its modules).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, ValueEnum, value_parser};
use lesson_03::server::ServerConfig;
use lesson_03::steps::{self, Demo};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// A product catalogue API with axum and tower, exercised by its own HTTP client.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Keep the server running for curl instead of running the demo; Ctrl-C stops it.
    #[arg(long)]
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
    /// Run only this step of the demo (the server still starts and shuts down).
    #[arg(long, value_enum, value_name = "STEP", conflicts_with = "serve")]
    only: Option<Step>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Step {
    Crud,
    Errors,
    Queries,
    Middleware,
    Protocols,
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let config = ServerConfig {
        request_timeout: Duration::from_millis(cli.timeout_ms),
        // The range check above keeps this far from overflow.
        body_limit: usize::try_from(cli.body_limit_kib * 1024).context("body limit too large")?,
        ..ServerConfig::default()
    };
    // Server logs go to stderr. The demo keeps them off unless RUST_LOG asks, so they do not
    // interleave with the narration; --serve shows one line per request.
    let default_filter = if cli.serve { "info" } else { "off" };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new().context("could not start the tokio runtime")?;
    runtime.block_on(run(cli, config))
}

// ANCHOR: run
async fn run(cli: Cli, config: ServerConfig) -> anyhow::Result<ExitCode> {
    let shutdown = CancellationToken::new();
    if cli.serve {
        tokio::spawn(cancel_on_ctrl_c(shutdown.clone()));
        steps::serve(cli.addr, config, shutdown)
            .await
            .context("the server failed")?;
        return Ok(ExitCode::SUCCESS);
    }
    let started = Instant::now();
    tokio::select! {
        result = demo(config, cli.only, shutdown) => result?,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("\n  Ctrl-C: stopping the demo.");
            return Ok(ExitCode::from(130));
        }
    }
    steps::outro(started.elapsed());
    Ok(ExitCode::SUCCESS)
}

async fn demo(
    config: ServerConfig,
    only: Option<Step>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let demo = steps::start(config, shutdown)
        .await
        .context("step 1 failed")?;
    for &step in Step::value_variants() {
        if only.is_none_or(|only| only == step) {
            run_step(step, &demo)
                .await
                .with_context(|| format!("step {step:?} failed"))?;
        }
    }
    steps::graceful_shutdown(demo)
        .await
        .context("graceful shutdown failed")
}
// ANCHOR_END: run

/// Ctrl-C cancels the token the server watches.
async fn cancel_on_ctrl_c(shutdown: CancellationToken) {
    if tokio::signal::ctrl_c().await.is_ok() {
        eprintln!("\n  Ctrl-C: shutting down gracefully...");
        shutdown.cancel();
    }
}

// ANCHOR: table_of_contents
/// The table of contents; step 1 (start) and step 7 (graceful shutdown) frame these.
async fn run_step(step: Step, demo: &Demo) -> Result<(), steps::StepError> {
    match step {
        Step::Crud => steps::crud(demo).await,
        Step::Errors => steps::errors(demo).await,
        Step::Queries => steps::queries(demo).await,
        Step::Middleware => steps::middleware(demo).await,
        Step::Protocols => steps::protocols(demo).await,
    }
}
// ANCHOR_END: table_of_contents
