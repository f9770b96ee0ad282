//! The narration: each function is one step of `cargo run -p lesson-01`. It runs the library
//! code of the matching module with real numbers and prints what happened. `main.rs` calls
//! them in order.

mod aggregator;
mod channels;
mod os;

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use narrate::{duration, say};
use thiserror::Error;
use tokio_util::sync::CancellationToken;

use crate::config::PoolConfig;
use crate::pipes::PipeError;

pub use aggregator::{cancellation, fan_out_with_timeouts, traits_as_interfaces, worker_pool};
pub use channels::channels;
pub use os::{pipes_to_a_child_process, socket_pair, threads_vs_tasks};

/// What every step needs. The shutdown token is a parameter like the rest: Ctrl-C cancels it,
/// and each step hands it (or a child of it) to the code it runs.
#[derive(Debug, Clone)]
pub struct Demo {
    pub pool: PoolConfig,
    /// This program, so that step 7 can start a copy of it.
    pub program: PathBuf,
    pub shutdown: CancellationToken,
}

/// Why a step could not finish. Only the OS steps can fail: the rest is in-process.
#[derive(Debug, Error)]
pub enum StepError {
    #[error(transparent)]
    Pipe(#[from] PipeError),
    #[error("socket I/O failed")]
    Socket(#[from] io::Error),
    #[error("a demo task panicked")]
    Task(#[from] tokio::task::JoinError),
}

pub fn intro(demo: &Demo) {
    println!("Lesson 01 · Rust foundations: a concurrent price aggregator");
    println!();
    say("We buy parts from five suppliers and want the best price for each, fast. Eight steps");
    say("build that up: traits, fan-out with timeouts, channels, a bounded worker pool and");
    say("cancellation, then the OS underneath (threads, processes, pipes, sockets).");
    say("Press Ctrl-C at any time: the run stops cleanly.");
    say(format_args!(
        "Settings: {} workers, a queue of {}, {} per supplier (change them: -- --help).",
        demo.pool.workers(),
        demo.pool.queue_capacity(),
        duration(demo.pool.timeout()),
    ));
}

pub fn outro(demo: &Demo, elapsed: Duration) {
    println!();
    if demo.shutdown.is_cancelled() {
        say(format_args!(
            "Stopped by Ctrl-C after {}: the step in progress wound down, the rest were skipped.",
            duration(elapsed)
        ));
    } else {
        say(format_args!("Done in {}.", duration(elapsed)));
        say("Next: the exercise, `cargo test -p exercise-01`, and chapter 01 of the book.");
    }
}
