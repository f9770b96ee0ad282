//! The narrated demo of lesson 06: attacks against vulnerable endpoints and their fixes, TLS,
//! CORS and security headers, rate limits, login throttling, and personal data.
//!
//! `cargo run -p lesson-06` runs every step and finishes on its own (PostgreSQL is needed for
//! the SQL-injection rows: `cargo xtask services up`); `-- --list` lists the steps, `-- --only
//! tls` (or `--only 3`, `--only 3,privacy`) runs some after the start; `-- --serve` keeps the
//! lab up until Ctrl-C; `-- --help` lists the options. Exit status: 0 when everything ran (or
//! `--serve` stopped), 1 when PostgreSQL was missing (the rest still runs) or a step failed, 2
//! for a bad flag, 130 after Ctrl-C. The code it narrates lives in the library (`src/lib.rs`).

use std::net::SocketAddr;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use lesson_06::database::{self, DEMO_DATABASE, DatabaseName, ServerUrl};
use lesson_06::steps::{self, Demo, StepError};
use narrate::demo::{
    Contents, Entry, Outcome, StepArgs, Steps, Tally, cancel_on_ctrl_c, init_tracing,
};
use tokio_util::sync::CancellationToken;

/// Security practices: an attack script against vulnerable and fixed endpoints, TLS, CORS,
/// security headers, rate limiting, login throttling, data export and erasure.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Keep the lab running for curl and a browser instead of running the demo; Ctrl-C stops it.
    #[arg(long, conflicts_with_all = ["only", "list"])]
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
    /// Keep the demo database afterwards, to try the payloads in psql.
    #[arg(long)]
    keep: bool,
    /// The database to create and drop: backend_rs_lesson06, or a name that starts with it
    /// (to run two demos at once).
    #[arg(long, value_name = "NAME", default_value = DEMO_DATABASE,
          value_parser = DatabaseName::parser(DEMO_DATABASE))]
    database: DatabaseName,
    #[command(flatten)]
    contents: StepArgs<Step>,
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

fn main() -> anyhow::Result<Outcome> {
    let cli = Cli::parse();
    if cli.contents.print_list_if_asked() {
        return Ok(Outcome::Success);
    }
    // Server logs stay off so they do not interleave with the narration; RUST_LOG=info shows
    // them, and --serve shows them by default.
    init_tracing(if cli.serve { "info" } else { "off" });
    let runtime = tokio::runtime::Runtime::new().context("could not start the tokio runtime")?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let shutdown = cancel_on_ctrl_c();
    if cli.serve {
        return serve(cli, shutdown).await;
    }
    let started = Instant::now();
    steps::intro();
    // The lab's servers stop in the clean-up, which runs after a Ctrl-C too: they have a
    // token of their own.
    let demo = steps::start(
        &ServerUrl::from_env(),
        &cli.database,
        CancellationToken::new(),
    )
    .await
    .context("step 1 (start) failed")?;
    let mut tally = Tally::default();
    let had_postgres = demo.db.is_some();
    if !had_postgres {
        // Step 1 said so in one line; the SQL-injection rows are skipped, the rest runs.
        tally.service_missing();
    }
    for step in cli.contents.selected() {
        // Ctrl-C: the step in progress finishes, the rest are skipped, the clean-up runs.
        if shutdown.is_cancelled() {
            break;
        }
        tally.record(step, run_step(step, &demo).await);
    }
    steps::finish(demo, cli.keep).await?;
    steps::outro(started.elapsed(), had_postgres);
    Ok(tally.outcome(&shutdown))
}

/// `--serve`: the lab, with the SQL-injection routes if PostgreSQL answers, until Ctrl-C.
async fn serve(cli: Cli, shutdown: CancellationToken) -> anyhow::Result<Outcome> {
    let db = match database::create(&ServerUrl::from_env(), &cli.database).await {
        Ok(db) => Some(db),
        Err(error) => {
            steps::postgres_missing(&error, "the SQL-injection routes will answer 503");
            None
        }
    };
    let served = steps::serve(cli.addr, db.as_ref().map(|db| db.pool().clone()), shutdown).await;
    if let Some(db) = db {
        let _ = db.finish(cli.keep).await;
    }
    served.with_context(|| format!("could not serve the lab on {}", cli.addr))?;
    // Ctrl-C is how a server is meant to stop: a success.
    Ok(Outcome::Success)
}

/// The steps `--only` can pick, for the table of contents below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Attacks,
    Tls,
    Headers,
    RateLimits,
    Logins,
    Privacy,
}

// ANCHOR: table_of_contents
/// The table of contents; step 1 (start) comes before the others whatever `--only` says, and
/// the clean-up after.
impl Steps for Step {
    #[rustfmt::skip]
    const CONTENTS: Contents<Self> = Contents::new(&[
        Entry::always("start", "Start the lab"),
        Entry::step(Step::Attacks, "attacks", "The attack script: what got through"),
        Entry::step(Step::Tls, "tls", "HTTPS: rustls, a certificate made at start, HSTS"),
        Entry::step(Step::Headers, "headers", "CORS and security headers"),
        Entry::step(Step::RateLimits, "rate-limits", "Rate limiting: a token bucket per client"),
        Entry::step(Step::Logins, "logins",
                    "Brute-force protection: login throttling per account and per address"),
        Entry::step(Step::Privacy, "privacy",
                    "Personal data: retention, export, erasure (GDPR / CCPA)"),
    ]);
}

/// One call per step.
async fn run_step(step: Step, demo: &Demo) -> Result<(), StepError> {
    match step {
        // The step prints the attack report; the rows it also returns are not needed here.
        Step::Attacks => steps::attacks(demo).await.map(drop),
        Step::Tls => steps::tls(demo).await,
        Step::Headers => steps::cors_and_headers(demo).await,
        Step::RateLimits => steps::rate_limits(demo).await,
        Step::Logins => steps::login_throttling(demo).await,
        Step::Privacy => steps::privacy(),
    }
}
// ANCHOR_END: table_of_contents
