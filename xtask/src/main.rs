//! `cargo xtask`: the course runner and the project's automation.
//!
//! Written in Rust, run through a cargo alias (`.cargo/config.toml`), so it works wherever
//! cargo does: no make, no shell scripts for a learner to debug on their OS.
//!
//! Learner commands: `progress`, `hint`, `watch`, `reset`, `solution`.
//! Project commands: `test` (the one command CI runs), `verify`, `services`, `sqlx-prepare`,
//! `doctor`, `book`, `bench`. Run `cargo xtask --help` for the list, `cargo xtask <command> --help` for details.

mod book;
mod cargo;
mod doctor;
mod exercise;
mod learner;
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
    /// Show the next hint for an exercise (one level more each time you ask)
    Hint { exercise: String },
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
    /// Prove every exercise sound: stub clean, no test passes on it, all pass on the solution
    Verify { exercise: Option<String> },
    /// Everything CI checks: fmt, clippy, every crate's tests, verify, the book
    Test {
        /// Fail (instead of skipping their tests) when these services are not reachable
        #[arg(long, value_delimiter = ',', value_name = "SERVICE,...")]
        require: Vec<Service>,
        /// Skip building the book (it needs mdBook, which `test` installs when missing)
        #[arg(long)]
        no_book: bool,
    },
    /// Refresh the committed offline data of sqlx's query macros (.sqlx/) after changing a
    /// query or a migration; needs PostgreSQL
    SqlxPrepare {
        /// Only check that .sqlx/ is current (what `cargo xtask test` does)
        #[arg(long)]
        check: bool,
    },
    /// Start, stop or inspect PostgreSQL, Redis, RabbitMQ and MongoDB
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
    /// Run the criterion benchmarks (arguments after `--` go to `cargo bench`)
    Bench {
        #[arg(last = true)]
        args: Vec<String>,
    },
}

#[derive(Subcommand, Clone, Copy)]
enum ServicesAction {
    /// Start them: with Docker via docker compose, otherwise say how for each missing one
    /// (and start the MongoDB stand-in where no MongoDB server is installed)
    Up,
    /// Stop them (docker compose down, volumes kept) and the MongoDB stand-in
    Down,
    /// Which services answer, where, and how to start the others
    Status,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Progress => learner::progress(),
        Command::Hint { exercise } => learner::hint(&exercise),
        Command::Watch { exercise, manual } => learner::watch(exercise.as_deref(), manual),
        Command::Reset { exercise } => learner::reset(&exercise),
        Command::Solution { exercise } => learner::solution(&exercise),
        Command::Verify { exercise } => verify::run(exercise.as_deref()),
        Command::Test { require, no_book } => test::run(&require, !no_book),
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
        Command::Bench { args } => cargo::bench(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("\n{} {error:#}", ui::red("error:"));
            ExitCode::FAILURE
        }
    }
}
