//! `cargo xtask`: the course runner and the project's automation.
//!
//! Written in Rust, run through a cargo alias (`.cargo/config.toml`), so it works wherever
//! cargo does: no make, no shell scripts for a learner to debug on their OS.
//!
//! Learner commands: `progress`, `hint`, `watch`, `reset`, `solution`.
//! Project commands: `test` (the one command README and CI run), `verify`, `services`, `sqlx-prepare`,
//! `doctor`, `book`, `bench`. Run `cargo xtask --help` for the list, `cargo xtask <command> --help` for details.

mod bench_capstone;
mod book;
mod cargo;
mod daemon;
mod doctor;
mod exercise;
mod learner;
mod mutation_record;
mod plan;
mod prometheus;
mod replica;
mod services;
mod sqlx_data;
mod standin;
mod test;
mod ui;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use testkit::Service;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "The backend-rs course runner and project automation",
    after_help = "Start with `cargo xtask progress`, then `cargo xtask watch`."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Table of exercises done and pending, from their test results, and what to do next
    Progress,
    /// Show the next hint for a part of an exercise (one level more each time you ask):
    /// `cargo xtask hint 05 b`; without a part, the first part whose tests fail
    Hint {
        exercise: String,
        /// The part's letter (a, b, c, ...)
        part: Option<String>,
    },
    /// Re-run an exercise's tests whenever you save (default: the first unfinished exercise)
    Watch {
        exercise: Option<String>,
        /// Don't watch files; re-run when you press Enter
        #[arg(long)]
        manual: bool,
    },
    /// Restore an exercise's stub (your current file is backed up first)
    Reset { exercise: String },
    /// Show the reference solution of an exercise, once your own passes its tests
    Solution { exercise: String },
    /// Prove every exercise fair, four ways: the stub fails every test, the reference and a
    /// differently written solution pass them all, and every planted bug is caught
    Verify {
        exercise: Option<String>,
        /// Record the exercise's src/lib.rs as its stub (after changing the stub on purpose)
        #[arg(long, requires = "exercise")]
        record_stub: bool,
        /// Also mutate each reference with cargo-mutants: every mutant must be caught, or be
        /// listed in planted.toml as equivalent (a minute or two per exercise)
        #[arg(long, conflicts_with = "record_stub")]
        mutants: bool,
    },
    /// Every crate's tests, the sqlx data check, the alert rules' checks (promtool), verify and
    /// (where mdBook is installed) the book; tests whose service is down are skipped and listed
    Test {
        /// Fail (instead of skipping their tests) when these services are not reachable
        #[arg(long, value_delimiter = ',', value_name = "SERVICE,...")]
        require: Vec<Service>,
        /// Also check formatting and clippy (warnings denied), as CI does
        #[arg(long)]
        lint: bool,
        /// Build the book even if that means installing mdBook first (needs the network once),
        /// and fail if it cannot be built
        #[arg(long, conflicts_with = "no_book")]
        book: bool,
        /// Do not build the book
        #[arg(long)]
        no_book: bool,
        /// Let verify mutate each reference with cargo-mutants too (as CI does)
        #[arg(long)]
        mutants: bool,
    },
    /// Refresh the committed offline data of sqlx's query macros (.sqlx/) after changing a
    /// query or a migration; needs PostgreSQL
    SqlxPrepare {
        /// Only check that .sqlx/ is current (what `cargo xtask test` does)
        #[arg(long)]
        check: bool,
    },
    /// Start, stop or inspect PostgreSQL (and its replica on port 5433), Redis, RabbitMQ,
    /// MongoDB and Prometheus
    Services {
        #[command(subcommand)]
        action: ServicesAction,
    },
    /// Check the toolchain, services and book tools, and say how to fix what is missing
    Doctor,
    /// Build the book (installing mdBook if missing), optionally open or serve it
    Book {
        #[arg(long)]
        open: bool,
        #[arg(long, conflicts_with = "open")]
        serve: bool,
    },
    /// Run the criterion benchmarks (arguments after `--` go to `cargo bench`); `bench
    /// capstone` measures the capstone's product page against pgbench and /healthz
    Bench {
        #[command(subcommand)]
        what: Option<BenchWhat>,
        #[arg(last = true)]
        args: Vec<String>,
    },
}

#[derive(Subcommand, Clone, Copy)]
enum BenchWhat {
    /// The release build of the capstone under wrk (GET /products/{id} uncached and cached,
    /// /healthz) beside pgbench running the same query, at the same concurrency (needs wrk,
    /// pgbench, psql, PostgreSQL and Redis)
    Capstone {
        /// Connections of every load generator
        #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024))]
        connections: u32,
        /// Seconds each measurement lasts
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=600))]
        seconds: u32,
    },
}

#[derive(Subcommand, Clone, Copy)]
enum ServicesAction {
    /// Start them: with Docker via docker compose, otherwise say how for each missing one
    /// (and start the MongoDB stand-in where no MongoDB server is installed, and Prometheus on
    /// 127.0.0.1:9090, installing it with apt-get where allowed)
    Up,
    /// Stop them (docker compose down, volumes kept), the MongoDB stand-in and Prometheus
    Down,
    /// Which services answer, where, and how to start the others
    Status,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Progress => learner::progress(),
        Command::Hint { exercise, part } => learner::hint(&exercise, part.as_deref()),
        Command::Watch { exercise, manual } => learner::watch(exercise.as_deref(), manual),
        Command::Reset { exercise } => learner::reset(&exercise),
        Command::Solution { exercise } => learner::solution(&exercise),
        Command::Verify {
            exercise,
            record_stub: true,
            ..
        } => verify::record_stub(exercise.as_deref().unwrap_or_default()),
        Command::Verify {
            exercise,
            record_stub: false,
            mutants,
        } => {
            ui::heading("services");
            let options = verify::Options { mutants };
            verify::run(exercise.as_deref(), &plan::Plan::detect(), options).map(drop)
        }
        Command::Test {
            require,
            lint,
            book,
            no_book,
            mutants,
        } => test::run(&test::Options {
            require,
            lint,
            mutants,
            book: match (book, no_book) {
                (true, _) => test::BookStep::Required,
                (false, true) => test::BookStep::Off,
                (false, false) => test::BookStep::IfInstalled,
            },
        }),
        Command::Services { action } => match action {
            ServicesAction::Up => services::up(),
            ServicesAction::Down => services::down(),
            ServicesAction::Status => services::status(),
        },
        Command::SqlxPrepare { check } => sqlx_data::run(check).map(|summary| {
            println!("{} {summary}", ui::green("✔"));
        }),
        Command::Doctor => doctor::run(),
        Command::Book { open, serve } => book::run(book::Mode::from_flags(open, serve)),
        Command::Bench {
            what:
                Some(BenchWhat::Capstone {
                    connections,
                    seconds,
                }),
            ..
        } => bench_capstone::run(bench_capstone::Options {
            connections,
            seconds,
        }),
        Command::Bench { what: None, args } => cargo::bench(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("\n{} {error:#}", ui::red("error:"));
            ExitCode::FAILURE
        }
    }
}
