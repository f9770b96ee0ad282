//! The narrated demo of lesson 06: attacks against vulnerable endpoints and their fixes, TLS,
//! CORS and security headers, rate limits, login throttling, and personal data.
//!
//! `cargo run -p lesson-06` runs every step and finishes on its own (PostgreSQL is needed for
//! the SQL-injection rows: `cargo xtask services up`); `-- --only tls` runs one step after the
//! start; `-- --serve` keeps the lab up until Ctrl-C; `-- --help` lists the options. Exit
//! status: 0 when everything ran, 1 when PostgreSQL was missing (the rest still runs) or a step
//! failed, 2 for a bad flag. The code it narrates lives in the library (`src/lib.rs`).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use lesson_06::database::{self, DEMO_DATABASE, DatabaseName, ServerUrl};
use lesson_06::steps::{self, Demo};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// Security practices: an attack script against vulnerable and fixed endpoints, TLS, CORS,
/// security headers, rate limiting, login throttling, data export and erasure.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Keep the lab running for curl and a browser instead of running the demo; Ctrl-C stops it.
    #[arg(long)]
    serve: bool,
    /// The address to listen on with --serve: a loopback address only, since half of the lab
    /// is vulnerable on purpose.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:3000",
        requires = "serve",
        value_parser = loopback_addr
    )]
    addr: SocketAddr,
    /// Run only this step of the demo (the lab still starts and stops).
    #[arg(long, value_enum, value_name = "STEP", conflicts_with = "serve")]
    only: Option<Step>,
    /// Keep the demo database afterwards, to try the payloads in psql.
    #[arg(long)]
    keep: bool,
    /// The database to create and drop: backend_rs_lesson06, or a name that starts with it
    /// (to run two demos at once).
    #[arg(long, value_name = "NAME", default_value = DEMO_DATABASE,
          value_parser = DatabaseName::parser(DEMO_DATABASE))]
    database: DatabaseName,
}

/// Parses `--addr`, refusing anything but loopback: the lab must not be reachable from the
/// network.
fn loopback_addr(text: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = text
        .parse()
        .map_err(|e| format!("{e} (expected e.g. 127.0.0.1:3000)"))?;
    if addr.ip().is_loopback() {
        Ok(addr)
    } else {
        Err(format!(
            "{} is not a loopback address; the lab's /vulnerable routes must stay on 127.0.0.1 or ::1",
            addr.ip()
        ))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Step {
    Attacks,
    Tls,
    Headers,
    RateLimits,
    Logins,
    Privacy,
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    // Server logs stay off so they do not interleave with the narration; RUST_LOG=info shows
    // them, and --serve shows them by default.
    let default_filter = if cli.serve { "info" } else { "off" };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new().context("could not start the tokio runtime")?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let shutdown = CancellationToken::new();
    if cli.serve {
        return serve(cli, shutdown).await;
    }
    let started = Instant::now();
    steps::intro();
    let demo = steps::start(&ServerUrl::from_env(), &cli.database, shutdown)
        .await
        .context("step 1 (start) failed")?;
    let had_postgres = demo.db.is_some();
    let outcome = tokio::select! {
        result = run_steps(&demo, cli.only) => result,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("\n  Ctrl-C: stopping the demo.");
            steps::finish(demo, cli.keep).await?;
            return Ok(ExitCode::from(130));
        }
    };
    steps::finish(demo, cli.keep).await?;
    outcome?;
    steps::outro(started.elapsed(), had_postgres);
    Ok(if had_postgres {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

// ANCHOR: table_of_contents
/// The table of contents; step 1 (start) comes before and the clean-up after.
async fn run_steps(demo: &Demo, only: Option<Step>) -> anyhow::Result<()> {
    let wanted = |step| only.is_none_or(|only| only == step);
    if wanted(Step::Attacks) {
        steps::attacks(demo)
            .await
            .context("step 2 (attacks) failed")?;
    }
    if wanted(Step::Tls) {
        steps::tls(demo).await.context("step 3 (TLS) failed")?;
    }
    if wanted(Step::Headers) {
        steps::cors_and_headers(demo)
            .await
            .context("step 4 (CORS and headers) failed")?;
    }
    if wanted(Step::RateLimits) {
        steps::rate_limits(demo)
            .await
            .context("step 5 (rate limits) failed")?;
    }
    if wanted(Step::Logins) {
        steps::login_throttling(demo)
            .await
            .context("step 6 (login throttling) failed")?;
    }
    if wanted(Step::Privacy) {
        steps::privacy().context("step 7 (personal data) failed")?;
    }
    Ok(())
}
// ANCHOR_END: table_of_contents

async fn serve(cli: Cli, shutdown: CancellationToken) -> anyhow::Result<ExitCode> {
    let db = match database::create(&ServerUrl::from_env(), &cli.database).await {
        Ok(db) => Some(db),
        Err(error) => {
            steps::postgres_missing(&error, "the SQL-injection routes will answer 503");
            None
        }
    };
    let token = shutdown.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\n  Ctrl-C: shutting down gracefully...");
            token.cancel();
        }
    });
    let served = steps::serve(cli.addr, db.as_ref().map(|db| db.pool().clone()), shutdown).await;
    if let Some(db) = db {
        let _ = db.finish(cli.keep).await;
    }
    served.with_context(|| format!("could not serve the lab on {}", cli.addr))?;
    Ok(ExitCode::SUCCESS)
}
