//! The narrated demo of lesson 05: pagination, cursors, filters, validation, PATCH and bulk
//! writes over a seeded catalog in PostgreSQL.
//!
//! `cargo run -p lesson-05` runs every step (start PostgreSQL first: `cargo xtask services
//! up`); `-- --list` lists them, `-- --only cursors` (or `--only 3`, `--only 3,patch`) runs some
//! after step 1, which the others need; `-- --help` lists the options. The code it narrates
//! lives in the library (`src/lib.rs` and its modules). Exit status: 0 when everything ran, 1
//! when PostgreSQL was missing (the output says how to start it) or a step failed, 2 for a bad
//! flag, 130 after Ctrl-C.

use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use lesson_05::database::{DEMO_DATABASE, DatabaseName, ServerUrl};
use lesson_05::steps::{self, Demo, Settings, StepError};
use narrate::demo::{
    Contents, Entry, Outcome, StepArgs, Steps, Tally, cancel_on_ctrl_c, init_tracing,
};
use shop_db::seed::SeedSize;

/// Data management: offset vs keyset pagination, opaque cursors, allow-listed filters as bind
/// parameters, validation at the boundary, PATCH semantics, bulk insert and upsert.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// How many products to seed (users and orders scale with it).
    #[arg(long, value_name = "N", default_value_t = 1_000,
          value_parser = clap::value_parser!(u32).range(100..=50_000))]
    products: u32,
    /// Rows per page in the offset-vs-keyset comparison.
    #[arg(long, value_name = "N", default_value_t = 25,
          value_parser = clap::value_parser!(u32).range(5..=100))]
    page_size: u32,
    /// Keep the demo database afterwards, to explore it with psql.
    #[arg(long)]
    keep: bool,
    /// The database to create and drop: backend_rs_lesson05, or a name that starts with it
    /// (to run two demos at once).
    #[arg(long, value_name = "NAME", default_value = DEMO_DATABASE,
          value_parser = DatabaseName::parser(DEMO_DATABASE))]
    database: DatabaseName,
    #[command(flatten)]
    contents: StepArgs<Step>,
}

// ANCHOR: main
fn main() -> anyhow::Result<Outcome> {
    let cli = Cli::parse();
    if cli.contents.print_list_if_asked() {
        return Ok(Outcome::Success);
    }
    // The narration reports every outcome; library logs are off unless RUST_LOG asks.
    init_tracing("off");
    let settings = Settings {
        server: ServerUrl::from_env(),
        database: cli.database.clone(),
        size: SeedSize::scaled(cli.products as usize),
        page_size: cli.page_size,
        keep: cli.keep,
    };
    let runtime = tokio::runtime::Runtime::new().context("could not start the tokio runtime")?;
    runtime.block_on(run(cli, settings))
}
// ANCHOR_END: main

async fn run(cli: Cli, settings: Settings) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let shutdown = cancel_on_ctrl_c();
    steps::intro(&settings);
    // Step 1 runs whatever `--only` says: every later step needs the seeded catalog.
    let db = match steps::setup(&settings).await {
        Ok(db) => db,
        Err(error) => {
            steps::postgres_unavailable(&settings, &error);
            return Ok(Outcome::Failure);
        }
    };
    // Steps 3 to 6 talk to the catalog API, on a free port until the steps are done.
    let demo = steps::start_api(db.pool().clone())
        .await
        .context("starting the API")?;
    let mut tally = Tally::default();
    for step in cli.contents.selected() {
        // Ctrl-C: the step in progress finishes, the rest are skipped, the database is dropped.
        if shutdown.is_cancelled() {
            break;
        }
        tally.record(step, run_step(step, &demo, &settings).await);
    }
    demo.api.shut_down().await.context("stopping the API")?;

    db.finish(settings.keep)
        .await
        .context("dropping the demo database")?;
    steps::outro(&settings, started.elapsed());
    Ok(tally.outcome(&shutdown))
}

/// The steps `--only` can pick, for the table of contents below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Pagination,
    Cursors,
    Filters,
    Validation,
    Patch,
    Bulk,
}

// ANCHOR: table_of_contents
/// The table of contents: number (the place in the list), name for `--only`, title.
impl Steps for Step {
    #[rustfmt::skip]
    const CONTENTS: Contents<Self> = Contents::new(&[
        Entry::always("setup", "A catalog to work with"),
        Entry::step(Step::Pagination, "pagination", "Offset vs keyset, while the catalog changes"),
        Entry::step(Step::Cursors, "cursors", "Opaque cursors"),
        Entry::step(Step::Filters, "filters",
                    "Allow-listed sorting, typed filters, bind parameters only"),
        Entry::step(Step::Validation, "validation", "Validation at the boundary"),
        // Step 6 patches the desk that step 5 creates.
        Entry::step(Step::Patch, "patch", "PATCH: absent, null, or a value")
            .needs(&[Step::Validation]),
        Entry::step(Step::Bulk, "bulk", "Bulk insert and upsert"),
    ]);
}

/// One call per step.
async fn run_step(step: Step, demo: &Demo, settings: &Settings) -> Result<(), StepError> {
    match step {
        Step::Pagination => steps::offset_vs_keyset(&demo.pool, settings.page_size).await,
        Step::Cursors => steps::cursors(demo).await,
        Step::Filters => steps::filters(demo).await,
        Step::Validation => steps::validation(demo).await,
        Step::Patch => steps::patch(demo).await,
        Step::Bulk => steps::bulk_writes(&demo.pool, 500).await,
    }
}
// ANCHOR_END: table_of_contents
