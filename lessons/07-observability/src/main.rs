//! The narrated demo of lesson 07: logs, metrics and traces of a storefront and the stock
//! service it calls, read by Prometheus, an OTLP receiver and promtool.
//!
//! `cargo run -p lesson-07` runs every step and finishes on its own (Prometheus, for step 4,
//! is a program it starts privately: `apt-get install prometheus`); `-- --list` lists the
//! steps, `-- --only logs` (or `--only 1`, `--only 1,traces`) runs some; `-- --help` lists the
//! options. The code it narrates lives in the library (`src/lib.rs`). Exit status: 0 when
//! every step ran, 1 when a step failed or Prometheus was missing (the other steps still run),
//! 2 for a bad flag, 130 after Ctrl-C.
//!
//! Step 3 runs this program a second time, as the stock service of its trace, with the hidden
//! flag `--as-stock-service --otlp URL`.

use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use lesson_07::steps::{self, Demo, StepError};
use lesson_07::stock_process;
use narrate::demo::{
    Contents, Entry, Outcome, StepArgs, Steps, Tally, cancel_on_ctrl_c, init_tracing,
};

/// Observability: structured logs, RED metrics, distributed traces, SLO alerts.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Serve the stock service for step 3's trace (the demo starts this itself).
    #[arg(long, hide = true, conflicts_with_all = ["only", "list"])]
    as_stock_service: bool,
    /// Where the stock service exports its spans (OTLP/HTTP traces URL).
    #[arg(long, hide = true, value_name = "URL", requires = "as_stock_service")]
    otlp: Option<String>,
    #[command(flatten)]
    contents: StepArgs<Step>,
}

fn main() -> anyhow::Result<Outcome> {
    let cli = Cli::parse();
    if cli.contents.print_list_if_asked() {
        return Ok(Outcome::Success);
    }
    let runtime = tokio::runtime::Runtime::new().context("could not start the tokio runtime")?;
    if cli.as_stock_service {
        // The second process of step 3: its telemetry is the stock service's own.
        runtime
            .block_on(stock_process::serve(cli.otlp))
            .context("the stock service failed")?;
        return Ok(Outcome::Success);
    }
    // The demo's own logs stay off so they do not interleave with the narration; each step
    // that shows telemetry sets up a subscriber of its own, for that step only.
    init_tracing("off");
    runtime.block_on(run(cli))
}

// ANCHOR: run
async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let shutdown = cancel_on_ctrl_c();
    let started = Instant::now();
    steps::intro();
    let demo = Demo::new(shutdown.clone()).context("could not build the demo's HTTP client")?;
    let mut tally = Tally::default();
    for step in cli.contents.selected() {
        // Ctrl-C: the step in progress finishes (a traffic loop stops early), the rest are
        // skipped.
        if shutdown.is_cancelled() {
            break;
        }
        match run_step(step, &demo).await {
            // The step said what is missing and how to install it.
            Err(StepError::ServiceMissing(_)) => tally.service_missing(),
            result => tally.record(step, result),
        }
    }
    steps::outro(started.elapsed());
    Ok(tally.outcome(&shutdown))
}
// ANCHOR_END: run

/// The steps `--only` can pick, for the table of contents below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Logs,
    Metrics,
    Traces,
    Prometheus,
    Alerts,
}

// ANCHOR: table_of_contents
/// The table of contents: each step starts what it needs and stops it again.
impl Steps for Step {
    #[rustfmt::skip]
    const CONTENTS: Contents<Self> = Contents::new(&[
        Entry::step(Step::Logs, "logs", "Structured logs: JSON lines, span context, redaction"),
        Entry::step(Step::Metrics, "metrics", "RED metrics: rate, errors, duration per route"),
        Entry::step(Step::Traces, "traces", "Traces: one request across two services"),
        Entry::step(Step::Prometheus, "prometheus", "Prometheus: scrape, store, ask in PromQL"),
        Entry::step(Step::Alerts, "alerts", "Alerts: SLO burn rates, tested with promtool"),
    ]);
}

/// One call per step.
async fn run_step(step: Step, demo: &Demo) -> Result<(), StepError> {
    match step {
        Step::Logs => steps::logs(),
        Step::Metrics => steps::metrics(demo).await,
        Step::Traces => steps::traces().await,
        Step::Prometheus => steps::prometheus(demo).await,
        Step::Alerts => steps::alerts().await,
    }
}
// ANCHOR_END: table_of_contents
