//! The narrated demo of lesson 04: authentication and authorization, end to end.
//!
//! `cargo run -p lesson-04` reads the configuration, starts the API and a local OpenID
//! provider on free ports, runs every step and shuts both down; `-- --only api-keys` runs one
//! step between start and shutdown; `-- --serve` keeps the API up for curl until Ctrl-C;
//! `-- --help` lists the options. The code it narrates lives in the library (`src/lib.rs`).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use lesson_04::config::AuthConfig;
use lesson_04::steps::{self, Demo};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// Passwords, sessions, roles, API keys and OpenID Connect, demonstrated against a live API.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Keep the API running for curl instead of running the demo; Ctrl-C stops it.
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
    /// Run only this step of the demo (the servers still start and shut down).
    #[arg(long, value_enum, value_name = "STEP", conflicts_with = "serve")]
    only: Option<Step>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Step {
    Passwords,
    Sessions,
    ForgedTokens,
    Authorization,
    ApiKeys,
    Oidc,
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    // Server logs go to stderr, off during the demo unless RUST_LOG asks for them.
    let default_filter = if cli.serve { "info" } else { "off" };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    // Read once, here; a bad value stops the program before anything listens.
    let config = AuthConfig::from_env().context("the configuration is invalid")?;
    let runtime = tokio::runtime::Runtime::new().context("could not start the tokio runtime")?;
    runtime.block_on(run(cli, config))
}

// ANCHOR: run
async fn run(cli: Cli, config: AuthConfig) -> anyhow::Result<ExitCode> {
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
    config: AuthConfig,
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
    steps::shutdown(demo).await.context("shutdown failed")
}
// ANCHOR_END: run

async fn cancel_on_ctrl_c(shutdown: CancellationToken) {
    if tokio::signal::ctrl_c().await.is_ok() {
        eprintln!("\n  Ctrl-C: shutting down gracefully...");
        shutdown.cancel();
    }
}

// ANCHOR: table_of_contents
/// The table of contents; step 1 (start-up) and step 8 (shutdown) frame these. Later steps
/// use the accounts earlier ones created, so `--only` signs up whoever a step needs first.
async fn run_step(step: Step, demo: &Demo) -> Result<(), steps::StepError> {
    match step {
        Step::Passwords => steps::passwords(demo).await,
        Step::Sessions => steps::sessions(demo).await,
        Step::ForgedTokens => steps::forged_tokens(demo).await,
        Step::Authorization => steps::authorization(demo).await,
        Step::ApiKeys => steps::api_keys(demo).await,
        Step::Oidc => steps::openid_connect(demo).await,
    }
}
// ANCHOR_END: table_of_contents
